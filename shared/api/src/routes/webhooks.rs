//! `POST /v1/webhooks/stripe`: Stripe's deliveries, outside the JWT authorizer (Stripe
//! cannot present a token) and authenticated instead by the `Stripe-Signature` header
//! over the raw body ([`igny8_core::billing::stripe`]). Nothing is read from a body
//! whose signature or timestamp fails, so a forged or replayed request writes nothing.
//!
//! Each event is applied through the payment service with an idempotency key derived
//! from Stripe's ids, so redeliveries (Stripe retries anything but a 2xx, and may
//! deliver twice even after one) change nothing:
//! - a succeeded payment is keyed by its PaymentIntent (`stripe:pi:<id>`): the
//!   `checkout.session.completed` and `payment_intent.succeeded` of one payment are the
//!   same money and record one payment;
//! - a failed attempt and a refund are keyed by the event (`stripe:<event id>`).
//!
//! docs/api.md lists the answers and why each is a 2xx or not.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{ApiError, ApiState, Problem};
use igny8_core::billing::payments::{FailedPayment, ProviderPayment, RefundRequest};
use igny8_core::billing::stripe::{self, PaymentTarget, StripeAction, StripeEvent, WebhookError, SIGNATURE_HEADER};
use igny8_core::domain::{AccountId, Currency, InvoiceId, PaymentMethod, PaymentStatus};

/// The provider name payments from Stripe are recorded under.
pub const PROVIDER: &str = "stripe";

/// What the webhook did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookOutcome {
    /// The event changed billing (a payment, a failure, a refund).
    Applied,
    /// The event had already been applied; nothing changed.
    Replayed,
    /// The event is of a type, or about a payment, billing does not act on.
    Ignored,
}

/// The acknowledgement Stripe gets (any 2xx stops its retries).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookReceipt {
    /// Always true: the delivery was accepted.
    pub received: bool,
    /// Stripe's event id.
    pub event_id: String,
    /// What was done.
    pub outcome: WebhookOutcome,
}

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> Self {
        Self::new(StatusCode::BAD_REQUEST, e.code(), e.to_string())
    }
}

fn not_configured() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "webhook_not_configured",
        "no Stripe webhook secret is configured; Stripe will retry the delivery",
    )
}

fn invoice_of(target: &PaymentTarget) -> Result<(AccountId, InvoiceId), ApiError> {
    let invoice = target.invoice.parse::<InvoiceId>().map_err(|_| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_event", "metadata.invoice_id is not an invoice id")
    })?;
    Ok((target.account.clone(), invoice))
}

fn currency(code: &str) -> Result<Currency, ApiError> {
    code.parse::<Currency>().map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.to_string()))
}

fn replayed(flag: bool) -> WebhookOutcome {
    if flag {
        WebhookOutcome::Replayed
    } else {
        WebhookOutcome::Applied
    }
}

/// Applies one verified event.
async fn apply(state: &ApiState, event: &StripeEvent) -> Result<WebhookOutcome, ApiError> {
    let payments = &state.services.payments;
    match &event.action {
        StripeAction::PaymentSucceeded { target, amount, currency: code, reference } => {
            let (account, invoice) = invoice_of(target)?;
            let payment = ProviderPayment {
                provider: PROVIDER.to_owned(),
                provider_reference: reference.clone(),
                amount: *amount,
                currency: currency(code)?,
                method: PaymentMethod::Card,
                idempotency_key: format!("stripe:pi:{reference}"),
            };
            let outcome = payments.record_provider_payment(&account, &invoice, payment).await?;
            Ok(replayed(outcome.replayed))
        }
        StripeAction::PaymentFailed { target, amount, currency: code, reference, reason } => {
            let (account, invoice) = invoice_of(target)?;
            let failed = FailedPayment {
                provider: PROVIDER.to_owned(),
                provider_reference: Some(reference.clone()),
                amount: *amount,
                currency: currency(code)?,
                method: PaymentMethod::Card,
                reason: reason.chars().take(500).collect(),
                idempotency_key: format!("stripe:{}", event.id),
            };
            let outcome = payments.record_failed_payment(&account, &invoice, failed).await?;
            Ok(replayed(outcome.replayed))
        }
        StripeAction::ChargeRefunded { payment_intent, amount_refunded, currency: code, target } => {
            let Some(target) = target else {
                tracing::info!(event_id = %event.id, "refund of a charge that names no invoice: ignored");
                return Ok(WebhookOutcome::Ignored);
            };
            let (account, invoice) = invoice_of(target)?;
            let recorded = payments.for_invoice(&account, &invoice).await?;
            let Some(payment) = recorded.into_iter().find(|p| {
                p.provider == PROVIDER
                    && p.provider_reference.as_deref() == Some(payment_intent.as_str())
                    && matches!(
                        p.status,
                        PaymentStatus::Succeeded | PaymentStatus::PartiallyRefunded | PaymentStatus::Refunded
                    )
            }) else {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "payment_not_found",
                    format!("no succeeded Stripe payment {payment_intent} on invoice {invoice}"),
                ));
            };
            if payment.currency != currency(code)? {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "currency_mismatch",
                    format!("refund in {code} of a payment in {}", payment.currency),
                ));
            }
            // `amount_refunded` is the charge's running total: what is new is the part
            // not yet recorded. Nothing new means a redelivery, or an event overtaken
            // by a later one of the same charge.
            let delta = amount_refunded.saturating_sub(payment.amount_refunded);
            if delta <= 0 {
                return Ok(WebhookOutcome::Replayed);
            }
            let request = RefundRequest {
                amount: Some(delta),
                reason: format!("Refunded in Stripe ({payment_intent})"),
                idempotency_key: format!("stripe:{}", event.id),
            };
            let outcome = payments.refund(&account, &payment.id, request).await?;
            Ok(replayed(outcome.replayed))
        }
        StripeAction::Ignored(reason) => {
            tracing::info!(event_id = %event.id, event_type = %event.event_type, reason = %reason, "stripe event ignored");
            Ok(WebhookOutcome::Ignored)
        }
    }
}

/// Receives a Stripe event (no bearer token: the `Stripe-Signature` header is checked
/// against the configured endpoint secret, with a 5-minute tolerance).
#[utoipa::path(post, path = "/v1/webhooks/stripe", tag = "webhooks", security(()),
    params(("Stripe-Signature" = String, Header, description = "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"t.body\">[,v1=…]")),
    request_body(content = serde_json::Value, content_type = "application/json", description = "A Stripe event, exactly as Stripe sent it"),
    responses((status = 200, body = WebhookReceipt), (status = "4XX", body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json", description = "No webhook secret configured")))]
pub async fn stripe_webhook(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<WebhookReceipt>, ApiError> {
    let secret = state.stripe_webhook_secret.as_ref().ok_or_else(not_configured)?;
    let header = headers
        .get(SIGNATURE_HEADER)
        .ok_or(WebhookError::MissingSignature)?
        .to_str()
        .map_err(|_| WebhookError::MalformedSignature("not visible ASCII"))?;
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            crate::error::body_too_large()
        } else {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", e.body_text())
        }
    })?;
    let now_s = state.services.clock.now_ms().div_euclid(1000);
    stripe::verify(&body, header, secret.as_bytes(), now_s)?;
    let event = stripe::parse_event(&body)?;
    let outcome = apply(&state, &event).await?;
    Ok(Json(WebhookReceipt { received: true, event_id: event.id, outcome }))
}
