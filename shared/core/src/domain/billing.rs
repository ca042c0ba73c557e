//! Billing documents: currencies, invoices and their lines, the catalog (credit
//! packages, plans), subscriptions, payments and credit notes (docs/billing.md).
//!
//! Money is always an `i64` count of the currency's minor unit (cents, yen, fils):
//! arithmetic on it lives in `billing::money`, where every operation is checked.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::ids::{AccountId, CreditNoteId, InvoiceId, PackageId, PaymentId, PlanId};

/// ISO 4217 codes with no minor unit (an amount of 1,235 JPY is stored as 1235).
const ZERO_DECIMAL: &[&str] =
    &["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"];

/// ISO 4217 codes with three decimals (1.234 KWD is stored as 1234).
const THREE_DECIMAL: &[&str] = &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];

/// The other active ISO 4217 codes: two decimals.
const TWO_DECIMAL: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN", "BMD", "BND",
    "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF", "CNY", "COP", "CRC", "CUP", "CVE", "CZK",
    "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GTQ", "GYD",
    "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IRR", "JMD", "KES", "KGS", "KHR", "KPW", "KYD", "KZT", "LAK",
    "LBP", "LKR", "LRD", "LSL", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN",
    "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "QAR", "RON",
    "RSD", "RUB", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP",
    "SZL", "THB", "TJS", "TMT", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "USD", "UYU", "UZS", "VES", "WST", "XCD",
    "YER", "ZAR", "ZMW", "ZWL",
];

/// Why a currency code is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CurrencyError {
    /// Not an active ISO 4217 code this platform knows the minor unit of.
    #[error("unknown currency {0:?}: expected an ISO 4217 code such as EUR, USD, JPY or KWD")]
    Unknown(String),
}

impl CurrencyError {
    /// The stable code the API and the CLI report.
    pub fn code(&self) -> &'static str {
        "unknown_currency"
    }
}

/// An ISO 4217 currency whose minor unit is known: an unknown code never becomes a
/// `Currency`, so every amount can be formatted and rounded correctly.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(value_type = String, example = "EUR"))]
#[serde(try_from = "String", into = "String")]
pub struct Currency(String);

impl Currency {
    /// The upper-case ISO 4217 code (`EUR`).
    pub fn code(&self) -> &str {
        &self.0
    }

    /// Digits after the decimal point: 0 (JPY), 2 (EUR) or 3 (KWD).
    pub fn exponent(&self) -> u32 {
        let code = self.0.as_str();
        if ZERO_DECIMAL.contains(&code) {
            0
        } else if THREE_DECIMAL.contains(&code) {
            3
        } else {
            2
        }
    }
}

impl FromStr for Currency {
    type Err = CurrencyError;
    /// Accepts a known code in any case (`eur` → `EUR`).
    fn from_str(s: &str) -> Result<Self, CurrencyError> {
        let code = s.trim().to_ascii_uppercase();
        let known = |list: &[&str]| list.contains(&code.as_str());
        if known(ZERO_DECIMAL) || known(THREE_DECIMAL) || known(TWO_DECIMAL) {
            Ok(Self(code))
        } else {
            Err(CurrencyError::Unknown(s.to_owned()))
        }
    }
}

impl TryFrom<String> for Currency {
    type Error = CurrencyError;
    fn try_from(s: String) -> Result<Self, CurrencyError> {
        s.parse()
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.0
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where an invoice is in its life (Stripe's lifecycle; docs/billing.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    /// Editable, no number yet; may be deleted.
    Draft,
    /// Finalized: numbered, immutable lines, awaiting payment.
    Open,
    /// Fully paid; final (corrected by a credit note, never voided).
    Paid,
    /// Cancelled after finalize; final, keeps its number.
    Void,
    /// Written off as not collectable; may still be paid or voided.
    Uncollectible,
}

impl InvoiceStatus {
    /// The status as stored and reported.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Open => "open",
            Self::Paid => "paid",
            Self::Void => "void",
            Self::Uncollectible => "uncollectible",
        }
    }
}

/// What an invoice bills.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InvoiceSource {
    /// One period of the account's subscription; paying it grants the plan's credits.
    PlanPeriod {
        /// The plan billed.
        plan: PlanId,
        /// Period start (RFC 3339).
        period_start: String,
        /// Period end, exclusive (RFC 3339).
        period_end: String,
        /// Period start, Unix ms: with the account it identifies the period.
        period_start_ms: i64,
        /// Credits granted when the invoice is paid.
        included_credits: i64,
    },
    /// A credit package; paying it adds `credits` to the balance.
    CreditPackage {
        /// The package bought.
        package: PackageId,
        /// Credits added when paid.
        credits: i64,
    },
    /// Lines written by hand (custom work); paying it moves no credits.
    Custom,
}

