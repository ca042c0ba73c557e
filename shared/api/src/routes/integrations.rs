//! A site's integrations (its WordPress site or Shopify store): create, list, read,
//! change and delete them (owners), test the connection, sync now and read the health
//! (editors). Credentials go in and never come out: every answer is an
//! [`IntegrationView`], which has no field for them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{id_pattern, pattern, Constraint, Declared, Target};
use crate::{path_id, ApiError, ApiJson, ApiPath, ApiState, Caller, Problem};

use igny8_core::domain::{
    ConnectionReport, Credentials, IntegrationHealth, IntegrationId, IntegrationView, Platform, SiteId,
};
use igny8_core::integration::{IntegrationUpdate, NewIntegration, SyncReport};

/// Most characters of a site URL or shop domain.
pub const MAX_BASE_URL: usize = 2048;
/// Most characters of one credential field (application passwords are 24, tokens ~40).
pub const MAX_CREDENTIAL: usize = 1024;

/// The integration paths that take an integration id.
const ITEM_PATHS: [&str; 4] = [
    "/v1/sites/{site_id}/integrations/{id}",
    "/v1/sites/{site_id}/integrations/{id}/test",
    "/v1/sites/{site_id}/integrations/{id}/sync",
    "/v1/sites/{site_id}/integrations/{id}/health",
];

/// The constraints this module's handlers enforce.
pub fn declared() -> Vec<Declared> {
    let credential =
        Constraint::Text { min: Some(1), max: Some(MAX_CREDENTIAL), pattern: Some(CREDENTIAL_PATTERN.to_owned()) };
    let base_url = Constraint::Text { min: Some(1), max: Some(MAX_BASE_URL), pattern: None };
    let mut all = vec![(Target::Property("IntegrationChange", "base_url"), base_url)];
    for field in ["username", "app_password", "access_token", "client_id", "client_secret"] {
        all.push((Target::Property("CredentialsRequest", field), credential.clone()));
    }
    for path in ITEM_PATHS {
        all.push((Target::Parameter(path, "id"), pattern(id_pattern::<IntegrationId>())));
    }
    all
}

/// The secrets of an integration, by platform: WordPress `{username, app_password}`;
/// Shopify `{access_token}` or `{client_id, client_secret}`. Never echoed back.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialsRequest {
    /// WordPress: the user's login name.
    pub username: Option<String>,
    /// WordPress: one of the user's application passwords (spaces allowed).
    pub app_password: Option<String>,
    /// Shopify: an Admin API access token.
    pub access_token: Option<String>,
    /// Shopify: the app's client id (client-credentials grant).
    pub client_id: Option<String>,
    /// Shopify: the app's client secret.
    pub client_secret: Option<String>,
}

impl std::fmt::Debug for CredentialsRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CredentialsRequest(redacted)")
    }
}

/// A credential field's value: present, 1 to [`MAX_CREDENTIAL`] characters once
/// trimmed (an application password keeps its inner spaces), no control character.
fn credential(field: &str, value: Option<String>) -> Result<String, ApiError> {
    let value = value.ok_or_else(|| ApiError::invalid_field(format!("credentials.{field}"), "is required"))?;
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.chars().count() > MAX_CREDENTIAL || trimmed.chars().any(char::is_control) {
        return Err(ApiError::invalid_field(
            format!("credentials.{field}"),
            format!("must be 1 to {MAX_CREDENTIAL} printable characters"),
        ));
    }
    Ok(trimmed.to_owned())
}

/// Refuses a field that belongs to another kind of credentials.
fn absent(field: &str, value: Option<&String>, platform: Platform) -> Result<(), ApiError> {
    match value {
        Some(_) => {
            Err(ApiError::invalid_field(format!("credentials.{field}"), format!("is not a credential of {platform}")))
        }
        None => Ok(()),
    }
}

