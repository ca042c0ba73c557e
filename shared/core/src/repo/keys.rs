//! The single table's key layout (see docs/architecture.md).
//!
//! The account's balance item is the only item written on `ACCT#<id>` by a charge;
//! ledger rows, usage logs, holds and idempotency markers live under other partition
//! keys so a busy account never exceeds one partition key's write rate.

use crate::domain::{AccountId, HoldId, SiteId};
use crate::ports::Key;

/// Account record: `ACCT#<id>` / `META`.
pub fn account(id: &AccountId) -> Key {
    Key::new(format!("ACCT#{id}"), "META")
}

/// The account's balance item (credits, held, available, seq, version).
pub fn balance(id: &AccountId) -> Key {
    Key::new(format!("ACCT#{id}"), "BALANCE")
}

/// Partition of the account's ledger entries.
pub fn ledger_partition(id: &AccountId) -> String {
    format!("ACCT#{id}#LEDGER")
}

/// Sort-key prefix of ledger entries; entry `seq` sorts in numeric order.
pub const LEDGER_PREFIX: &str = "TXN#";

/// One ledger entry, by its sequence number.
pub fn ledger_entry(id: &AccountId, seq: i64) -> Key {
    Key::new(ledger_partition(id), format!("{LEDGER_PREFIX}{seq:012}"))
}

/// Partition of the account's AI usage logs.
pub fn usage_partition(id: &AccountId) -> String {
    format!("ACCT#{id}#USAGE")
}

/// One usage log, ordered by time then ledger entry.
pub fn usage_entry(id: &AccountId, created_ms: i64, seq: i64) -> Key {
    Key::new(usage_partition(id), format!("USAGE#{created_ms:015}#{seq:012}"))
}

/// GSI1 partition listing a run's usage logs, inside its account so that a query for
/// a run id can only ever see the querying tenant's logs.
pub fn run_usage_index(account: &AccountId, run_id: &str) -> String {
    format!("ACCT#{account}#RUN#{run_id}#USAGE")
}

/// Partition of the account's holds.
pub fn hold_partition(id: &AccountId) -> String {
    format!("ACCT#{id}#HOLD")
}

/// One hold.
pub fn hold(account: &AccountId, hold: &HoldId) -> Key {
    Key::new(hold_partition(account), format!("HOLD#{hold}"))
}

/// Idempotency marker of one key of one account (its own partition: spread, not hot).
pub fn idempotency(account: &AccountId, key: &str) -> Key {
    Key::new(format!("ACCT#{account}#IDEM#{key}"), "MARKER")
}

/// Site record.
pub fn site(id: &SiteId) -> Key {
    Key::new(format!("SITE#{id}"), "META")
}

/// GSI1 partition listing an account's sites.
pub fn account_sites_index(id: &AccountId) -> String {
    format!("ACCT#{id}#SITES")
}

/// The site's run lock.
pub fn site_lock(id: &SiteId) -> Key {
    Key::new(format!("SITE#{id}"), "LOCK")
}

/// Partition of the cost configuration.
pub const COST_CONFIG_PARTITION: &str = "CONFIG#CREDIT_COST";

/// One operation's cost configuration.
pub fn cost_config(operation: &str) -> Key {
    Key::new(COST_CONFIG_PARTITION, format!("OP#{operation}"))
}
