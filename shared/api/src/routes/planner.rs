//! Planner and writer: import keywords (JSON or CSV), and list, read and delete a
//! site's keywords, clusters, ideas, tasks, articles (with their HTML) and images
//! (with links to their files).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{id_pattern, pattern, printable_text_pattern, whole, Constraint, Declared, Target};
use crate::error::{body_too_large, FieldError};
use crate::{path_id, ApiError, ApiPath, ApiQuery, ApiState, Caller, Page, PageQuery, Problem};
use igny8_ai::KeywordInput;
use igny8_core::domain::{
    Cluster, ClusterId, Content, ContentId, Idea, IdeaId, ImageId, ImageRecord, Keyword, KeywordId, SiteId, TaskId,
    TypedId, WriterTask,
};
use igny8_core::planner::{parse_keywords_csv, ImportReport};

/// Most keywords one import takes.
pub const MAX_IMPORT: usize = 10_000;
/// Most characters of a keyword (once trimmed).
pub const MAX_KEYWORD: usize = 200;
/// Ranking difficulty's range.
pub const DIFFICULTY: (i64, i64) = (0, 100);
/// Most characters of a search intent.
pub const MAX_INTENT: usize = 50;

/// The `{id}` of one record kind's path, declared with its id's pattern.
fn record_id<T: TypedId>(item_path: &'static str) -> Declared {
    (Target::Parameter(item_path, "id"), pattern(id_pattern::<T>()))
}

/// The constraints this module's handlers enforce.
pub fn declared() -> Vec<Declared> {
    vec![
        (
            Target::Property("KeywordRow", "keyword"),
            Constraint::Text { min: Some(1), max: Some(MAX_KEYWORD), pattern: Some(printable_text_pattern()) },
        ),
        (Target::Property("KeywordRow", "difficulty"), Constraint::Range(DIFFICULTY.0, DIFFICULTY.1)),
        (
            Target::Property("KeywordRow", "intent"),
            Constraint::Text { min: None, max: Some(MAX_INTENT), pattern: None },
        ),
        (Target::Property("KeywordImport", "keywords"), Constraint::Items { min: 1, max: MAX_IMPORT, each: None }),
        record_id::<KeywordId>("/v1/sites/{site_id}/keywords/{id}"),
        record_id::<ClusterId>("/v1/sites/{site_id}/clusters/{id}"),
        record_id::<IdeaId>("/v1/sites/{site_id}/ideas/{id}"),
        record_id::<TaskId>("/v1/sites/{site_id}/tasks/{id}"),
        record_id::<ContentId>("/v1/sites/{site_id}/content/{id}"),
        record_id::<ImageId>("/v1/sites/{site_id}/images/{id}"),
        (Target::Component("KeywordId"), pattern(id_pattern::<KeywordId>())),
        (Target::Component("ClusterId"), pattern(id_pattern::<ClusterId>())),
        (Target::Component("IdeaId"), pattern(id_pattern::<IdeaId>())),
        (Target::Component("TaskId"), pattern(id_pattern::<TaskId>())),
        (Target::Component("ContentId"), pattern(id_pattern::<ContentId>())),
        (Target::Component("ImageId"), pattern(id_pattern::<ImageId>())),
    ]
}

/// One keyword of a JSON import.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeywordRow {
    /// The search phrase.
    pub keyword: String,
    /// Monthly search volume.
    #[serde(default, deserialize_with = "whole")]
    #[schema(minimum = 0)]
    pub volume: i64,
    /// Ranking difficulty, 0–100.
    #[serde(default, deserialize_with = "whole")]
    pub difficulty: Option<i64>,
    /// Cost per click.
    #[schema(minimum = 0)]
    pub cpc: Option<f64>,
    /// informational | commercial | transactional | navigational.
    pub intent: Option<String>,
}

/// A JSON keyword import.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeywordImport {
    /// The keywords (1 to 10,000).
    pub keywords: Vec<KeywordRow>,
}

/// An image and, once generated, a link to its file.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImageView {
    /// The image record.
    #[serde(flatten)]
    pub image: ImageRecord,
    /// Reads the PNG without credentials for about an hour.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