impl CredentialsRequest {
    /// The credentials of `platform` this request spells, or which field is wrong.
    pub fn into_credentials(self, platform: Platform) -> Result<Credentials, ApiError> {
        match platform {
            Platform::Wordpress => {
                absent("access_token", self.access_token.as_ref(), platform)?;
                absent("client_id", self.client_id.as_ref(), platform)?;
                absent("client_secret", self.client_secret.as_ref(), platform)?;
                Ok(Credentials::WordpressAppPassword {
                    username: credential("username", self.username)?,
                    app_password: credential("app_password", self.app_password)?,
                })
            }
            Platform::Shopify => {
                absent("username", self.username.as_ref(), platform)?;
                absent("app_password", self.app_password.as_ref(), platform)?;
                match (self.access_token, self.client_id, self.client_secret) {
                    (Some(token), None, None) => {
                        Ok(Credentials::ShopifyAccessToken { access_token: credential("access_token", Some(token))? })
                    }
                    (None, id, secret) if id.is_some() || secret.is_some() => {
                        Ok(Credentials::ShopifyClientCredentials {
                            client_id: credential("client_id", id)?,
                            client_secret: credential("client_secret", secret)?,
                        })
                    }
                    _ => Err(ApiError::invalid_field(
                        "credentials",
                        "shopify takes either access_token or client_id with client_secret",
                    )),
                }
            }
        }
    }
}

/// A credential as the document declares it: printable ASCII, 1 to [`MAX_CREDENTIAL`]
/// characters, not blank (what [`credential`] accepts, for the values tools generate).
const CREDENTIAL_PATTERN: &str = "^[ -~]*[!-~][ -~]*$";

/// A WordPress application password and its user.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WordpressCredentials {
    /// The user's login name.
    #[schema(min_length = 1, max_length = 1024, pattern = "^[ -~]*[!-~][ -~]*$")]
    pub username: String,
    /// One of the user's application passwords (spaces allowed).
    #[schema(min_length = 1, max_length = 1024, pattern = "^[ -~]*[!-~][ -~]*$")]
    pub app_password: String,
}

/// A Shopify Admin API access token.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShopifyToken {
    /// `shpat_…`.
    #[schema(min_length = 1, max_length = 1024, pattern = "^[ -~]*[!-~][ -~]*$")]
    pub access_token: String,
}

/// A Shopify app's client id and secret (the client-credentials grant).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShopifyClient {
    /// The app's client id.
    #[schema(min_length = 1, max_length = 1024, pattern = "^[ -~]*[!-~][ -~]*$")]
    pub client_id: String,
    /// The app's client secret.
    #[schema(min_length = 1, max_length = 1024, pattern = "^[ -~]*[!-~][ -~]*$")]
    pub client_secret: String,
}

/// Shopify's two kinds of credentials.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ShopifyCredentials {
    /// A static access token.
    Token(ShopifyToken),
    /// Client id and secret.
    Client(ShopifyClient),
}

/// A new integration of the site, by platform (any other platform is
/// `unsupported_platform`). The credentials are sealed at once and never returned.
#[derive(Deserialize, ToSchema)]
#[serde(tag = "platform", rename_all = "snake_case", deny_unknown_fields)]
pub enum IntegrationRequest {
    /// A WordPress site and an application password.
    Wordpress {
        /// The site's URL.
        #[schema(max_length = 2048, pattern = "^https?://[a-z0-9]+(\\.[a-z0-9]+)*(:[1-9][0-9]{1,3})?(/[a-z0-9-]+)*$")]
        base_url: String,
        /// The user and its application password.
        credentials: WordpressCredentials,
        /// Include it in the scheduled sync (default true).
        sync_enabled: Option<bool>,
    },
    /// A Shopify store and its Admin API credentials.
    Shopify {
        /// The shop's `name.myshopify.com` domain.
        #[schema(max_length = 2048, pattern = "^[a-z0-9][a-z0-9-]{0,30}\\.myshopify\\.com$")]
        base_url: String,
        /// A token, or client id and secret.
        credentials: ShopifyCredentials,
        /// Include it in the scheduled sync (default true).
        sync_enabled: Option<bool>,
    },
}

