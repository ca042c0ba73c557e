//! The single table's key layout (see docs/architecture.md).
//!
//! The account's balance item is the only item written on `ACCT#<id>` by a charge;
//! ledger rows, usage logs, holds and idempotency markers live under other partition
//! keys so a busy account never exceeds one partition key's write rate.

use crate::domain::{
    AccountId, ContentId, CreditNoteId, HoldId, IntegrationId, InvoiceId, PackageId, PaymentId, PlanId, Platform,
    RunId, SiteId,
};
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

/// The usage log of a failed call, written with the release of its hold: ordered by
/// time and by the ledger entry before it, and unique by the hold (released once).
pub fn failed_usage_entry(id: &AccountId, created_ms: i64, seq: i64, hold: &HoldId) -> Key {
    Key::new(usage_partition(id), format!("USAGE#{created_ms:015}#{seq:012}#{hold}"))
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

/// Sort-key prefix of holds.
pub const HOLD_PREFIX: &str = "HOLD#";

/// One hold.
pub fn hold(account: &AccountId, hold: &HoldId) -> Key {
    Key::new(hold_partition(account), format!("{HOLD_PREFIX}{hold}"))
}

/// Partition of the account's open holds: a copy of each hold while it is open,
/// written and deleted in the same transactions as the hold's own transitions, so the
/// open ones are found without reading every hold the account ever took.
pub fn open_hold_partition(id: &AccountId) -> String {
    format!("ACCT#{id}#OPENHOLD")
}

/// The open-hold entry of one hold (hold ids are time-ordered: newest sorts last).
pub fn open_hold(account: &AccountId, hold: &HoldId) -> Key {
    Key::new(open_hold_partition(account), format!("{HOLD_PREFIX}{hold}"))
}

/// Idempotency marker of one key of one account (its own partition: spread, not hot).
pub fn idempotency(account: &AccountId, key: &str) -> Key {
    Key::new(format!("ACCT#{account}#IDEM#{key}"), "MARKER")
}

/// The HTTP API's record of one caller's `Idempotency-Key` (TTL `ttl`): the account's
/// partition of them, sorted by caller then key.
pub fn api_idempotency(account: &AccountId, caller: &str, key: &str) -> Key {
    Key::new(format!("ACCT#{account}#APIIDEM"), format!("{caller}#{key}"))
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

/// Sort-key prefix of a site's integrations, in the site's partition.
pub const INTEGRATION_PREFIX: &str = "INTG#";

/// One integration of a site (ids are time-ordered: oldest sorts first).
pub fn integration(site: &SiteId, id: &IntegrationId) -> Key {
    Key::new(format!("SITE#{site}"), format!("{INTEGRATION_PREFIX}{id}"))
}

/// The guard of a site's active integration of one platform: created with a
/// not-exists condition in the same transaction that makes an integration active, and
/// deleted in the one that deactivates or deletes it, so a site has at most one.
pub fn active_integration_guard(site: &SiteId, platform: Platform) -> Key {
    Key::new(format!("SITE#{site}"), format!("INTG_ACTIVE#{}", platform.as_str()))
}

/// GSI1 partition of the active, sync-enabled integrations of every account: the
/// scheduled sync pages through it without reading any other record.
pub const SYNC_INTEGRATIONS_INDEX: &str = "INTEGRATIONS#SYNC";

/// GSI1 sort key of an integration in [`SYNC_INTEGRATIONS_INDEX`].
pub fn sync_integration_sort(id: &IntegrationId) -> String {
    format!("{INTEGRATION_PREFIX}{id}")
}

/// Partition of a site's publications (one per article and integration).
pub fn publication_partition(site: &SiteId) -> String {
    format!("SITE#{site}#PUB")
}

/// Sort-key prefix of one article's publications.
pub fn content_publications_prefix(content: &ContentId) -> String {
    format!("PUB#{content}#")
}

/// The publication of one article on one integration.
pub fn publication(site: &SiteId, content: &ContentId, integration: &IntegrationId) -> Key {
    Key::new(publication_partition(site), format!("{}{integration}", content_publications_prefix(content)))
}

/// GSI1 partition listing one integration's publications (content sync reads it).
pub fn integration_publications_index(site: &SiteId, integration: &IntegrationId) -> String {
    format!("SITE#{site}#INTG#{integration}#PUBS")
}

/// Partition of the cost configuration.
pub const COST_CONFIG_PARTITION: &str = "CONFIG#CREDIT_COST";

/// Sort-key prefix of the operations' prices.
pub const COST_CONFIG_PREFIX: &str = "OP#";

/// One operation's cost configuration.
pub fn cost_config(operation: &str) -> Key {
    Key::new(COST_CONFIG_PARTITION, format!("{COST_CONFIG_PREFIX}{operation}"))
}

/// Key of a run record: its own partition, so a step reads it by id alone.
pub fn run_key(id: &RunId) -> Key {
    Key::new(format!("RUN#{id}"), "META")
}

/// Key of a run's stage-1 clustering plan cursor, beside the run record.
pub fn cluster_plan_key(id: &RunId) -> Key {
    Key::new(format!("RUN#{id}"), "CLUSTER_PLAN")
}

/// GSI1 partition listing a site's runs (run ids are time-ordered).
pub fn site_runs_index(site: &SiteId) -> String {
    format!("SITE#{site}#RUNS")
}

/// Key of a site's automation config.
pub fn config_key(site: &SiteId) -> Key {
    Key::new(format!("SITE#{site}"), "AUTOMATION_CONFIG")
}

/// GSI1 partition of configs with a scheduled next start; sort key = due time.
pub const SCHEDULE_INDEX: &str = "SCHEDULE#DUE";

/// Partition of a site's pipeline records of one kind (`KW`, `CLUSTER`, …).
pub fn site_records(site: &SiteId, kind: &str) -> String {
    format!("SITE#{site}#{kind}")
}

/// GSI1 partition of a site's pipeline records of one kind in one status: each stage
/// queries exactly the work waiting for it.
pub fn site_records_in_status(site: &SiteId, kind: &str, status: &str) -> String {
    records_in_status(&site_records(site, kind), status)
}

/// GSI1 partition of the records of one partition ([`site_records`]) in one status:
/// the one spelling, so a write that only knows a record's key finds its index too.
pub fn records_in_status(partition: &str, status: &str) -> String {
    format!("{partition}#{status}")
}

/// Counter of the records in one status index ([`records_in_status`]): its own
/// partition, so counters of different statuses never share a partition's write rate.
/// It changes in the same transaction as the writes that create, move or delete
/// those records, so "how many wait" is one read, not a scan of the index.
pub fn status_count(status_index: &str) -> Key {
    Key::new(format!("COUNT#{status_index}"), "COUNT")
}

/// One keyword-import job of a site (the site's jobs share a partition, in id order).
pub fn keyword_import(site: &SiteId, job: &str) -> Key {
    Key::new(format!("SITE#{site}#IMPORT"), job)
}

/// GSI1 sort key of a site in its account's list of sites.
pub fn account_sites_sort(site: &SiteId) -> String {
    format!("SITE#{site}")
}

/// Partition of an account's invoices (ids are time-ordered: newest sorts last).
pub fn invoice_partition(account: &AccountId) -> String {
    format!("ACCT#{account}#INVOICE")
}

/// Sort-key prefix of invoices.
pub const INVOICE_PREFIX: &str = "INV#";

/// One invoice.
pub fn invoice(account: &AccountId, id: &InvoiceId) -> Key {
    Key::new(invoice_partition(account), format!("{INVOICE_PREFIX}{id}"))
}

/// The invoice-number counter of one account and month (`YYYYMM`): `last` is the last
/// number issued, moved by one in the same transaction as each finalize.
pub fn invoice_counter(account: &AccountId, month: &str) -> Key {
    Key::new(format!("ACCT#{account}#INVSEQ"), format!("MONTH#{month}"))
}

/// GSI1 partition of open plan-period invoices, sorted by due time, so the scheduler
/// finds the overdue ones without reading any other invoice.
pub const PLAN_INVOICES_DUE_INDEX: &str = "INVOICES#PLAN_DUE";

/// GSI1 sort key of an invoice in [`PLAN_INVOICES_DUE_INDEX`].
pub fn plan_invoice_due_sort(due_ms: i64, id: &InvoiceId) -> String {
    format!("{due_ms:015}#{id}")
}

/// Partition of an account's payments.
pub fn payment_partition(account: &AccountId) -> String {
    format!("ACCT#{account}#PAYMENT")
}

/// Sort-key prefix of payments.
pub const PAYMENT_PREFIX: &str = "PAY#";

/// One payment.
pub fn payment(account: &AccountId, id: &PaymentId) -> Key {
    Key::new(payment_partition(account), format!("{PAYMENT_PREFIX}{id}"))
}

/// GSI1 partition of one invoice's payments, inside its account.
pub fn invoice_payments_index(account: &AccountId, invoice: &InvoiceId) -> String {
    format!("ACCT#{account}#INV#{invoice}#PAYMENTS")
}

/// Idempotency marker of one payment or refund key of one account (its own partition).
pub fn payment_idempotency(account: &AccountId, key: &str) -> Key {
    Key::new(format!("ACCT#{account}#PAYIDEM#{key}"), "MARKER")
}

/// Partition of an account's credit notes.
pub fn credit_note_partition(account: &AccountId) -> String {
    format!("ACCT#{account}#CREDITNOTE")
}

/// Sort-key prefix of credit notes.
pub const CREDIT_NOTE_PREFIX: &str = "CN#";

/// One credit note.
pub fn credit_note(account: &AccountId, id: &CreditNoteId) -> Key {
    Key::new(credit_note_partition(account), format!("{CREDIT_NOTE_PREFIX}{id}"))
}

/// GSI1 partition of one invoice's credit notes, inside its account.
pub fn invoice_credit_notes_index(account: &AccountId, invoice: &InvoiceId) -> String {
    format!("ACCT#{account}#INV#{invoice}#CREDITNOTES")
}

/// Partition of the catalog's credit packages.
pub const PACKAGE_PARTITION: &str = "CATALOG#PACKAGE";

/// Sort-key prefix of credit packages.
pub const PACKAGE_PREFIX: &str = "PKG#";

/// One credit package.
pub fn package(id: &PackageId) -> Key {
    Key::new(PACKAGE_PARTITION, format!("{PACKAGE_PREFIX}{id}"))
}

/// Partition of the catalog's plans.
pub const PLAN_PARTITION: &str = "CATALOG#PLAN";

/// Sort-key prefix of plans.
pub const PLAN_PREFIX: &str = "PLAN#";

/// One plan.
pub fn plan(id: &PlanId) -> Key {
    Key::new(PLAN_PARTITION, format!("{PLAN_PREFIX}{id}"))
}

/// The account's subscription (one per account).
pub fn subscription(account: &AccountId) -> Key {
    Key::new(format!("ACCT#{account}#SUBSCRIPTION"), "META")
}

/// GSI1 partition of live subscriptions, sorted by current period end: the scheduler
/// reads only those whose period has ended.
pub const SUBSCRIPTIONS_DUE_INDEX: &str = "SUBS#DUE";

/// GSI1 sort key of a subscription in [`SUBSCRIPTIONS_DUE_INDEX`].
pub fn subscription_due_sort(period_end_ms: i64, account: &AccountId) -> String {
    format!("{period_end_ms:015}#{account}")
}

/// The account's billing profile (buyer details for invoices).
pub fn billing_profile(account: &AccountId) -> Key {
    Key::new(format!("ACCT#{account}#BILLING"), "PROFILE")
}
