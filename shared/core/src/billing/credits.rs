//! CreditService: the only code that changes a balance (see docs/ledger.md).
//!
//! Every change is one transactional write: the balance item, updated on the condition
//! that its `version` is the one just read (optimistic concurrency, so the new balance
//! and the ledger position are known before writing), plus the ledger entry, the usage
//! log, the idempotency marker and the hold — all conditioned on absence or state.
//! A lost race rereads and retries with jittered backoff; nothing is half-written.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::costs::builtin_cost;
use crate::domain::{
    AccountId, Balance, CreditCostConfig, CreditHold, CreditTransaction, CreditUsageLog, HoldId, HoldStatus,
    TransactionId, TransactionKind, UsageDetails,
};
use crate::ports::clock::rfc3339;
use crate::ports::{for_each_page, IdGeneratorExt, Page};
use crate::ports::{Clock, IdGenerator, ItemStore, StoreError, WriteOp};
use crate::repo::{BalanceState, CostConfigRepo, IdempotencyMarker, LedgerRepo, RepoError};
pub use crate::retry::RetryPolicy;
use crate::retry::{retry_on_conflict, Attempt};

/// Highest price of one unit or call: far above any real price, far below overflow in
/// an estimate's sums.
pub const MAX_PRICE: i64 = 1_000_000;

/// Most credits one request may add (a grant, top-up or refund, or an account's opening
/// credits): a typo of a few zeros is refused instead of minting a fortune. Enforced
/// here, so the API and the CLI meet the same limit; the API declares it.
pub const MAX_CREDITS_PER_REQUEST: i64 = 1_000_000_000;

/// Errors of the credit ledger; each is a refusal that wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum CreditError {
    /// Amounts are positive whole credits.
    #[error("amount must be a positive number of credits, got {0}")]
    InvalidAmount(i64),
    /// More credits than one request may add.
    #[error("at most {max} credits per request, got {amount}")]
    TooManyCredits {
        /// What was asked.
        amount: i64,
        /// The limit ([`MAX_CREDITS_PER_REQUEST`]).
        max: i64,
    },
    /// A price outside its range.
    #[error("{field} must be {min} to {max}, got {value}")]
    InvalidPrice {
        /// Which part of the price (`credits_per_unit`, `min_credits`).
        field: &'static str,
        /// What was given.
        value: i64,
        /// Smallest allowed.
        min: i64,
        /// Largest allowed ([`MAX_PRICE`]).
        max: i64,
    },
    /// Units of work are counted from one.
    #[error("units must be at least 1, got {0}")]
    InvalidUnits(i64),
    /// Nothing prices this operation: it is refused rather than free.
    #[error("unknown operation {0:?}: no cost config and no built-in price")]
    UnknownOperation(String),
    /// The account does not exist (or is not the caller's).
    #[error("account {0} not found")]
    AccountNotFound(AccountId),
    /// The spendable balance does not cover the request.
    #[error("insufficient credits: {required} required, {available} available")]
    InsufficientCredits {
        /// Credits the request needs.
        required: i64,
        /// Credits spendable now.
        available: i64,
    },
    /// The hold does not exist on this account.
    #[error("hold {0} not found")]
    HoldNotFound(HoldId),
    /// The hold was already settled or released differently.
    #[error("hold {id} is already {status:?}")]
    HoldClosed {
        /// The hold.
        id: HoldId,
        /// Its state.
        status: HoldStatus,
    },
    /// The idempotency key was first used for a different request.
    #[error("idempotency key {key:?} was already used for a different request ({first})")]
    KeyReused {
        /// The key.
        key: String,
        /// What it was used for.
        first: String,
    },
    /// The idempotency key is empty or too long.
    #[error("idempotency key must be 1 to 255 printable characters")]
    InvalidKey,
    /// Contention did not let the write through in the allowed attempts.
    #[error("the balance is too contended, retry later ({attempts} attempts)")]
    Contended {
        /// Attempts made.
        attempts: u32,
    },
    /// Storage failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl From<StoreError> for CreditError {
    fn from(e: StoreError) -> Self {
        Self::Repo(RepoError::Store(e))
    }
}

impl CreditError {
    /// The stable code the API and the CLI report (docs/api.md, docs/cli.md).
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidAmount(_)
            | Self::InvalidUnits(_)
            | Self::TooManyCredits { .. }
            | Self::InvalidPrice { .. } => "validation_failed",
            Self::UnknownOperation(_) => "unknown_operation",
            Self::AccountNotFound(_) | Self::HoldNotFound(_) => "not_found",
            Self::InsufficientCredits { .. } => "insufficient_credits",
            Self::HoldClosed { .. } => "hold_closed",
            Self::KeyReused { .. } => "idempotency_key_reused",
            Self::InvalidKey => "invalid_idempotency_key",
            Self::Contended { .. } => "contended",
            Self::Repo(e) => e.code(),
        }
    }
}

/// How a charge is priced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Price {
    /// A fixed number of credits.
    Amount(i64),
    /// An operation's configured price for `units` raw units (words, items, images).
    Operation {
        /// Operation name.
        operation: String,
        /// Raw units.
        units: i64,
    },
}

