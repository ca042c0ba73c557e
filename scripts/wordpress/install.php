<?php
/*
 * Installs WordPress into a fresh database with wp_install() (Debian ships no wp-cli)
 * and adds the test users: admin (administrator, made by wp_install), author and
 * contributor. Run once per template by scripts/wordpress.sh; prints nothing on success.
 */
require __DIR__ . '/bootstrap.php';
define('WP_INSTALLING', true);
require '/usr/share/wordpress/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';

/* wp_install() probes permalinks with HTTP requests to the site; nothing serves it yet. */
add_filter('pre_http_request', function () {
    return new WP_Error('igny8_offline', 'no HTTP while installing');
});

function igny8_fail($what, $error) {
    $message = is_wp_error($error) ? $error->get_error_code() . ': ' . $error->get_error_message() : (string) $error;
    fwrite(STDERR, "install.php: $what: $message\n");
    exit(1);
}

$result = wp_install('IGNY8 test site', 'admin', 'admin@example.test', false, '', wp_generate_password(24, false));
if (is_wp_error($result) || empty($result['user_id'])) {
    igny8_fail('wp_install', is_wp_error($result) ? $result : 'no user created');
}

foreach (array('author' => 'author', 'contributor' => 'contributor') as $login => $role) {
    $id = wp_insert_user(array(
        'user_login' => $login,
        'user_pass' => wp_generate_password(24, false),
        'user_email' => "$login@example.test",
        'display_name' => ucfirst($login),
        'role' => $role,
    ));
    if (is_wp_error($id)) {
        igny8_fail("user $login", $id);
    }
}

/* Pretty permalinks, so /wp-json/ is routed (the rewrite rules live in httpd.conf). */
global $wp_rewrite;
$wp_rewrite->set_permalink_structure('/%postname%/');
flush_rewrite_rules(false);
if (get_option('permalink_structure') !== '/%postname%/') {
    igny8_fail('permalinks', 'permalink_structure was not saved');
}
