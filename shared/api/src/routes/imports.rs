//! Keyword imports of any size: a job with an upload link. A request body is capped
//! ([`crate::BODY_LIMIT`] here, 6 MB on Lambda), so a list of 100,000 keywords goes to
//! the blob store directly — a presigned S3 `PUT` in the cloud; on a laptop, whose
//! blob store is a folder, this API's own upload route, authorised by a token in the
//! link — and the job imports it in chunks, reporting its progress.
//!
//! 1. `POST /v1/sites/{site_id}/keyword-imports` → the job and `upload` (method, URL,
//!    the `Content-Type` to send, expiry);
//! 2. `PUT` the file to `upload.url` with that `Content-Type`;
//! 3. `POST /v1/sites/{site_id}/keyword-imports/{id}/run` → works for up to
//!    [`RUN_BUDGET`] and returns the job; while it says `running`, post again;
//! 4. `GET /v1/sites/{site_id}/keyword-imports/{id}` → status, counts, errors.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{pattern, Declared, Target};
use crate::error::{body_too_large, FieldError};
use crate::{path_id, ApiError, ApiPath, ApiQuery, ApiState, Caller, Problem};
use igny8_core::domain::SiteId;
use igny8_core::planner::import_job::{MAX_UPLOAD_BYTES, UPLOAD_CONTENT_TYPE};
use igny8_core::planner::{ImportJob, ImportJobError, ImportJobStatus, RowError};

/// How long one `run` call works before answering (API Gateway waits at most 30 s).
pub const RUN_BUDGET: Duration = Duration::from_secs(20);

/// The pattern of an import job id.
pub const JOB_ID_PATTERN: &str = "^imp_[0-9a-f]{32}$";

/// The constraints this module's handlers enforce.
pub fn declared() -> Vec<Declared> {
    vec![
        (Target::Parameter("/v1/sites/{site_id}/keyword-imports/{id}", "id"), pattern(JOB_ID_PATTERN)),
        (Target::Parameter("/v1/sites/{site_id}/keyword-imports/{id}/run", "id"), pattern(JOB_ID_PATTERN)),
    ]
}

impl From<ImportJobError> for ApiError {
    fn from(e: ImportJobError) -> Self {
        let (code, detail) = (e.code(), e.to_string());
        match e {
            ImportJobError::NotFound => Self::not_found("import job"),
            ImportJobError::UploadRefused(_) => Self::new(StatusCode::FORBIDDEN, code, detail),
            ImportJobError::TooLarge(_) => Self::new(StatusCode::PAYLOAD_TOO_LARGE, code, detail),
            ImportJobError::NotUploaded => Self::new(StatusCode::CONFLICT, code, detail),
            ImportJobError::Repo(r) => r.into(),
            ImportJobError::Blob(b) => b.into(),
        }
    }
}

/// How to upload a job's file.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UploadLink {
    /// Always `PUT`.
    pub method: String,
    /// Where to send the file: a presigned S3 URL, or this API's upload route.
    pub url: String,
    /// The `Content-Type` to send (the link is signed for it).
    pub content_type: String,
    /// Largest file taken, in bytes.
    pub max_bytes: u64,
    /// When the link stops working (RFC 3339).
    pub expires_at: String,
}

/// An import job as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportJobView {
    /// `imp_` and 32 hex digits.
    pub id: String,
    /// The site the keywords go to.
    pub site_id: String,
    /// awaiting_upload → running → completed | failed.
    pub status: ImportJobStatus,
    /// Keywords in the file, once it was read.
    pub total: Option<u64>,
    /// Keywords handled so far.
    pub processed: u64,
    /// New keywords stored.
    pub imported: u64,
    /// Keywords already stored (or repeated in the file).
    pub duplicates: u64,
    /// Why it failed: a stable code (`invalid_encoding`, `invalid_csv`,
    /// `validation_failed`, `empty_import`, `too_many_keywords`, `file_too_large`).
    pub error_code: Option<String>,
    /// Why it failed, for people.
    pub error: Option<String>,
    /// The file's bad rows by line (the first 100).
    pub errors: Vec<FieldError>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
    /// How to upload the file (only in the answer to the job's creation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload: Option<UploadLink>,
}