/// A request to spend credits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRequest {
    /// Who pays.
    pub account: AccountId,
    /// How much.
    pub price: Price,
    /// What AI work it paid for (model, tokens, run, stage); logged with the charge.
    pub usage: Option<UsageDetails>,
    /// Human-readable reason (defaults to the operation).
    pub reason: Option<String>,
    /// What it refers to.
    pub reference: Option<String>,
    /// Retries with the same key charge once and return the first result.
    pub idempotency_key: Option<String>,
}

impl ChargeRequest {
    /// A fixed-amount charge.
    pub fn amount(account: AccountId, amount: i64) -> Self {
        Self {
            account,
            price: Price::Amount(amount),
            usage: None,
            reason: None,
            reference: None,
            idempotency_key: None,
        }
    }

    /// A charge priced by operation.
    pub fn operation(account: AccountId, operation: &str, units: i64) -> Self {
        Self { price: Price::Operation { operation: operation.to_owned(), units }, ..Self::amount(account, 0) }
    }

    /// Sets the idempotency key.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }
}

/// The outcome of a change that wrote a ledger entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LedgerReceipt {
    /// The entry written (or, on a replay, the one written the first time).
    pub transaction: CreditTransaction,
    /// True when an idempotency key matched and nothing new was written.
    pub replayed: bool,
}

/// Whether an account can afford an amount, with a safety buffer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BalanceCheck {
    /// The account's position.
    pub balance: Balance,
    /// Credits asked about.
    pub required: i64,
    /// `required × buffer`, rounded up.
    pub required_with_buffer: i64,
    /// `available >= required_with_buffer`.
    pub sufficient: bool,
}

/// The audit of one account: the balance against the sum of its ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reconciliation {
    /// The account.
    pub account_id: AccountId,
    /// Stored balance.
    pub credits: i64,
    /// Σ ledger amounts.
    pub ledger_sum: i64,
    /// credits − ledger_sum (0 when sound).
    pub difference: i64,
    /// Entries found.
    pub entries: i64,
    /// Entries the balance says exist.
    pub expected_entries: i64,
    /// Stored held amount.
    pub held: i64,
    /// Σ open holds.
    pub open_holds_sum: i64,
    /// Stored available.
    pub available: i64,
    /// True when every invariant holds.
    pub balanced: bool,
}

/// What a ledger write attempt should do to the balance, and what else it writes.
struct Change {
    /// Change to credits owned (a ledger entry is written when non-zero or forced).
    credits: i64,
    /// Change to credits held.
    held: i64,
    /// Writes ledger entry `seq + 1`.
    entry: Option<EntryDraft>,
    /// The idempotency marker, if any.
    key: Option<String>,
}

impl Change {
    /// The balance after this change; an overflow is refused, never wrapped.
    fn apply_to(&self, state: &BalanceState) -> Result<BalanceState, CreditError> {
        let overflow = || CreditError::InvalidAmount(self.credits.max(self.held));
        Ok(BalanceState {
            credits: state.credits.checked_add(self.credits).ok_or_else(overflow)?,
            held: state.held.checked_add(self.held).ok_or_else(overflow)?,
            available: state
                .available
                .checked_add(self.credits)
                .and_then(|a| a.checked_sub(self.held))
                .ok_or_else(overflow)?,
            seq: state.seq + 1,
            version: state.version + 1,
        })
    }
}

struct EntryDraft {
    kind: TransactionKind,
    reason: String,
    reference: Option<String>,
    hold_id: Option<HoldId>,
    usage: Option<UsageDetails>,
}

/// Outcome of one transactional write.
enum Written {
    /// Every write landed.
    Landed,
    /// The guarded write failed: the request was already done (marker or hold state).
    AlreadyDone,
    /// A race was lost (or the store was briefly unavailable): try again.
    Lost,
    /// The caller's companion write at this index (among the companions) failed.
    CompanionFailed(usize),
}

/// The outcome of a posting that carried a caller's companion writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Posted {
    /// The ledger entry and every companion write landed in one transaction.
    Landed(Box<LedgerReceipt>),
    /// Companion `index` (in the order given) failed its condition: nothing at all was
    /// written; reread the companion's records and decide again.
    CompanionFailed {
        /// Position among the companions.
        index: usize,
    },
}

/// Number of per-process gates accounts are spread over.
const GATES: usize = 64;

/// The credit ledger's rules over the item store.
///
/// Changes to one account from one process queue on a gate before touching the store,
/// so concurrent requests in one process never race each other's optimistic writes;
/// the store's conditions still arbitrate between processes (Lambdas, CLI runs).
#[derive(Clone)]
pub struct CreditService {
    gates: Arc<[tokio::sync::Mutex<()>]>,
    known: Arc<std::sync::Mutex<HashMap<AccountId, BalanceState>>>,
    store: Arc<dyn ItemStore>,
    ledger: LedgerRepo,
    costs: CostConfigRepo,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    retry: RetryPolicy,
}

const MAX_KEY_LEN: usize = 255;
/// Accounts whose last written balance a process remembers (a Lambda sees few).
const MAX_REMEMBERED: usize = 10_000;

fn check_amount(amount: i64) -> Result<(), CreditError> {
    if amount <= 0 {
        return Err(CreditError::InvalidAmount(amount));
    }
    Ok(())
}

