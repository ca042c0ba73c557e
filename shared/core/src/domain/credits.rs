//! The credit ledger's records.

use serde::{Deserialize, Serialize};

use super::ids::{AccountId, HoldId, TransactionId};

/// What one unit of a cost config measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CostUnit {
    /// Each call costs the same.
    PerRequest,
    /// Charged per started 100 words of output.
    Per100Words,
    /// Charged per started 200 words of output.
    Per200Words,
    /// Charged per item processed (keyword, idea, prompt...).
    PerItem,
    /// Charged per image generated.
    PerImage,
    /// Charged per started 1,000 items (keywords embedded: an embedding costs a
    /// fraction of a chat call, so a per-item price would be zero or far too high).
    Per1000Items,
}

impl CostUnit {
    /// How many raw units (words, items...) one chargeable unit covers.
    pub fn divisor(self) -> i64 {
        match self {
            Self::Per100Words => 100,
            Self::Per200Words => 200,
            Self::Per1000Items => 1000,
            Self::PerRequest | Self::PerItem | Self::PerImage => 1,
        }
    }
}

/// The price of one AI operation, configurable per operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreditCostConfig {
    /// Operation name, e.g. `content_generation`.
    pub operation: String,
    /// What a unit measures.
    pub unit: CostUnit,
    /// Credits per chargeable unit.
    pub credits_per_unit: i64,
    /// Smallest charge for one call, whatever the units.
    pub min_credits: i64,
    /// Whether the entry came from the store (false: a built-in constant).
    #[serde(default)]
    pub configured: bool,
}

impl CreditCostConfig {
    /// Credits for `units` raw units (words, items...): started units are charged whole.
    pub fn cost_for(&self, units: i64) -> Option<i64> {
        let divisor = self.unit.divisor();
        let chargeable = units.checked_add(divisor - 1)? / divisor;
        Some(chargeable.checked_mul(self.credits_per_unit)?.max(self.min_credits))
    }
}

/// Why a ledger entry exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TransactionKind {
    /// Credits spent on work.
    Charge,
    /// Credits bought.
    TopUp,
    /// Credits given (plan allowance, promotion).
    Grant,
    /// Credits returned.
    Refund,
}

impl TransactionKind {
    /// True for the kinds that add credits.
    pub fn is_credit(self) -> bool {
        !matches!(self, Self::Charge)
    }
}

/// One ledger entry; the balance is always the sum of these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreditTransaction {
    /// Entry id.
    pub id: TransactionId,
    /// Owning tenant.
    pub account_id: AccountId,
    /// Position in the account's ledger: 1, 2, 3… without gaps.
    pub seq: i64,
    /// Signed change: negative for charges.
    pub amount: i64,
    /// The balance right after this entry.
    pub balance_after: i64,
    /// Why.
    pub kind: TransactionKind,
    /// Human-readable reason.
    pub reason: String,
    /// What it refers to (run, invoice, payment...).
    pub reference: Option<String>,
    /// The caller's idempotency key, if any.
    pub idempotency_key: Option<String>,
    /// The hold this entry settled, if any.
    pub hold_id: Option<HoldId>,
    /// When (RFC 3339).
    pub created_at: String,
    /// When, Unix milliseconds (for ordering and filters).
    pub created_ms: i64,
}

/// What AI work a charge paid for.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageDetails {
    /// Operation name.
    pub operation: String,
    /// Model that did the work.
    pub model: Option<String>,
    /// Prompt tokens.
    pub tokens_in: i64,
    /// Completion tokens.
    pub tokens_out: i64,
    /// Raw units charged for (words, items, images).
    pub units: i64,
    /// Automation run, if any.
    pub run_id: Option<String>,
    /// Automation stage (1–6), if any.
    pub stage: Option<u8>,
}

/// One AI operation's usage, written with the charge that paid for it — or, for a
/// call that failed after the model spent tokens on it (its answers stayed invalid),
/// with the release of its hold: no credits, the tokens recorded, `failed` set, so the
/// usage log shows every token the provider billed us for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreditUsageLog {
    /// Owning tenant.
    pub account_id: AccountId,
    /// The ledger entry that paid for it (none for a failed call: nothing was charged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<TransactionId>,
    /// Credits it cost (0 for a failed call).
    pub credits: i64,
    /// True when the call failed (the model's answers stayed invalid): its hold was
    /// released and nothing charged, and the tokens are recorded all the same.
    #[serde(default)]
    pub failed: bool,
    /// What was done.
    #[serde(flatten)]
    pub usage: UsageDetails,
    /// When (RFC 3339).
    pub created_at: String,
}