fn check_rows(rows: Vec<KeywordRow>) -> Result<Vec<KeywordInput>, ApiError> {
    if rows.is_empty() || rows.len() > MAX_IMPORT {
        return Err(ApiError::invalid_field("keywords", format!("must hold 1 to {MAX_IMPORT} keywords")));
    }
    let mut errors = Vec::new();
    let mut inputs = Vec::with_capacity(rows.len());
    for (i, row) in rows.into_iter().enumerate() {
        let mut bad = |field: &str, message: &str| {
            errors.push(FieldError { field: format!("keywords/{i}/{field}"), message: message.to_owned() })
        };
        let text = row.keyword.trim();
        if text.is_empty() || text.chars().count() > MAX_KEYWORD || text.chars().any(char::is_control) {
            bad("keyword", &format!("must be 1 to {MAX_KEYWORD} printable characters"));
        }
        if row.volume < 0 {
            bad("volume", "cannot be negative");
        }
        let (d_min, d_max) = DIFFICULTY;
        if row.difficulty.is_some_and(|d| !(d_min..=d_max).contains(&d)) {
            bad("difficulty", &format!("must be {d_min} to {d_max}"));
        }
        if row.cpc.is_some_and(|c| !c.is_finite() || c < 0.0) {
            bad("cpc", "must be a non-negative number");
        }
        if row.intent.as_ref().is_some_and(|t| t.chars().count() > MAX_INTENT) {
            bad("intent", &format!("must be at most {MAX_INTENT} characters"));
        }
        inputs.push(KeywordInput {
            keyword: text.to_owned(),
            volume: row.volume,
            difficulty: row.difficulty,
            cpc: row.cpc,
            intent: row.intent.filter(|t| !t.trim().is_empty()),
        });
    }
    if errors.is_empty() {
        Ok(inputs)
    } else {
        let detail = format!("{} invalid field(s), nothing imported", errors.len());
        Err(ApiError { errors, ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", detail) })
    }
}

/// Imports keywords: a JSON body `{"keywords": [...]}` or a CSV export (`text/csv`)
/// from a keyword tool (editors).
#[utoipa::path(post, path = "/v1/sites/{site_id}/keywords", tag = "planner", params(("site_id" = String, Path)),
    request_body(content((KeywordImport = "application/json"), (String = "text/csv"))),
    responses((status = 201, body = ImportReport), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn import_keywords(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(site_id): ApiPath<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<ImportReport>), ApiError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            body_too_large()
        } else {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", e.body_text())
        }
    })?;
    let site: SiteId = path_id(&site_id, "site")?;
    caller.require_editor()?;
    let media = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    let media = media.split(';').next().unwrap_or("").trim().to_owned();
    let inputs = match media.as_str() {
        "application/json" => {
            let import: KeywordImport = serde_json::from_slice(&body).map_err(|e| {
                if e.is_syntax() || e.is_eof() {
                    ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", e.to_string())
                } else {
                    ApiError::invalid_field("body", e.to_string())
                }
            })?;
            check_rows(import.keywords)?
        }
        "text/csv" => {
            let rows = parse_keywords_csv(&body)?;
            if rows.len() > MAX_IMPORT {
                return Err(ApiError::invalid_field("body", format!("at most {MAX_IMPORT} keywords per import")));
            }
            rows
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send application/json or text/csv",
            ))
        }
    };
    state.records.check_site(&caller.account, &site).await?;
    let report = state.importer.import(&caller.account, &site, &inputs).await?;
    Ok((StatusCode::CREATED, Json(report)))
}

