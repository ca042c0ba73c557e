//! How an article becomes what a platform receives: its stable slug, the article as
//! validation reads it, its body with the images pointing at the uploaded media, and
//! the whole payload (SEO and terms from [`super::metadata`], featured image). Pure
//! functions, so the rules are tested without a platform.

use igny8_ai::offline::text::escape_html as escape;
use igny8_seo::ArticleText;

use crate::domain::{Cluster, Content, Idea, ImageRecord, ImageStatus, Publication, PublishedMedia, RemoteStatus};
use crate::ports::ArticlePayload;
use crate::publishing::metadata;

/// Longest slug sent (WordPress allows 200; shorter reads better in a URL).
pub const MAX_SLUG_LEN: usize = 80;

/// The placement of the image shown as the post's featured image.
pub const FEATURED: &str = "featured";

/// The slug of a title: lowercase ASCII letters and digits joined by single hyphens,
/// at most [`MAX_SLUG_LEN`] bytes; `fallback` (the content id) when nothing is left.
pub fn slugify(title: &str, fallback: &str) -> String {
    let mut slug = String::with_capacity(title.len());
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    if slug.len() > MAX_SLUG_LEN {
        slug.truncate(MAX_SLUG_LEN);
    }
    let slug = slug.trim_matches('-').to_owned();
    if slug.is_empty() {
        fallback.to_ascii_lowercase().replace('_', "-")
    } else {
        slug
    }
}

/// What an article is sent with besides its own record: its generated images and the
/// terms found through its task → idea → cluster.
#[derive(Debug, Clone, Default)]
pub struct Material {
    /// Images with a stored file, the featured one first.
    pub images: Vec<ImageRecord>,
    /// The cluster the article serves.
    pub cluster: Option<Cluster>,
    /// The idea it was written from.
    pub idea: Option<Idea>,
}

impl Material {
    /// The material, keeping only generated images that have a file, featured first.
    pub fn new(images: Vec<ImageRecord>, cluster: Option<Cluster>, idea: Option<Idea>) -> Self {
        let mut images: Vec<ImageRecord> =
            images.into_iter().filter(|i| i.status == ImageStatus::Generated && i.blob_key.is_some()).collect();
        images.sort_by(|a, b| (a.placement != FEATURED, a.id.as_str()).cmp(&(b.placement != FEATURED, b.id.as_str())));
        Self { images, cluster, idea }
    }
}

/// The article body as sent: the leading `<h1>` dropped (the title is sent on its own
/// and themes print it), each in-article image after the `<h2>` it was drawn for (at
/// the end when that heading is gone), pointing at its uploaded URL. The featured
/// image is not in the body: it is the post's featured media.
pub fn body(html: &str, images: &[ImageRecord], media: &[PublishedMedia]) -> String {
    let mut body = strip_title(html).to_owned();
    let mut tail = String::new();
    for image in images.iter().filter(|i| i.placement != FEATURED) {
        let Some(uploaded) = media.iter().find(|m| m.image_id == image.id) else { continue };
        let figure =
            format!("\n<figure><img src=\"{}\" alt=\"{}\"></figure>\n", escape(&uploaded.url), escape(&image.alt_text));
        let anchor = image.heading.as_ref().and_then(|heading| {
            let tag = format!("<h2>{}</h2>", escape(heading));
            body.find(&tag).map(|i| i + tag.len())
        });
        match anchor {
            Some(at) => body.insert_str(at, &figure),
            None => tail.push_str(&figure),
        }
    }
    body.push_str(&tail);
    body
}

fn strip_title(html: &str) -> &str {
    let trimmed = html.trim_start();
    if trimmed.starts_with("<h1") {
        if let Some(end) = trimmed.find("</h1>") {
            return trimmed[end + "</h1>".len()..].trim_start();
        }
    }
    html
}

/// The article as validation reads it before approval and publishing: its title (also
/// the SEO title: articles have no separate one), the slug publishing sends, its meta
/// description, body and focus keyphrase.
pub fn article_text(content: &Content, slug: &str) -> ArticleText {
    ArticleText {
        title: content.title.clone(),
        seo_title: content.title.clone(),
        slug: slug.to_owned(),
        meta_description: content.meta_description.clone(),
        html: content.html.clone(),
        focus_keyphrase: content.focus_keyphrase.clone(),
        language: String::new(),
        site_host: String::new(),
    }
}

