//! The catalog: credit packages and plans (everyone reads the active ones; platform
//! administrators create, change and deactivate them), and buying a package, which
//! creates and finalizes its invoice for the acting account.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::invoices::currency_codes;
use super::{id_pattern, printable_text_pattern, whole, Constraint, Declared, Target};
use crate::{path_id, ApiError, ApiJson, ApiPath, ApiQuery, ApiState, Caller, Problem};
use igny8_core::billing::catalog::MAX_NAME_CHARS;
use igny8_core::billing::credits::MAX_CREDITS_PER_REQUEST;
use igny8_core::billing::money::{MAX_AMOUNT, MAX_TAX_RATE_BP};
use igny8_core::billing::{CatalogError, NewPackage, NewPlan, PackageUpdate, PlanUpdate};
use igny8_core::domain::{CreditPackage, Currency, Invoice, PackageId, Plan, PlanId};

/// The constraints this module's handlers enforce.
pub fn declared() -> Vec<Declared> {
    let name = Constraint::Text { min: Some(1), max: Some(MAX_NAME_CHARS), pattern: Some(printable_text_pattern()) };
    let currencies = Constraint::OneOf(currency_codes());
    let mut all = Vec::new();
    for schema in ["PackageRequest", "PlanRequest"] {
        all.push((Target::Property(schema, "name"), name.clone()));
        all.push((Target::Property(schema, "currency"), currencies.clone()));
        all.push((Target::Property(schema, "tax_rate_bp"), Constraint::Range(0, MAX_TAX_RATE_BP)));
    }
    for schema in ["PackagePatch", "PlanPatch"] {
        all.push((Target::Property(schema, "name"), name.clone()));
        all.push((Target::Property(schema, "tax_rate_bp"), Constraint::Range(0, MAX_TAX_RATE_BP)));
    }
    all.extend([
        (Target::Property("PackageRequest", "credits"), Constraint::Range(1, MAX_CREDITS_PER_REQUEST)),
        (Target::Property("PackageRequest", "price"), Constraint::Range(0, MAX_AMOUNT)),
        (Target::Property("PackagePatch", "credits"), Constraint::Range(1, MAX_CREDITS_PER_REQUEST)),
        (Target::Property("PackagePatch", "price"), Constraint::Range(0, MAX_AMOUNT)),
        (Target::Property("PlanRequest", "monthly_price"), Constraint::Range(0, MAX_AMOUNT)),
        (Target::Property("PlanRequest", "included_monthly_credits"), Constraint::Range(0, MAX_CREDITS_PER_REQUEST)),
        (Target::Property("PlanPatch", "monthly_price"), Constraint::Range(0, MAX_AMOUNT)),
        (Target::Property("PlanPatch", "included_monthly_credits"), Constraint::Range(0, MAX_CREDITS_PER_REQUEST)),
        (Target::Component("PackageId"), super::pattern(id_pattern::<PackageId>())),
        (Target::Component("PlanId"), super::pattern(id_pattern::<PlanId>())),
        (Target::Parameter("/v1/billing/packages/{id}", "id"), super::pattern(id_pattern::<PackageId>())),
        (Target::Parameter("/v1/billing/packages/{id}/purchase", "id"), super::pattern(id_pattern::<PackageId>())),
        (Target::Parameter("/v1/billing/plans/{id}", "id"), super::pattern(id_pattern::<PlanId>())),
    ]);
    all
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::Invalid { field, reason } => Self::invalid_field(field, reason),
            CatalogError::PackageNotFound(_) => Self::not_found("credit package"),
            CatalogError::PlanNotFound(_) => Self::not_found("plan"),
            CatalogError::Repo(r) => r.into(),
        }
    }
}

/// `?include_inactive=` of the catalog's lists.
/// Other query parameters (a list's `limit`, say) are ignored: the answer is whole.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CatalogQuery {
    /// Also list deactivated entries (administrators only; ignored for others).
    pub include_inactive: Option<bool>,
}

