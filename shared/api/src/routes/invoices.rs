//! Invoices of the acting account: list, get and a presigned link to the PDF for every
//! role; custom invoices, line edits, finalize, void and uncollectible for platform
//! administrators; and the billing profile (the buyer details snapshotted on each
//! invoice at finalize), which the account's owner keeps.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::catalog::parse_currency;
use super::{id_pattern, printable_text_pattern, whole, Constraint, Declared, Target};
use crate::{path_id, ApiError, ApiJson, ApiPath, ApiQuery, ApiState, Caller, Page, PageQuery, Problem};
use igny8_core::billing::invoices::{MAX_DUE_DAYS, MAX_LINK_SECONDS};
use igny8_core::billing::money::{MAX_DESCRIPTION_CHARS, MAX_LINES, MAX_QUANTITY, MAX_TAX_RATE_BP};
use igny8_core::billing::{InvoiceError, PdfLink};
use igny8_core::domain::{BillingDetails, BillingProfile, Currency, Invoice, InvoiceId, LineInput};

/// Largest unit amount the document declares: with [`MAX_QUANTITY`] and [`MAX_LINES`]
/// lines at up to 100 % tax, a schema-valid invoice never overflows the amount limit
/// (the service accepts larger units and refuses only totals that do not fit).
pub const DECLARED_MAX_UNIT: i64 = 1_000_000_000;

/// Default lifetime of a PDF link.
pub const DEFAULT_LINK_SECONDS: u64 = 900;

/// Most characters of a billing name.
pub const MAX_BILLING_NAME: usize = 200;

/// Most address lines on a billing profile.
pub const MAX_ADDRESS_LINES: usize = 6;

/// Most characters of one address line, email or tax id.
pub const MAX_DETAIL_CHARS: usize = 200;

/// Every ISO 4217 code the platform knows the minor unit of, for the document's enums
/// (asked of [`Currency`] itself, so the two never disagree).
pub fn currency_codes() -> Vec<String> {
    let letters = b'A'..=b'Z';
    let mut codes = Vec::new();
    for a in letters.clone() {
        for b in letters.clone() {
            for c in letters.clone() {
                let code = String::from_utf8_lossy(&[a, b, c]).into_owned();
                if code.parse::<Currency>().is_ok() {
                    codes.push(code);
                }
            }
        }
    }
    codes
}

/// The constraints this module's handlers enforce.
pub fn declared() -> Vec<Declared> {
    let detail = Constraint::Text { min: None, max: Some(MAX_DETAIL_CHARS), pattern: None };
    let invoice_id = super::pattern(id_pattern::<InvoiceId>());
    let mut all = vec![
        (Target::Component("InvoiceId"), invoice_id.clone()),
        (Target::Property("CustomInvoice", "currency"), Constraint::OneOf(currency_codes())),
        (Target::Property("CustomInvoice", "lines"), Constraint::Items { min: 1, max: MAX_LINES, each: None }),
        (Target::Property("CustomInvoice", "due_days"), Constraint::Range(0, MAX_DUE_DAYS.into())),
        (Target::Property("LineEdit", "lines"), Constraint::Items { min: 1, max: MAX_LINES, each: None }),
        (
            Target::Property("LineRequest", "description"),
            Constraint::Text {
                min: Some(1),
                max: Some(MAX_DESCRIPTION_CHARS),
                pattern: Some(printable_text_pattern()),
            },
        ),
        (Target::Property("LineRequest", "quantity"), Constraint::Range(1, MAX_QUANTITY)),
        (Target::Property("LineRequest", "unit_amount"), Constraint::Range(0, DECLARED_MAX_UNIT)),
        (Target::Property("LineRequest", "tax_rate_bp"), Constraint::Range(0, MAX_TAX_RATE_BP)),
        (
            Target::Property("ProfileRequest", "name"),
            Constraint::Text { min: Some(1), max: Some(MAX_BILLING_NAME), pattern: Some(printable_text_pattern()) },
        ),
        (Target::Property("ProfileRequest", "email"), detail.clone()),
        (Target::Property("ProfileRequest", "tax_id"), detail),
        (Target::Property("ProfileRequest", "country"), super::pattern("^[A-Z]{2}$")),
        (
            Target::Property("ProfileRequest", "address_lines"),
            Constraint::Items { min: 0, max: MAX_ADDRESS_LINES, each: None },
        ),
        (
            Target::Parameter("/v1/billing/invoices/{id}/pdf", "expires_in"),
            Constraint::Range(1, MAX_LINK_SECONDS as i64),
        ),
    ];
    for path in [
        "/v1/billing/invoices/{id}",
        "/v1/billing/invoices/{id}/pdf",
        "/v1/billing/invoices/{id}/lines",
        "/v1/billing/invoices/{id}/finalize",
        "/v1/billing/invoices/{id}/void",
        "/v1/billing/invoices/{id}/uncollectible",
        "/v1/billing/invoices/{id}/payments",
    ] {
        all.push((Target::Parameter(path, "id"), invoice_id.clone()));
    }
    all
}

