//! Payments of the acting account: list and get for every role; manual payments against
//! an invoice and refunds (which issue credit notes) for platform administrators. Both
//! move money, so both require an `Idempotency-Key`: it is the payment's own key too,
//! so a repeat records nothing twice even after the API's own record of it expired.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{id_pattern, printable_text_pattern, whole, Constraint, Declared, Target};
use crate::idempotency::IDEMPOTENCY_KEY;
use crate::{path_id, ApiError, ApiJson, ApiPath, ApiQuery, ApiState, Caller, Page, PageQuery, Problem};
use igny8_core::billing::money::MAX_AMOUNT;
use igny8_core::billing::payments::{ManualPayment, PaymentOutcome, RefundOutcome, RefundRequest};
use igny8_core::billing::PaymentError;
use igny8_core::domain::{CreditNote, InvoiceId, Payment, PaymentId, PaymentMethod};

/// Most characters of a payment's reference.
pub const MAX_PAYMENT_REFERENCE: usize = 255;

/// Most characters of a refund's reason.
pub const MAX_REFUND_REASON: usize = 500;

/// The constraints this module's handlers enforce.
pub fn declared() -> Vec<Declared> {
    let payment_id = super::pattern(id_pattern::<PaymentId>());
    vec![
        (Target::Component("PaymentId"), payment_id.clone()),
        (Target::Property("PaymentRequest", "amount"), Constraint::Range(1, MAX_AMOUNT)),
        (
            Target::Property("PaymentRequest", "reference"),
            Constraint::Text {
                min: Some(1),
                max: Some(MAX_PAYMENT_REFERENCE),
                pattern: Some(printable_text_pattern()),
            },
        ),
        (
            Target::Property("PaymentRequest", "method"),
            Constraint::OneOf(vec!["manual".into(), "bank_transfer".into()]),
        ),
        (Target::Property("RefundBody", "amount"), Constraint::Range(1, MAX_AMOUNT)),
        (
            Target::Property("RefundBody", "reason"),
            Constraint::Text { min: Some(1), max: Some(MAX_REFUND_REASON), pattern: Some(printable_text_pattern()) },
        ),
        (Target::Parameter("/v1/billing/payments/{id}", "id"), payment_id.clone()),
        (Target::Parameter("/v1/billing/payments/{id}/refunds", "id"), payment_id.clone()),
        (Target::Parameter("/v1/billing/payments/{id}/credit-notes", "id"), payment_id),
    ]
}

impl From<PaymentError> for ApiError {
    fn from(e: PaymentError) -> Self {
        let (code, detail) = (e.code(), e.to_string());
        match e {
            PaymentError::InvoiceNotFound(_) => Self::not_found("invoice"),
            PaymentError::PaymentNotFound(_) => Self::not_found("payment"),
            PaymentError::InvoiceNotPayable { .. }
            | PaymentError::InvoiceAlreadyPaid(_)
            | PaymentError::NotRefundable { .. } => Self::new(StatusCode::CONFLICT, code, detail),
            PaymentError::AmountExceedsDue { .. }
            | PaymentError::AmountExceedsRefundable { .. }
            | PaymentError::InvalidAmount(_) => Self::invalid_field("amount", detail),
            PaymentError::CurrencyMismatch { .. } | PaymentError::KeyReused { .. } => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
            }
            PaymentError::InvalidKey => Self::new(StatusCode::BAD_REQUEST, "invalid_idempotency_key", detail),
            PaymentError::Invalid { field, reason } => Self::invalid_field(field, reason),
            PaymentError::Contended { .. } => Self::new(StatusCode::SERVICE_UNAVAILABLE, code, detail),
            PaymentError::Invoice(i) => i.into(),
            PaymentError::Credits(c) => c.into(),
            PaymentError::Money(_) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail),
            PaymentError::Repo(r) => r.into(),
        }
    }
}

/// A manual payment against an invoice.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    /// Minor units, 1 to the amount due.
    #[serde(deserialize_with = "whole")]
    pub amount: i64,
    /// The operator's reference (statement line, receipt number).
    pub reference: String,
    /// `manual` (default) or `bank_transfer` (card payments arrive from the provider).
    pub method: Option<String>,
}

/// A refund of (part of) a payment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    /// Minor units (default: all that is left of the payment).
    #[serde(default, deserialize_with = "whole")]
    pub amount: Option<i64>,
    /// Why, printed on the credit note.
    pub reason: String,
}

/// The routes of this module (recording payments and refunds are wired in the router,
/// with idempotency).
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/billing/payments", get(list_payments))
        .route("/v1/billing/payments/{id}", get(get_payment))
        .route("/v1/billing/payments/{id}/credit-notes", get(payment_credit_notes))
}

