//! `igny8 content list|show|export`: the articles runs wrote, readable without the
//! HTTP API. Articles are stored as HTML (`Content::html`, an `<h1>` and `<h2>`
//! sections); the export writes each as a standalone HTML page and as Markdown
//! (converted by htmd), with its generated images copied beside it, and an index.html
//! linking them all.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use igny8_core::domain::{Content, ContentId, ImageRecord, ImageStatus};
use serde_json::json;

use crate::args::ContentCommand;
use crate::commands::Output;
use igny8_ai::offline::text::escape_html as escape;

use crate::error::CliError;
use crate::keywords::{listing, open_site, SiteScope};
use crate::run::Target;

/// A file-name-safe slug of a title (ASCII letters and digits joined by '-', at most
/// 60 characters); `fallback` when nothing is left.
fn slug(title: &str, fallback: &str) -> String {
    let mut out = String::new();
    for word in title.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()) {
        if out.len() + word.len() + 1 > 60 {
            break;
        }
        if !out.is_empty() {
            out.push('-');
        }
        out.push_str(&word.to_ascii_lowercase());
    }
    if out.is_empty() {
        fallback.to_owned()
    } else {
        out
    }
}

fn markdown(html: &str) -> Result<String, CliError> {
    htmd::convert(html).map_err(|e| CliError::Failure(format!("cannot convert the article to Markdown: {e}")))
}

fn content_line(c: &Content) -> String {
    format!("{} {:>5} words  {:?}  {}", c.id, c.word_count, c.status, c.title)
}

/// An image placed in an article: the file name beside the article and its record.
struct Placed<'a> {
    file: String,
    image: &'a ImageRecord,
}

/// The article's body with its images: the featured image after the `<h1>`, each
/// other image after the `<h2>` it was drawn for (at the end when that heading is
/// gone).
fn body_with_images(html: &str, images: &[Placed<'_>]) -> String {
    let figure = |p: &Placed<'_>| {
        format!("\n<figure><img src=\"{}\" alt=\"{}\"></figure>\n", escape(&p.file), escape(&p.image.alt_text))
    };
    let mut body = html.to_owned();
    let mut tail = String::new();
    for placed in images {
        let anchor = match (&placed.image.heading, placed.image.placement.as_str()) {
            (_, "featured") => body.find("</h1>").map(|i| i + "</h1>".len()),
            (Some(heading), _) => {
                let tag = format!("<h2>{}</h2>", escape(heading));
                body.find(&tag).map(|i| i + tag.len())
            }
            (None, _) => None,
        };
        match anchor {
            Some(at) => body.insert_str(at, &figure(placed)),
            None => tail.push_str(&figure(placed)),
        }
    }
    body.push_str(&tail);
    body
}

/// A whole HTML page around an article body.
fn page(title: &str, description: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<meta name=\"description\" content=\"{}\">\n<style>body{{max-width:46rem;margin:2rem auto;padding:0 1rem;font:1.05rem/1.6 system-ui,sans-serif}}img{{max-width:100%}}</style>\n</head>\n<body>\n<article>\n{body}\n</article>\n</body>\n</html>\n",
        escape(title),
        escape(description)
    )
}

fn write(path: &Path, body: &[u8]) -> Result<(), CliError> {
    std::fs::write(path, body).map_err(|e| CliError::Failure(format!("cannot write {}: {e}", path.display())))
}

/// What one exported article became.
struct Exported {
    content: Content,
    dir: String,
    images: usize,
}

