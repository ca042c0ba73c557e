//! Internal links between a site's articles: the links the engines would add (with
//! their anchors and targets; nothing is written), and applying them to one article or
//! the whole site (published articles whose links changed are marked for update).

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{id_pattern, pattern, Declared, Target};
use crate::{path_id, ApiError, ApiJson, ApiPath, ApiQuery, ApiState, Caller, Problem};
use igny8_core::domain::{AccountId, ContentId, SiteId};
use igny8_core::linking::{ArticleLinks, LinkReport};

/// The constraints this module's handlers enforce.
pub fn declared() -> Vec<Declared> {
    let content = pattern(id_pattern::<ContentId>());
    vec![
        (Target::Parameter("/v1/sites/{site_id}/links/suggestions", "content"), content.clone()),
        (Target::Property("LinkApplyBody", "content_id"), content),
    ]
}

/// `?content=` of the suggestions: one article, or (absent) every article of the site.
/// Other query parameters (a list's `limit`, say) are ignored: the answer is whole.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SuggestionsQuery {
    /// Only this article's suggestions (cnt_…).
    pub content: Option<String>,
}

/// Which articles to link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkApplyBody {
    /// Only this article (cnt_…); absent: every article of the site.
    pub content_id: Option<String>,
}

/// The links the engines would add, per article.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkSuggestions {
    /// One entry per article with suggestions, each link with its anchor and target.
    pub items: Vec<ArticleLinks>,
}

/// The routes of this module.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/sites/{site_id}/links/suggestions", get(suggestions))
        .route("/v1/sites/{site_id}/links/apply", post(apply))
}

/// The caller's site, or 404 (another account's site is not told apart from none).
async fn own_site(state: &ApiState, account: &AccountId, site_id: &str) -> Result<SiteId, ApiError> {
    let site: SiteId = path_id(site_id, "site")?;
    let owned = state.services.sites.get(&site).await?.is_some_and(|s| &s.account_id == account);
    if !owned {
        return Err(ApiError::not_found("site"));
    }
    Ok(site)
}

fn content_id(field: &str, raw: Option<&str>) -> Result<Option<ContentId>, ApiError> {
    raw.map(|id| id.parse().map_err(|_| ApiError::invalid_field(field, format!("{id:?} is not an article id"))))
        .transpose()
}

/// Suggested internal links for one article (`?content=`) or every article of the site:
/// each with the words that would carry it, its target and the target's URL, ranked by
/// relevance. Nothing is written.
#[utoipa::path(get, path = "/v1/sites/{site_id}/links/suggestions", tag = "linking",
    params(("site_id" = String, Path), SuggestionsQuery),
    responses((status = 200, body = LinkSuggestions), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn suggestions(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(site_id): ApiPath<String>,
    ApiQuery(query): ApiQuery<SuggestionsQuery>,
) -> Result<Json<LinkSuggestions>, ApiError> {
    let content = content_id("content", query.content.as_deref())?;
    let site = own_site(&state, &caller.account, &site_id).await?;
    let items = state.services.linking.suggest(&caller.account, &site, content.as_ref()).await?;
    Ok(Json(LinkSuggestions { items }))
}

/// Inserts internal links into one article (`content_id`) or every article of the site
/// (editors): on anchor text already in the body, never in headings, existing links,
/// code or captions; one link per target; a repeat adds nothing. Published articles
/// whose links changed are marked for update on their sites.
#[utoipa::path(post, path = "/v1/sites/{site_id}/links/apply", tag = "linking",
    params(("site_id" = String, Path)),
    request_body(content = LinkApplyBody, description = "`{}`: every article of the site"),
    responses((status = 200, body = LinkReport), (status = "4XX", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "the store is busy (another pass changed the same articles); retry shortly", body = Problem, content_type = "application/problem+json")))]
pub async fn apply(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(site_id): ApiPath<String>,
    ApiJson(body): ApiJson<LinkApplyBody>,
) -> Result<Json<LinkReport>, ApiError> {
    let content = content_id("content_id", body.content_id.as_deref())?;
    caller.require_editor()?;
    let site = own_site(&state, &caller.account, &site_id).await?;
    Ok(Json(state.services.linking.apply(&caller.account, &site, content.as_ref()).await?))
}
