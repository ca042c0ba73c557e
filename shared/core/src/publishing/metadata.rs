//! Metadata mapping (issue 13, item 2): the one place that decides an article's SEO
//! fields (SEO title, meta description, focus keyphrase, canonical URL, Open Graph
//! title/description/image) and taxonomy (categories, tags), and where each lands on
//! each platform. Pure functions: [`article_metadata`] feeds
//! [`crate::publishing::article::payload`]; [`wordpress_meta`] and [`shopify_seo`] are
//! what the WordPress and Shopify clients send (igny8-platforms), so a mapping is tested
//! here without a platform.
//!
//! WordPress: Yoast SEO stores its per-post values as post meta named `_yoast_wpseo_`
//! followed by the field (`title`, `metadesc`, `focuskw`, `canonical`, `opengraph-title`,
//! `opengraph-description`, `opengraph-image`; Yoast's `WPSEO_Meta` class,
//! <https://github.com/Yoast/wordpress-seo/blob/trunk/inc/class-wpseo-meta.php>), Rank
//! Math as `rank_math_*`. The REST API only accepts meta a plugin or the site registered
//! with `show_in_rest` (<https://developer.wordpress.org/rest-api/extending-the-rest-api/modifying-responses/#working-with-registered-meta-in-the-rest-api>,
//! `register_post_meta`), and a bare Yoast registers none, so the client sends only the
//! keys the posts schema lists and reports the other fields rejected.
//!
//! Shopify (Admin GraphQL 2025-01): `ArticleCreateInput` / `ArticleUpdateInput` have no
//! `seo` input, only `metafields`
//! (<https://shopify.dev/docs/api/admin-graphql/2025-01/input-objects/ArticleCreateInput>);
//! the SEO title and description are the `global.title_tag` and
//! `global.description_tag` metafields the online store reads
//! (<https://shopify.dev/docs/apps/build/marketing-analytics/optimize-storefront-seo>).
//! Themes print `og:title` / `og:description` from those and `og:image` from the
//! article's image, and print the canonical URL themselves; there is no focus keyphrase.

use std::collections::BTreeSet;

use crate::domain::{Content, Publication};
use crate::ports::{SeoField, SeoFields};
use crate::publishing::article::{Material, FEATURED};

/// Most tags sent per article (the idea's secondary keywords, in order).
pub const MAX_TAGS: usize = 5;

/// An article's SEO fields and taxonomy, platform-neutral.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArticleMetadata {
    /// The SEO fields.
    pub seo: SeoFields,
    /// Category names: the cluster's name (WordPress categories; Shopify: the blog).
    pub categories: Vec<String>,
    /// Tag names: the idea's first [`MAX_TAGS`] secondary keywords.
    pub tags: Vec<String>,
}

