//! Billing: balance (with holds), ledger, usage logs, prices, and the privileged moves
//! of credits (add, reconcile, set a price).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use super::{id_pattern, pattern, whole, Constraint, Declared, Target, NOT_BLANK};
use crate::idempotency::IDEMPOTENCY_KEY;
use crate::{ApiError, ApiJson, ApiPath, ApiQuery, ApiState, Caller, Page, PageQuery, Problem};
pub use igny8_core::billing::credits::MAX_CREDITS_PER_REQUEST;
use igny8_core::billing::credits::MAX_PRICE;
use igny8_core::billing::{LedgerReceipt, Reconciliation, UsageFilter, BUILTIN_OPERATIONS};
use igny8_core::domain::{
    CostUnit, CreditCostConfig, CreditHold, CreditTransaction, CreditUsageLog, RunId, TransactionKind,
};

/// What credits may be added as (a charge is the ledger's own move, never a request's).
pub const ADDABLE_KINDS: [TransactionKind; 3] =
    [TransactionKind::TopUp, TransactionKind::Grant, TransactionKind::Refund];

/// Most characters of a grant's reason (once trimmed).
pub const MAX_REASON: usize = 500;

/// Most characters of a grant's reference.
pub const MAX_REFERENCE: usize = 200;

/// Most characters of the usage report's `operation` filter.
pub const MAX_OPERATION: usize = 64;

/// The constraints this module's handlers enforce.
pub fn declared() -> Vec<Declared> {
    let kinds = ADDABLE_KINDS.iter().filter_map(|k| serde_json::to_value(k).ok()?.as_str().map(str::to_owned));
    let operations = BUILTIN_OPERATIONS.iter().map(|(op, _, _)| op.as_str().to_owned()).collect();
    let price = |min| Constraint::Range(min, MAX_PRICE);
    vec![
        (Target::Property("CreditGrant", "amount"), Constraint::Range(1, MAX_CREDITS_PER_REQUEST)),
        (Target::Property("CreditGrant", "kind"), Constraint::OneOf(kinds.collect())),
        (
            Target::Property("CreditGrant", "reason"),
            Constraint::Text { min: Some(1), max: Some(MAX_REASON), pattern: Some(NOT_BLANK.to_owned()) },
        ),
        (
            Target::Property("CreditGrant", "reference"),
            Constraint::Text { min: None, max: Some(MAX_REFERENCE), pattern: None },
        ),
        (Target::Property("CostUpdate", "credits_per_unit"), price(0)),
        (Target::Property("CostUpdate", "min_credits"), price(1)),
        (Target::Parameter("/v1/billing/costs/{operation}", "operation"), Constraint::OneOf(operations)),
        (Target::Parameter("*", "Idempotency-Key"), pattern(crate::idempotency::key_pattern())),
        (Target::Parameter("/v1/billing/usage", "run_id"), pattern(format!("^$|{}", id_pattern::<RunId>()))),
        (
            Target::Parameter("/v1/billing/usage", "operation"),
            Constraint::Text { min: None, max: Some(MAX_OPERATION), pattern: None },
        ),
        (Target::Parameter("/v1/billing/usage", "from"), Constraint::DateTime),
        (Target::Parameter("/v1/billing/usage", "to"), Constraint::DateTime),
    ]
}

/// The balance and the holds that reserve part of it.
#[derive(Debug, Serialize, ToSchema)]
pub struct BalanceView {
    /// Credits owned: the sum of the ledger.
    pub credits: i64,
    /// Credits reserved by open holds.
    pub held: i64,
    /// Credits that may be spent now.
    pub available: i64,
    /// The open holds, newest first (one page: `limit`, default 50).
    pub holds: Vec<CreditHold>,
    /// Pass as `cursor` for the next page of open holds; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holds_next_cursor: Option<String>,
}

