//! The acting account's subscription: get it (every role); subscribe, change the plan
//! and cancel (owners). Subscribing bills the first period at once (its invoice is
//! created and finalized), so it honours `Idempotency-Key`; a plan change takes effect
//! at the next period, a cancellation at the current period's end.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{id_pattern, Declared, Target};
use crate::{ApiError, ApiJson, ApiState, Caller, Problem};
use igny8_core::billing::{Subscribed, SubscriptionError};
use igny8_core::domain::{PlanId, Subscription};

/// The constraints this module's handlers enforce.
pub fn declared() -> Vec<Declared> {
    vec![(Target::Property("PlanChoice", "plan_id"), super::pattern(id_pattern::<PlanId>()))]
}

impl From<SubscriptionError> for ApiError {
    fn from(e: SubscriptionError) -> Self {
        let (code, detail) = (e.code(), e.to_string());
        match e {
            SubscriptionError::NotFound(_) => Self::new(StatusCode::NOT_FOUND, code, detail),
            // A plan named in a body is a field of the request, not the resource.
            SubscriptionError::PlanNotFound(_) => Self::invalid_field("plan_id", detail),
            SubscriptionError::Exists(_) | SubscriptionError::Cancelled(_) | SubscriptionError::PlanInactive(_) => {
                Self::new(StatusCode::CONFLICT, code, detail)
            }
            SubscriptionError::Contended { .. } => Self::new(StatusCode::SERVICE_UNAVAILABLE, code, detail),
            SubscriptionError::Invoice(i) => i.into(),
            SubscriptionError::Repo(r) => r.into(),
        }
    }
}

/// The plan to subscribe to or change to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanChoice {
    /// The plan (`plan_…`).
    pub plan_id: String,
}

impl PlanChoice {
    fn plan(&self) -> Result<PlanId, ApiError> {
        self.plan_id.trim().parse().map_err(|_| ApiError::invalid_field("plan_id", "not a plan id"))
    }
}

/// The routes of this module (`/v1/billing/subscription` itself is wired in the router:
/// its POST, subscribing, with idempotency).
pub fn routes() -> Router<ApiState> {
    Router::new().route("/v1/billing/subscription/cancel", post(cancel_subscription))
}

/// The account's subscription (`subscription_not_found` when it has none).
#[utoipa::path(get, path = "/v1/billing/subscription", tag = "subscriptions",
    responses((status = 200, body = Subscription), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn get_subscription(State(state): State<ApiState>, caller: Caller) -> Result<Json<Subscription>, ApiError> {
    Ok(Json(state.services.subscriptions.get(&caller.account).await?))
}

/// Subscribes the account to a plan (owners): the first period starts now and its
/// invoice is finalized, ready to pay. `Idempotency-Key` honoured.
#[utoipa::path(post, path = "/v1/billing/subscription", tag = "subscriptions", request_body = PlanChoice,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key: a repeat returns the first response")),
    responses((status = 201, body = Subscribed), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn subscribe(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(body): ApiJson<PlanChoice>,
) -> Result<(StatusCode, Json<Subscribed>), ApiError> {
    caller.require_owner()?;
    let subscribed = state.services.subscriptions.subscribe(&caller.account, &body.plan()?).await?;
    Ok((StatusCode::CREATED, Json(subscribed)))
}

/// Changes the plan from the next period on (owners).
#[utoipa::path(patch, path = "/v1/billing/subscription", tag = "subscriptions", request_body = PlanChoice,
    responses((status = 200, body = Subscription), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn change_plan(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(body): ApiJson<PlanChoice>,
) -> Result<Json<Subscription>, ApiError> {
    caller.require_owner()?;
    Ok(Json(state.services.subscriptions.change_plan(&caller.account, &body.plan()?).await?))
}

/// Cancels at the end of the current period (owners); the period already paid runs out.
#[utoipa::path(post, path = "/v1/billing/subscription/cancel", tag = "subscriptions",
    responses((status = 200, body = Subscription), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn cancel_subscription(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Json<Subscription>, ApiError> {
    caller.require_owner()?;
    Ok(Json(state.services.subscriptions.cancel(&caller.account).await?))
}
