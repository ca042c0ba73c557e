//! Automation: start a run, list and read runs, pause, resume, cancel, read its logs,
//! the site's automation settings and a run's credit estimate.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{id_pattern, pattern, whole, Constraint, Declared, Target};
use crate::error::FieldError;
use crate::{path_id, ApiError, ApiJson, ApiPath, ApiQuery, ApiState, Caller, Page, PageQuery, Problem};
use igny8_core::automation::{AutomationError, Estimate, RunLog, TraceEvent, MAX_PUBLISH_BATCH_SIZE};
use igny8_core::domain::{AutomationConfig, AutomationRun, ClusterMode, PublishAfterRun, RunId, Schedule, SiteId};

/// Items per batch of each stage.
pub const BATCH_SIZES: (u32, u32) = (1, 1000);
/// Longest pause between batches, in seconds.
pub const MAX_DELAY_SECONDS: u32 = 3600;
/// The credit buffer's range.
pub const CREDIT_BUFFER: (f64, f64) = (1.0, 10.0);
/// Ideas per cluster.
pub const IDEAS_PER_CLUSTER: (u32, u32) = (1, 10);
/// Most image prompts per article.
pub const MAX_IMAGES_PER_ARTICLE: u32 = 10;
/// The lock lease's range, in seconds (a minute to a week).
pub const LEASE_SECONDS: (i64, i64) = (60, 7 * 24 * 3600);
/// A schedule's local time, `HH:MM` (the scheduler reads hours 0–23 and minutes 0–59).
pub const SCHEDULE_TIME: &str = "^(?:[01][0-9]|2[0-3]):[0-5][0-9]$";
/// A schedule's day: 1 (Monday) to 7 when weekly, 1 to 28 when monthly.
pub const SCHEDULE_DAY: (i64, i64) = (1, 28);
/// Most events on one page of a run's logs (default 100).
pub const MAX_LOG_PAGE: u32 = 500;

/// The constraints this module's handlers enforce.
pub fn declared() -> Vec<Declared> {
    let (b_min, b_max) = BATCH_SIZES;
    let (i_min, i_max) = IDEAS_PER_CLUSTER;
    vec![
        (
            Target::Property("ConfigUpdate", "batch_sizes"),
            Constraint::Items { min: 6, max: 6, each: Some((b_min.into(), b_max.into())) },
        ),
        (
            Target::Property("ConfigUpdate", "delay_between_batches_seconds"),
            Constraint::Range(0, MAX_DELAY_SECONDS.into()),
        ),
        (Target::Property("ConfigUpdate", "credit_buffer"), Constraint::Between(CREDIT_BUFFER.0, CREDIT_BUFFER.1)),
        (Target::Property("ConfigUpdate", "ideas_per_cluster"), Constraint::Range(i_min.into(), i_max.into())),
        (Target::Property("ConfigUpdate", "images_per_article"), Constraint::Range(0, MAX_IMAGES_PER_ARTICLE.into())),
        (Target::Property("ConfigUpdate", "lease_seconds"), Constraint::Range(LEASE_SECONDS.0, LEASE_SECONDS.1)),
        (Target::Property("ConfigUpdate", "publish_batch_size"), Constraint::Range(1, MAX_PUBLISH_BATCH_SIZE.into())),
        (Target::Property("Schedule", "time"), pattern(SCHEDULE_TIME)),
        (Target::Property("Schedule", "day"), Constraint::Range(SCHEDULE_DAY.0, SCHEDULE_DAY.1)),
        (Target::Parameter("*", "run_id"), pattern(id_pattern::<RunId>())),
        (Target::Parameter("/v1/runs/{run_id}/logs", "cursor"), pattern("^[0-9]*$")),
        (Target::Parameter("/v1/runs/{run_id}/logs", "limit"), Constraint::Range(1, MAX_LOG_PAGE.into())),
        (Target::Component("RunId"), pattern(id_pattern::<RunId>())),
    ]
}

