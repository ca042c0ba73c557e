<?php
/*
 * Must-use plugin copied into an instance's wp-content/mu-plugins by
 * scripts/wordpress.sh start when IGNY8_WP_SEO_META=yoast: registers Yoast SEO's
 * per-post meta keys in the REST API, as a site that exposes them does (Yoast itself
 * stores them as post meta with the `_yoast_wpseo_` prefix but registers none for
 * REST). Lets the tests check that the client sends exactly the registered keys.
 */
add_action('init', function () {
    $fields = array('title', 'metadesc', 'focuskw', 'canonical', 'opengraph-title', 'opengraph-description', 'opengraph-image');
    foreach ($fields as $field) {
        register_post_meta('post', '_yoast_wpseo_' . $field, array(
            'type' => 'string',
            'single' => true,
            'show_in_rest' => true,
            // Keys starting with "_" are protected: editing needs an explicit permission.
            'auth_callback' => function ($allowed, $key, $post_id) {
                return current_user_can('edit_post', $post_id);
            },
        ));
    }
});