fn view(job: ImportJob, upload: Option<UploadLink>) -> ImportJobView {
    let errors = job
        .row_errors
        .into_iter()
        .map(|RowError { line, message }| FieldError { field: format!("line {line}"), message })
        .collect();
    ImportJobView {
        id: job.id,
        site_id: job.site_id.to_string(),
        status: job.status,
        total: job.total,
        processed: job.processed,
        imported: job.imported,
        duplicates: job.duplicates,
        error_code: job.error_code,
        error: job.error,
        errors,
        created_at: job.created_at,
        updated_at: job.updated_at,
        upload,
    }
}

/// This API's own URL for a path, from the request's `Host` (and `X-Forwarded-Proto`).
fn own_url(headers: &HeaderMap, path: &str) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let scheme = headers.get("x-forwarded-proto").and_then(|h| h.to_str().ok()).unwrap_or("http");
    match host {
        Some(host) => format!("{scheme}://{host}{path}"),
        None => path.to_owned(),
    }
}

/// Starts a keyword import of any size: the job and the link to upload its file to
/// (editors).
#[utoipa::path(post, path = "/v1/sites/{site_id}/keyword-imports", tag = "planner", params(("site_id" = String, Path)),
    responses((status = 201, body = ImportJobView), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn create_import(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(site_id): ApiPath<String>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<ImportJobView>), ApiError> {
    let site: SiteId = path_id(&site_id, "site")?;
    caller.require_editor()?;
    let created = state.imports.create(&caller.account, &site).await.map_err(|e| match e {
        ImportJobError::NotFound => ApiError::not_found("site"),
        other => other.into(),
    })?;
    let job = created.job;
    let url = created.upload_url.unwrap_or_else(|| {
        own_url(&headers, &format!("/v1/sites/{}/keyword-imports/{}/file?token={}", site, job.id, job.upload_token))
    });
    let upload = UploadLink {
        method: "PUT".into(),
        url,
        content_type: UPLOAD_CONTENT_TYPE.into(),
        max_bytes: MAX_UPLOAD_BYTES as u64,
        expires_at: job.upload_expires_at.clone(),
    };
    Ok((StatusCode::CREATED, Json(view(job, Some(upload)))))
}

/// The token of an upload link.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadToken {
    /// The secret the link carries.
    pub token: String,
}

/// Receives a job's file where the blob store has no upload link of its own (the
/// laptop's folder); the link's token authorises it, no bearer token is needed. Like
/// S3's presigned URL, the link is opaque to clients (they PUT to `upload.url` as
/// given), so the OpenAPI document lists the operations that hand it out, not it.
pub async fn upload_file(
    State(state): State<ApiState>,
    ApiPath((site_id, id)): ApiPath<(String, String)>,
    ApiQuery(token): ApiQuery<UploadToken>,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            body_too_large()
        } else {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", e.body_text())
        }
    })?;
    let site: SiteId = path_id(&site_id, "import job")?;
    state.imports.accept_upload(&site, &id, &token.token, body.to_vec()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Works on the import for up to 20 seconds and returns the job; post again while it
/// is `running` (editors).
#[utoipa::path(post, path = "/v1/sites/{site_id}/keyword-imports/{id}/run", tag = "planner",
    params(("site_id" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = ImportJobView), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn run_import(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((site_id, id)): ApiPath<(String, String)>,
) -> Result<Json<ImportJobView>, ApiError> {
    let site: SiteId = path_id(&site_id, "import job")?;
    caller.require_editor()?;
    Ok(Json(view(state.imports.run(&caller.account, &site, &id, RUN_BUDGET).await?, None)))
}

/// An import job: its status, counts and the file's errors.
#[utoipa::path(get, path = "/v1/sites/{site_id}/keyword-imports/{id}", tag = "planner",
    params(("site_id" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = ImportJobView), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn get_import(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((site_id, id)): ApiPath<(String, String)>,
) -> Result<Json<ImportJobView>, ApiError> {
    let site: SiteId = path_id(&site_id, "import job")?;
    Ok(Json(view(state.imports.get(&caller.account, &site, &id).await?, None)))
}

/// The routes of this module; the upload route takes bodies up to the job's limit.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/sites/{site_id}/keyword-imports", post(create_import))
        .route("/v1/sites/{site_id}/keyword-imports/{id}", get(get_import))
        .route("/v1/sites/{site_id}/keyword-imports/{id}/run", post(run_import))
        .route(
            "/v1/sites/{site_id}/keyword-imports/{id}/file",
            put(upload_file).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)),
        )
}