/// A new credit package.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PackageRequest {
    /// Display name.
    pub name: String,
    /// Credits added when its invoice is paid.
    #[serde(deserialize_with = "whole")]
    pub credits: i64,
    /// Price before tax, minor units of `currency`.
    #[serde(deserialize_with = "whole")]
    pub price: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Tax rate of its invoice line, basis points (default 0).
    #[serde(default, deserialize_with = "whole")]
    pub tax_rate_bp: i64,
}

/// Changes to a credit package; absent fields stay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PackagePatch {
    /// New name.
    pub name: Option<String>,
    /// New credits.
    #[serde(default, deserialize_with = "whole")]
    pub credits: Option<i64>,
    /// New price.
    #[serde(default, deserialize_with = "whole")]
    pub price: Option<i64>,
    /// New tax rate.
    #[serde(default, deserialize_with = "whole")]
    pub tax_rate_bp: Option<i64>,
    /// Sell it or not.
    pub active: Option<bool>,
}

/// A new plan.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanRequest {
    /// Display name.
    pub name: String,
    /// Price of one month before tax, minor units of `currency`.
    #[serde(deserialize_with = "whole")]
    pub monthly_price: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Credits granted when a month's invoice is paid.
    #[serde(deserialize_with = "whole")]
    pub included_monthly_credits: i64,
    /// Tax rate of its invoice line, basis points (default 0).
    #[serde(default, deserialize_with = "whole")]
    pub tax_rate_bp: i64,
}

/// Changes to a plan; absent fields stay (they apply from the next period billed).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanPatch {
    /// New name.
    pub name: Option<String>,
    /// New monthly price.
    #[serde(default, deserialize_with = "whole")]
    pub monthly_price: Option<i64>,
    /// New included credits.
    #[serde(default, deserialize_with = "whole")]
    pub included_monthly_credits: Option<i64>,
    /// New tax rate.
    #[serde(default, deserialize_with = "whole")]
    pub tax_rate_bp: Option<i64>,
    /// Take new subscriptions or not.
    pub active: Option<bool>,
}

/// A currency of a request body; an unknown code is a field error.
pub fn parse_currency(code: &str) -> Result<Currency, ApiError> {
    code.parse::<Currency>().map_err(|e| ApiError::invalid_field("currency", e.to_string()))
}

/// The routes of this module (buying a package is wired in the router, with idempotency).
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/billing/packages", get(list_packages).post(create_package))
        .route("/v1/billing/packages/{id}", get(get_package).patch(update_package))
        .route("/v1/billing/plans", get(list_plans).post(create_plan))
        .route("/v1/billing/plans/{id}", get(get_plan).patch(update_plan))
}

