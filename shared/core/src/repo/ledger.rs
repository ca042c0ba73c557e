//! Storage shape of the credit ledger: the balance item, entries, usage logs, holds and
//! idempotency markers. The rules that combine them live in `billing::credits`.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{from_item, int_attr, keys, to_item, RepoError};
use crate::domain::{AccountId, Balance, CreditHold, CreditTransaction, CreditUsageLog, HoldId, HoldStatus};
use crate::ports::{Condition, Item, ItemStore, Key, Page, Query, UpdateAction, WriteOp};

/// The balance item as read, with the version every change is conditioned on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BalanceState {
    /// Credits owned.
    pub credits: i64,
    /// Credits reserved by open holds.
    pub held: i64,
    /// Spendable: credits − held (stored, because a condition cannot subtract).
    pub available: i64,
    /// Number of ledger entries.
    pub seq: i64,
    /// Bumped by every change; the optimistic-concurrency guard.
    pub version: i64,
}

impl BalanceState {
    /// The public view of the position.
    pub fn balance(&self) -> Balance {
        Balance { credits: self.credits, held: self.held, available: self.available }
    }

    fn from_item(item: &Item) -> Self {
        Self {
            credits: int_attr(item, "credits"),
            held: int_attr(item, "held"),
            available: int_attr(item, "available"),
            seq: int_attr(item, "seq"),
            version: int_attr(item, "version"),
        }
    }

    /// The write that moves the balance to `next`, valid only if nobody changed it since
    /// this state was read.
    pub fn write_to(&self, account: &AccountId, next: &BalanceState) -> WriteOp {
        WriteOp::Update {
            key: keys::balance(account),
            actions: vec![
                UpdateAction::set("credits", next.credits),
                UpdateAction::set("held", next.held),
                UpdateAction::set("available", next.available),
                UpdateAction::set("seq", next.seq),
                UpdateAction::set("version", next.version),
            ],
            condition: Some(Condition::And(vec![
                Condition::eq("version", self.version),
                Condition::ge("available", 0),
            ])),
        }
    }
}

/// The zero balance item written with a new account.
pub fn initial_balance_item(account: &AccountId) -> Item {
    let key = keys::balance(account);
    let mut item = Item::new();
    item.insert("PK".into(), Value::from(key.pk));
    item.insert("SK".into(), Value::from(key.sk));
    item.insert(super::TYPE_ATTR.into(), Value::from("balance"));
    for attr in ["credits", "held", "available", "seq", "version"] {
        item.insert(attr.into(), Value::from(0));
    }
    item
}

/// What an idempotency marker remembers: which request it was and what it returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdempotencyMarker {
    /// Operation and amount of the first request, to refuse a reused key.
    pub fingerprint: String,
    /// The first request's result.
    pub result: Value,
}

/// Reads and encodes ledger records; every write it builds is conditioned on absence.
#[derive(Clone)]
pub struct LedgerRepo {
    store: Arc<dyn ItemStore>,
}

impl LedgerRepo {
    /// A repository over the store.
    pub fn new(store: Arc<dyn ItemStore>) -> Self {
        Self { store }
    }

    /// The account's balance item, None when the account does not exist.
    pub async fn balance(&self, account: &AccountId) -> Result<Option<BalanceState>, RepoError> {
        Ok(self.store.get(&keys::balance(account)).await?.map(|i| BalanceState::from_item(&i)))
    }

    /// A put of a new ledger entry.
    pub fn entry_write(&self, txn: &CreditTransaction) -> Result<WriteOp, RepoError> {
        let item = to_item(txn, "credit_transaction", &keys::ledger_entry(&txn.account_id, txn.seq), None)?;
        Ok(WriteOp::Put { item, condition: Some(Condition::ItemNotExists) })
    }

    /// A put of a new usage log, indexed by run when it has one.
    pub fn usage_write(&self, log: &CreditUsageLog, created_ms: i64, seq: i64) -> Result<WriteOp, RepoError> {
        Self::usage_put(log, keys::usage_entry(&log.account_id, created_ms, seq))
    }

    /// A put of the usage log of a failed call whose hold `hold` is released in the
    /// same transaction (`seq`: the account's last ledger entry, for the order).
    pub fn failed_usage_write(
        &self,
        log: &CreditUsageLog,
        created_ms: i64,
        seq: i64,
        hold: &HoldId,
    ) -> Result<WriteOp, RepoError> {
        Self::usage_put(log, keys::failed_usage_entry(&log.account_id, created_ms, seq, hold))
    }