/// Filters of the usage report.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// Only this run's usage.
    pub run_id: Option<String>,
    /// Only this stage (1–6).
    #[param(minimum = 1, maximum = 6)]
    pub stage: Option<u8>,
    /// Only this operation (`content_generation`...).
    pub operation: Option<String>,
    /// At or after this instant (RFC 3339).
    pub from: Option<String>,
    /// Before this instant (RFC 3339).
    pub to: Option<String>,
    /// Items per page, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 2048)]
    pub cursor: Option<String>,
}

/// A price of one operation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CostUpdate {
    /// What a unit measures.
    pub unit: CostUnit,
    /// Credits per chargeable unit.
    #[serde(deserialize_with = "whole")]
    pub credits_per_unit: i64,
    /// Smallest charge of one call.
    #[serde(deserialize_with = "whole")]
    pub min_credits: i64,
}

/// Credits to add to the acting account (admin, system).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditGrant {
    /// Whole credits, at least 1.
    #[serde(deserialize_with = "whole")]
    pub amount: i64,
    /// top_up | grant | refund.
    pub kind: TransactionKind,
    /// Why, for the ledger.
    pub reason: String,
    /// What it refers to (invoice, payment...).
    pub reference: Option<String>,
}

/// The routes of this module (adding credits is wired in the router, with idempotency).
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/billing/balance", get(balance))
        .route("/v1/billing/transactions", get(transactions))
        .route("/v1/billing/usage", get(usage))
        .route("/v1/billing/costs", get(costs))
        .route("/v1/billing/costs/{operation}", put(put_cost))
        .route("/v1/billing/reconcile", get(reconcile))
}

