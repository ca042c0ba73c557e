//! Review and publishing: approve or unapprove an article (or every draft at once),
//! publish approved articles to the site's integrations (each exactly once: a repeat
//! updates the same remote post), and read an article's publications.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{id_pattern, pattern, Constraint, Declared, Target};
use crate::{path_id, ApiError, ApiJson, ApiPath, ApiState, Caller, Problem};
use igny8_core::domain::{Content, ContentId, IntegrationId, Publication, RemoteStatus, SiteId};
use igny8_core::publishing::{PublishOutcome, PublishRequest};

/// Most articles one publish request names.
pub const MAX_PUBLISH: usize = 100;

/// The constraints this module's handlers enforce.
pub fn declared() -> Vec<Declared> {
    let content = pattern(id_pattern::<ContentId>());
    vec![
        (Target::Parameter("/v1/sites/{site_id}/content/{id}/approve", "id"), content.clone()),
        (Target::Parameter("/v1/sites/{site_id}/content/{id}/unapprove", "id"), content.clone()),
        (Target::Parameter("/v1/sites/{site_id}/content/{id}/publications", "id"), content),
        (Target::Property("PublishBody", "content_ids"), Constraint::Items { min: 0, max: MAX_PUBLISH, each: None }),
        (Target::Property("PublishBody", "publish_at"), Constraint::DateTime),
        (Target::Property("PublishBody", "integration_id"), pattern(id_pattern::<IntegrationId>())),
    ]
}

/// How many drafts an "approve all" approved.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovedCount {
    /// Articles that moved from draft to approved.
    pub approved: u64,
}

fn draft() -> RemoteStatus {
    RemoteStatus::Draft
}

/// What to publish and how.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishBody {
    /// These articles; absent or empty: every approved article not yet published.
    #[serde(default)]
    pub content_ids: Vec<String>,
    /// The status on the remote site (default `draft`).
    #[serde(default = "draft")]
    pub status: RemoteStatus,
    /// For `scheduled`: when it goes live (RFC 3339, in the future).
    pub publish_at: Option<String>,
    /// Only this integration (default: every active one of the site).
    pub integration_id: Option<String>,
    /// Publish articles that are not approved too.
    #[serde(default)]
    pub include_unapproved: bool,
}

/// One outcome per article and destination; a platform's refusal of one article is an
/// outcome with `success=false`, not a failed request.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublishResult {
    /// Outcomes that succeeded.
    pub published: u32,
    /// Outcomes that failed (see their `error`).
    pub failed: u32,
    /// Every outcome.
    pub outcomes: Vec<PublishOutcome>,
}

/// An article's deployment records, one per destination.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicationList {
    /// The records.
    pub items: Vec<Publication>,
}

/// The routes of this module (publishing is wired in the router, with idempotency).
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/sites/{site_id}/content/approve", post(approve_all))
        .route("/v1/sites/{site_id}/content/{id}/approve", post(approve_content))
        .route("/v1/sites/{site_id}/content/{id}/unapprove", post(unapprove_content))
        .route("/v1/sites/{site_id}/content/{id}/publications", get(publications))
}

fn ids(site_id: &str, id: &str) -> Result<(SiteId, ContentId), ApiError> {
    Ok((path_id(site_id, "site")?, path_id(id, "content")?))
}

