//! The article as the rules read it: plain fields the services fill from the stored
//! content, its cluster and its site.

use serde::{Deserialize, Serialize};

/// One article's text and SEO fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArticleText {
    /// The post title (the `<h1>` when the body has one).
    pub title: String,
    /// The SEO title (`<title>`); the post title when the site sets none.
    pub seo_title: String,
    /// The URL slug the article is (or will be) published under.
    pub slug: String,
    /// The meta description.
    pub meta_description: String,
    /// The body HTML.
    pub html: String,
    /// The focus keyphrase: the cluster's pillar keyword.
    pub focus_keyphrase: String,
    /// BCP 47-ish language of the site (`en`, `en-US`, `de` …): picks the rule set.
    pub language: String,
    /// The site's host (`example.com`): links to it (and relative links) are internal.
    pub site_host: String,
}