/// The balance, with the holds that reserve part of it.
#[utoipa::path(get, path = "/v1/billing/balance", tag = "billing", params(PageQuery),
    responses((status = 200, body = BalanceView), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn balance(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<BalanceView>, ApiError> {
    let credits = &state.services.credits;
    let (limit, cursor) = (page.limit()?, page.cursor()?);
    let balance = credits.balance(&caller.account).await?;
    let holds = credits.open_holds(&caller.account, limit, cursor).await?;
    Ok(Json(BalanceView {
        credits: balance.credits,
        held: balance.held,
        available: balance.available,
        holds: holds.items,
        holds_next_cursor: holds.cursor,
    }))
}

/// The ledger, newest first.
#[utoipa::path(get, path = "/v1/billing/transactions", tag = "billing", params(PageQuery),
    responses((status = 200, body = Page<CreditTransaction>), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn transactions(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<Page<CreditTransaction>>, ApiError> {
    let limit = page.limit()?;
    Ok(Json(Page::of(state.services.credits.ledger(&caller.account, limit, page.cursor()?).await?)))
}

fn instant(field: &str, value: Option<&str>) -> Result<Option<OffsetDateTime>, ApiError> {
    value
        .map(|v| {
            OffsetDateTime::parse(v, &Rfc3339).map_err(|_| ApiError::invalid_field(field, "not an RFC 3339 date-time"))
        })
        .transpose()
}

/// AI usage, newest first, filtered by run, stage, operation and time.
#[utoipa::path(get, path = "/v1/billing/usage", tag = "billing", params(UsageQuery),
    responses((status = 200, body = Page<CreditUsageLog>), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn usage(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<UsageQuery>,
) -> Result<Json<Page<CreditUsageLog>>, ApiError> {
    let page = PageQuery { limit: query.limit, cursor: query.cursor.clone() };
    let limit = page.limit()?;
    if query.stage.is_some_and(|s| !(1..=6).contains(&s)) {
        return Err(ApiError::invalid_field("stage", "must be 1 to 6"));
    }
    let run_id = query.run_id.filter(|r| !r.is_empty());
    if query.operation.as_ref().is_some_and(|o| o.chars().count() > MAX_OPERATION) {
        return Err(ApiError::invalid_field("operation", format!("must be at most {MAX_OPERATION} characters")));
    }
    let from = instant("from", query.from.as_deref())?;
    let to = instant("to", query.to.as_deref())?;
    if run_id.as_ref().is_some_and(|r| r.parse::<RunId>().is_err()) {
        return Err(ApiError::invalid_field("run_id", "not a run id"));
    }
    let filter =
        UsageFilter { run_id, stage: query.stage, operation: query.operation.filter(|o| !o.is_empty()), from, to };
    Ok(Json(Page::of(state.services.credits.usage_page(&caller.account, &filter, limit, page.cursor()?).await?)))
}

/// Every operation's price.
#[utoipa::path(get, path = "/v1/billing/costs", tag = "billing",
    responses((status = 200, body = Vec<CreditCostConfig>), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn costs(State(state): State<ApiState>, _caller: Caller) -> Result<Json<Vec<CreditCostConfig>>, ApiError> {
    Ok(Json(state.services.credits.cost_table().await?))
}

/// Sets an operation's price (admin, system).
#[utoipa::path(put, path = "/v1/billing/costs/{operation}", tag = "billing", params(("operation" = String, Path)), request_body = CostUpdate,
    responses((status = 200, body = CreditCostConfig), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn put_cost(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(operation): ApiPath<String>,
    ApiJson(body): ApiJson<CostUpdate>,
) -> Result<Json<CreditCostConfig>, ApiError> {
    caller.require_privileged()?;
    let config = CreditCostConfig {
        operation,
        unit: body.unit,
        credits_per_unit: body.credits_per_unit,
        min_credits: body.min_credits,
        configured: true,
    };
    state.services.credits.set_cost_config(&config).await?;
    Ok(Json(state.services.credits.cost_config(&config.operation).await?))
}

/// Adds credits to the acting account (admin, system; `Idempotency-Key` honoured and
/// also used as the ledger's own idempotency key).
#[utoipa::path(post, path = "/v1/billing/credits", tag = "billing", request_body = CreditGrant,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key: a repeat returns the first response")),
    responses((status = 201, body = LedgerReceipt), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn add_credits(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreditGrant>,
) -> Result<(StatusCode, Json<LedgerReceipt>), ApiError> {
    caller.require_privileged()?;
    if !ADDABLE_KINDS.contains(&body.kind) {
        return Err(ApiError::invalid_field("kind", "credits are added as top_up, grant or refund"));
    }
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON {
        return Err(ApiError::invalid_field("reason", format!("must be 1 to {MAX_REASON} characters")));
    }
    if body.reference.as_ref().is_some_and(|r| r.chars().count() > MAX_REFERENCE) {
        return Err(ApiError::invalid_field("reference", format!("must be at most {MAX_REFERENCE} characters")));
    }
    let key = headers.get(IDEMPOTENCY_KEY).and_then(|v| v.to_str().ok()).map(|k| format!("api:{}", k.trim()));
    let receipt =
        state.services.credits.add(&caller.account, body.amount, body.kind, reason, body.reference, key).await?;
    Ok((StatusCode::CREATED, Json(receipt)))
}

/// Audits the acting account's ledger against its balance (admin, system).
#[utoipa::path(get, path = "/v1/billing/reconcile", tag = "billing",
    responses((status = 200, body = Reconciliation), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn reconcile(State(state): State<ApiState>, caller: Caller) -> Result<Json<Reconciliation>, ApiError> {
    caller.require_privileged()?;
    Ok(Json(state.services.credits.reconcile(&caller.account).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_price_update_takes_every_unit_the_core_prices_in() {
        let units = [
            ("per_request", CostUnit::PerRequest),
            ("per100_words", CostUnit::Per100Words),
            ("per200_words", CostUnit::Per200Words),
            ("per_item", CostUnit::PerItem),
            ("per_image", CostUnit::PerImage),
            ("per1000_items", CostUnit::Per1000Items),
        ];
        for (name, unit) in units {
            let body = serde_json::json!({"unit": name, "credits_per_unit": 2, "min_credits": 1});
            let update: CostUpdate = serde_json::from_value(body).expect(name);
            assert_eq!(update.unit, unit, "{name}");
        }
        let unknown = serde_json::json!({"unit": "per_10_items", "credits_per_unit": 2, "min_credits": 1});
        assert!(serde_json::from_value::<CostUpdate>(unknown).is_err());
    }
}