impl From<InvoiceError> for ApiError {
    fn from(e: InvoiceError) -> Self {
        let (code, detail) = (e.code(), e.to_string());
        match e {
            InvoiceError::NotFound(_) => Self::not_found("invoice"),
            InvoiceError::AccountNotFound(_) => Self::not_found("account"),
            InvoiceError::PackageNotFound(_) => Self::not_found("credit package"),
            InvoiceError::NotDraft { .. }
            | InvoiceError::NotEditable(_)
            | InvoiceError::PaidIsFinal(_)
            | InvoiceError::InvalidTransition { .. }
            | InvoiceError::NotFinalized(_)
            | InvoiceError::NumbersExhausted { .. }
            | InvoiceError::PackageInactive(_)
            // No renderer in this deployment: the invoice exists, its document cannot.
            | InvoiceError::DocumentsUnavailable => Self::new(StatusCode::CONFLICT, code, detail),
            InvoiceError::InvalidDueDays(_) => Self::invalid_field("due_days", detail),
            InvoiceError::InvalidLinkLifetime => Self::invalid_field("expires_in", detail),
            InvoiceError::Money(_) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail),
            InvoiceError::Contended { .. } => Self::new(StatusCode::SERVICE_UNAVAILABLE, code, detail),
            InvoiceError::Credits(c) => c.into(),
            InvoiceError::Blob(b) => b.into(),
            InvoiceError::Repo(r) => r.into(),
            InvoiceError::Render(r) => Self::internal(r),
        }
    }
}

/// One line of a custom invoice.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineRequest {
    /// What is billed.
    pub description: String,
    /// How many.
    #[serde(deserialize_with = "whole")]
    pub quantity: i64,
    /// Price of one, minor units.
    #[serde(deserialize_with = "whole")]
    pub unit_amount: i64,
    /// Tax rate, basis points (1900 = 19 %; default 0).
    #[serde(default, deserialize_with = "whole")]
    pub tax_rate_bp: i64,
}

impl From<LineRequest> for LineInput {
    fn from(l: LineRequest) -> Self {
        Self {
            description: l.description,
            quantity: l.quantity,
            unit_amount: l.unit_amount,
            tax_rate_bp: l.tax_rate_bp,
        }
    }
}

/// A custom invoice (a draft until finalized).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomInvoice {
    /// ISO 4217 code of every amount.
    pub currency: String,
    /// The lines, in order.
    pub lines: Vec<LineRequest>,
    /// Days from finalize to the due date (default 14).
    #[serde(default, deserialize_with = "whole")]
    pub due_days: Option<u32>,
}

/// New lines for a custom draft.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineEdit {
    /// The lines, in order (they replace the draft's).
    pub lines: Vec<LineRequest>,
}

/// `?expires_in=` of a PDF link.
/// Other query parameters (a list's `limit`, say) are ignored: the answer is whole.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LinkQuery {
    /// Seconds the link stays valid (default 900, at most 7 days).
    pub expires_in: Option<u64>,
}

/// The buyer details printed on the account's invoices.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileRequest {
    /// Legal or display name.
    pub name: String,
    /// Where invoices are sent.
    pub email: Option<String>,
    /// Postal address, one line each.
    #[serde(default)]
    pub address_lines: Vec<String>,
    /// ISO 3166-1 alpha-2 country.
    pub country: Option<String>,
    /// VAT or other tax id.
    pub tax_id: Option<String>,
}