impl IntegrationRequest {
    /// What the service takes, each credential checked like [`credential`] does.
    fn into_new(self) -> Result<NewIntegration, ApiError> {
        let (platform, base_url, credentials, sync_enabled) = match self {
            Self::Wordpress { base_url, credentials, sync_enabled } => (
                Platform::Wordpress,
                base_url,
                Credentials::WordpressAppPassword {
                    username: credential("username", Some(credentials.username))?,
                    app_password: credential("app_password", Some(credentials.app_password))?,
                },
                sync_enabled,
            ),
            Self::Shopify { base_url, credentials, sync_enabled } => (
                Platform::Shopify,
                base_url,
                match credentials {
                    ShopifyCredentials::Token(t) => Credentials::ShopifyAccessToken {
                        access_token: credential("access_token", Some(t.access_token))?,
                    },
                    ShopifyCredentials::Client(c) => Credentials::ShopifyClientCredentials {
                        client_id: credential("client_id", Some(c.client_id))?,
                        client_secret: credential("client_secret", Some(c.client_secret))?,
                    },
                },
                sync_enabled,
            ),
        };
        Ok(NewIntegration {
            platform: platform.as_str().to_owned(),
            base_url: base_url_checked(&base_url)?,
            credentials,
            sync_enabled: sync_enabled.unwrap_or(true),
        })
    }
}

impl std::fmt::Debug for IntegrationRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IntegrationRequest(redacted)")
    }
}

/// A change to an integration; absent fields stay as they are. New credentials are
/// sealed under a fresh data key.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntegrationChange {
    /// New site URL or shop domain.
    pub base_url: Option<String>,
    /// New secrets, of the integration's platform.
    pub credentials: Option<CredentialsRequest>,
    /// Turn publishing and sync on or off.
    pub active: Option<bool>,
    /// Turn the scheduled sync on or off.
    pub sync_enabled: Option<bool>,
}

/// The site's integrations.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct IntegrationList {
    /// Oldest first.
    pub items: Vec<IntegrationView>,
}

/// The routes of this module.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/sites/{site_id}/integrations", get(list_integrations).post(create_integration))
        .route(
            "/v1/sites/{site_id}/integrations/{id}",
            get(get_integration).patch(update_integration).delete(delete_integration),
        )
        .route("/v1/sites/{site_id}/integrations/{id}/test", post(test_integration))
        .route("/v1/sites/{site_id}/integrations/{id}/sync", post(sync_integration))
        .route("/v1/sites/{site_id}/integrations/{id}/health", get(integration_health))
}

fn ids(site_id: &str, id: &str) -> Result<(SiteId, IntegrationId), ApiError> {
    Ok((path_id(site_id, "site")?, path_id(id, "integration")?))
}

fn base_url_checked(value: &str) -> Result<String, ApiError> {
    Ok(super::check_text("base_url", value, MAX_BASE_URL)?.to_owned())
}

/// Connects the site to a WordPress site or Shopify store (owners). The credentials
/// are sealed before anything is stored; the answer never contains them.
#[utoipa::path(post, path = "/v1/sites/{site_id}/integrations", tag = "integrations",
    params(("site_id" = String, Path)), request_body = IntegrationRequest,
    responses((status = 201, body = IntegrationView), (status = "4XX", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "integrations are not configured in this deployment", body = Problem, content_type = "application/problem+json")))]