/// The request's `Idempotency-Key`, required on the routes that record money.
fn required_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let key = headers.get(IDEMPOTENCY_KEY).and_then(|v| v.to_str().ok()).map(str::trim).filter(|k| !k.is_empty());
    key.map(|k| format!("api:{k}")).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "idempotency_key_required",
            "this route moves money: send an Idempotency-Key header so a retry cannot record it twice",
        )
    })
}

/// The account's payments, newest first.
#[utoipa::path(get, path = "/v1/billing/payments", tag = "payments", params(PageQuery),
    responses((status = 200, body = Page<Payment>), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn list_payments(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<Page<Payment>>, ApiError> {
    let limit = page.limit()?;
    Ok(Json(Page::of(state.services.payments.list(&caller.account, limit, page.cursor()?).await?)))
}

/// One payment of the account.
#[utoipa::path(get, path = "/v1/billing/payments/{id}", tag = "payments", params(("id" = String, Path)),
    responses((status = 200, body = Payment), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn get_payment(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Payment>, ApiError> {
    let id: PaymentId = path_id(&id, "payment")?;
    Ok(Json(state.services.payments.get(&caller.account, &id).await?))
}

/// The credit notes of a payment's invoice that refunded this payment.
#[utoipa::path(get, path = "/v1/billing/payments/{id}/credit-notes", tag = "payments", params(("id" = String, Path)),
    responses((status = 200, body = Vec<CreditNote>), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn payment_credit_notes(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<CreditNote>>, ApiError> {
    let id: PaymentId = path_id(&id, "payment")?;
    let payments = &state.services.payments;
    let payment = payments.get(&caller.account, &id).await?;
    let notes = payments.credit_notes(&caller.account, &payment.invoice_id).await?;
    Ok(Json(notes.into_iter().filter(|n| n.payment_id == id).collect()))
}

/// Records a manual payment against an open invoice (admin, system). Paying what is
/// due marks the invoice paid and, for a credit package or plan, adds its credits in
/// the same transaction. `Idempotency-Key` required.
#[utoipa::path(post, path = "/v1/billing/invoices/{id}/payments", tag = "payments", params(("id" = String, Path),
        ("Idempotency-Key" = String, Header, description = "Required: a repeat returns the first payment")),
    request_body = PaymentRequest,
    responses((status = 201, body = PaymentOutcome), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn record_payment(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PaymentRequest>,
) -> Result<(StatusCode, Json<PaymentOutcome>), ApiError> {
    caller.require_privileged()?;
    let invoice: InvoiceId = path_id(&id, "invoice")?;
    // An invoice of another account is a 404 whatever else is wrong with the request.
    state.services.invoices.get(&caller.account, &invoice).await?;
    let idempotency_key = required_key(&headers)?;
    let method = match body.method.as_deref() {
        None | Some("manual") => PaymentMethod::Manual,
        Some("bank_transfer") => PaymentMethod::BankTransfer,
        Some(_) => return Err(ApiError::invalid_field("method", "manual or bank_transfer")),
    };
    let payment = ManualPayment { amount: body.amount, reference: body.reference, method, idempotency_key };
    let outcome = state.services.payments.record_manual_payment(&caller.account, &invoice, payment).await?;
    Ok((StatusCode::CREATED, Json(outcome)))
}

/// Refunds (part of) a succeeded payment (admin, system): a credit note is issued and,
/// for credits bought, the unspent ones leave the balance (never below zero).
/// `Idempotency-Key` required.
#[utoipa::path(post, path = "/v1/billing/payments/{id}/refunds", tag = "payments", params(("id" = String, Path),
        ("Idempotency-Key" = String, Header, description = "Required: a repeat returns the first credit note")),
    request_body = RefundBody,
    responses((status = 201, body = RefundOutcome), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn refund_payment(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RefundBody>,
) -> Result<(StatusCode, Json<RefundOutcome>), ApiError> {
    caller.require_privileged()?;
    let payment: PaymentId = path_id(&id, "payment")?;
    // A payment of another account is a 404 whatever else is wrong with the request.
    state.services.payments.get(&caller.account, &payment).await?;
    let idempotency_key = required_key(&headers)?;
    let reason = super::check_text("reason", &body.reason, MAX_REFUND_REASON)?.to_owned();
    let request = RefundRequest { amount: body.amount, reason, idempotency_key };
    let outcome = state.services.payments.refund(&caller.account, &payment, request).await?;
    Ok((StatusCode::CREATED, Json(outcome)))
}