/// Writes every article of the site under `out`.
async fn export(scope: &SiteScope, out: &Path) -> Result<Output, CliError> {
    let mut articles = scope.all::<Content>().await?;
    articles.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.id.as_str().cmp(b.id.as_str())));
    let mut images: HashMap<ContentId, Vec<ImageRecord>> = HashMap::new();
    for image in scope.all::<ImageRecord>().await? {
        images.entry(image.content_id.clone()).or_default().push(image);
    }
    std::fs::create_dir_all(out)
        .map_err(|e| CliError::invalid("unwritable_folder", format!("cannot create {}: {e}", out.display())))?;
    let mut used: BTreeMap<String, usize> = BTreeMap::new();
    let mut exported = Vec::with_capacity(articles.len());
    for content in articles {
        let base = slug(&content.title, content.id.as_str());
        let n = used.entry(base.clone()).or_insert(0);
        *n += 1;
        let dir = if *n == 1 { base } else { format!("{base}-{n}") };
        let folder = out.join(&dir);
        std::fs::create_dir_all(&folder)
            .map_err(|e| CliError::Failure(format!("cannot create {}: {e}", folder.display())))?;
        let mut own = images.remove(&content.id).unwrap_or_default();
        own.sort_by(|a, b| (a.placement != "featured", a.id.as_str()).cmp(&(b.placement != "featured", b.id.as_str())));
        let mut placed = Vec::new();
        for (i, image) in own.iter().enumerate() {
            let Some(key) = image.blob_key.as_deref().filter(|_| image.status == ImageStatus::Generated) else {
                continue;
            };
            let Some(png) = scope.rt.blobs.get(key).await.map_err(|e| CliError::Failure(e.to_string()))? else {
                continue;
            };
            let file =
                if image.placement == "featured" { "featured.png".to_owned() } else { format!("figure-{i}.png") };
            write(&folder.join(&file), &png)?;
            placed.push(Placed { file, image });
        }
        let body = body_with_images(&content.html, &placed);
        write(&folder.join("article.html"), page(&content.title, &content.meta_description, &body).as_bytes())?;
        write(&folder.join("article.md"), markdown(&body)?.as_bytes())?;
        exported.push(Exported { images: placed.len(), content, dir });
    }
    let items: String = exported
        .iter()
        .map(|e| {
            format!(
                "<li><a href=\"{dir}/article.html\">{}</a> <small>({} words, {} images · <a href=\"{dir}/article.md\">Markdown</a>)</small><br>{}</li>\n",
                escape(&e.content.title),
                e.content.word_count,
                e.images,
                escape(&e.content.meta_description),
                dir = escape(&e.dir),
            )
        })
        .collect();
    let title = format!("Articles of site {}", scope.site);
    let index = page(&title, &title, &format!("<h1>{}</h1>\n<ol>\n{items}</ol>", escape(&title)));
    let index_path = out.join("index.html");
    write(&index_path, index.as_bytes())?;
    let total_images: usize = exported.iter().map(|e| e.images).sum();
    let doc = json!({
        "site_id": scope.site,
        "index": index_path,
        "articles": exported.iter().map(|e| json!({
            "id": e.content.id,
            "title": e.content.title,
            "html": out.join(&e.dir).join("article.html"),
            "markdown": out.join(&e.dir).join("article.md"),
            "images": e.images,
        })).collect::<Vec<_>>(),
    });
    let text = format!(
        "{} articles ({} images) written to {}; open {}",
        exported.len(),
        total_images,
        out.display(),
        index_path.display()
    );
    Ok(Output::new(doc, text))
}

/// `igny8 content …`.
pub async fn content(target: &Target, cmd: ContentCommand) -> Result<Output, CliError> {
    match cmd {
        ContentCommand::List { site, paging } => {
            let scope = open_site(target, &site).await?;
            listing("content", scope.page::<Content>(&paging).await?, content_line)
        }
        ContentCommand::Show { site, id } => {
            let scope = open_site(target, &site).await?;
            let id: ContentId = id.parse()?;
            let content = scope.records.get::<Content>(&scope.account, &scope.site, id.as_str(), "content").await?;
            let md = markdown(&content.html)?;
            let text = format!(
                "{}\n{} words · {:?} · run {} · {}\n{}\n\n{}",
                content.id,
                content.word_count,
                content.status,
                content.run_id,
                content.created_at,
                content.meta_description,
                md.trim_end()
            );
            Ok(Output::new(json!({"content": content, "markdown": md}), text))
        }
        review @ (ContentCommand::Approve { .. } | ContentCommand::Unapprove { .. }) => {
            crate::publishing::review(target, review).await
        }
        ContentCommand::Export { site, out } => {
            let scope = open_site(target, &site).await?;
            export(&scope, &out).await
        }
        checks @ (ContentCommand::Analyze { .. }
        | ContentCommand::Validate { .. }
        | ContentCommand::Optimize { .. }) => crate::optimization::content(target, checks).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_safe_and_fall_back() {
        assert_eq!(
            slug("Best Running Shoes in 2026: Our Top Picks", "cnt_1"),
            "best-running-shoes-in-2026-our-top-picks"
        );
        assert_eq!(slug("日本語", "cnt_1"), "cnt_1");
        assert!(slug(&"word ".repeat(40), "x").len() <= 60);
    }
}
