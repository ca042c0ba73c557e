//! The HTTP API: one axum [`Router`] for every capability, served by `igny8 serve` on a
//! laptop and by the `api` Lambda behind API Gateway (DESIGN §7). Handlers are thin:
//! they authenticate the caller, parse, call one service with the caller's tenant and
//! map the result; every error becomes a problem document (see [`error`]).

pub mod auth;
pub mod error;
pub mod idempotency;
pub mod logging;
pub mod openapi;
pub mod routes;

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use igny8_core::automation::AutomationService;
use igny8_core::billing::stripe::WebhookSecret;
use igny8_core::optimization::OptimizationService;
use igny8_core::planner::{ImportJobs, KeywordImporter, SiteRecords};
use igny8_core::Services;

pub use auth::{mint_token, AuthMode, Caller, Claims, Role, VerifiedClaims};
pub use error::{ApiError, Problem};

/// Largest request body accepted (a CSV of some ten thousand keywords).
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Longest cursor accepted (store cursors are far shorter).
pub const MAX_CURSOR: usize = 2048;

/// What every handler reaches: the services, wired once per process.
#[derive(Clone)]
pub struct ApiState {
    /// Accounts, sites, the ledger.
    pub services: Services,
    /// Runs and their settings.
    pub automation: AutomationService,
    /// Keyword imports.
    pub importer: KeywordImporter,
    /// Keyword imports too large for one request: upload links and import jobs.
    pub imports: ImportJobs,
    /// Tenant-checked pipeline records and file links.
    pub records: SiteRecords,
    /// The optimizer: AI rewrites of articles, on the automation's provider.
    pub optimization: OptimizationService,
    /// How callers are authenticated.
    pub auth: Arc<AuthMode>,
    /// The Stripe endpoint's signing secret; None: `POST /v1/webhooks/stripe` answers
    /// 503 `webhook_not_configured` (Stripe retries, so nothing is lost meanwhile).
    pub stripe_webhook_secret: Option<WebhookSecret>,
}

impl ApiState {
    /// The state over wired services.
    pub fn new(services: Services, automation: AutomationService, auth: AuthMode) -> Self {
        Self {
            importer: KeywordImporter::new(Arc::clone(&services.store), Arc::clone(&services.clock)),
            records: SiteRecords::for_automation(&automation),
            optimization: OptimizationService::new(
                services.checks.clone(),
                services.credits.clone(),
                Arc::clone(&automation.ports().ai),
                Arc::clone(&services.clock),
                Arc::clone(&services.ids),
            ),
            imports: ImportJobs::new(
                Arc::clone(&services.store),
                Arc::clone(&automation.ports().blobs),
                Arc::clone(&services.clock),
            ),
            services,
            automation,
            auth: Arc::new(auth),
            stripe_webhook_secret: None,
        }
    }

    /// The state that verifies Stripe webhooks with `secret` (from the wiring's configuration).
    #[must_use]
    pub fn with_stripe_webhook_secret(mut self, secret: Option<WebhookSecret>) -> Self {
        self.stripe_webhook_secret = secret;
        self
    }
}

/// `?limit=&cursor=` of every list route.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 2048)]
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The page size, checked.
    pub fn limit(&self) -> Result<usize, ApiError> {
        match self.limit {
            None => Ok(50),
            Some(n @ 1..=100) => Ok(n as usize),
            Some(_) => Err(ApiError::invalid_field("limit", "must be 1 to 100")),
        }
    }

    /// The cursor, if any; an overlong one is refused before a store sees it.
    pub fn cursor(&self) -> Result<Option<String>, ApiError> {
        match self.cursor.as_deref() {
            None | Some("") => Ok(None),
            Some(c) if c.len() > MAX_CURSOR => Err(ApiError::invalid_field("cursor", "not a cursor of this list")),
            Some(c) => Ok(Some(c.to_owned())),
        }
    }
}

/// One page of a list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// The JSON form of a service's page.
    pub fn of(page: igny8_core::ports::Page<T>) -> Self {
        Self { items: page.items, next_cursor: page.cursor }
    }
}

/// `Json` whose rejections are problem documents.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        Ok(Self(axum::Json::<T>::from_request(req, state).await?.0))
    }
}

/// `Query` whose rejections are problem documents.
#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Ok(Self(axum::extract::Query::<T>::from_request_parts(parts, state).await?.0))
    }
}

/// `Path` whose rejections are problem documents.
#[derive(Debug, Clone)]
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Ok(Self(axum::extract::Path::<T>::from_request_parts(parts, state).await?.0))
    }
}

/// Parses an id from a path; a malformed id names nothing, so it is a 404.
pub fn path_id<T: std::str::FromStr>(raw: &str, what: &str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found(what))
}

async fn no_route() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

async fn wrong_method() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not take that method")
}

/// The whole API.
pub fn router(state: ApiState) -> Router {
    let idempotent = || from_fn_with_state(state.clone(), idempotency::idempotent);
    Router::new()
        .merge(routes::sites::routes())
        .merge(routes::automation::routes())
        .merge(routes::planner::routes())
        .merge(routes::billing::routes())
        .merge(routes::imports::routes())
        .merge(routes::catalog::routes())
        .merge(routes::invoices::routes())
        .merge(routes::payments::routes())
        .merge(routes::subscriptions::routes())
        .merge(routes::integrations::routes())
        .merge(routes::publishing::routes())
        .merge(routes::optimization::routes())
        .merge(routes::linking::routes())
        .route(
            "/v1/sites/{site_id}/runs",
            post(routes::automation::start_run).layer(idempotent()).get(routes::automation::list_runs),
        )
        .route("/v1/sites/{site_id}/publish", post(routes::publishing::publish).layer(idempotent()))
        .route("/v1/sites/{site_id}/content/{id}/optimize", post(routes::optimization::optimize).layer(idempotent()))
        .route("/v1/billing/credits", post(routes::billing::add_credits).layer(idempotent()))
        .route("/v1/billing/packages/{id}/purchase", post(routes::catalog::purchase_package).layer(idempotent()))
        .route("/v1/billing/invoices/{id}/payments", post(routes::payments::record_payment).layer(idempotent()))
        .route("/v1/billing/payments/{id}/refunds", post(routes::payments::refund_payment).layer(idempotent()))
        .route(
            "/v1/billing/subscription",
            post(routes::subscriptions::subscribe)
                .layer(idempotent())
                .get(routes::subscriptions::get_subscription)
                .patch(routes::subscriptions::change_plan),
        )
        // Outside any token check: Stripe signs its deliveries instead.
        .route("/v1/webhooks/stripe", post(routes::webhooks::stripe_webhook))
        .route("/openapi.json", get(openapi::serve))
        .route_layer(from_fn(logging::name_route))
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(from_fn(logging::log_requests))
        .with_state(state)
}