/// The settings of a site's automation an owner may change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigUpdate {
    /// Runs may start.
    pub enabled: bool,
    /// Items per batch, stages 1–6 (1–1000 each).
    #[serde(deserialize_with = "whole")]
    pub batch_sizes: [u32; 6],
    /// Pause between batches of a stage (0–3600 s).
    #[serde(deserialize_with = "whole")]
    pub delay_between_batches_seconds: u32,
    /// Fewest new keywords a run needs.
    #[serde(deserialize_with = "whole")]
    pub min_keywords: u32,
    /// The balance must cover estimate × buffer (1–10).
    pub credit_buffer: f64,
    /// Ideas per cluster (1–10).
    #[serde(deserialize_with = "whole")]
    pub ideas_per_cluster: u32,
    /// Image prompts per article (0–10).
    #[serde(deserialize_with = "whole")]
    pub images_per_article: u32,
    /// Lock lease (60–604800 s).
    #[serde(deserialize_with = "whole")]
    pub lease_seconds: i64,
    /// Scheduled runs, if any.
    #[serde(default, deserialize_with = "whole")]
    pub schedule: Option<Schedule>,
    /// Publish the run's articles after images (`off`, `draft`, `publish`); unchanged
    /// when absent.
    #[serde(default)]
    pub publish: Option<PublishAfterRun>,
    /// Articles per publishing batch (1–100); unchanged when absent.
    #[serde(default, deserialize_with = "whole")]
    pub publish_batch_size: Option<u32>,
    /// How stage 1 groups keywords (`lexical`, `semantic`, `auto`); unchanged when
    /// absent. `semantic` needs an embedding model: without one the run fails with
    /// `embedding_model_missing` before anything is charged.
    #[serde(default)]
    pub cluster_mode: Option<ClusterMode>,
}

impl ConfigUpdate {
    /// The ranges the service enforces, as field errors (all of them at once).
    fn check(&self) -> Result<(), ApiError> {
        let mut errors = Vec::new();
        let mut bad = |field: &str, message: &str| {
            errors.push(FieldError { field: field.to_owned(), message: message.to_owned() })
        };
        let (b_min, b_max) = BATCH_SIZES;
        if self.batch_sizes.iter().any(|b| !(b_min..=b_max).contains(b)) {
            bad("batch_sizes", &format!("each must be {b_min} to {b_max}"));
        }
        if self.delay_between_batches_seconds > MAX_DELAY_SECONDS {
            bad("delay_between_batches_seconds", &format!("must be at most {MAX_DELAY_SECONDS}"));
        }
        let (c_min, c_max) = CREDIT_BUFFER;
        if !(c_min..=c_max).contains(&self.credit_buffer) {
            bad("credit_buffer", &format!("must be {c_min} to {c_max}"));
        }
        let (i_min, i_max) = IDEAS_PER_CLUSTER;
        if !(i_min..=i_max).contains(&self.ideas_per_cluster) {
            bad("ideas_per_cluster", &format!("must be {i_min} to {i_max}"));
        }
        if self.images_per_article > MAX_IMAGES_PER_ARTICLE {
            bad("images_per_article", &format!("must be 0 to {MAX_IMAGES_PER_ARTICLE}"));
        }
        let (l_min, l_max) = LEASE_SECONDS;
        if !(l_min..=l_max).contains(&self.lease_seconds) {
            bad("lease_seconds", &format!("must be {l_min} to {l_max}"));
        }
        if self.publish_batch_size.is_some_and(|b| !(1..=MAX_PUBLISH_BATCH_SIZE).contains(&b)) {
            bad("publish_batch_size", &format!("must be 1 to {MAX_PUBLISH_BATCH_SIZE}"));
        }
        if errors.is_empty() {
            return Ok(());
        }
        let detail = format!("{} invalid setting(s)", errors.len());
        Err(ApiError { errors, ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", detail) })
    }
}

/// A file of a run's logs.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogFile {
    /// Path below the run's log folder (`main.log`, `stage_1_clusters.log`, `trace/...`).
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// A link that reads it without credentials for about an hour.
    pub url: String,
}

/// A page of a run's trace events, and its log files.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunLogs {
    /// Structured events, in stage then sequence order.
    pub items: Vec<TraceEvent>,
    /// Pass as `cursor` for the next page of events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// The log files (only on the first page).
    pub files: Vec<LogFile>,
}

