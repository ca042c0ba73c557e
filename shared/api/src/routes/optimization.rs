//! Optimization of one article: its validation report, its analysis (score and every
//! check), what an AI rewrite would cost, the rewrite itself (charged like every AI
//! call, kept only when it scores higher) and the rewrites made so far.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use super::{id_pattern, pattern, Declared, Target};
use crate::idempotency::IDEMPOTENCY_KEY;
use crate::{path_id, ApiError, ApiPath, ApiState, Caller, Problem};
use igny8_core::domain::{ContentId, OptimizationId, OptimizationRecord, SiteId};
use igny8_core::optimization::{ContentAnalysis, OptimizeEstimate};
use igny8_core::seo::ValidationReport;

/// The paths of this module that name an article, for their `{id}` declarations.
const ARTICLE_PATHS: [&str; 5] = [
    "/v1/sites/{site_id}/content/{id}/analysis",
    "/v1/sites/{site_id}/content/{id}/validation",
    "/v1/sites/{site_id}/content/{id}/optimize/estimate",
    "/v1/sites/{site_id}/content/{id}/optimize",
    "/v1/sites/{site_id}/content/{id}/optimizations",
];

/// The constraints this module's handlers enforce.
pub fn declared() -> Vec<Declared> {
    let content = pattern(id_pattern::<ContentId>());
    let mut all: Vec<Declared> =
        ARTICLE_PATHS.iter().map(|path| (Target::Parameter(path, "id"), content.clone())).collect();
    all.push((Target::Component("OptimizationId"), pattern(id_pattern::<OptimizationId>())));
    all
}

/// An article's optimizations, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct OptimizationList {
    /// The records, each with the article before and the rewrite after.
    pub items: Vec<OptimizationRecord>,
}

/// The routes of this module (optimizing is wired in the router, with idempotency).
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/sites/{site_id}/content/{id}/analysis", get(analysis))
        .route("/v1/sites/{site_id}/content/{id}/validation", get(validation))
        .route("/v1/sites/{site_id}/content/{id}/optimize/estimate", get(estimate))
        .route("/v1/sites/{site_id}/content/{id}/optimizations", get(optimizations))
}

fn ids(site_id: &str, id: &str) -> Result<(SiteId, ContentId), ApiError> {
    Ok((path_id(site_id, "site")?, path_id(id, "content")?))
}

/// An article's analysis: its score (0–100), every check (0–9 with a message) and its
/// validation report. Nothing is charged or written.
#[utoipa::path(get, path = "/v1/sites/{site_id}/content/{id}/analysis", tag = "optimization",
    params(("site_id" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = ContentAnalysis), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn analysis(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((site_id, id)): ApiPath<(String, String)>,
) -> Result<Json<ContentAnalysis>, ApiError> {
    let (site, id) = ids(&site_id, &id)?;
    Ok(Json(state.services.checks.analyze(&caller.account, &site, &id).await?))
}

/// An article's validation report: errors (which block approval and publishing) and
/// warnings, each with a stable code; the body as a CMS would keep it when something
/// had to be stripped.
#[utoipa::path(get, path = "/v1/sites/{site_id}/content/{id}/validation", tag = "optimization",
    params(("site_id" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = ValidationReport), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn validation(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((site_id, id)): ApiPath<(String, String)>,
) -> Result<Json<ValidationReport>, ApiError> {
    let (site, id) = ids(&site_id, &id)?;
    Ok(Json(state.services.checks.validate(&caller.account, &site, &id).await?))
}

/// What optimizing the article would cost, the account's available credits and the
/// checks the rewrite would address; ask it before `POST …/optimize`.
#[utoipa::path(get, path = "/v1/sites/{site_id}/content/{id}/optimize/estimate", tag = "optimization",
    params(("site_id" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = OptimizeEstimate), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn estimate(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((site_id, id)): ApiPath<(String, String)>,
) -> Result<Json<OptimizeEstimate>, ApiError> {
    let (site, id) = ids(&site_id, &id)?;
    Ok(Json(state.optimization.estimate(&caller.account, &site, &id).await?))
}

/// Rewrites what the analyzer flags through the AI provider (editors; `Idempotency-Key`
/// honoured: a repeat returns the first optimization and charges nothing again). The
/// credits are held before the call and settled after it; the rewrite replaces the
/// article only when it scores higher (`kept`), and before and after are kept for
/// review either way. 402 when the account cannot pay; 502/503 when the provider fails
/// (nothing is charged).
#[utoipa::path(post, path = "/v1/sites/{site_id}/content/{id}/optimize", tag = "optimization",
    params(("site_id" = String, Path), ("id" = String, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key: a repeat returns the first response")),
    responses((status = 201, body = OptimizationRecord), (status = "4XX", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "the AI provider refused or failed; nothing was charged", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "the AI provider or the store is busy; retry shortly, nothing was charged", body = Problem, content_type = "application/problem+json")))]
pub async fn optimize(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath((site_id, id)): ApiPath<(String, String)>,
) -> Result<(StatusCode, Json<OptimizationRecord>), ApiError> {
    let (site, id) = ids(&site_id, &id)?;
    caller.require_editor()?;
    // The middleware has checked the key's form; the service keys its charge on it too,
    // so a repeat after the middleware's record expired still charges once.
    let key = headers.get(IDEMPOTENCY_KEY).and_then(|v| v.to_str().ok()).map(|k| format!("api:{}", k.trim()));
    let record = state.optimization.optimize(&caller.account, &site, &id, key.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(record)))
}

/// The article's optimizations, newest first: before and after of each, whether the
/// rewrite was kept, its credits and model.
#[utoipa::path(get, path = "/v1/sites/{site_id}/content/{id}/optimizations", tag = "optimization",
    params(("site_id" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = OptimizationList), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn optimizations(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((site_id, id)): ApiPath<(String, String)>,
) -> Result<Json<OptimizationList>, ApiError> {
    let (site, id) = ids(&site_id, &id)?;
    Ok(Json(OptimizationList { items: state.optimization.history(&caller.account, &site, &id).await? }))
}
