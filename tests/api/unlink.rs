//! Takes the linker's links out of a stored article (their anchor text stays), so a
//! test can show that applying links puts them back: a run links its articles itself
//! (the run's linking stage), which would leave the routes and commands nothing to add.
//! Shared by the API tests and the CLI tests (`#[path]`).

use std::sync::Arc;

use igny8_core::domain::{Content, SiteId};
use igny8_core::ports::ItemStore;
use igny8_core::repo::{Records, SiteRecord};

/// The marker attribute of the linker's links.
pub const MARKER: &str = "data-igny8-link=";

/// `html` without the linker's `<a …data-igny8-link=…>anchor</a>` elements, their anchor
/// text kept in place.
pub fn strip_links(html: &str) -> String {
    let mut out = html.to_owned();
    while let Some(at) = out.find(MARKER) {
        let start = out[..at].rfind("<a").expect("the marker is inside an <a> tag");
        let open_end = at + out[at..].find('>').expect("the tag closes");
        let close = open_end + out[open_end..].find("</a>").expect("the link closes");
        let anchor = out[open_end + 1..close].to_owned();
        out.replace_range(start..close + "</a>".len(), &anchor);
    }
    out
}

/// Removes the linker's links from the first article of `site` that has some and
/// marks it not linked; returns its id (None when no article has links).
pub async fn unlink_one(store: Arc<dyn ItemStore>, site: &SiteId) -> Option<String> {
    let records = Records::<Content>::new(Arc::clone(&store));
    let mut articles = records.all(site).await.expect("articles");
    articles.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    let mut article = articles.into_iter().find(|c| c.html.contains(MARKER))?;
    article.html = strip_links(&article.html);
    article.linked_at = None;
    let write = records.transition(&article, &article.status_name()).expect("write");
    store.transact(vec![write]).await.expect("unlink");
    Some(article.id.to_string())
}

#[test]
fn stripping_keeps_the_anchor_text_and_other_links() {
    let html =
        r#"<p>See <a href="/a/" data-igny8-link="cnt_a">running shoes</a> and <a href="https://x.example/">x</a>.</p>"#;
    assert_eq!(strip_links(html), r#"<p>See running shoes and <a href="https://x.example/">x</a>.</p>"#);
}
