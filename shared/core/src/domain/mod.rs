//! Plain data of the platform: serde types, no I/O.

pub mod account;
pub mod automation;
pub mod billing;
pub mod credits;
pub mod ids;
pub mod integration;
pub mod lock;
pub mod optimization;
pub mod pipeline;

pub use account::{Account, AccountStatus, Site, SiteStatus};
pub use automation::{
    AutomationConfig, AutomationRun, ClusterMode, Frequency, LinkProgress, PublishAfterRun, PublishProgress,
    RunExecution, RunStatus, Schedule, Stage, StageResult, DEFAULT_LINK_BATCH_SIZE, DEFAULT_PUBLISH_BATCH_SIZE,
    LINK_STAGE, PUBLISH_STAGE,
};
pub use billing::{
    BillingDetails, BillingProfile, CreditNote, CreditPackage, Currency, CurrencyError, Invoice, InvoiceLine,
    InvoiceSource, InvoiceStatus, LineInput, Payment, PaymentMethod, PaymentStatus, Plan, SellerDetails, Subscription,
    SubscriptionStatus,
};
pub use credits::{
    Balance, CostUnit, CreditCostConfig, CreditHold, CreditTransaction, CreditUsageLog, HoldStatus, Operation,
    TransactionKind, UsageDetails,
};
pub use ids::{
    AccountId, ClusterId, ContentId, CreditNoteId, HoldId, IdError, IdeaId, ImageId, IntegrationId, InvoiceId,
    KeywordId, OptimizationId, PackageId, PaymentId, PlanId, RunId, SiteId, TaskId, TransactionId, TypedId,
};
pub use integration::{
    ConnectionReport, Credentials, HealthStatus, IntegrationHealth, IntegrationView, Platform, PlatformFault,
    Publication, PublicationState, PublishedMedia, RateLimitState, RemoteIdentity, RemoteStatus, RemoteTerm,
    ReviewStatus, SealedCredentials, SiteIntegration, SiteMetadata, SyncStatus, UnsupportedPlatform,
};
pub use lock::SiteLease;
pub use optimization::{ArticleVersion, OptimizationRecord};
pub use pipeline::{
    Cluster, ClusterStatus, Content, ContentStatus, Idea, IdeaStatus, ImageRecord, ImageStatus, Keyword, KeywordStatus,
    TaskStatus, WriterTask,
};