fn optional_detail(field: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => Ok(Some(super::check_text(field, v, MAX_DETAIL_CHARS)?.to_owned())),
    }
}

impl ProfileRequest {
    fn details(self) -> Result<BillingDetails, ApiError> {
        let name = super::check_text("name", &self.name, MAX_BILLING_NAME)?.to_owned();
        if self.address_lines.len() > MAX_ADDRESS_LINES {
            return Err(ApiError::invalid_field("address_lines", format!("at most {MAX_ADDRESS_LINES} lines")));
        }
        let mut address_lines = Vec::new();
        for line in self.address_lines {
            if line.chars().count() > MAX_DETAIL_CHARS || line.chars().any(char::is_control) {
                return Err(ApiError::invalid_field(
                    "address_lines",
                    format!("each line is at most {MAX_DETAIL_CHARS} printable characters"),
                ));
            }
            if !line.trim().is_empty() {
                address_lines.push(line.trim().to_owned());
            }
        }
        let country = match self.country.as_deref() {
            None | Some("") => None,
            Some(c) if c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()) => Some(c.to_owned()),
            Some(_) => return Err(ApiError::invalid_field("country", "an ISO 3166-1 alpha-2 code (DE, FR, US…)")),
        };
        Ok(BillingDetails {
            name,
            email: optional_detail("email", self.email)?,
            address_lines,
            country,
            tax_id: optional_detail("tax_id", self.tax_id)?,
        })
    }
}

/// The routes of this module (recording a payment is wired in the router, with idempotency).
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/billing/invoices", get(list_invoices).post(create_invoice))
        .route("/v1/billing/invoices/{id}", get(get_invoice).delete(delete_invoice))
        .route("/v1/billing/invoices/{id}/pdf", get(invoice_pdf))
        .route("/v1/billing/invoices/{id}/lines", axum::routing::put(edit_lines))
        .route("/v1/billing/invoices/{id}/finalize", post(finalize_invoice))
        .route("/v1/billing/invoices/{id}/void", post(void_invoice))
        .route("/v1/billing/invoices/{id}/uncollectible", post(uncollectible_invoice))
        .route("/v1/billing/profile", get(get_profile).put(put_profile))
}

fn invoice_id(raw: &str) -> Result<InvoiceId, ApiError> {
    path_id(raw, "invoice")
}