/// `?limit=&cursor=` of the run logs (the cursor is an event position).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// Events per page, 1–500 (default 100).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 32)]
    pub cursor: Option<String>,
}

/// The routes of this module (starting a run is wired in the router, with idempotency).
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/runs/{run_id}", get(get_run))
        .route("/v1/runs/{run_id}/pause", post(pause_run))
        .route("/v1/runs/{run_id}/resume", post(resume_run))
        .route("/v1/runs/{run_id}/cancel", post(cancel_run))
        .route("/v1/runs/{run_id}/logs", get(run_logs))
        .route("/v1/sites/{site_id}/automation", get(get_config).put(put_config))
        .route("/v1/sites/{site_id}/automation/estimate", get(estimate))
}

/// Starts a run of the site's waiting keywords (editors; `Idempotency-Key` honoured).
#[utoipa::path(post, path = "/v1/sites/{site_id}/runs", tag = "automation",
    params(("site_id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key: a repeat returns the first response")),
    responses((status = 202, body = AutomationRun), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn start_run(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(site_id): ApiPath<String>,
) -> Result<(StatusCode, Json<AutomationRun>), ApiError> {
    let site: SiteId = path_id(&site_id, "site")?;
    caller.require_editor()?;
    let run = state.automation.start(&caller.account, &site, "manual").await?;
    Ok((StatusCode::ACCEPTED, Json(run)))
}

/// The site's runs, newest first.
#[utoipa::path(get, path = "/v1/sites/{site_id}/runs", tag = "automation", params(("site_id" = String, Path), PageQuery),
    responses((status = 200, body = Page<AutomationRun>), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn list_runs(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(site_id): ApiPath<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<Page<AutomationRun>>, ApiError> {
    let site: SiteId = path_id(&site_id, "site")?;
    let limit = page.limit()?;
    Ok(Json(Page::of(state.automation.runs(&caller.account, &site, limit, page.cursor()?).await?)))
}

/// One run: its stage, per-stage results and credits.
#[utoipa::path(get, path = "/v1/runs/{run_id}", tag = "automation", params(("run_id" = String, Path)),
    responses((status = 200, body = AutomationRun), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn get_run(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(run_id): ApiPath<String>,
) -> Result<Json<AutomationRun>, ApiError> {
    let id: RunId = path_id(&run_id, "run")?;
    Ok(Json(state.automation.run(&caller.account, &id).await?))
}

/// Asks the run to pause after its current batch (editors).
#[utoipa::path(post, path = "/v1/runs/{run_id}/pause", tag = "automation", params(("run_id" = String, Path)),
    responses((status = 200, body = AutomationRun), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn pause_run(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(run_id): ApiPath<String>,
) -> Result<Json<AutomationRun>, ApiError> {
    let id: RunId = path_id(&run_id, "run")?;
    caller.require_editor()?;
    Ok(Json(state.automation.pause(&caller.account, &id).await?))
}

/// Resumes a paused run where it stopped (editors).
#[utoipa::path(post, path = "/v1/runs/{run_id}/resume", tag = "automation", params(("run_id" = String, Path)),
    responses((status = 200, body = AutomationRun), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn resume_run(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(run_id): ApiPath<String>,
) -> Result<Json<AutomationRun>, ApiError> {
    let id: RunId = path_id(&run_id, "run")?;
    caller.require_editor()?;
    Ok(Json(state.automation.resume(&caller.account, &id).await?))
}

/// Cancels the run after its current batch; partial results are kept (editors).
#[utoipa::path(post, path = "/v1/runs/{run_id}/cancel", tag = "automation", params(("run_id" = String, Path)),
    responses((status = 200, body = AutomationRun), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn cancel_run(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(run_id): ApiPath<String>,
) -> Result<Json<AutomationRun>, ApiError> {
    let id: RunId = path_id(&run_id, "run")?;
    caller.require_editor()?;
    Ok(Json(state.automation.cancel(&caller.account, &id).await?))
}

/// The run's trace events (paged) and links to its log files.
#[utoipa::path(get, path = "/v1/runs/{run_id}/logs", tag = "automation", params(("run_id" = String, Path), LogQuery),
    responses((status = 200, body = RunLogs), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn run_logs(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(run_id): ApiPath<String>,
    ApiQuery(query): ApiQuery<LogQuery>,
) -> Result<Json<RunLogs>, ApiError> {
    let id: RunId = path_id(&run_id, "run")?;
    let limit = match query.limit {
        None => 100,
        Some(n @ 1..=MAX_LOG_PAGE) => n as usize,
        Some(_) => return Err(ApiError::invalid_field("limit", format!("must be 1 to {MAX_LOG_PAGE}"))),
    };
    let start = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => 0,
        Some(c) => c.parse::<usize>().map_err(|_| ApiError::invalid_field("cursor", "not a cursor of this list"))?,
    };
    let run = state.automation.run(&caller.account, &id).await?;
    let log = RunLog { account_id: run.account_id.clone(), site_id: run.site_id.clone(), run_id: run.id.clone() };
    let events = state.automation.logger().events(&log).await?;
    let end = events.len().min(start.saturating_add(limit));
    let next_cursor = (end < events.len()).then(|| end.to_string());
    let items = events.into_iter().skip(start).take(limit).collect();
    let files = if start == 0 {
        state
            .records
            .files(&log.prefix())
            .await?
            .into_iter()
            // One object per line until the run ends: the whole logs are main.log and
            // stages/, written then.
            .filter(|(name, _, _)| !name.starts_with("lines/"))
            .map(|(name, size, url)| LogFile { name, size, url })
            .collect()
    } else {
        Vec::new()
    };
    Ok(Json(RunLogs { items, next_cursor, files }))
}

/// The site's automation settings (defaults until saved).
#[utoipa::path(get, path = "/v1/sites/{site_id}/automation", tag = "automation", params(("site_id" = String, Path)),
    responses((status = 200, body = AutomationConfig), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn get_config(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(site_id): ApiPath<String>,
) -> Result<Json<AutomationConfig>, ApiError> {
    let site: SiteId = path_id(&site_id, "site")?;
    Ok(Json(state.automation.config(&caller.account, &site).await?))
}

/// Replaces the site's automation settings: batch sizes, delays, schedule (owners).
#[utoipa::path(put, path = "/v1/sites/{site_id}/automation", tag = "automation", params(("site_id" = String, Path)), request_body = ConfigUpdate,
    responses((status = 200, body = AutomationConfig), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn put_config(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(site_id): ApiPath<String>,
    ApiJson(body): ApiJson<ConfigUpdate>,
) -> Result<Json<AutomationConfig>, ApiError> {
    let site: SiteId = path_id(&site_id, "site")?;
    caller.require_owner()?;
    let mut config = state.automation.config(&caller.account, &site).await?;
    body.check()?;
    config.enabled = body.enabled;
    config.batch_sizes = body.batch_sizes;
    config.delay_between_batches_seconds = body.delay_between_batches_seconds;
    config.min_keywords = body.min_keywords;
    config.credit_buffer = body.credit_buffer;
    config.ideas_per_cluster = body.ideas_per_cluster;
    config.images_per_article = body.images_per_article;
    config.lease_seconds = body.lease_seconds;
    config.schedule = body.schedule;
    if let Some(publish) = body.publish {
        config.publish = publish;
    }
    if let Some(size) = body.publish_batch_size {
        config.publish_batch_size = size;
    }
    if let Some(mode) = body.cluster_mode {
        config.cluster_mode = mode;
    }
    // Every other setting was checked above: what the service still refuses is the schedule.
    let saved = state.automation.save_config(&caller.account, config).await.map_err(|e| match e {
        AutomationError::Invalid(reason) => ApiError::invalid_field("schedule", reason),
        other => other.into(),
    })?;
    Ok(Json(saved))
}

/// The credits a run of the site would need now, per stage, without starting it.
#[utoipa::path(get, path = "/v1/sites/{site_id}/automation/estimate", tag = "automation", params(("site_id" = String, Path)),
    responses((status = 200, body = Estimate), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn estimate(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(site_id): ApiPath<String>,
) -> Result<Json<Estimate>, ApiError> {
    let site: SiteId = path_id(&site_id, "site")?;
    Ok(Json(state.automation.estimate(&caller.account, &site).await?))
}