/// Approves an article for publishing (editors); an approved one stays approved.
#[utoipa::path(post, path = "/v1/sites/{site_id}/content/{id}/approve", tag = "publishing",
    params(("site_id" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = Content), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn approve_content(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((site_id, id)): ApiPath<(String, String)>,
) -> Result<Json<Content>, ApiError> {
    let (site, id) = ids(&site_id, &id)?;
    caller.require_editor()?;
    Ok(Json(state.services.publishing.approve(&caller.account, &site, &id).await?))
}

/// Takes an article's approval back (editors); a published article stays published.
#[utoipa::path(post, path = "/v1/sites/{site_id}/content/{id}/unapprove", tag = "publishing",
    params(("site_id" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = Content), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn unapprove_content(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((site_id, id)): ApiPath<(String, String)>,
) -> Result<Json<Content>, ApiError> {
    let (site, id) = ids(&site_id, &id)?;
    caller.require_editor()?;
    Ok(Json(state.services.publishing.unapprove(&caller.account, &site, &id).await?))
}

/// Approves every draft article of the site (editors).
#[utoipa::path(post, path = "/v1/sites/{site_id}/content/approve", tag = "publishing", params(("site_id" = String, Path)),
    responses((status = 200, body = ApprovedCount), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn approve_all(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(site_id): ApiPath<String>,
) -> Result<Json<ApprovedCount>, ApiError> {
    let site: SiteId = path_id(&site_id, "site")?;
    caller.require_editor()?;
    // Another account's site is a 404 here, not "nothing approved": the service skips
    // articles of other accounts but does not look at the site itself.
    let owned = state.services.sites.get(&site).await?.is_some_and(|s| s.account_id == caller.account);
    if !owned {
        return Err(ApiError::not_found("site"));
    }
    let outcome = state.services.publishing.approve_all(&caller.account, &site).await?;
    Ok(Json(ApprovedCount { approved: outcome.approved }))
}

impl PublishBody {
    fn request(self) -> Result<PublishRequest, ApiError> {
        if self.content_ids.len() > MAX_PUBLISH {
            return Err(ApiError::invalid_field("content_ids", format!("at most {MAX_PUBLISH} articles")));
        }
        let content_ids = self
            .content_ids
            .iter()
            .map(|id| {
                id.parse().map_err(|_| ApiError::invalid_field("content_ids", format!("{id:?} is not an article id")))
            })
            .collect::<Result<Vec<ContentId>, _>>()?;
        let integration_id = match self.integration_id.as_deref() {
            None => None,
            Some(id) => {
                Some(id.parse().map_err(|_| ApiError::invalid_field("integration_id", "not an integration id"))?)
            }
        };
        if let Some(at) = self.publish_at.as_deref() {
            if time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).is_err() {
                return Err(ApiError::invalid_field("publish_at", "must be an RFC 3339 date-time"));
            }
        }
        Ok(PublishRequest {
            content_ids,
            status: self.status,
            publish_at: self.publish_at,
            integration_id,
            include_unapproved: self.include_unapproved,
        })
    }
}

/// Publishes articles to the site's active integrations (editors; `Idempotency-Key`
/// honoured), each exactly once: a repeat updates the same remote post. 200 with one
/// outcome per article and destination; 409 when nothing can be published.
#[utoipa::path(post, path = "/v1/sites/{site_id}/publish", tag = "publishing",
    params(("site_id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key: a repeat returns the first response")),
    request_body = PublishBody,
    responses((status = 200, body = PublishResult), (status = "4XX", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "integrations or the key service are unavailable", body = Problem, content_type = "application/problem+json")))]
pub async fn publish(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(site_id): ApiPath<String>,
    ApiJson(body): ApiJson<PublishBody>,
) -> Result<Json<PublishResult>, ApiError> {
    let site: SiteId = path_id(&site_id, "site")?;
    caller.require_editor()?;
    let outcomes = state.services.publishing.publish(&caller.account, &site, body.request()?).await?;
    if outcomes.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "nothing_to_publish",
            "no approved article waits for publishing (approve some, name them, or set include_unapproved)",
        ));
    }
    let published = outcomes.iter().filter(|o| o.success).count();
    let failed = outcomes.len() - published;
    Ok(Json(PublishResult {
        published: u32::try_from(published).unwrap_or(u32::MAX),
        failed: u32::try_from(failed).unwrap_or(u32::MAX),
        outcomes,
    }))
}

/// An article's publications: where it is, with which remote id, status and link.
#[utoipa::path(get, path = "/v1/sites/{site_id}/content/{id}/publications", tag = "publishing",
    params(("site_id" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = PublicationList), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn publications(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((site_id, id)): ApiPath<(String, String)>,
) -> Result<Json<PublicationList>, ApiError> {
    let (site, id) = ids(&site_id, &id)?;
    Ok(Json(PublicationList { items: state.services.publishing.publications(&caller.account, &site, &id).await? }))
}