/// The account's invoices, newest first.
#[utoipa::path(get, path = "/v1/billing/invoices", tag = "invoices", params(PageQuery),
    responses((status = 200, body = Page<Invoice>), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn list_invoices(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<Page<Invoice>>, ApiError> {
    let limit = page.limit()?;
    Ok(Json(Page::of(state.services.invoices.list(&caller.account, limit, page.cursor()?).await?)))
}

/// One invoice of the account.
#[utoipa::path(get, path = "/v1/billing/invoices/{id}", tag = "invoices", params(("id" = String, Path)),
    responses((status = 200, body = Invoice), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn get_invoice(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Invoice>, ApiError> {
    Ok(Json(state.services.invoices.get(&caller.account, &invoice_id(&id)?).await?))
}

/// A presigned link to the invoice's PDF (rendered first when missing or stale; a
/// draft has none: `invoice_not_finalized`).
#[utoipa::path(get, path = "/v1/billing/invoices/{id}/pdf", tag = "invoices", params(("id" = String, Path), LinkQuery),
    responses((status = 200, body = PdfLink), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn invoice_pdf(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<LinkQuery>,
) -> Result<Json<PdfLink>, ApiError> {
    let id = invoice_id(&id)?;
    let seconds = query.expires_in.unwrap_or(DEFAULT_LINK_SECONDS);
    if !(1..=MAX_LINK_SECONDS).contains(&seconds) {
        return Err(ApiError::invalid_field("expires_in", format!("must be 1 to {MAX_LINK_SECONDS} seconds")));
    }
    let invoices = &state.services.invoices;
    // The invoice first: an unknown one is a 404 whatever the deployment's documents.
    invoices.get(&caller.account, &id).await?;
    Ok(Json(invoices.pdf_link(&caller.account, &id, Duration::from_secs(seconds)).await?))
}

/// Drafts a custom invoice for the acting account (admin, system).
#[utoipa::path(post, path = "/v1/billing/invoices", tag = "invoices", request_body = CustomInvoice,
    responses((status = 201, body = Invoice), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn create_invoice(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(body): ApiJson<CustomInvoice>,
) -> Result<(StatusCode, Json<Invoice>), ApiError> {
    caller.require_privileged()?;
    let currency = parse_currency(&body.currency)?;
    let lines: Vec<LineInput> = body.lines.into_iter().map(LineInput::from).collect();
    let invoice = state.services.invoices.create_custom(&caller.account, currency, &lines, body.due_days).await?;
    Ok((StatusCode::CREATED, Json(invoice)))
}

/// Replaces a custom draft's lines (admin, system).
#[utoipa::path(put, path = "/v1/billing/invoices/{id}/lines", tag = "invoices", params(("id" = String, Path)), request_body = LineEdit,
    responses((status = 200, body = Invoice), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn edit_lines(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<LineEdit>,
) -> Result<Json<Invoice>, ApiError> {
    caller.require_privileged()?;
    let lines: Vec<LineInput> = body.lines.into_iter().map(LineInput::from).collect();
    Ok(Json(state.services.invoices.update_lines(&caller.account, &invoice_id(&id)?, &lines).await?))
}

/// Deletes a draft (admin, system); it never used a number. Anything else is refused.
#[utoipa::path(delete, path = "/v1/billing/invoices/{id}", tag = "invoices", params(("id" = String, Path)),
    responses((status = 204), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn delete_invoice(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_privileged()?;
    state.services.invoices.delete_draft(&caller.account, &invoice_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Finalizes a draft (admin, system): assigns `INV-YYYYMM-NNNN` and renders the PDF.
/// Finalizing an open invoice again changes nothing.
#[utoipa::path(post, path = "/v1/billing/invoices/{id}/finalize", tag = "invoices", params(("id" = String, Path)),
    responses((status = 200, body = Invoice), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn finalize_invoice(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Invoice>, ApiError> {
    caller.require_privileged()?;
    Ok(Json(state.services.invoices.finalize(&caller.account, &invoice_id(&id)?).await?))
}

/// Voids an open or uncollectible invoice (admin, system); it keeps its number. A paid
/// one is refused (`invoice_paid_is_final`: refund its payment instead).
#[utoipa::path(post, path = "/v1/billing/invoices/{id}/void", tag = "invoices", params(("id" = String, Path)),
    responses((status = 200, body = Invoice), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn void_invoice(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Invoice>, ApiError> {
    caller.require_privileged()?;
    Ok(Json(state.services.invoices.void(&caller.account, &invoice_id(&id)?).await?))
}

/// Marks an open invoice uncollectible (admin, system); it may still be paid or voided.
#[utoipa::path(post, path = "/v1/billing/invoices/{id}/uncollectible", tag = "invoices", params(("id" = String, Path)),
    responses((status = 200, body = Invoice), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn uncollectible_invoice(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Invoice>, ApiError> {
    caller.require_privileged()?;
    Ok(Json(state.services.invoices.mark_uncollectible(&caller.account, &invoice_id(&id)?).await?))
}

/// The account's billing profile (404 until one is set).
#[utoipa::path(get, path = "/v1/billing/profile", tag = "invoices",
    responses((status = 200, body = BillingProfile), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn get_profile(State(state): State<ApiState>, caller: Caller) -> Result<Json<BillingProfile>, ApiError> {
    let profile = state.services.invoices.profile(&caller.account).await?;
    Ok(Json(profile.ok_or_else(|| ApiError::not_found("billing profile"))?))
}

/// Sets the account's billing profile (owners); invoices finalized from now on carry it.
#[utoipa::path(put, path = "/v1/billing/profile", tag = "invoices", request_body = ProfileRequest,
    responses((status = 200, body = BillingProfile), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn put_profile(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(body): ApiJson<ProfileRequest>,
) -> Result<Json<BillingProfile>, ApiError> {
    caller.require_owner()?;
    Ok(Json(state.services.invoices.set_profile(&caller.account, body.details()?).await?))
}