/// The whole payload of `content` for one destination whose record is `publication`
/// (media already uploaded there); `html` is the body as validated (scripts and the
/// like stripped).
pub fn payload(
    content: &Content,
    html: &str,
    material: &Material,
    publication: &Publication,
    status: RemoteStatus,
    publish_at: Option<String>,
    author_name: Option<String>,
) -> ArticlePayload {
    let featured_media = material
        .images
        .iter()
        .find(|i| i.placement == FEATURED)
        .and_then(|i| publication.media.iter().find(|m| m.image_id == i.id))
        .map(|m| m.remote_id.clone());
    let meta = metadata::article_metadata(content, material, publication);
    ArticlePayload {
        title: content.title.clone(),
        slug: publication.slug.clone(),
        html: body(html, &material.images, &publication.media),
        excerpt: content.meta_description.clone(),
        status,
        publish_at,
        categories: meta.categories,
        tags: meta.tags,
        featured_media,
        author_name,
        seo: meta.seo,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AccountId, ContentId, ImageId, RunId, SiteId};

    fn image(n: u32, placement: &str, heading: Option<&str>) -> ImageRecord {
        ImageRecord {
            id: ImageId::derive(&format!("c/{n}")),
            account_id: AccountId::derive("a"),
            site_id: SiteId::derive("s"),
            content_id: ContentId::derive("c"),
            run_id: RunId::derive("r"),
            prompt: String::new(),
            alt_text: format!("alt \"{n}\""),
            placement: placement.into(),
            heading: heading.map(str::to_owned),
            status: ImageStatus::Generated,
            blob_key: Some(format!("k/{n}")),
            created_at: String::new(),
        }
    }

    fn media(image: &ImageRecord, url: &str) -> PublishedMedia {
        PublishedMedia { image_id: image.id.clone(), remote_id: "7".into(), url: url.into() }
    }

    #[test]
    fn slugs_are_lowercase_ascii_with_single_hyphens() {
        assert_eq!(
            slugify("Best Running Shoes in 2026: Our Top Picks!", "cnt_1"),
            "best-running-shoes-in-2026-our-top-picks"
        );
        assert_eq!(slugify("  Café & Crème — ÉTÉ  ", "cnt_1"), "caf-cr-me-t");
        assert_eq!(slugify("¿?", "cnt_ab"), "cnt-ab");
        assert!(slugify(&"word ".repeat(40), "x").len() <= MAX_SLUG_LEN);
        assert!(!slugify(&"word ".repeat(40), "x").ends_with('-'));
    }

    #[test]
    fn images_go_under_their_heading_and_the_title_and_featured_image_stay_out() {
        let featured = image(0, FEATURED, None);
        let fit = image(1, "in_article", Some("Fit & Feel"));
        let lost = image(2, "in_article", Some("Gone"));
        let html = "<h1>Shoes</h1><p>Intro.</p><h2>Fit &amp; Feel</h2><p>Text.</p>";
        let uploaded =
            [media(&featured, "https://x/f.png"), media(&fit, "https://x/1.png"), media(&lost, "https://x/2.png")];
        let out = body(html, &[featured, fit, lost], &uploaded);
        assert!(!out.contains("<h1>") && !out.contains("f.png"), "{out}");
        let at_heading =
            out.find("<h2>Fit &amp; Feel</h2>\n<figure><img src=\"https://x/1.png\" alt=\"alt &quot;1&quot;\">");
        assert!(at_heading.is_some(), "{out}");
        assert!(
            out.trim_end().ends_with("<figure><img src=\"https://x/2.png\" alt=\"alt &quot;2&quot;\"></figure>"),
            "{out}"
        );
    }

    /// Every article the offline provider writes for the example keywords (clustered,
    /// ideas, articles, as a run makes them) validates without errors: approval and the
    /// run's publishing stage would refuse it otherwise.
    #[test]
    fn every_article_the_offline_provider_writes_validates_without_errors() {
        use igny8_ai::offline::{article::generate_article, cluster::cluster_keywords, ideas::generate_ideas};
        use igny8_ai::{ClusterOptions, KeywordInput};

        let csv = include_str!("../../../../examples/keywords.csv");
        let keywords: Vec<KeywordInput> = csv
            .lines()
            .skip(1)
            .filter_map(|line| {
                let mut fields = line.split(',');
                let keyword = fields.next()?;
                let volume = fields.nth(1)?.parse().ok()?;
                Some(KeywordInput::new(keyword, volume))
            })
            .collect();
        assert!(keywords.len() > 500);
        let clusters = cluster_keywords(&keywords, &ClusterOptions::default()).expect("clusters");
        let mut checked = 0;
        for cluster in clusters.iter().take(40) {
            for idea in generate_ideas(cluster, &keywords, 2, 2026).expect("ideas") {
                let written = generate_article(&idea, idea.word_target).expect("article");
                let content = Content {
                    id: ContentId::derive(&idea.title),
                    account_id: AccountId::derive("a"),
                    site_id: SiteId::derive("s"),
                    task_id: crate::domain::TaskId::derive("t"),
                    run_id: RunId::derive("r"),
                    title: written.title,
                    html: written.html,
                    word_count: written.word_count,
                    meta_description: written.meta_description,
                    status: crate::domain::ContentStatus::Draft,
                    review: crate::domain::ReviewStatus::Draft,
                    focus_keyphrase: idea.target_keyword.clone(),
                    linked_at: None,
                    created_at: String::new(),
                };
                let slug = slugify(&content.title, content.id.as_str());
                let report = igny8_seo::validate(&article_text(&content, &slug));
                assert!(!report.is_blocking(), "{}: {:#?}", content.title, report.issues);
                assert_eq!(report.sanitized_html, None, "nothing to strip in {}", content.title);
                checked += 1;
            }
        }
        assert!(checked >= 40, "only {checked} articles");
    }

    #[test]
    fn images_not_uploaded_are_left_out() {
        let fit = image(1, "in_article", Some("Fit"));
        assert_eq!(body("<p>a</p><h2>Fit</h2>", &[fit], &[]), "<p>a</p><h2>Fit</h2>");
    }
}