pub async fn create_integration(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(site_id): ApiPath<String>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<(StatusCode, Json<IntegrationView>), ApiError> {
    let site: SiteId = path_id(&site_id, "site")?;
    caller.require_owner()?;
    // The platform first, so any other one is `unsupported_platform`, not a shape error.
    let named = body.get("platform").and_then(serde_json::Value::as_str).unwrap_or_default();
    let platform = named.parse::<Platform>().map_err(igny8_core::integration::IntegrationError::from)?;
    // A fixed message: serde's would quote a value, which may be a secret.
    let request: IntegrationRequest = serde_json::from_value(body).map_err(|_| {
        let shape = match platform {
            Platform::Wordpress => "wordpress takes base_url and credentials {username, app_password}",
            Platform::Shopify => "shopify takes base_url and credentials {access_token} or {client_id, client_secret}",
        };
        ApiError::invalid_field("body", format!("{shape}, and optionally sync_enabled; nothing else"))
    })?;
    let created = state.services.integrations.create(&caller.account, &site, request.into_new()?).await?;
    Ok((StatusCode::CREATED, Json(IntegrationView::from(&created))))
}

/// The site's integrations, oldest first.
#[utoipa::path(get, path = "/v1/sites/{site_id}/integrations", tag = "integrations", params(("site_id" = String, Path)),
    responses((status = 200, body = IntegrationList), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn list_integrations(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(site_id): ApiPath<String>,
) -> Result<Json<IntegrationList>, ApiError> {
    let site: SiteId = path_id(&site_id, "site")?;
    let items = state.services.integrations.list(&caller.account, &site).await?;
    Ok(Json(IntegrationList { items: items.iter().map(IntegrationView::from).collect() }))
}

/// One integration of the site.
#[utoipa::path(get, path = "/v1/sites/{site_id}/integrations/{id}", tag = "integrations",
    params(("site_id" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = IntegrationView), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn get_integration(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((site_id, id)): ApiPath<(String, String)>,
) -> Result<Json<IntegrationView>, ApiError> {
    let (site, id) = ids(&site_id, &id)?;
    let integration = state.services.integrations.get(&caller.account, &site, &id).await?;
    Ok(Json(IntegrationView::from(&integration)))
}

/// Changes an integration (owners): its address, credentials (re-sealed), whether it
/// is active and whether the scheduled sync includes it.
#[utoipa::path(patch, path = "/v1/sites/{site_id}/integrations/{id}", tag = "integrations",
    params(("site_id" = String, Path), ("id" = String, Path)), request_body = IntegrationChange,
    responses((status = 200, body = IntegrationView), (status = "4XX", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "integrations are not configured in this deployment", body = Problem, content_type = "application/problem+json")))]
pub async fn update_integration(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((site_id, id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<IntegrationChange>,
) -> Result<Json<IntegrationView>, ApiError> {
    let (site, id) = ids(&site_id, &id)?;
    caller.require_owner()?;
    let integrations = &state.services.integrations;
    let credentials = match body.credentials {
        Some(given) => {
            // The credentials' shape is the integration's platform's.
            let platform = integrations.get(&caller.account, &site, &id).await?.platform;
            Some(given.into_credentials(platform)?)
        }
        None => None,
    };
    let change = IntegrationUpdate {
        base_url: body.base_url.as_deref().map(base_url_checked).transpose()?,
        credentials,
        active: body.active,
        sync_enabled: body.sync_enabled,
    };
    let updated = integrations.update(&caller.account, &site, &id, change).await?;
    Ok(Json(IntegrationView::from(&updated)))
}

/// Deletes an integration (owners); its publications stay as history.
#[utoipa::path(delete, path = "/v1/sites/{site_id}/integrations/{id}", tag = "integrations",
    params(("site_id" = String, Path), ("id" = String, Path)),
    responses((status = 204), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn delete_integration(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((site_id, id)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (site, id) = ids(&site_id, &id)?;
    caller.require_owner()?;
    state.services.integrations.delete(&caller.account, &site, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Tests the connection (editors) and records it with the health. A platform that
/// refuses or cannot be reached is a 200 report with `success=false` and its code.
#[utoipa::path(post, path = "/v1/sites/{site_id}/integrations/{id}/test", tag = "integrations",
    params(("site_id" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = ConnectionReport), (status = "4XX", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "integrations or the key service are unavailable", body = Problem, content_type = "application/problem+json")))]
pub async fn test_integration(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((site_id, id)): ApiPath<(String, String)>,
) -> Result<Json<ConnectionReport>, ApiError> {
    let (site, id) = ids(&site_id, &id)?;
    caller.require_editor()?;
    Ok(Json(state.services.integrations.test_connection(&caller.account, &site, &id).await?))
}

/// Syncs the integration now (editors): publications' remote status, then the site's
/// categories, tags and authors; a failing platform is a report with `success=false`.
#[utoipa::path(post, path = "/v1/sites/{site_id}/integrations/{id}/sync", tag = "integrations",
    params(("site_id" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = SyncReport), (status = "4XX", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "integrations or the key service are unavailable", body = Problem, content_type = "application/problem+json")))]
pub async fn sync_integration(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((site_id, id)): ApiPath<(String, String)>,
) -> Result<Json<SyncReport>, ApiError> {
    let (site, id) = ids(&site_id, &id)?;
    caller.require_editor()?;
    Ok(Json(state.services.sync.sync(&caller.account, &site, &id).await?))
}

/// The integration's health: last success, failures in a row, the last error.
#[utoipa::path(get, path = "/v1/sites/{site_id}/integrations/{id}/health", tag = "integrations",
    params(("site_id" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = IntegrationHealth), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn integration_health(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((site_id, id)): ApiPath<(String, String)>,
) -> Result<Json<IntegrationHealth>, ApiError> {
    let (site, id) = ids(&site_id, &id)?;
    Ok(Json(state.services.sync.health(&caller.account, &site, &id).await?))
}
