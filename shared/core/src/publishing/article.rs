//! How an article becomes what a platform receives: its stable slug, its body with the
//! images pointing at the uploaded media, and the whole payload (SEO, terms, featured
//! image). Pure functions, so the rules are tested without a platform.

use igny8_ai::offline::text::escape_html as escape;

use crate::domain::{Cluster, Content, Idea, ImageRecord, ImageStatus, Publication, PublishedMedia, RemoteStatus};
use crate::ports::{ArticlePayload, SeoFields};

/// Longest slug sent (WordPress allows 200; shorter reads better in a URL).
pub const MAX_SLUG_LEN: usize = 80;

/// Most tags sent per article (the idea's secondary keywords, in order).
pub const MAX_TAGS: usize = 5;

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

/// The whole payload of `content` for one destination whose record is `publication`
/// (media already uploaded there).
pub fn payload(
    content: &Content,
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
    let tags = material
        .idea
        .as_ref()
        .map(|idea| idea.secondary_keywords.iter().filter(|k| !k.trim().is_empty()).take(MAX_TAGS).cloned().collect())
        .unwrap_or_default();
    ArticlePayload {
        title: content.title.clone(),
        slug: publication.slug.clone(),
        html: body(&content.html, &material.images, &publication.media),
        excerpt: content.meta_description.clone(),
        status,
        publish_at,
        categories: material.cluster.iter().map(|c| c.name.clone()).filter(|n| !n.trim().is_empty()).collect(),
        tags,
        featured_media,
        author_name,
        seo: SeoFields {
            title: Some(content.title.clone()),
            description: Some(content.meta_description.clone()).filter(|d| !d.trim().is_empty()),
            focus_keyphrase: material.cluster.as_ref().map(|c| c.pillar_keyword.clone()).filter(|k| !k.is_empty()),
        },
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

    #[test]
    fn images_not_uploaded_are_left_out() {
        let fit = image(1, "in_article", Some("Fit"));
        assert_eq!(body("<p>a</p><h2>Fit</h2>", &[fit], &[]), "<p>a</p><h2>Fit</h2>");
    }
}
