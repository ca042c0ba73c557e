//! Prepares a stored article for a linking test: the linker's links taken out (their
//! anchor text stays) and a sentence naming another article added, so applying links
//! has something certain to add — a run links its articles itself (the run's linking
//! stage), and a small run's articles need not share a phrase. Shared by the API tests
//! and the CLI tests (`#[path]`).

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

/// Makes two articles of `site` related whatever the run wrote: the first (in id order)
/// loses the linker's links and gains a paragraph naming the second's focus keyphrase
/// (its title when it has none), and is marked not linked. Returns (source, target ids,
/// the phrase): a test can then expect a link from the source to the target on it.
pub async fn relate_two(store: Arc<dyn ItemStore>, site: &SiteId) -> (String, String, String) {
    let records = Records::<Content>::new(Arc::clone(&store));
    let mut articles = records.all(site).await.expect("articles");
    articles.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    assert!(articles.len() >= 2, "the site has two articles");
    let target = articles.remove(1);
    let mut source = articles.remove(0);
    let phrase =
        if target.focus_keyphrase.trim().is_empty() { target.title.clone() } else { target.focus_keyphrase.clone() };
    source.html = strip_links(&source.html);
    source.html.push_str(&format!("\n<p>Many readers compare this with {phrase} before they decide.</p>\n"));
    source.linked_at = None;
    let write = records.transition(&source, &source.status_name()).expect("write");
    store.transact(vec![write]).await.expect("relate");
    (source.id.to_string(), target.id.to_string(), phrase)
}

#[test]
fn stripping_keeps_the_anchor_text_and_other_links() {
    let html =
        r#"<p>See <a href="/a/" data-igny8-link="cnt_a">running shoes</a> and <a href="https://x.example/">x</a>.</p>"#;
    assert_eq!(strip_links(html), r#"<p>See running shoes and <a href="https://x.example/">x</a>.</p>"#);
}