impl InvoiceSource {
    /// Credits the ledger receives when an invoice of this source is paid (0: none).
    pub fn credits_on_payment(&self) -> i64 {
        match self {
            Self::PlanPeriod { included_credits, .. } => *included_credits,
            Self::CreditPackage { credits, .. } => *credits,
            Self::Custom => 0,
        }
    }
}

/// The buyer as printed on an invoice: copied from the account's [`BillingProfile`] at
/// finalize, so later edits of the profile never change an issued document.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BillingDetails {
    /// Legal or display name.
    pub name: String,
    /// Where invoices are sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Postal address, one line each.
    #[serde(default)]
    pub address_lines: Vec<String>,
    /// ISO 3166-1 alpha-2 country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// VAT or other tax id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_id: Option<String>,
}

/// An account's buyer details, kept per account and snapshotted into each invoice at
/// finalize.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BillingProfile {
    /// The account.
    pub account_id: AccountId,
    /// The details.
    pub details: BillingDetails,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

/// The seller as printed on every invoice: configuration of the deployment, not data of
/// an account.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SellerDetails {
    /// Legal name.
    pub name: String,
    /// Postal address, one line each.
    #[serde(default)]
    pub address_lines: Vec<String>,
    /// VAT or other tax id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_id: Option<String>,
    /// Billing contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// A line as a caller asks for it; the amounts are computed (`billing::money`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LineInput {
    /// What is billed (1 to 500 characters).
    pub description: String,
    /// How many (≥ 1).
    pub quantity: i64,
    /// Price of one, in minor units (≥ 0).
    pub unit_amount: i64,
    /// Tax rate in basis points (1900 = 19 %), 0 to 10000.
    #[serde(default)]
    pub tax_rate_bp: i64,
}

/// One computed line of an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InvoiceLine {
    /// What is billed.
    pub description: String,
    /// How many.
    pub quantity: i64,
    /// Price of one, minor units.
    pub unit_amount: i64,
    /// Tax rate, basis points.
    pub tax_rate_bp: i64,
    /// quantity × unit_amount.
    pub amount: i64,
    /// round_half_away_from_zero(amount × tax_rate_bp / 10000).
    pub tax: i64,
}

/// An invoice of an account (docs/billing.md has the lifecycle and the invariants).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Invoice {
    /// The invoice id.
    pub id: InvoiceId,
    /// Owning tenant.
    pub account_id: AccountId,
    /// `INV-YYYYMM-NNNN`, assigned at finalize; None while draft.
    pub number: Option<String>,
    /// Currency of every amount.
    pub currency: Currency,
    /// The lines, in order.
    pub lines: Vec<InvoiceLine>,
    /// Σ line amounts.
    pub subtotal: i64,
    /// Σ line taxes.
    pub tax: i64,
    /// subtotal + tax.
    pub total: i64,
    /// Σ succeeded payments.
    pub amount_paid: i64,
    /// total − amount_paid.
    pub amount_due: i64,
    /// Σ refunds (credit notes).
    pub amount_refunded: i64,
    /// Credits its refunds took back or recorded as unrecoverable (Σ over its credit
    /// notes), so later partial refunds never take back more than it added.
    #[serde(default)]
    pub credits_reversed: i64,
    /// Lifecycle state.
    pub status: InvoiceStatus,
    /// What it bills.
    pub source: InvoiceSource,
    /// Buyer, snapshotted at finalize (None while draft).
    pub billing_details: Option<BillingDetails>,
    /// Days from finalize to the due date.
    pub due_days: u32,
    /// Finalize time (RFC 3339).
    pub issued_at: Option<String>,
    /// Due date (RFC 3339).
    pub due_at: Option<String>,
    /// Due date, Unix ms.
    pub due_ms: Option<i64>,
    /// When it became paid (RFC 3339).
    pub paid_at: Option<String>,
    /// When it was voided (RFC 3339).
    pub voided_at: Option<String>,
    /// Blob key of the rendered PDF (`invoices/<account>/<number>.pdf`), once rendered.
    pub pdf_key: Option<String>,
    /// The invoice version the stored PDF shows; a PDF of an older version is rendered again.
    pub pdf_version: Option<i64>,
    /// Bumped by every change; the optimistic-concurrency guard.
    pub version: i64,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

/// A credit package of the catalog: credits sold for a price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreditPackage {
    /// The package id.
    pub id: PackageId,
    /// Display name (1 to 100 characters).
    pub name: String,
    /// Credits added when its invoice is paid.
    pub credits: i64,
    /// Price in minor units, before tax.
    pub price: i64,
    /// Currency of the price.
    pub currency: Currency,
    /// Tax rate applied to its invoice line, basis points.
    #[serde(default)]
    pub tax_rate_bp: i64,
    /// Only active packages can be bought.
    pub active: bool,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

