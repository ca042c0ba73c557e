//! Billing: the credit ledger, and the documents that fund it — invoices, payments,
//! credit notes, the catalog and subscriptions (docs/billing.md).

pub mod catalog;
pub mod costs;
pub mod credits;
pub mod invoices;
pub mod money;
pub mod payments;
pub mod stripe;
pub mod subscriptions;
pub mod usage;

pub use catalog::{CatalogError, CatalogService, NewPackage, NewPlan, PackageUpdate, PlanUpdate};
pub use costs::{builtin_cost, BUILTIN_OPERATIONS};
pub use credits::{
    BalanceCheck, ChargeRequest, CreditError, CreditService, LedgerReceipt, Posted, Price, Reconciliation, RetryPolicy,
};
pub use invoices::{InvoiceDocuments, InvoiceError, InvoiceService, PdfLink};
pub use money::{format_amount, MoneyError};
pub use payments::{
    FailedPayment, ManualPayment, PaymentError, PaymentOutcome, PaymentService, ProviderPayment, RefundOutcome,
    RefundRequest,
};
pub use subscriptions::{renew_subscriptions, RenewalReport, Subscribed, SubscriptionError, SubscriptionService};
pub use usage::UsageFilter;