fn non_blank(value: &str) -> Option<String> {
    let trimmed = value.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

/// The metadata of `content` for one destination whose record is `publication`:
/// SEO title = title; description = meta description; focus keyphrase = the article's
/// own, else its cluster's pillar keyword; canonical = the publication's live URL when
/// it has one (a republish), else none; Open Graph title and description = the SEO
/// ones; Open Graph image = the featured image's uploaded URL when there is one.
pub fn article_metadata(content: &Content, material: &Material, publication: &Publication) -> ArticleMetadata {
    let title = non_blank(&content.title);
    let description = non_blank(&content.meta_description);
    let focus_keyphrase = non_blank(&content.focus_keyphrase)
        .or_else(|| material.cluster.as_ref().and_then(|c| non_blank(&c.pillar_keyword)));
    let canonical_url = publication.remote_id.as_ref().and(publication.remote_url.as_deref()).and_then(non_blank);
    let og_image = material
        .images
        .iter()
        .find(|i| i.placement == FEATURED)
        .and_then(|i| publication.media.iter().find(|m| m.image_id == i.id))
        .and_then(|m| non_blank(&m.url));
    let seo = SeoFields {
        og_title: title.clone(),
        og_description: description.clone(),
        title,
        description,
        focus_keyphrase,
        canonical_url,
        og_image,
    };
    let categories = material.cluster.iter().filter_map(|c| non_blank(&c.name)).collect();
    let tags = material
        .idea
        .as_ref()
        .map(|idea| idea.secondary_keywords.iter().filter_map(|k| non_blank(k)).take(MAX_TAGS).collect())
        .unwrap_or_default();
    ArticleMetadata { seo, categories, tags }
}

/// The post meta keys that hold each SEO field on WordPress, in order of preference:
/// Yoast SEO's, then Rank Math's.
pub const WORDPRESS_META_KEYS: [(SeoField, &[&str]); 7] = [
    (SeoField::Title, &["_yoast_wpseo_title", "rank_math_title"]),
    (SeoField::Description, &["_yoast_wpseo_metadesc", "rank_math_description"]),
    (SeoField::FocusKeyphrase, &["_yoast_wpseo_focuskw", "rank_math_focus_keyword"]),
    (SeoField::Canonical, &["_yoast_wpseo_canonical", "rank_math_canonical_url"]),
    (SeoField::OgTitle, &["_yoast_wpseo_opengraph-title", "rank_math_facebook_title"]),
    (SeoField::OgDescription, &["_yoast_wpseo_opengraph-description", "rank_math_facebook_description"]),
    (SeoField::OgImage, &["_yoast_wpseo_opengraph-image", "rank_math_facebook_image"]),
];

/// What a WordPress save sends as post meta.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WordpressMeta {
    /// (field, meta key, value) for each field whose key the site registered.
    pub sent: Vec<(SeoField, &'static str, String)>,
    /// Fields with a value but no registered key: reported rejected, never pretended.
    pub unregistered: Vec<SeoField>,
}

/// Maps `seo` to the post meta keys `registered` on the site (the keys of the posts
/// schema's `meta` properties): the first registered key of each field.
pub fn wordpress_meta(seo: &SeoFields, registered: &BTreeSet<String>) -> WordpressMeta {
    let mut meta = WordpressMeta::default();
    for (field, value) in seo.present() {
        let keys = WORDPRESS_META_KEYS.iter().find(|(f, _)| *f == field).map(|(_, keys)| *keys).unwrap_or_default();
        match keys.iter().find(|k| registered.contains(**k)) {
            Some(key) => meta.sent.push((field, key, value.to_owned())),
            None => meta.unregistered.push(field),
        }
    }
    meta
}

/// A metafield of a Shopify article input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopifyMetafield {
    /// The field it carries.
    pub field: SeoField,
    /// Metafield namespace (`global`).
    pub namespace: &'static str,
    /// Metafield key (`title_tag`, `description_tag`).
    pub key: &'static str,
    /// Metafield type (`single_line_text_field`).
    pub kind: &'static str,
    /// The value.
    pub value: String,
}

/// Where a field Shopify's themes derive comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShopifySource {
    /// Printed from this field's metafield (`og:title` from `title_tag`).
    Field(SeoField),
    /// Printed from the article's image (`og:image`).
    ArticleImage,
}

/// What a Shopify article save sends for the SEO fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShopifySeo {
    /// Metafields to send.
    pub metafields: Vec<ShopifyMetafield>,
    /// Fields themes derive: accepted when their source is (and, for a field, the values
    /// are equal).
    pub derived: Vec<(SeoField, ShopifySource)>,
    /// Fields with no place on a Shopify article (focus keyphrase; canonical, which themes
    /// print themselves; an Open Graph text that differs from its SEO field).
    pub unsupported: Vec<SeoField>,
}

/// Metafield namespace and key of the SEO title and description.
const SHOPIFY_METAFIELDS: [(SeoField, &str, &str); 2] =
    [(SeoField::Title, "global", "title_tag"), (SeoField::Description, "global", "description_tag")];

