//! `igny8 links suggest|apply`: internal links between a site's articles — the links
//! the engines would add (anchor, target, relevance) and inserting them, through the
//! same linker service the API and the run's linking stage use.

use igny8_core::domain::ContentId;
use igny8_core::linking::{ArticleLinks, LinkReport};
use serde_json::json;

use crate::args::LinksCommand;
use crate::commands::Output;
use crate::error::CliError;
use crate::keywords::open_site;
use crate::run::Target;

fn to_json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, CliError> {
    serde_json::to_value(value).map_err(|e| CliError::Failure(e.to_string()))
}

/// An article's links: a heading line, then one line a link.
fn article_lines(article: &ArticleLinks, lines: &mut Vec<String>) {
    lines.push(format!("{} {}", article.content_id, article.title));
    for link in &article.links {
        lines.push(format!(
            "  {:?} -> {} {} ({:.2}) {}",
            link.anchor, link.target, link.target_title, link.relevance, link.url
        ));
    }
}

fn report_text(report: &LinkReport) -> String {
    let mut lines = Vec::new();
    for article in &report.details {
        article_lines(article, &mut lines);
    }
    lines.push(format!(
        "{} articles looked at, {} changed: {} links added, {} updated; {} publications marked for update",
        report.articles, report.changed, report.links_added, report.links_updated, report.marked_for_update
    ));
    lines.join("\n")
}

/// `igny8 links …`.
pub async fn links(target: &Target, cmd: LinksCommand) -> Result<Output, CliError> {
    let (site, content) = match &cmd {
        LinksCommand::Suggest { site, content } | LinksCommand::Apply { site, content } => (site, content),
    };
    // A malformed id is refused before anything is opened.
    let content: Option<ContentId> = content.as_deref().map(str::parse).transpose()?;
    let scope = open_site(target, site).await?;
    let linking = &scope.rt.services.linking;
    match cmd {
        LinksCommand::Suggest { .. } => {
            let items = linking.suggest(&scope.account, &scope.site, content.as_ref()).await?;
            let mut lines = Vec::new();
            for article in &items {
                article_lines(article, &mut lines);
            }
            let total: usize = items.iter().map(|a| a.links.len()).sum();
            lines.push(format!("{total} links suggested for {} articles", items.len()));
            Ok(Output::new(json!({ "suggestions": to_json(&items)? }), lines.join("\n")))
        }
        LinksCommand::Apply { .. } => {
            let report = linking.apply(&scope.account, &scope.site, content.as_ref()).await?;
            Ok(Output::new(to_json(&report)?, report_text(&report)))
        }
    }
}