/// The delete route of one record kind (images included: deleting needs no link).
macro_rules! record_delete {
    ($ty:ty, $id:ty, $what:literal, $tag:literal, $item_path:literal, $delete:ident) => {
        #[doc = concat!("Deletes one ", $what, " record (editors).")]
        #[utoipa::path(delete, path = $item_path, tag = $tag, summary = concat!("Deletes one ", $what, " record (editors)."),
            params(("site_id" = String, Path), ("id" = String, Path)),
            responses((status = 204), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
        pub async fn $delete(
            State(state): State<ApiState>,
            caller: Caller,
            ApiPath((site_id, id)): ApiPath<(String, String)>,
        ) -> Result<StatusCode, ApiError> {
            let site: SiteId = path_id(&site_id, "site")?;
            caller.require_editor()?;
            let id: $id = path_id(&id, $what)?;
            state.records.delete::<$ty>(&caller.account, &site, id.as_str(), $what).await?;
            Ok(StatusCode::NO_CONTENT)
        }
    };
}

/// The list, get and delete routes of one record kind served as stored.
macro_rules! record_routes {
    ($ty:ty, $id:ty, $what:literal, $tag:literal, $list_path:literal, $item_path:literal, $list:ident, $get:ident, $delete:ident) => {
        record_delete!($ty, $id, $what, $tag, $item_path, $delete);

        #[doc = concat!("A page of the site's ", $what, " records.")]
        #[utoipa::path(get, path = $list_path, tag = $tag, params(("site_id" = String, Path), PageQuery),
            responses((status = 200, body = Page<$ty>), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
        pub async fn $list(
            State(state): State<ApiState>,
            caller: Caller,
            ApiPath(site_id): ApiPath<String>,
            ApiQuery(page): ApiQuery<PageQuery>,
        ) -> Result<Json<Page<$ty>>, ApiError> {
            let site: SiteId = path_id(&site_id, "site")?;
            let limit = page.limit()?;
            Ok(Json(Page::of(state.records.list::<$ty>(&caller.account, &site, limit, page.cursor()?).await?)))
        }

        #[doc = concat!("One ", $what, " record.")]
        #[utoipa::path(get, path = $item_path, tag = $tag, params(("site_id" = String, Path), ("id" = String, Path)),
            responses((status = 200, body = $ty), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
        pub async fn $get(
            State(state): State<ApiState>,
            caller: Caller,
            ApiPath((site_id, id)): ApiPath<(String, String)>,
        ) -> Result<Json<$ty>, ApiError> {
            let site: SiteId = path_id(&site_id, "site")?;
            let id: $id = path_id(&id, $what)?;
            Ok(Json(state.records.get::<$ty>(&caller.account, &site, id.as_str(), $what).await?))
        }
    };
}

record_routes!(
    Keyword,
    KeywordId,
    "keyword",
    "planner",
    "/v1/sites/{site_id}/keywords",
    "/v1/sites/{site_id}/keywords/{id}",
    list_keywords,
    get_keyword,
    delete_keyword
);
record_routes!(
    Cluster,
    ClusterId,
    "cluster",
    "planner",
    "/v1/sites/{site_id}/clusters",
    "/v1/sites/{site_id}/clusters/{id}",
    list_clusters,
    get_cluster,
    delete_cluster
);
record_routes!(
    Idea,
    IdeaId,
    "idea",
    "planner",
    "/v1/sites/{site_id}/ideas",
    "/v1/sites/{site_id}/ideas/{id}",
    list_ideas,
    get_idea,
    delete_idea
);
record_routes!(
    WriterTask,
    TaskId,
    "task",
    "writer",
    "/v1/sites/{site_id}/tasks",
    "/v1/sites/{site_id}/tasks/{id}",
    list_tasks,
    get_task,
    delete_task
);
record_routes!(
    Content,
    ContentId,
    "content",
    "writer",
    "/v1/sites/{site_id}/content",
    "/v1/sites/{site_id}/content/{id}",
    list_content,
    get_content,
    delete_content
);

/// A page of the site's images, each with a link to its file once generated.
#[utoipa::path(get, path = "/v1/sites/{site_id}/images", tag = "writer", params(("site_id" = String, Path), PageQuery),
    responses((status = 200, body = Page<ImageView>), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn list_images(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(site_id): ApiPath<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<Page<ImageView>>, ApiError> {
    let site: SiteId = path_id(&site_id, "site")?;
    let limit = page.limit()?;
    let images = state.records.list::<ImageRecord>(&caller.account, &site, limit, page.cursor()?).await?;
    let mut items = Vec::with_capacity(images.items.len());
    for image in images.items {
        let url = state.records.image_link(&image).await?;
        items.push(ImageView { image, url });
    }
    Ok(Json(Page { items, next_cursor: images.cursor }))
}

/// One image, with a link to its file once generated.
#[utoipa::path(get, path = "/v1/sites/{site_id}/images/{id}", tag = "writer", params(("site_id" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = ImageView), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn get_image(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((site_id, id)): ApiPath<(String, String)>,
) -> Result<Json<ImageView>, ApiError> {
    let site: SiteId = path_id(&site_id, "site")?;
    let id: ImageId = path_id(&id, "image")?;
    let image = state.records.get::<ImageRecord>(&caller.account, &site, id.as_str(), "image").await?;
    let url = state.records.image_link(&image).await?;
    Ok(Json(ImageView { image, url }))
}

record_delete!(ImageRecord, ImageId, "image", "writer", "/v1/sites/{site_id}/images/{id}", delete_image);

/// The routes of this module.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/sites/{site_id}/keywords", get(list_keywords).post(import_keywords))
        .route("/v1/sites/{site_id}/keywords/{id}", get(get_keyword).delete(delete_keyword))
        .route("/v1/sites/{site_id}/clusters", get(list_clusters))
        .route("/v1/sites/{site_id}/clusters/{id}", get(get_cluster).delete(delete_cluster))
        .route("/v1/sites/{site_id}/ideas", get(list_ideas))
        .route("/v1/sites/{site_id}/ideas/{id}", get(get_idea).delete(delete_idea))
        .route("/v1/sites/{site_id}/tasks", get(list_tasks))
        .route("/v1/sites/{site_id}/tasks/{id}", get(get_task).delete(delete_task))
        .route("/v1/sites/{site_id}/content", get(list_content))
        .route("/v1/sites/{site_id}/content/{id}", get(get_content).delete(delete_content))
        .route("/v1/sites/{site_id}/images", get(list_images))
        .route("/v1/sites/{site_id}/images/{id}", get(get_image).delete(delete_image))
}