fn check_key(key: Option<&str>) -> Result<(), CreditError> {
    match key {
        Some(k) if k.is_empty() || k.len() > MAX_KEY_LEN || k.chars().any(char::is_control) => {
            Err(CreditError::InvalidKey)
        }
        _ => Ok(()),
    }
}

impl CreditService {
    /// A ledger over the store.
    pub fn new(store: Arc<dyn ItemStore>, clock: Arc<dyn Clock>, ids: Arc<dyn IdGenerator>) -> Self {
        Self {
            gates: (0..GATES).map(|_| tokio::sync::Mutex::new(())).collect(),
            known: Arc::new(std::sync::Mutex::new(HashMap::new())),
            ledger: LedgerRepo::new(Arc::clone(&store)),
            costs: CostConfigRepo::new(Arc::clone(&store)),
            store,
            clock,
            ids,
            retry: RetryPolicy::default(),
        }
    }

    /// Replaces the retry policy (tests and benches tune contention behaviour).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The price of an operation: its stored config, else the built-in constant.
    pub async fn cost_config(&self, operation: &str) -> Result<CreditCostConfig, CreditError> {
        if let Some(cfg) = self.costs.get(operation).await? {
            return Ok(cfg);
        }
        builtin_cost(operation).ok_or_else(|| CreditError::UnknownOperation(operation.to_owned()))
    }

    /// Credits for `units` raw units of an operation.
    pub async fn cost(&self, operation: &str, units: i64) -> Result<i64, CreditError> {
        if units < 1 {
            return Err(CreditError::InvalidUnits(units));
        }
        let cfg = self.cost_config(operation).await?;
        cfg.cost_for(units).ok_or(CreditError::InvalidUnits(units))
    }

    /// Stores an operation's price (only operations the platform knows can be priced).
    pub async fn set_cost_config(&self, config: &CreditCostConfig) -> Result<(), CreditError> {
        if builtin_cost(&config.operation).is_none() {
            return Err(CreditError::UnknownOperation(config.operation.clone()));
        }
        let price = |field, value: i64, min| {
            if (min..=MAX_PRICE).contains(&value) {
                Ok(())
            } else {
                Err(CreditError::InvalidPrice { field, value, min, max: MAX_PRICE })
            }
        };
        price("credits_per_unit", config.credits_per_unit, 0)?;
        price("min_credits", config.min_credits, 1)?;
        Ok(self.costs.put(config).await?)
    }

    /// Every operation's effective price.
    pub async fn cost_table(&self) -> Result<Vec<CreditCostConfig>, CreditError> {
        let stored = self.costs.list().await?;
        Ok(super::costs::BUILTIN_OPERATIONS
            .iter()
            .filter_map(|(op, _, _)| {
                stored.iter().find(|c| c.operation == op.as_str()).cloned().or_else(|| builtin_cost(op.as_str()))
            })
            .collect())
    }

