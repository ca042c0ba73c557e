//! `igny8 content approve|unapprove`, `igny8 publish` and `igny8 publications`: review
//! and publishing from a terminal, through the PublishingService the API uses. Only
//! approved articles are published unless `--include-unapproved` says otherwise; a
//! repeat updates the same remote posts, never makes second ones.

use igny8_core::domain::{ContentId, IntegrationId, Publication, RemoteStatus};
use igny8_core::publishing::{PublishOutcome, PublishRequest};
use serde_json::json;

use crate::args::{ContentCommand, PublishArgs, PublishStatusArg, SiteArg};
use crate::commands::Output;
use crate::error::CliError;
use crate::keywords::open_site;
use crate::run::Target;

/// Exit status when some article failed on some destination (the outcomes are printed).
const SOME_FAILED: u8 = 3;

fn to_json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, CliError> {
    serde_json::to_value(value).map_err(|e| CliError::Failure(e.to_string()))
}

/// `content approve` and `content unapprove`.
pub async fn review(target: &Target, cmd: ContentCommand) -> Result<Output, CliError> {
    match cmd {
        ContentCommand::Approve { site, content: None, all: true } => {
            let scope = open_site(target, &site).await?;
            let approved = scope.rt.services.publishing.approve_all(&scope.account, &scope.site).await?.approved;
            Ok(Output::new(json!({ "approved": approved }), format!("approved {approved} articles")))
        }
        ContentCommand::Approve { site, content: Some(id), all: false } => {
            let scope = open_site(target, &site).await?;
            let id: ContentId = id.parse()?;
            let content = scope.rt.services.publishing.approve(&scope.account, &scope.site, &id).await?;
            let text = format!("{} {:?}: {}", content.id, content.review, content.title).to_lowercase();
            Ok(Output::new(to_json(&content)?, text))
        }
        ContentCommand::Unapprove { site, content } => {
            let scope = open_site(target, &site).await?;
            let id: ContentId = content.parse()?;
            let content = scope.rt.services.publishing.unapprove(&scope.account, &scope.site, &id).await?;
            let text = format!("{} {:?}: {}", content.id, content.review, content.title).to_lowercase();
            Ok(Output::new(to_json(&content)?, text))
        }
        _ => Err(CliError::invalid("validation_failed", "give --content ID or --all")),
    }
}

fn outcome_line(o: &PublishOutcome) -> String {
    let at = o.publication.as_ref();
    if o.success {
        let remote = at.and_then(|p| p.remote_id.as_deref()).unwrap_or("-");
        let status = at.and_then(|p| p.remote_status.as_deref()).unwrap_or("-");
        let url = at.and_then(|p| p.remote_url.as_deref()).unwrap_or("");
        format!("{} -> {}: {status} #{remote} {url}", o.content_id, o.integration_id).trim_end().to_owned()
    } else {
        let why = o.error.as_ref().map_or_else(
            || "failed".to_owned(),
            |e| match &e.platform_code {
                Some(p) => format!("{} ({p}): {}", e.code, e.message),
                None => format!("{}: {}", e.code, e.message),
            },
        );
        format!("{} -> {}: FAILED {why}", o.content_id, o.integration_id)
    }
}

/// `igny8 publish`.
pub async fn publish(target: &Target, args: PublishArgs) -> Result<Output, CliError> {
    let content_ids = args.content.iter().map(|id| id.parse()).collect::<Result<Vec<ContentId>, _>>()?;
    let integration_id = args.integration.as_deref().map(str::parse::<IntegrationId>).transpose()?;
    let status = match args.status {
        PublishStatusArg::Draft => RemoteStatus::Draft,
        PublishStatusArg::Publish => RemoteStatus::Publish,
        PublishStatusArg::Scheduled => RemoteStatus::Scheduled,
    };
    let request = PublishRequest {
        content_ids,
        status,
        publish_at: args.at,
        integration_id,
        include_unapproved: args.include_unapproved,
    };
    let scope = open_site(target, &args.site).await?;
    let outcomes = scope.rt.services.publishing.publish(&scope.account, &scope.site, request).await?;
    if outcomes.is_empty() {
        return Err(CliError::Refused {
            code: "nothing_to_publish",
            message: "no approved article waits for publishing (approve some, name them, or add --include-unapproved)"
                .to_owned(),
        });
    }
    let published = outcomes.iter().filter(|o| o.success).count();
    let failed = outcomes.len() - published;
    let mut text: Vec<String> = outcomes.iter().map(outcome_line).collect();
    text.push(format!("{published} published, {failed} failed"));
    let doc = json!({ "published": published, "failed": failed, "outcomes": to_json(&outcomes)? });
    let mut out = Output::new(doc, text.join("\n"));
    if failed > 0 {
        out.set_exit(SOME_FAILED);
    }
    Ok(out)
}

fn publication_line(p: &Publication) -> String {
    format!(
        "{} {:<9} {:<12} remote #{} {} {}",
        p.integration_id,
        p.platform,
        format!("{:?}", p.state).to_lowercase(),
        p.remote_id.as_deref().unwrap_or("-"),
        p.remote_status.as_deref().unwrap_or("-"),
        p.remote_url.as_deref().unwrap_or("")
    )
    .trim_end()
    .to_owned()
}

/// `igny8 publications`.
pub async fn publications(target: &Target, site: &SiteArg, content: &str) -> Result<Output, CliError> {
    let id: ContentId = content.parse()?;
    let scope = open_site(target, site).await?;
    let items = scope.rt.services.publishing.publications(&scope.account, &scope.site, &id).await?;
    let text = if items.is_empty() {
        format!("{id} is not published anywhere")
    } else {
        items.iter().map(publication_line).collect::<Vec<_>>().join("\n")
    };
    Ok(Output::new(json!({ "publications": to_json(&items)? }), text))
}
