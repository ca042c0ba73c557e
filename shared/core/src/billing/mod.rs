//! Billing: the credit ledger (and, later, invoices and payments).

pub mod costs;
pub mod credits;
pub mod stripe;
pub mod usage;

pub use costs::{builtin_cost, BUILTIN_OPERATIONS};
pub use credits::{
    BalanceCheck, ChargeRequest, CreditError, CreditService, LedgerReceipt, Price, Reconciliation, RetryPolicy,
};
pub use usage::UsageFilter;
