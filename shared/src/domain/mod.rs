//! Plain data of the platform: serde types, no I/O.

pub mod account;
pub mod credits;
pub mod ids;
pub mod lock;

pub use account::{Account, AccountStatus, Site, SiteStatus};
pub use credits::{
    Balance, CostUnit, CreditCostConfig, CreditHold, CreditTransaction, CreditUsageLog, HoldStatus,
    TransactionKind, UsageDetails,
};
pub use ids::{AccountId, HoldId, IdError, RunId, SiteId, TransactionId};
pub use lock::SiteLease;