/// Maps `seo` to a Shopify article's metafields and what themes derive from them.
pub fn shopify_seo(seo: &SeoFields) -> ShopifySeo {
    let mut out = ShopifySeo::default();
    for (field, value) in seo.present() {
        if let Some((_, namespace, key)) = SHOPIFY_METAFIELDS.iter().find(|(f, _, _)| *f == field) {
            out.metafields.push(ShopifyMetafield {
                field,
                namespace,
                key,
                kind: "single_line_text_field",
                value: value.to_owned(),
            });
            continue;
        }
        let source = match field {
            SeoField::OgTitle => Some(SeoField::Title),
            SeoField::OgDescription => Some(SeoField::Description),
            _ => None,
        };
        match (field, source) {
            (SeoField::OgImage, _) => out.derived.push((field, ShopifySource::ArticleImage)),
            (_, Some(source)) if seo.get(source) == Some(value) => {
                out.derived.push((field, ShopifySource::Field(source)));
            }
            _ => out.unsupported.push(field),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        AccountId, Cluster, ClusterId, ClusterStatus, ContentId, ContentStatus, Idea, IdeaId, IdeaStatus, ImageId,
        ImageRecord, ImageStatus, IntegrationId, Platform, PublicationState, PublishedMedia, RemoteStatus,
        ReviewStatus, RunId, SiteId, TaskId,
    };

    fn content() -> Content {
        Content {
            id: ContentId::derive("c"),
            account_id: AccountId::derive("a"),
            site_id: SiteId::derive("s"),
            task_id: TaskId::derive("t"),
            run_id: RunId::derive("r"),
            title: "Best Running Shoes".into(),
            html: "<h1>Best Running Shoes</h1><p>x</p>".into(),
            word_count: 1,
            meta_description: "  The best running shoes.  ".into(),
            status: ContentStatus::PromptsReady,
            review: ReviewStatus::Approved,
            focus_keyphrase: String::new(),
            linked_at: None,
            created_at: String::new(),
        }
    }

    fn material() -> Material {
        let cluster = Cluster {
            id: ClusterId::derive("k"),
            account_id: AccountId::derive("a"),
            site_id: SiteId::derive("s"),
            run_id: RunId::derive("r"),
            name: "Running Shoes".into(),
            pillar_keyword: "running shoes".into(),
            keyword_ids: Vec::new(),
            intent: "commercial".into(),
            total_volume: 0,
            description: String::new(),
            status: ClusterStatus::IdeasGenerated,
            created_at: String::new(),
        };
        let idea = Idea {
            id: IdeaId::derive("i"),
            account_id: AccountId::derive("a"),
            site_id: SiteId::derive("s"),
            cluster_id: cluster.id.clone(),
            run_id: RunId::derive("r"),
            title: String::new(),
            outline: Vec::new(),
            target_keyword: String::new(),
            secondary_keywords: ["trail", " ", "road", "a", "b", "c", "d"].map(str::to_owned).to_vec(),
            word_target: 0,
            content_type: String::new(),
            status: IdeaStatus::Queued,
            created_at: String::new(),
        };
        let featured = ImageRecord {
            id: ImageId::derive("c/0"),
            account_id: AccountId::derive("a"),
            site_id: SiteId::derive("s"),
            content_id: ContentId::derive("c"),
            run_id: RunId::derive("r"),
            prompt: String::new(),
            alt_text: String::new(),
            placement: FEATURED.into(),
            heading: None,
            status: ImageStatus::Generated,
            blob_key: Some("k".into()),
            created_at: String::new(),
        };
        Material::new(vec![featured], Some(cluster), Some(idea))
    }

    fn publication() -> Publication {
        Publication {
            account_id: AccountId::derive("a"),
            site_id: SiteId::derive("s"),
            content_id: ContentId::derive("c"),
            integration_id: IntegrationId::derive("i"),
            platform: Platform::Wordpress,
            state: PublicationState::InProgress,
            requested_status: RemoteStatus::Publish,
            publish_at: None,
            slug: "best-running-shoes".into(),
            remote_id: None,
            remote_url: None,
            remote_status: None,
            remote_modified: None,
            media: Vec::new(),
            featured_media: None,
            seo_accepted: Vec::new(),
            seo_rejected: Vec::new(),
            skipped_terms: Vec::new(),
            attempts: 1,
            last_error: None,
            needs_update: false,
            published_at: None,
            updated_at: String::new(),
        }
    }

    #[test]
    fn a_first_publish_has_no_canonical_and_no_image_until_uploaded() {
        let m = article_metadata(&content(), &material(), &publication());
        assert_eq!(
            m.seo,
            SeoFields {
                title: Some("Best Running Shoes".into()),
                description: Some("The best running shoes.".into()),
                focus_keyphrase: Some("running shoes".into()),
                canonical_url: None,
                og_title: Some("Best Running Shoes".into()),
                og_description: Some("The best running shoes.".into()),
                og_image: None,
            }
        );
        assert_eq!(m.categories, vec!["Running Shoes".to_owned()]);
        assert_eq!(m.tags, ["trail", "road", "a", "b", "c"].map(str::to_owned).to_vec(), "blank skipped, capped");
    }

    #[test]
    fn a_republish_is_canonical_to_its_live_url_and_shows_the_featured_image() {
        let mut p = publication();
        p.remote_id = Some("42".into());
        p.remote_url = Some("https://blog.example.com/best-running-shoes/".into());
        p.media = vec![PublishedMedia {
            image_id: ImageId::derive("c/0"),
            remote_id: "7".into(),
            url: "https://blog.example.com/wp-content/uploads/f.png".into(),
        }];
        let mut c = content();
        c.focus_keyphrase = "trail running shoes".into();
        c.meta_description = String::new();
        let m = article_metadata(&c, &material(), &p);
        assert_eq!(m.seo.canonical_url.as_deref(), Some("https://blog.example.com/best-running-shoes/"));
        assert_eq!(m.seo.og_image.as_deref(), Some("https://blog.example.com/wp-content/uploads/f.png"));
        assert_eq!(m.seo.focus_keyphrase.as_deref(), Some("trail running shoes"), "the article's own first");
        assert_eq!((m.seo.description, m.seo.og_description), (None, None));
        // A URL without a remote id (deleted remotely, to be made anew) is not canonical.
        p.remote_id = None;
        assert_eq!(article_metadata(&c, &material(), &p).seo.canonical_url, None);
    }

    fn full() -> SeoFields {
        SeoFields {
            title: Some("T".into()),
            description: Some("D".into()),
            focus_keyphrase: Some("k".into()),
            canonical_url: Some("https://x/".into()),
            og_title: Some("T".into()),
            og_description: Some("Other".into()),
            og_image: Some("https://x/i.png".into()),
        }
    }

    #[test]
    fn wordpress_sends_the_registered_keys_only_yoast_first() {
        let registered: BTreeSet<String> = [
            "_yoast_wpseo_title",
            "rank_math_title",
            "_yoast_wpseo_metadesc",
            "rank_math_focus_keyword",
            "_yoast_wpseo_canonical",
            "_yoast_wpseo_opengraph-title",
            "_yoast_wpseo_opengraph-description",
            "_yoast_wpseo_opengraph-image",
        ]
        .map(str::to_owned)
        .into();
        let meta = wordpress_meta(&full(), &registered);
        let sent: Vec<(SeoField, &str, &str)> = meta.sent.iter().map(|(f, k, v)| (*f, *k, v.as_str())).collect();
        assert_eq!(
            sent,
            vec![
                (SeoField::Title, "_yoast_wpseo_title", "T"),
                (SeoField::Description, "_yoast_wpseo_metadesc", "D"),
                (SeoField::FocusKeyphrase, "rank_math_focus_keyword", "k"),
                (SeoField::Canonical, "_yoast_wpseo_canonical", "https://x/"),
                (SeoField::OgTitle, "_yoast_wpseo_opengraph-title", "T"),
                (SeoField::OgDescription, "_yoast_wpseo_opengraph-description", "Other"),
                (SeoField::OgImage, "_yoast_wpseo_opengraph-image", "https://x/i.png"),
            ]
        );
        assert!(meta.unregistered.is_empty());
        // A bare WordPress registers nothing: every field present is reported, none sent.
        let bare = wordpress_meta(&SeoFields { canonical_url: None, ..full() }, &BTreeSet::new());
        assert!(bare.sent.is_empty());
        assert_eq!(bare.unregistered.len(), 6);
        assert!(!bare.unregistered.contains(&SeoField::Canonical), "absent fields are not reported");
    }

    #[test]
    fn shopify_sends_title_and_description_metafields_and_derives_open_graph() {
        let seo = shopify_seo(&full());
        let metafields: Vec<(SeoField, &str, &str, &str)> =
            seo.metafields.iter().map(|m| (m.field, m.namespace, m.key, m.value.as_str())).collect();
        assert_eq!(
            metafields,
            vec![
                (SeoField::Title, "global", "title_tag", "T"),
                (SeoField::Description, "global", "description_tag", "D")
            ]
        );
        assert!(seo.metafields.iter().all(|m| m.kind == "single_line_text_field"));
        assert_eq!(
            seo.derived,
            vec![
                (SeoField::OgTitle, ShopifySource::Field(SeoField::Title)),
                (SeoField::OgImage, ShopifySource::ArticleImage)
            ]
        );
        // An Open Graph description unlike the meta description has nowhere to go.
        assert_eq!(seo.unsupported, vec![SeoField::FocusKeyphrase, SeoField::Canonical, SeoField::OgDescription]);
        assert_eq!(shopify_seo(&SeoFields::default()), ShopifySeo::default());
    }
}