    /// Waits for this process's turn to change the account.
    async fn gate(&self, account: &AccountId) -> tokio::sync::MutexGuard<'_, ()> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        account.hash(&mut h);
        let slot = usize::try_from(h.finish() % GATES as u64).unwrap_or(0);
        self.gates[slot].lock().await
    }

    /// The balance as this process last wrote it. Only a hint: every write is still
    /// conditioned on its version, so a stale value costs one retry, never a wrong write.
    fn remembered(&self, account: &AccountId) -> Option<BalanceState> {
        self.known.lock().ok().and_then(|known| known.get(account).copied())
    }

    fn remember(&self, account: &AccountId, state: Option<BalanceState>) {
        if let Ok(mut known) = self.known.lock() {
            match state {
                Some(s) => {
                    if known.len() >= MAX_REMEMBERED {
                        known.clear();
                    }
                    known.insert(account.clone(), s);
                }
                None => {
                    known.remove(account);
                }
            }
        }
    }

    async fn state(&self, account: &AccountId) -> Result<BalanceState, CreditError> {
        self.ledger.balance(account).await?.ok_or_else(|| CreditError::AccountNotFound(account.clone()))
    }

    /// The account's position (spendable excludes holds).
    pub async fn balance(&self, account: &AccountId) -> Result<Balance, CreditError> {
        Ok(self.state(account).await?.balance())
    }

    /// Whether the spendable balance covers `required × buffer` (buffer ≥ 1, e.g. 1.2).
    pub async fn check_balance(
        &self,
        account: &AccountId,
        required: i64,
        buffer: f64,
    ) -> Result<BalanceCheck, CreditError> {
        if required < 0 {
            return Err(CreditError::InvalidAmount(required));
        }
        let buffer = if buffer.is_finite() && buffer >= 1.0 { buffer } else { 1.0 };
        // Saturating float→int conversion is the intent: absurd products only refuse.
        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
        let with_buffer = (required as f64 * buffer).ceil() as i64;
        let balance = self.balance(account).await?;
        Ok(BalanceCheck {
            balance,
            required,
            required_with_buffer: with_buffer,
            sufficient: balance.available >= with_buffer,
        })
    }

    /// Spends credits: refused with `InsufficientCredits` (writing nothing) when the
    /// spendable balance is short; a repeated idempotency key returns the first receipt.
    pub async fn charge(&self, req: ChargeRequest) -> Result<LedgerReceipt, CreditError> {
        check_key(req.idempotency_key.as_deref())?;
        let (amount, usage) = match &req.price {
            Price::Amount(a) => {
                check_amount(*a)?;
                (*a, req.usage.clone())
            }
            Price::Operation { operation, units } => {
                let amount = self.cost(operation, *units).await?;
                let mut usage = req.usage.clone().unwrap_or_default();
                usage.operation.clone_from(operation);
                usage.units = *units;
                (amount, Some(usage))
            }
        };
        let reason = req
            .reason
            .clone()
            .or_else(|| usage.as_ref().map(|u| u.operation.clone()))
            .unwrap_or_else(|| "charge".to_owned());
        let change = Change {
            credits: -amount,
            held: 0,
            entry: Some(EntryDraft {
                kind: TransactionKind::Charge,
                reason,
                reference: req.reference.clone(),
                hold_id: None,
                usage,
            }),
            key: req.idempotency_key.clone(),
        };
        self.post(&req.account, change, None).await
    }

    /// Adds credits (top-up, grant or refund).
    pub async fn add(
        &self,
        account: &AccountId,
        amount: i64,
        kind: TransactionKind,
        reason: &str,
        reference: Option<String>,
        idempotency_key: Option<String>,
    ) -> Result<LedgerReceipt, CreditError> {
        let change = credit_change(amount, kind, reason, reference, idempotency_key)?;
        self.post(account, change, None).await
    }

    /// [`CreditService::add`] with `companions` written in the same transaction (an
    /// invoice becoming paid, its payment, an idempotency marker): the credits and the
    /// companions land together or not at all. A companion's failed condition is
    /// [`Posted::CompanionFailed`], never a half-write; the caller rereads and retries.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_with(
        &self,
        account: &AccountId,
        amount: i64,
        kind: TransactionKind,
        reason: &str,
        reference: Option<String>,
        idempotency_key: Option<String>,
        companions: Vec<WriteOp>,
    ) -> Result<Posted, CreditError> {
        let change = credit_change(amount, kind, reason, reference, idempotency_key)?;
        self.post_with(account, change, None, &companions).await
    }

    /// Takes `amount` credits back out of the balance as one `charge` entry, with
    /// `companions` in the same transaction (a refund's credit note and payment).
    /// Refused with `InsufficientCredits`, writing nothing, when fewer are spendable:
    /// the caller decides how many to take (`min(wanted, available)`) and asks again,
    /// so the balance is never driven negative. A companion's failed condition is
    /// [`Posted::CompanionFailed`], never a half-write.
    pub async fn remove_with(
        &self,
        account: &AccountId,
        amount: i64,
        reason: &str,
        reference: Option<String>,
        companions: Vec<WriteOp>,
    ) -> Result<Posted, CreditError> {
        check_amount(amount)?;
        let change = Change {
            credits: -amount,
            held: 0,
            entry: Some(EntryDraft {
                kind: TransactionKind::Charge,
                reason: reason.to_owned(),
                reference,
                hold_id: None,
                usage: None,
            }),
            key: None,
        };
        self.post_with(account, change, None, &companions).await
    }

    /// Reserves credits before work runs; they stop being spendable until settled or released.
    pub async fn hold(
        &self,
        account: &AccountId,
        amount: i64,
        reason: &str,
        reference: Option<String>,
        idempotency_key: Option<String>,
    ) -> Result<CreditHold, CreditError> {
        check_amount(amount)?;
        check_key(idempotency_key.as_deref())?;
        let fingerprint = format!("hold:{amount}");
        let _turn = self.gate(account).await;
        let (key, fingerprint, reference) = (idempotency_key.as_deref(), fingerprint.as_str(), &reference);
        // As for a charge: the balance this service last wrote stands in for a read (one
        // item read less per paid call); a write it makes stale fails its condition and
        // the next attempt reads the store, and a short remembered balance never refuses.
        let fresh = &AtomicBool::new(false);
        retry_on_conflict(
            &self.retry,
            move |_| async move {
                let (state, hinted) = match self.remembered(account).filter(|_| !fresh.load(Ordering::Relaxed)) {
                    Some(s) => (s, true),
                    None => (self.state(account).await?, false),
                };
                fresh.store(false, Ordering::Relaxed);
                if state.available < amount {
                    if hinted {
                        fresh.store(true, Ordering::Relaxed);
                        return Ok(Attempt::RetryNow);
                    }
                    if let Some(first) = self.replay(account, key, fingerprint).await? {
                        return Ok(Attempt::Done(first));
                    }
                    return Err(CreditError::InsufficientCredits { required: amount, available: state.available });
                }
                let hold = CreditHold {
                    id: self.ids.generate::<HoldId>(),
                    account_id: account.clone(),
                    amount,
                    status: HoldStatus::Open,
                    reason: reason.to_owned(),
                    reference: reference.clone(),
                    settled_amount: None,
                    transaction_id: None,
                    transaction_seq: None,
                    balance_after: None,
                    created_at: rfc3339(self.clock.now_ms()),
                };
                let next = BalanceState {
                    held: state.held + amount,
                    available: state.available - amount,
                    version: state.version + 1,
                    ..state
                };
                let mut writes = vec![state.write_to(account, &next)];
                writes.extend(self.ledger.hold_open_writes(&hold)?);
                let mut guarded = None;
                if let Some(key) = key {
                    let marker = IdempotencyMarker { fingerprint: fingerprint.to_owned(), result: to_json(&hold)? };
                    guarded = Some(writes.len());
                    writes.push(self.ledger.marker_write(account, key, &marker)?);
                }
                let outcome = self.write(writes, guarded).await?;
                self.remember(account, matches!(outcome, Written::Landed).then_some(next));
                Ok(match outcome {
                    Written::Landed => Attempt::Done(hold),
                    Written::AlreadyDone => {
                        self.replay(account, key, fingerprint).await?.map_or(Attempt::Retry, Attempt::Done)
                    }
                    // A remembered balance was stale: read the store at once.
                    Written::Lost if hinted => Attempt::RetryNow,
                    Written::Lost | Written::CompanionFailed(_) => Attempt::Retry,
                })
            },
            |attempts| CreditError::Contended { attempts },
        )
        .await
    }

    /// Turns a hold into a charge of the actual cost, giving back the rest (or taking
    /// the excess from the spendable balance). Settling again returns the first receipt.
    pub async fn settle(
        &self,
        account: &AccountId,
        hold_id: &HoldId,
        actual: i64,
        usage: Option<UsageDetails>,
    ) -> Result<LedgerReceipt, CreditError> {
        check_amount(actual)?;
        let hold =
            self.ledger.hold(account, hold_id).await?.ok_or_else(|| CreditError::HoldNotFound(hold_id.clone()))?;
        self.settle_read(account, hold, actual, usage).await
    }

    /// [`CreditService::settle`] of a hold the caller holds as [`CreditService::hold`]
    /// returned it, without reading it again (one item read less per paid call). The
    /// settlement's write is conditioned on the hold being open, so a hold closed since
    /// is read and answered as `settle` answers it.
    pub async fn settle_hold(
        &self,
        account: &AccountId,
        hold: &CreditHold,
        actual: i64,
        usage: Option<UsageDetails>,
    ) -> Result<LedgerReceipt, CreditError> {
        check_amount(actual)?;
        if &hold.account_id != account {
            return Err(CreditError::HoldNotFound(hold.id.clone()));
        }
        self.settle_read(account, hold.clone(), actual, usage).await
    }

    /// Settles `hold` as read (by the store or the caller).
    async fn settle_read(
        &self,
        account: &AccountId,
        hold: CreditHold,
        actual: i64,
        usage: Option<UsageDetails>,
    ) -> Result<LedgerReceipt, CreditError> {
        let hold_id = &hold.id;
        match hold.status {
            HoldStatus::Open => {}
            HoldStatus::Settled if hold.settled_amount == Some(actual) => {
                return self.settled_receipt(account, &hold).await
            }
            status => return Err(CreditError::HoldClosed { id: hold_id.clone(), status }),
        }
        let reason = usage.as_ref().map_or_else(|| hold.reason.clone(), |u| u.operation.clone());
        let change = Change {
            credits: -actual,
            held: -hold.amount,
            entry: Some(EntryDraft {
                kind: TransactionKind::Charge,
                reason,
                reference: hold.reference.clone(),
                hold_id: Some(hold.id.clone()),
                usage,
            }),
            key: None,
        };
        match self.post(account, change, Some(&hold)).await {
            Err(CreditError::HoldClosed { .. }) => {
                let now = self
                    .ledger
                    .hold(account, hold_id)
                    .await?
                    .ok_or_else(|| CreditError::HoldNotFound(hold_id.clone()))?;
                if now.status == HoldStatus::Settled && now.settled_amount == Some(actual) {
                    return self.settled_receipt(account, &now).await;
                }
                Err(CreditError::HoldClosed { id: hold_id.clone(), status: now.status })
            }
            other => other,
        }
    }

    async fn settled_receipt(&self, account: &AccountId, hold: &CreditHold) -> Result<LedgerReceipt, CreditError> {
        let entry = match hold.transaction_seq {
            Some(seq) => self.ledger.entry(account, seq).await?,
            None => None,
        };
        let transaction = entry.ok_or_else(|| RepoError::Corrupt {
            key: hold.id.to_string(),
            reason: "settled hold without its ledger entry".into(),
        })?;
        Ok(LedgerReceipt { transaction, replayed: true })
    }

    /// Gives a hold back in full. Releasing a released hold is a no-op.
    pub async fn release(&self, account: &AccountId, hold_id: &HoldId) -> Result<CreditHold, CreditError> {
        self.release_with(account, hold_id, None).await
    }

    /// Gives a hold back in full for a call that failed after the provider spent
    /// tokens on it, and writes that call's usage log in the same transaction: no
    /// credits, `failed` set, the tokens of `usage` recorded (why: the provider bills
    /// us for them, so the usage log must show them although the customer pays
    /// nothing). Releasing a released hold is a no-op and writes no second log, so a
    /// replayed step records the call once.
    pub async fn release_spent(
        &self,
        account: &AccountId,
        hold_id: &HoldId,
        usage: UsageDetails,
    ) -> Result<CreditHold, CreditError> {
        self.release_with(account, hold_id, Some(usage)).await
    }

    /// [`CreditService::release`], with the failed call's usage log when given.
    async fn release_with(
        &self,
        account: &AccountId,
        hold_id: &HoldId,
        usage: Option<UsageDetails>,
    ) -> Result<CreditHold, CreditError> {
        let usage = &usage;
        let _turn = self.gate(account).await;
        retry_on_conflict(
            &self.retry,
            move |_| async move {
                let hold = self
                    .ledger
                    .hold(account, hold_id)
                    .await?
                    .ok_or_else(|| CreditError::HoldNotFound(hold_id.clone()))?;
                match hold.status {
                    HoldStatus::Open => {}
                    HoldStatus::Released => return Ok(Attempt::Done(hold)),
                    status => return Err(CreditError::HoldClosed { id: hold_id.clone(), status }),
                }
                let state = self.state(account).await?;
                let next = BalanceState {
                    held: state.held - hold.amount,
                    available: state.available + hold.amount,
                    version: state.version + 1,
                    ..state
                };
                let released = CreditHold { status: HoldStatus::Released, ..hold.clone() };
                let mut writes = vec![state.write_to(account, &next)];
                writes.extend(self.ledger.hold_close_writes(&released)?);
                if let Some(usage) = usage {
                    let now = self.clock.now_ms();
                    let log = CreditUsageLog {
                        account_id: account.clone(),
                        transaction_id: None,
                        credits: 0,
                        failed: true,
                        usage: usage.clone(),
                        created_at: rfc3339(now),
                    };
                    writes.push(self.ledger.failed_usage_write(&log, now, state.seq, hold_id)?);
                }
                let outcome = self.write(writes, Some(1)).await?;
                self.remember(account, matches!(outcome, Written::Landed).then_some(next));
                Ok(match outcome {
                    Written::Landed => Attempt::Done(released),
                    Written::AlreadyDone | Written::Lost | Written::CompanionFailed(_) => Attempt::Retry,
                })
            },
            |attempts| CreditError::Contended { attempts },
        )
        .await
    }

    /// Writes one ledger entry (and its usage log, marker and hold settlement) with the
    /// balance change, retrying lost races.
    async fn post(
        &self,
        account: &AccountId,
        change: Change,
        settling: Option<&CreditHold>,
    ) -> Result<LedgerReceipt, CreditError> {
        match self.post_with(account, change, settling, &[]).await? {
            Posted::Landed(receipt) => Ok(*receipt),
            // No companion writes were given, so none can have failed.
            Posted::CompanionFailed { index } => Err(CreditError::Repo(RepoError::Store(StoreError::Invalid(
                format!("companion write {index} failed in a posting without companions"),
            )))),
        }
    }

    /// [`CreditService::post`] with `companions` appended to the same transactional
    /// write. A companion's failed condition ends the posting with
    /// [`Posted::CompanionFailed`] (nothing written); the caller rereads and decides.
    async fn post_with(
        &self,
        account: &AccountId,
        change: Change,
        settling: Option<&CreditHold>,
        companions: &[WriteOp],
    ) -> Result<Posted, CreditError> {
        let amount = change.credits;
        let kind = change.entry.as_ref().map_or(TransactionKind::Charge, |e| e.kind);
        let fingerprint = format!("{kind:?}:{amount}").to_lowercase();
        let key = change.key.as_deref();
        let _turn = self.gate(account).await;
        // Set when a remembered balance looked too low: the next attempt reads the store.
        let fresh = &AtomicBool::new(false);
        let (change, fingerprint) = (&change, fingerprint.as_str());
        retry_on_conflict(
            &self.retry,
            move |_| async move {
                let (state, hinted) = match self.remembered(account).filter(|_| !fresh.load(Ordering::Relaxed)) {
                    Some(s) => (s, true),
                    None => (self.state(account).await?, false),
                };
                fresh.store(false, Ordering::Relaxed);
                // Credits needed beyond what the change itself releases from holds.
                let needed = -(change.credits - change.held);
                if needed > state.available {
                    if hinted {
                        // Never refuse on a remembered balance: another process may have added credits.
                        fresh.store(true, Ordering::Relaxed);
                        return Ok(Attempt::RetryNow);
                    }
                    if let Some(first) = self.replay(account, key, fingerprint).await? {
                        return Ok(Attempt::Done(Posted::Landed(Box::new(first))));
                    }
                    return Err(CreditError::InsufficientCredits {
                        required: -change.credits,
                        available: state.available,
                    });
                }
                let next = change.apply_to(&state)?;
                let txn = self.entry_of(account, change, kind, &next);
                let (mut writes, guarded) =
                    self.post_writes(account, change, settling, &state, &next, &txn, fingerprint)?;
                let first_companion = writes.len();
                writes.extend_from_slice(companions);
                let outcome = self.write_with(writes, guarded, first_companion).await?;
                self.remember(account, matches!(outcome, Written::Landed).then_some(next));
                match outcome {
                    Written::Landed => {
                        Ok(Attempt::Done(Posted::Landed(Box::new(LedgerReceipt { transaction: txn, replayed: false }))))
                    }
                    Written::CompanionFailed(index) => Ok(Attempt::Done(Posted::CompanionFailed { index })),
                    // A remembered balance was stale: read the store at once.
                    Written::Lost if hinted => Ok(Attempt::RetryNow),
                    Written::AlreadyDone if settling.is_some() => {
                        let id = settling.map(|h| h.id.clone());
                        Err(id.map_or(CreditError::InvalidKey, |id| CreditError::HoldClosed {
                            id,
                            status: HoldStatus::Settled,
                        }))
                    }
                    Written::AlreadyDone => Ok(self
                        .replay(account, key, fingerprint)
                        .await?
                        .map_or(Attempt::Retry, |first| Attempt::Done(Posted::Landed(Box::new(first))))),
                    Written::Lost => Ok(Attempt::Retry),
                }
            },
            |attempts| CreditError::Contended { attempts },
        )
        .await
    }

    /// The ledger entry a change writes as entry `next.seq`.
    fn entry_of(
        &self,
        account: &AccountId,
        change: &Change,
        kind: TransactionKind,
        next: &BalanceState,
    ) -> CreditTransaction {
        let now = self.clock.now_ms();
        let draft = change.entry.as_ref();
        CreditTransaction {
            id: self.ids.generate::<TransactionId>(),
            account_id: account.clone(),
            seq: next.seq,
            amount: change.credits,
            balance_after: next.credits,
            kind,
            reason: draft.map(|d| d.reason.clone()).unwrap_or_default(),
            reference: draft.and_then(|d| d.reference.clone()),
            idempotency_key: change.key.clone(),
            hold_id: draft.and_then(|d| d.hold_id.clone()),
            created_at: rfc3339(now),
            created_ms: now,
        }
    }

    /// Everything one posting writes in its transaction — balance, entry, usage log,
    /// the settled hold and the idempotency marker — and which write, failing, means the
    /// posting was already done.
    #[allow(clippy::too_many_arguments)]
    fn post_writes(
        &self,
        account: &AccountId,
        change: &Change,
        settling: Option<&CreditHold>,
        state: &BalanceState,
        next: &BalanceState,
        txn: &CreditTransaction,
        fingerprint: &str,
    ) -> Result<(Vec<WriteOp>, Option<usize>), CreditError> {
        let mut writes = vec![state.write_to(account, next), self.ledger.entry_write(txn)?];
        if let Some(usage) = change.entry.as_ref().and_then(|d| d.usage.clone()) {
            let log = CreditUsageLog {
                account_id: account.clone(),
                transaction_id: Some(txn.id.clone()),
                credits: -change.credits,
                failed: false,
                usage,
                created_at: txn.created_at.clone(),
            };
            writes.push(self.ledger.usage_write(&log, txn.created_ms, txn.seq)?);
        }
        let mut guarded = None;
        if let Some(hold) = settling {
            let settled = CreditHold {
                status: HoldStatus::Settled,
                settled_amount: Some(-change.credits),
                transaction_id: Some(txn.id.clone()),
                transaction_seq: Some(txn.seq),
                balance_after: Some(next.credits),
                ..hold.clone()
            };
            guarded = Some(writes.len());
            writes.extend(self.ledger.hold_close_writes(&settled)?);
        }
        if let Some(k) = change.key.as_deref() {
            let marker = IdempotencyMarker { fingerprint: fingerprint.to_owned(), result: to_json(txn)? };
            guarded = Some(writes.len());
            writes.push(self.ledger.marker_write(account, k, &marker)?);
        }
        Ok((writes, guarded))
    }

    /// Runs one transactional write; `guarded` is the write (the idempotency marker or
    /// the hold's state) whose failure means the request was already done.
    async fn write(&self, writes: Vec<WriteOp>, guarded: Option<usize>) -> Result<Written, CreditError> {
        let end = writes.len();
        self.write_with(writes, guarded, end).await
    }

    /// [`CreditService::write`] where the writes from `first_companion` on are a
    /// caller's companions: their failure is reported first, as
    /// [`Written::CompanionFailed`] with the companion's own index, because the caller
    /// must reread its records before anything else is decided.
    async fn write_with(
        &self,
        writes: Vec<WriteOp>,
        guarded: Option<usize>,
        first_companion: usize,
    ) -> Result<Written, CreditError> {
        let end = writes.len();
        match self.store.transact(writes).await {
            Ok(()) => Ok(Written::Landed),
            Err(e) if (first_companion..end).any(|i| e.failed_at(i)) => {
                let index = (first_companion..end).find(|&i| e.failed_at(i)).unwrap_or(first_companion);
                Ok(Written::CompanionFailed(index - first_companion))
            }
            Err(e) if guarded.is_some_and(|i| e.failed_at(i)) => Ok(Written::AlreadyDone),
            Err(StoreError::ConditionFailed(_)) => Ok(Written::Lost),
            Err(e) if e.is_transient() => Ok(Written::Lost),
            Err(e) => Err(e.into()),
        }
    }

    /// The first result of an idempotency key, if it was used; refuses a reused key
    /// whose first request differed.
    async fn replay<T: serde::de::DeserializeOwned + Replayed>(
        &self,
        account: &AccountId,
        key: Option<&str>,
        fingerprint: &str,
    ) -> Result<Option<T>, CreditError> {
        let Some(key) = key else { return Ok(None) };
        let Some(marker) = self.ledger.marker(account, key).await? else { return Ok(None) };
        if marker.fingerprint != fingerprint {
            return Err(CreditError::KeyReused { key: key.to_owned(), first: marker.fingerprint });
        }
        let first: T = serde_json::from_value(marker.result)
            .map_err(|e| RepoError::Corrupt { key: key.to_owned(), reason: e.to_string() })?;
        Ok(Some(first.replayed()))
    }

    /// The charge made with an idempotency key, if one was (for refunds of work that
    /// finally failed).
    pub async fn charged_with_key(
        &self,
        account: &AccountId,
        key: &str,
    ) -> Result<Option<CreditTransaction>, CreditError> {
        let Some(marker) = self.ledger.marker(account, key).await? else { return Ok(None) };
        let txn: CreditTransaction = serde_json::from_value(marker.result)
            .map_err(|e| RepoError::Corrupt { key: key.to_owned(), reason: e.to_string() })?;
        Ok(Some(txn).filter(|t| t.kind == TransactionKind::Charge))
    }

    /// One page of the ledger, newest first.
    pub async fn ledger(
        &self,
        account: &AccountId,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Page<CreditTransaction>, CreditError> {
        self.state(account).await?;
        Ok(self.ledger.entries(account, limit.clamp(1, 1000), cursor).await?)
    }

    /// One page of AI usage logs, newest first, optionally of one run.
    pub async fn usage(
        &self,
        account: &AccountId,
        run_id: Option<&str>,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Page<CreditUsageLog>, CreditError> {
        self.state(account).await?;
        Ok(self.ledger.usage(account, run_id, limit.clamp(1, 1000), cursor).await?)
    }

    /// One page of the account's holds.
    pub async fn holds(
        &self,
        account: &AccountId,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Page<CreditHold>, CreditError> {
        self.state(account).await?;
        Ok(self.ledger.holds(account, limit.clamp(1, 1000), cursor).await?)
    }

    /// One page of the account's open holds, newest first.
    pub async fn open_holds(
        &self,
        account: &AccountId,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Page<CreditHold>, CreditError> {
        self.state(account).await?;
        Ok(self.ledger.open_holds(account, limit.clamp(1, 1000), cursor).await?)
    }

    /// Audits the account: balance == Σ ledger, entries 1..=seq all present,
    /// held == Σ open holds, available == credits − held.
    pub async fn reconcile(&self, account: &AccountId) -> Result<Reconciliation, CreditError> {
        let state = self.state(account).await?;
        let (mut ledger_sum, mut entries) = (0i64, 0i64);
        for_each_page(
            |cursor| self.ledger.entries(account, 1000, cursor),
            |page| {
                for t in page.iter().filter(|t| t.seq <= state.seq) {
                    ledger_sum += t.amount;
                    entries += 1;
                }
                Ok::<_, RepoError>(())
            },
        )
        .await?;
        let mut open_holds_sum = 0i64;
        for_each_page(
            |cursor| self.ledger.holds(account, 1000, cursor),
            |page| {
                open_holds_sum += page.iter().filter(|h| h.status == HoldStatus::Open).map(|h| h.amount).sum::<i64>();
                Ok::<_, RepoError>(())
            },
        )
        .await?;
        let difference = state.credits - ledger_sum;
        Ok(Reconciliation {
            account_id: account.clone(),
            credits: state.credits,
            ledger_sum,
            difference,
            entries,
            expected_entries: state.seq,
            held: state.held,
            open_holds_sum,
            available: state.available,
            balanced: difference == 0
                && entries == state.seq
                && state.held == open_holds_sum
                && state.available == state.credits - state.held
                && state.available >= 0,
        })
    }
}

/// Results that can be returned again for a repeated idempotency key.
trait Replayed {
    fn replayed(self) -> Self;
}

impl Replayed for LedgerReceipt {
    fn replayed(self) -> Self {
        Self { replayed: true, ..self }
    }
}

impl Replayed for CreditHold {
    fn replayed(self) -> Self {
        self
    }
}

impl<'de> Deserialize<'de> for LedgerReceipt {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A marker stores the transaction; a receipt is rebuilt from it.
        CreditTransaction::deserialize(d).map(|transaction| Self { transaction, replayed: true })
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<Value, CreditError> {
    serde_json::to_value(value)
        .map_err(|e| CreditError::Repo(RepoError::Corrupt { key: "marker".into(), reason: e.to_string() }))
}

/// The change that adds `amount` credits, checked the same for every way of adding them
/// ([`CreditService::add`], [`CreditService::add_with`]).
fn credit_change(
    amount: i64,
    kind: TransactionKind,
    reason: &str,
    reference: Option<String>,
    idempotency_key: Option<String>,
) -> Result<Change, CreditError> {
    check_amount(amount)?;
    if amount > MAX_CREDITS_PER_REQUEST {
        return Err(CreditError::TooManyCredits { amount, max: MAX_CREDITS_PER_REQUEST });
    }
    check_key(idempotency_key.as_deref())?;
    if !kind.is_credit() {
        return Err(CreditError::InvalidAmount(-amount));
    }
    Ok(Change {
        credits: amount,
        held: 0,
        entry: Some(EntryDraft { kind, reason: reason.to_owned(), reference, hold_id: None, usage: None }),
        key: idempotency_key,
    })
}
