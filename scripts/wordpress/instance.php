<?php
/*
 * Gives each test user of a started instance a new application password (through
 * WordPress's own WP_Application_Passwords) and prints the instance as one JSON object:
 * {"url", "version", "php_version", "environment", "permalinks",
 *  "users": {login: {"id", "username", "app_password", "roles"}}, "pids"}.
 * The URL and pids come from the environment (IGNY8_WP_URL, IGNY8_WP_PIDS as JSON).
 */
require __DIR__ . '/bootstrap.php';
require '/usr/share/wordpress/wp-load.php';

/* The template has pretty permalinks; IGNY8_WP_PERMALINKS=plain turns them off. */
$permalinks = getenv('IGNY8_WP_PERMALINKS') === 'plain' ? '' : '/%postname%/';
if (get_option('permalink_structure') !== $permalinks) {
    global $wp_rewrite;
    $wp_rewrite->set_permalink_structure($permalinks);
    flush_rewrite_rules(false);
}

$users = array();
foreach (array('admin', 'author', 'contributor') as $login) {
    $user = get_user_by('login', $login);
    if (!$user) {
        fwrite(STDERR, "instance.php: no user $login\n");
        exit(1);
    }
    $created = WP_Application_Passwords::create_new_application_password(
        $user->ID,
        array('name' => 'igny8 tests ' . wp_generate_uuid4())
    );
    if (is_wp_error($created)) {
        fwrite(STDERR, "instance.php: application password for $login: " . $created->get_error_message() . "\n");
        exit(1);
    }
    $users[$login] = array(
        'id' => $user->ID,
        'username' => $login,
        'app_password' => WP_Application_Passwords::chunk_password($created[0]),
        'roles' => array_values($user->roles),
    );
}

global $wp_version;
$pids = json_decode((string) getenv('IGNY8_WP_PIDS'), true);
echo json_encode(array(
    'url' => (string) getenv('IGNY8_WP_URL'),
    'version' => $wp_version,
    'php_version' => PHP_VERSION,
    'environment' => wp_get_environment_type(),
    'permalinks' => $permalinks === '' ? 'plain' : 'pretty',
    'users' => $users,
    'pids' => is_array($pids) ? $pids : new stdClass(),
), JSON_UNESCAPED_SLASHES), "\n";