    /// A usage log at `key`, indexed by run when it has one; must not exist yet.
    fn usage_put(log: &CreditUsageLog, key: Key) -> Result<WriteOp, RepoError> {
        let gsi = log.usage.run_id.as_ref().map(|run| (keys::run_usage_index(&log.account_id, run), key.sk.clone()));
        let item = to_item(log, "credit_usage_log", &key, gsi)?;
        Ok(WriteOp::Put { item, condition: Some(Condition::ItemNotExists) })
    }

    /// A put of an idempotency marker that fails if the key was used before.
    pub fn marker_write(
        &self,
        account: &AccountId,
        key: &str,
        marker: &IdempotencyMarker,
    ) -> Result<WriteOp, RepoError> {
        let item = to_item(marker, "idempotency_marker", &keys::idempotency(account, key), None)?;
        Ok(WriteOp::Put { item, condition: Some(Condition::ItemNotExists) })
    }

    /// The marker of an idempotency key, if it was used.
    pub async fn marker(&self, account: &AccountId, key: &str) -> Result<Option<IdempotencyMarker>, RepoError> {
        self.store.get(&keys::idempotency(account, key)).await?.map(from_item).transpose()
    }

    /// The writes that open a new hold (it must not exist yet): the hold, first, and
    /// its entry among the open holds.
    pub fn hold_open_writes(&self, hold: &CreditHold) -> Result<[WriteOp; 2], RepoError> {
        let entry = to_item(hold, "open_credit_hold", &keys::open_hold(&hold.account_id, &hold.id), None)?;
        Ok([Self::hold_put(hold, Condition::ItemNotExists)?, WriteOp::Put { item: entry, condition: None }])
    }

    /// The writes that move an open hold to its next state (settled or released): the
    /// hold, first, which fails when it is no longer open, so a hold closes exactly
    /// once; then the removal of its entry among the open holds.
    pub fn hold_close_writes(&self, hold: &CreditHold) -> Result<[WriteOp; 2], RepoError> {
        let entry = WriteOp::Delete { key: keys::open_hold(&hold.account_id, &hold.id), condition: None };
        Ok([Self::hold_put(hold, Condition::eq("status", HoldStatus::Open.as_str()))?, entry])
    }

    fn hold_put(hold: &CreditHold, condition: Condition) -> Result<WriteOp, RepoError> {
        let item = to_item(hold, "credit_hold", &keys::hold(&hold.account_id, &hold.id), None)?;
        Ok(WriteOp::Put { item, condition: Some(condition) })
    }

    /// Reads a hold.
    pub async fn hold(&self, account: &AccountId, id: &HoldId) -> Result<Option<CreditHold>, RepoError> {
        self.store.get(&keys::hold(account, id)).await?.map(from_item).transpose()
    }

    /// One ledger entry by its position.
    pub async fn entry(&self, account: &AccountId, seq: i64) -> Result<Option<CreditTransaction>, RepoError> {
        self.store.get(&keys::ledger_entry(account, seq)).await?.map(from_item).transpose()
    }

    /// One page of the ledger, newest first.
    pub async fn entries(
        &self,
        account: &AccountId,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Page<CreditTransaction>, RepoError> {
        let q = Query::partition(keys::ledger_partition(account))
            .prefix(keys::LEDGER_PREFIX)
            .descending()
            .limit(limit)
            .after(cursor);
        let page = self.store.query(&q).await?;
        page.try_map(from_item)
    }

    /// One page of usage logs, newest first (of the account, or of one run).
    pub async fn usage(
        &self,
        account: &AccountId,
        run_id: Option<&str>,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Page<CreditUsageLog>, RepoError> {
        let q = match run_id {
            Some(run) => Query::partition(keys::run_usage_index(account, run)).on_gsi1(),
            None => Query::partition(keys::usage_partition(account)),
        };
        let page = self.store.query(&q.descending().limit(limit).after(cursor)).await?;
        page.try_map(from_item)
    }

    /// One page of the account's holds, in id order.
    pub async fn holds(
        &self,
        account: &AccountId,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Page<CreditHold>, RepoError> {
        let q = Query::partition(keys::hold_partition(account)).prefix(keys::HOLD_PREFIX).limit(limit).after(cursor);
        let page = self.store.query(&q).await?;
        page.try_map(from_item)
    }

    /// One page of the account's open holds, newest first: one query of their own
    /// partition, however many holds the account closed before.
    pub async fn open_holds(
        &self,
        account: &AccountId,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Page<CreditHold>, RepoError> {
        let q = Query::partition(keys::open_hold_partition(account))
            .prefix(keys::HOLD_PREFIX)
            .descending()
            .limit(limit)
            .after(cursor);
        let page = self.store.query(&q).await?;
        page.try_map(from_item)
    }
}
