<?php
/*
 * Installed as /etc/wordpress/config-igny8.php by igny8's scripts/wordpress.sh install.
 *
 * Debian's /usr/share/wordpress/wp-config.php loads /etc/wordpress/config-<name>.php,
 * where <name> comes from WORDPRESS_CONFIG (set with SetEnv) or the Host header. All
 * test instances share the host 127.0.0.1, so each instance's Apache sets
 * WORDPRESS_CONFIG=igny8 and IGNY8_WP_CONFIG=<its own DIR>/wp-config.php, and this
 * dispatcher loads that file: nothing per instance is ever written under /etc.
 */
$igny8_config = isset($_SERVER['IGNY8_WP_CONFIG']) ? (string) $_SERVER['IGNY8_WP_CONFIG'] : '';
if ($igny8_config === '' || basename($igny8_config) !== 'wp-config.php' || !is_file($igny8_config)) {
    header('HTTP/1.0 500 Internal Server Error');
    echo 'igny8: IGNY8_WP_CONFIG does not name an instance wp-config.php';
    exit(1);
}
require $igny8_config;
