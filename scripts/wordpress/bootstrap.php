<?php
/*
 * Loads WordPress in PHP's CLI for one instance: argv[1] is the instance's
 * wp-config.php. Debian's wp-config.php reads the Host header and the dispatcher
 * reads IGNY8_WP_CONFIG, so both are set as Apache would set them.
 */
if (PHP_SAPI !== 'cli' || $argc < 2) {
    fwrite(STDERR, "usage: php <script> DIR/wp-config.php\n");
    exit(2);
}
$_SERVER['HTTP_HOST'] = '127.0.0.1';
$_SERVER['SERVER_NAME'] = '127.0.0.1';
$_SERVER['REQUEST_URI'] = '/';
$_SERVER['REQUEST_METHOD'] = 'GET';
$_SERVER['WORDPRESS_CONFIG'] = 'igny8';
$_SERVER['IGNY8_WP_CONFIG'] = $argv[1];