/// An AI operation the platform charges for: the key of its price
/// (`CreditCostConfig::operation`) and of its usage logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Stage 1: keywords into clusters.
    Clustering,
    /// Stage 2: ideas for a cluster.
    IdeaGeneration,
    /// Stage 4: an article.
    ContentGeneration,
    /// Stage 5: image prompts of an article.
    ImagePromptExtraction,
    /// Stage 6: one image.
    ImageGeneration,
    /// Internal linking of a site's articles.
    Linking,
    /// An optimizer rewrite of an article.
    Optimization,
    /// Stage 1 in semantic mode: keywords embedded (those not in the embedding
    /// cache), priced per started 1,000.
    Embedding,
}

impl Operation {
    /// Every operation, in the order price tables list them.
    pub const ALL: [Operation; 8] = [
        Self::Clustering,
        Self::IdeaGeneration,
        Self::ContentGeneration,
        Self::ImagePromptExtraction,
        Self::ImageGeneration,
        Self::Linking,
        Self::Optimization,
        Self::Embedding,
    ];

    /// The stored name (as serialized): prices and usage logs are keyed by it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Clustering => "clustering",
            Self::IdeaGeneration => "idea_generation",
            Self::ContentGeneration => "content_generation",
            Self::ImagePromptExtraction => "image_prompt_extraction",
            Self::ImageGeneration => "image_generation",
            Self::Linking => "linking",
            Self::Optimization => "optimization",
            Self::Embedding => "embedding",
        }
    }

    /// The operation of a stored or requested name; None for one the platform does not know.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == name)
    }
}

/// State of a hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HoldStatus {
    /// Reserved; the amount is not spendable.
    Open,
    /// Turned into a charge of the actual cost.
    Settled,
    /// Given back in full.
    Released,
}

impl HoldStatus {
    /// The stored name (as serialized), for conditions on the stored record.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Settled => "settled",
            Self::Released => "released",
        }
    }
}

/// Credits reserved before work runs, settled to the actual cost afterwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreditHold {
    /// Hold id.
    pub id: HoldId,
    /// Owning tenant.
    pub account_id: AccountId,
    /// Reserved credits.
    pub amount: i64,
    /// State.
    pub status: HoldStatus,
    /// Why it was taken.
    pub reason: String,
    /// What it refers to.
    pub reference: Option<String>,
    /// Credits actually charged when settled.
    pub settled_amount: Option<i64>,
    /// The ledger entry of the settlement.
    pub transaction_id: Option<TransactionId>,
    /// Ledger position of the settlement, so a repeated settle returns the same entry.
    pub transaction_seq: Option<i64>,
    /// Balance after the settlement.
    pub balance_after: Option<i64>,
    /// When taken (RFC 3339).
    pub created_at: String,
}

/// An account's credit position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Balance {
    /// Credits owned: the sum of the ledger.
    pub credits: i64,
    /// Credits reserved by open holds.
    pub held: i64,
    /// Credits that may be spent now: `credits - held`.
    pub available: i64,
}

#[cfg(test)]
mod hold_status_tests {
    use super::HoldStatus;

    #[test]
    fn operation_names_are_the_serialized_ones() {
        for o in super::Operation::ALL {
            assert_eq!(serde_json::to_value(o).ok(), Some(serde_json::Value::from(o.as_str())));
            assert_eq!(super::Operation::parse(o.as_str()), Some(o));
        }
        assert_eq!(super::Operation::parse("free_lunch"), None);
    }

    #[test]
    fn stored_names_are_the_serialized_ones() {
        for s in [HoldStatus::Open, HoldStatus::Settled, HoldStatus::Released] {
            assert_eq!(serde_json::to_value(s).ok(), Some(serde_json::Value::from(s.as_str())));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn started_units_are_charged_whole_with_a_minimum() {
        let cfg = CreditCostConfig {
            operation: "content_generation".into(),
            unit: CostUnit::Per100Words,
            credits_per_unit: 2,
            min_credits: 1,
            configured: false,
        };
        assert_eq!(cfg.cost_for(1), Some(2));
        assert_eq!(cfg.cost_for(100), Some(2));
        assert_eq!(cfg.cost_for(101), Some(4));
        assert_eq!(cfg.cost_for(0), Some(1));
        assert_eq!(cfg.cost_for(i64::MAX), None);
    }
}
