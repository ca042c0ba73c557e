//! Accounts and sites: the caller's account, opening accounts (privileged), and the
//! account's sites.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{check_text, id_pattern, printable_text_pattern, whole, Constraint, Declared, Target};
use crate::{path_id, ApiError, ApiJson, ApiPath, ApiQuery, ApiState, Caller, Page, PageQuery, Problem};
use igny8_core::accounts::SiteChange;
use igny8_core::domain::{Account, AccountId, Balance, Site, SiteId, SiteStatus};

pub use igny8_core::accounts::NAME_MAX;

/// Most characters of a domain name.
pub const DOMAIN_MAX: usize = 253;

/// Most characters of one label of a domain name.
pub const LABEL_MAX: usize = 63;

/// A domain name as the document declares it: two or more labels of letters, digits
/// and inner hyphens, each 1 to [`LABEL_MAX`] long. (The service also takes an
/// `http(s)://` prefix, a trailing slash and surrounding space, and strips them.)
pub fn domain_pattern() -> String {
    let inner = LABEL_MAX - 2;
    let label = format!("[A-Za-z0-9](?:[A-Za-z0-9-]{{0,{inner}}}[A-Za-z0-9])?");
    format!(r"^(?:{label}\.)+{label}$")
}

/// The constraints this module's handlers enforce.
pub fn declared() -> Vec<Declared> {
    let name = || Constraint::Text { min: Some(1), max: Some(NAME_MAX), pattern: Some(printable_text_pattern()) };
    let domain = || Constraint::Text { min: Some(1), max: Some(DOMAIN_MAX), pattern: Some(domain_pattern()) };
    let site_id = || super::pattern(id_pattern::<SiteId>());
    vec![
        (Target::Property("NewAccount", "name"), name()),
        (Target::Property("NewAccount", "credits"), Constraint::Range(0, super::billing::MAX_CREDITS_PER_REQUEST)),
        (Target::Property("NewSite", "name"), name()),
        (Target::Property("NewSite", "domain"), domain()),
        (Target::Property("SiteUpdate", "name"), name()),
        (Target::Property("SiteUpdate", "domain"), domain()),
        (Target::Parameter("*", "site_id"), site_id()),
        (Target::Component("AccountId"), super::pattern(id_pattern::<AccountId>())),
        (Target::Component("SiteId"), site_id()),
    ]
}

/// The account and its credit position.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    /// The account.
    pub account: Account,
    /// Its balance.
    pub balance: Balance,
}

/// Opening an account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    /// Display name.
    pub name: String,
    /// Starting credits, granted in the ledger.
    #[serde(default, deserialize_with = "whole")]
    pub credits: i64,
}

/// Opening a site.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSite {
    /// Display name.
    pub name: String,
    /// Public domain (`example.com`).
    pub domain: String,
}

/// Changing a site; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SiteUpdate {
    /// New display name.
    pub name: Option<String>,
    /// New domain.
    pub domain: Option<String>,
    /// active | inactive.
    pub status: Option<SiteStatus>,
}

/// The routes of this module.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/account", get(get_account))
        .route("/v1/accounts", post(create_account))
        .route("/v1/sites", post(create_site).get(list_sites))
        .route("/v1/sites/{site_id}", get(get_site).patch(update_site))
}

/// The caller's account and balance.
#[utoipa::path(get, path = "/v1/account", tag = "accounts",
    responses((status = 200, body = AccountView), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn get_account(State(state): State<ApiState>, caller: Caller) -> Result<Json<AccountView>, ApiError> {
    let account = state.services.account_service.account(&caller.account).await?;
    let balance = state.services.credits.balance(&caller.account).await?;
    Ok(Json(AccountView { account, balance }))
}

/// Opens an account (admin, system).
#[utoipa::path(post, path = "/v1/accounts", tag = "accounts", request_body = NewAccount,
    responses((status = 201, body = Account), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn create_account(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewAccount>,
) -> Result<(StatusCode, Json<Account>), ApiError> {
    caller.require_privileged()?;
    let name = check_text("name", &body.name, NAME_MAX)?;
    let (account, _) = state.services.account_service.create_account(name, body.credits).await?;
    Ok((StatusCode::CREATED, Json(account)))
}

/// Opens a site of the caller's account (owners).
#[utoipa::path(post, path = "/v1/sites", tag = "sites", request_body = NewSite,
    responses((status = 201, body = Site), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn create_site(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewSite>,
) -> Result<(StatusCode, Json<Site>), ApiError> {
    caller.require_owner()?;
    let name = check_text("name", &body.name, NAME_MAX)?;
    let site = state.services.account_service.create_site(&caller.account, name, &body.domain).await?;
    Ok((StatusCode::CREATED, Json(site)))
}

/// The caller's sites.
#[utoipa::path(get, path = "/v1/sites", tag = "sites", params(PageQuery),
    responses((status = 200, body = Page<Site>), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn list_sites(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<Page<Site>>, ApiError> {
    let limit = page.limit()?;
    Ok(Json(Page::of(state.services.account_service.sites(&caller.account, limit, page.cursor()?).await?)))
}

/// One site.
#[utoipa::path(get, path = "/v1/sites/{site_id}", tag = "sites", params(("site_id" = String, Path)),
    responses((status = 200, body = Site), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn get_site(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(site_id): ApiPath<String>,
) -> Result<Json<Site>, ApiError> {
    let id: SiteId = path_id(&site_id, "site")?;
    state
        .services
        .account_service
        .site(&caller.account, &id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("site"))
}

/// Renames a site, moves its domain or switches it on or off (owners).
#[utoipa::path(patch, path = "/v1/sites/{site_id}", tag = "sites", params(("site_id" = String, Path)), request_body = SiteUpdate,
    responses((status = 200, body = Site), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn update_site(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(site_id): ApiPath<String>,
    ApiJson(body): ApiJson<SiteUpdate>,
) -> Result<Json<Site>, ApiError> {
    let id: SiteId = path_id(&site_id, "site")?;
    caller.require_owner()?;
    let name = body.name.as_deref().map(|n| check_text("name", n, NAME_MAX).map(str::to_owned)).transpose()?;
    let change = SiteChange { name, domain: body.domain, status: body.status };
    state
        .services
        .account_service
        .update_site(&caller.account, &id, change)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("site"))
}
