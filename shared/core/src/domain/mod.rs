//! Plain data of the platform: serde types, no I/O.

pub mod account;
pub mod automation;
pub mod credits;
pub mod ids;
pub mod lock;
pub mod pipeline;

pub use account::{Account, AccountStatus, Site, SiteStatus};
pub use automation::{
    AutomationConfig, AutomationRun, Frequency, RunExecution, RunStatus, Schedule, Stage, StageResult,
};
pub use credits::{
    Balance, CostUnit, CreditCostConfig, CreditHold, CreditTransaction, CreditUsageLog, HoldStatus, Operation,
    TransactionKind, UsageDetails,
};
pub use ids::{
    AccountId, ClusterId, ContentId, HoldId, IdError, IdeaId, ImageId, KeywordId, RunId, SiteId, TaskId, TransactionId,
    TypedId,
};
pub use lock::SiteLease;
pub use pipeline::{
    Cluster, ClusterStatus, Content, ContentStatus, Idea, IdeaStatus, ImageRecord, ImageStatus, Keyword, KeywordStatus,
    TaskStatus, WriterTask,
};