/// A subscription plan: a monthly price and the credits each paid month grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Plan {
    /// The plan id.
    pub id: PlanId,
    /// Display name (1 to 100 characters).
    pub name: String,
    /// Price of one month in minor units, before tax.
    pub monthly_price: i64,
    /// Currency of the price.
    pub currency: Currency,
    /// Credits granted when a month's invoice is paid.
    pub included_monthly_credits: i64,
    /// Tax rate applied to its invoice line, basis points.
    #[serde(default)]
    pub tax_rate_bp: i64,
    /// Only active plans can be subscribed to.
    pub active: bool,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

/// Whether a subscription is in good standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    /// Paid up (or its current invoice not yet due).
    Active,
    /// An invoice is unpaid past its due date: automation does not start.
    PastDue,
    /// Ended at a period end after a cancellation.
    Cancelled,
}

/// An account's subscription to a plan (one per account).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Subscription {
    /// The account.
    pub account_id: AccountId,
    /// The plan billed for the current period.
    pub plan_id: PlanId,
    /// The plan the next period will bill, after a change (None: the same).
    pub next_plan_id: Option<PlanId>,
    /// Current period start (RFC 3339).
    pub current_period_start: String,
    /// Current period end, exclusive (RFC 3339).
    pub current_period_end: String,
    /// Current period start, Unix ms.
    pub current_period_start_ms: i64,
    /// Current period end, Unix ms.
    pub current_period_end_ms: i64,
    /// Start of the first period, Unix ms: period n ends n calendar months after it
    /// (clamped to the month's last day), so periods never drift.
    pub billing_anchor_ms: i64,
    /// Number of the current period, from 1.
    pub period_number: u32,
    /// Standing.
    pub status: SubscriptionStatus,
    /// Ends at the current period's end instead of renewing.
    pub cancel_at_period_end: bool,
    /// The invoice of the current period.
    pub latest_invoice: Option<InvoiceId>,
    /// Bumped by every change; the optimistic-concurrency guard.
    pub version: i64,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

/// How a payment was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    /// Recorded by an operator (cash, cheque, an external transfer).
    Manual,
    /// A card, through a payment provider.
    Card,
    /// A bank transfer.
    BankTransfer,
}

/// Where a payment is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Announced, not yet settled.
    Pending,
    /// Settled: counts towards the invoice.
    Succeeded,
    /// Did not go through (`failure_reason` says why); the invoice is unchanged.
    Failed,
    /// Fully refunded.
    Refunded,
    /// Partly refunded.
    PartiallyRefunded,
}

/// A payment against an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Payment {
    /// The payment id.
    pub id: PaymentId,
    /// The invoice paid.
    pub invoice_id: InvoiceId,
    /// Owning tenant.
    pub account_id: AccountId,
    /// Minor units.
    pub amount: i64,
    /// The invoice's currency.
    pub currency: Currency,
    /// How it was paid.
    pub method: PaymentMethod,
    /// `manual`, or the provider (`stripe`).
    pub provider: String,
    /// The operator's reference or the provider's id (payment intent, charge).
    pub provider_reference: Option<String>,
    /// Lifecycle state.
    pub status: PaymentStatus,
    /// Why it failed.
    pub failure_reason: Option<String>,
    /// Σ refunds of it.
    pub amount_refunded: i64,
    /// The key that makes recording it idempotent.
    pub idempotency_key: Option<String>,
    /// Bumped by every change; the optimistic-concurrency guard.
    pub version: i64,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

/// The record of a refund against a paid invoice: a paid invoice is corrected by
/// credit notes, never voided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreditNote {
    /// The credit note id.
    pub id: CreditNoteId,
    /// Owning tenant.
    pub account_id: AccountId,
    /// The invoice corrected.
    pub invoice_id: InvoiceId,
    /// The payment refunded.
    pub payment_id: PaymentId,
    /// Minor units refunded.
    pub amount: i64,
    /// The invoice's currency.
    pub currency: Currency,
    /// Why.
    pub reason: String,
    /// Credits taken back out of the balance.
    pub credits_removed: i64,
    /// Credits that should have come back but were already spent (docs/billing.md).
    pub credits_unrecoverable: i64,
    /// The refund's idempotency key.
    pub idempotency_key: Option<String>,
    /// Creation time (RFC 3339).
    pub created_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies_know_their_minor_unit() {
        let exp = |c: &str| c.parse::<Currency>().map(|c| c.exponent());
        assert_eq!(exp("EUR"), Ok(2));
        assert_eq!(exp("jpy"), Ok(0));
        assert_eq!(exp("KWD"), Ok(3));
        assert_eq!(exp("XOF"), Ok(0));
        assert_eq!(exp("usd"), Ok(2));
        assert_eq!("XXX".parse::<Currency>().map_err(|e| e.code()), Err("unknown_currency"));
        assert!(serde_json::from_str::<Currency>("\"ABC\"").is_err());
        assert_eq!(serde_json::to_string(&"eur".parse::<Currency>().ok()).ok(), Some("\"EUR\"".to_owned()));
    }
}