/// Credit packages for sale (administrators may ask for inactive ones too).
#[utoipa::path(get, path = "/v1/billing/packages", tag = "catalog", params(CatalogQuery),
    responses((status = 200, body = Vec<CreditPackage>), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn list_packages(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<CatalogQuery>,
) -> Result<Json<Vec<CreditPackage>>, ApiError> {
    let inactive = query.include_inactive.unwrap_or(false) && caller.role.is_privileged();
    Ok(Json(state.services.catalog.packages(inactive).await?))
}

/// One credit package (an inactive one only for administrators).
#[utoipa::path(get, path = "/v1/billing/packages/{id}", tag = "catalog", params(("id" = String, Path)),
    responses((status = 200, body = CreditPackage), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn get_package(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<CreditPackage>, ApiError> {
    let package = state.services.catalog.package(&path_id(&id, "credit package")?).await?;
    if !package.active && !caller.role.is_privileged() {
        return Err(ApiError::not_found("credit package"));
    }
    Ok(Json(package))
}

/// Adds a credit package to the catalog (admin, system).
#[utoipa::path(post, path = "/v1/billing/packages", tag = "catalog", request_body = PackageRequest,
    responses((status = 201, body = CreditPackage), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn create_package(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(body): ApiJson<PackageRequest>,
) -> Result<(StatusCode, Json<CreditPackage>), ApiError> {
    caller.require_privileged()?;
    let new = NewPackage {
        name: body.name,
        credits: body.credits,
        price: body.price,
        currency: parse_currency(&body.currency)?,
        tax_rate_bp: body.tax_rate_bp,
    };
    Ok((StatusCode::CREATED, Json(state.services.catalog.create_package(new).await?)))
}

/// Changes or deactivates a credit package (admin, system); invoices already drafted
/// keep their terms.
#[utoipa::path(patch, path = "/v1/billing/packages/{id}", tag = "catalog", params(("id" = String, Path)), request_body = PackagePatch,
    responses((status = 200, body = CreditPackage), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn update_package(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PackagePatch>,
) -> Result<Json<CreditPackage>, ApiError> {
    caller.require_privileged()?;
    let update = PackageUpdate {
        name: body.name,
        credits: body.credits,
        price: body.price,
        tax_rate_bp: body.tax_rate_bp,
        active: body.active,
    };
    Ok(Json(state.services.catalog.update_package(&path_id(&id, "credit package")?, update).await?))
}

/// Buys a credit package for the acting account (owners): its invoice is created and
/// finalized, ready to be paid; the credits arrive when it is paid. `Idempotency-Key`
/// honoured: a repeat returns the first invoice.
#[utoipa::path(post, path = "/v1/billing/packages/{id}/purchase", tag = "catalog", params(("id" = String, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key: a repeat returns the first response")),
    responses((status = 201, body = Invoice), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn purchase_package(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<(StatusCode, Json<Invoice>), ApiError> {
    caller.require_owner()?;
    let package: PackageId = path_id(&id, "credit package")?;
    let invoices = &state.services.invoices;
    let draft = invoices.create_for_package(&caller.account, &package).await?;
    Ok((StatusCode::CREATED, Json(invoices.finalize(&caller.account, &draft.id).await?)))
}

/// Plans open to subscription (administrators may ask for inactive ones too).
#[utoipa::path(get, path = "/v1/billing/plans", tag = "catalog", params(CatalogQuery),
    responses((status = 200, body = Vec<Plan>), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn list_plans(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<CatalogQuery>,
) -> Result<Json<Vec<Plan>>, ApiError> {
    let inactive = query.include_inactive.unwrap_or(false) && caller.role.is_privileged();
    Ok(Json(state.services.catalog.plans(inactive).await?))
}

/// One plan (an inactive one only for administrators).
#[utoipa::path(get, path = "/v1/billing/plans/{id}", tag = "catalog", params(("id" = String, Path)),
    responses((status = 200, body = Plan), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn get_plan(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Plan>, ApiError> {
    let plan = state.services.catalog.plan(&path_id(&id, "plan")?).await?;
    if !plan.active && !caller.role.is_privileged() {
        return Err(ApiError::not_found("plan"));
    }
    Ok(Json(plan))
}

/// Adds a plan (admin, system).
#[utoipa::path(post, path = "/v1/billing/plans", tag = "catalog", request_body = PlanRequest,
    responses((status = 201, body = Plan), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn create_plan(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(body): ApiJson<PlanRequest>,
) -> Result<(StatusCode, Json<Plan>), ApiError> {
    caller.require_privileged()?;
    let new = NewPlan {
        name: body.name,
        monthly_price: body.monthly_price,
        currency: parse_currency(&body.currency)?,
        included_monthly_credits: body.included_monthly_credits,
        tax_rate_bp: body.tax_rate_bp,
    };
    Ok((StatusCode::CREATED, Json(state.services.catalog.create_plan(new).await?)))
}

/// Changes or deactivates a plan (admin, system); it applies from the next period billed.
#[utoipa::path(patch, path = "/v1/billing/plans/{id}", tag = "catalog", params(("id" = String, Path)), request_body = PlanPatch,
    responses((status = 200, body = Plan), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn update_plan(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PlanPatch>,
) -> Result<Json<Plan>, ApiError> {
    caller.require_privileged()?;
    let update = PlanUpdate {
        name: body.name,
        monthly_price: body.monthly_price,
        included_monthly_credits: body.included_monthly_credits,
        tax_rate_bp: body.tax_rate_bp,
        active: body.active,
    };
    Ok(Json(state.services.catalog.update_plan(&path_id(&id, "plan")?, update).await?))
}
