//! The stages of a run behind one trait, [`StageWork`]: which records wait for the
//! stage (input status), how many one step takes (batch size from the config), and
//! the batch itself (the paid AI call and the outputs). Stages 1–5 are one file each;
//! stage 6 is the image fan-out (`images.rs`), driven by the queue instead of by steps.
//!
//! Every AI call is paid for before it runs: a hold of the expected cost (keyed by
//! run/stage/item, so a replayed step finds the same hold), settled to the actual
//! cost after the call, released if the call fails. Outputs have ids derived from
//! their inputs and are written with "must not exist" conditions, inputs move on with
//! "still in the old status" conditions, and every write carries the run's lock fence
//! — so a replayed step neither duplicates records nor charges twice, and a run that
//! lost its lock cannot write.
//!
//! A model whose answer stays invalid after the provider's own bounded retries
//! (`AiError::InvalidOutput`) fails that one item, not the run: its hold is released by
//! [`StageContext::paid`], nothing of the answer is stored, the item moves to its
//! stage's failed status (so the run does not pick it again) with a line in the run's
//! log, and the batch goes on ([`StageContext::fail_input`]). Stage 1's naming call
//! falls back to the algorithm's names instead of failing its clusters
//! ([`OnInvalid::FallBack`]); both go through [`StageContext::on_invalid`]. The tokens
//! such a call spent still reach the usage log: [`StageContext::paid`] writes its
//! usage record (no credits, marked failed) with the release of the hold.

mod clusters;
mod content;
mod ideas;
mod image_prompts;
pub mod images;
mod tasks;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use super::error::AutomationError;
use super::service::{AutomationService, Inner};
use crate::billing::CreditError;
use crate::domain::Operation;
use crate::domain::{AutomationConfig, AutomationRun, CreditCostConfig, HoldStatus, SiteId, Stage, UsageDetails};
use crate::ports::clock::rfc3339;
use crate::ports::{StoreError, WriteOp};
use crate::repo::pipeline::{counted_fit, ensure_counted, transact_counted};
use crate::repo::{Records, RepoError, SiteRecord};
use igny8_ai::Usage;

pub(in crate::automation) use clusters::Clusters;
pub(in crate::automation) use content::Contents;
pub(in crate::automation) use ideas::Ideas;
pub(in crate::automation) use image_prompts::ImagePrompts;
pub(in crate::automation) use tasks::Tasks;

/// Writes per transaction, leaving room for the fence guard.
const CHUNK: usize = 90;

/// What one batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Inputs processed.
    pub processed: u64,
    /// Outputs created.
    pub created: u64,
    /// Credits charged.
    pub credits: i64,
    /// Words written.
    pub words: u64,
    /// Inputs failed because the model's answer was invalid (not in `processed`).
    pub failed: u64,
}

/// What a stage's batch works with: the run and its config as the step read them
/// (once), and the two ways a stage touches the world — paid AI calls and fenced writes.
pub(in crate::automation) struct StageContext<'a> {
    pub(in crate::automation) service: &'a AutomationService,
    pub(in crate::automation) run: AutomationRun,
    pub(in crate::automation) config: AutomationConfig,
    /// Prices read by this step, by operation: one read per step and operation, not
    /// one per paid call (a price changed mid-batch applies from the next step).
    pub(in crate::automation) prices: Mutex<HashMap<&'static str, CreditCostConfig>>,
}

/// One stage of stages 1–5: its inputs, its batch size and its batch.
pub(in crate::automation) trait StageWork {
    /// The stage.
    const STAGE: Stage;
    /// The status (as stored) of the records waiting for the stage.
    const INPUT_STATUS: &'static str;
    /// What the run's log calls one input ("task <id> failed: …").
    const ITEM: &'static str;
    /// The credit operation its AI call is priced as, if it makes one.
    const OPERATION: Option<Operation>;
    /// The records it takes.
    type Input: SiteRecord;

    /// The repository of those records.
    fn inputs(inner: &Inner) -> &Records<Self::Input>;

    /// How many records one step takes (the config's batch size of the stage).
    fn batch_size(config: &AutomationConfig) -> usize {
        config.batch_size(Self::STAGE) as usize
    }

    /// Does the batch: pays for and makes the AI call(s), writes the outputs and moves
    /// the inputs to their next status.
    fn process(
        ctx: &StageContext<'_>,
        batch: Vec<Self::Input>,
    ) -> impl Future<Output = Result<BatchOutcome, AutomationError>> + Send;
}

/// One batch of `stage` (1–5; stage 6 runs through the image queue).
pub(in crate::automation) async fn batch(
    ctx: &StageContext<'_>,
    stage: Stage,
) -> Result<BatchOutcome, AutomationError> {
    match stage {
        Stage::Clusters => run::<Clusters>(ctx).await,
        Stage::Ideas => run::<Ideas>(ctx).await,
        Stage::Tasks => run::<Tasks>(ctx).await,
        Stage::Content => run::<Contents>(ctx).await,
        Stage::ImagePrompts => run::<ImagePrompts>(ctx).await,
        Stage::Images => Err(AutomationError::Invalid("stage 6 runs through the image queue".into())),
    }
}

async fn run<S: StageWork>(ctx: &StageContext<'_>) -> Result<BatchOutcome, AutomationError> {
    let batch = S::inputs(ctx.inner()).in_status(&ctx.run.site_id, S::INPUT_STATUS, S::batch_size(&ctx.config)).await?;
    S::process(ctx, batch).await
}

/// Items waiting for a stage on a site.
pub(in crate::automation) async fn waiting(inner: &Inner, site: &SiteId, stage: Stage) -> Result<u64, AutomationError> {
    // A site written before the counters existed is counted once from its records.
    ensure_counted(&inner.ports.store, site).await?;
    Ok(match stage {
        Stage::Clusters => count::<Clusters>(inner, site).await?,
        Stage::Ideas => count::<Ideas>(inner, site).await?,
        Stage::Tasks => count::<Tasks>(inner, site).await?,
        Stage::Content => count::<Contents>(inner, site).await?,
        Stage::ImagePrompts => count::<ImagePrompts>(inner, site).await?,
        Stage::Images => inner.images.count_in_status(site, images::INPUT_STATUS).await?,
    })
}

async fn count<S: StageWork>(inner: &Inner, site: &SiteId) -> Result<u64, AutomationError> {
    Ok(S::inputs(inner).count_in_status(site, S::INPUT_STATUS).await?)
}

/// What a paid AI call is: its stage, the item it works on (part of the idempotency
/// key `<run>/<stage>/<item>`), the operation priced, and the units expected.
struct Bill {
    stage: Stage,
    item: String,
    operation: Operation,
    estimate_units: i64,
}

impl Bill {
    /// The bill of stage `S`'s AI call on `item`, expecting `estimate_units`.
    fn of<S: StageWork>(item: String, estimate_units: i64) -> Result<Self, AutomationError> {
        let operation = S::OPERATION
            .ok_or_else(|| AutomationError::Invalid(format!("stage {} makes no paid call", S::STAGE.number())))?;
        Ok(Self { stage: S::STAGE, item, operation, estimate_units })
    }
}

fn usage(run: &AutomationRun, stage: Stage, operation: &str, units: i64, u: &Usage) -> UsageDetails {
    UsageDetails {
        operation: operation.to_owned(),
        model: Some(u.model.clone()),
        tokens_in: u.tokens_in,
        tokens_out: u.tokens_out,
        units,
        run_id: Some(run.id.to_string()),
        stage: Some(stage.number()),
    }
}

/// Splits a stage's AI result: the value, or (as `Err(why)`) the reason the model's
/// answer was invalid — the item fails, the run goes on; every other error is the
/// step's error as before (transient ones are retried, the rest fail the run).
fn or_invalid<T>(result: Result<T, AutomationError>) -> Result<Result<T, String>, AutomationError> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(AutomationError::Ai(e)) => match e.invalid_output() {
            Some(why) => Ok(Err(why.to_owned())),
            None => Err(AutomationError::Ai(e)),
        },
        Err(e) => Err(e),
    }
}

/// What becomes of an item whose model answer stayed invalid
/// ([`StageContext::on_invalid`]).
pub(in crate::automation) enum OnInvalid {
    /// The item fails: this write moves it to its stage's failed status.
    Fail(WriteOp),
    /// The stage does without the answer and says what it used instead (stage 1 keeps
    /// the clustering algorithm's names: the grouping is decided already, so invalid
    /// names must not fail the clusters).
    FallBack(String),
}

/// A count as credit units.
fn units(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl StageContext<'_> {
    /// The service's state.
    pub(in crate::automation) fn inner(&self) -> &Inner {
        &self.service.inner
    }

    /// Now, as stored on records (RFC 3339).
    fn now(&self) -> String {
        rfc3339(self.service.now())
    }

    /// Applies writes in fenced transactions, each with the status counters its writes
    /// move; a write whose condition already failed (created or moved on by an earlier
    /// attempt) is dropped and the rest of its transaction committed without it, so a
    /// replay counts nothing twice; a lost fence is fatal.
    pub(in crate::automation) async fn apply(&self, writes: Vec<WriteOp>) -> Result<(), AutomationError> {
        let mut rest = writes.as_slice();
        while !rest.is_empty() {
            let n = counted_fit(&rest[..rest.len().min(CHUNK)], 1)?;
            let (chunk, tail) = rest.split_at(n);
            self.apply_chunk(chunk.to_vec()).await?;
            rest = tail;
        }
        Ok(())
    }

    /// One fenced transaction of `chunk`, less the writes whose conditions fail.
    async fn apply_chunk(&self, mut chunk: Vec<WriteOp>) -> Result<(), AutomationError> {
        let inner = self.inner();
        let run = &self.run;
        while !chunk.is_empty() {
            let mut ops = vec![inner.locks.fence_guard(&run.site_id, run.id.as_str(), run.fence)];
            ops.extend(chunk.iter().cloned());
            match transact_counted(&*inner.ports.store, ops).await {
                Ok(()) => return Ok(()),
                Err(RepoError::Store(e)) if e.failed_at(0) => {
                    return Err(AutomationError::LockLost("fence check failed".into()))
                }
                Err(RepoError::Store(StoreError::ConditionFailed(failed))) => {
                    // Indexes count the guard first; the counters come after the writes.
                    let before = chunk.len();
                    let mut index = 0;
                    chunk.retain(|_| {
                        index += 1;
                        !failed.iter().any(|f| f.index == index)
                    });
                    if chunk.len() == before {
                        return Err(RepoError::Store(StoreError::ConditionFailed(failed)).into());
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Fails one input the model gave an invalid answer for: `failed` is its next state
    /// (the stage's failed status), written as a transition from the status it was read
    /// in under the run's fence like every write, so a replay moves and counts it once;
    /// the run's log says "<item> <id> failed: invalid model output: <why>" and the
    /// batch's outcome counts it.
    pub(in crate::automation) async fn fail_input<S: StageWork>(
        &self,
        failed: &S::Input,
        why: &str,
        outcome: &mut BatchOutcome,
    ) -> Result<(), AutomationError> {
        let moved = S::inputs(self.inner()).transition(failed, S::INPUT_STATUS)?;
        let item = format!("{} {}", S::ITEM, failed.record_id());
        self.on_invalid(S::STAGE, &item, why, OnInvalid::Fail(moved)).await?;
        outcome.failed += 1;
        Ok(())
    }

    /// The one place a stage handles a model answer that stayed invalid (after
    /// [`or_invalid`] split it off; [`StageContext::paid`] has released the hold and
    /// recorded the tokens the call spent in the usage log): the item fails
    /// ([`OnInvalid::Fail`], as [`StageContext::fail_input`]) or the stage goes on
    /// without the answer ([`OnInvalid::FallBack`]), and the run's log says which.
    pub(in crate::automation) async fn on_invalid(
        &self,
        stage: Stage,
        item: &str,
        why: &str,
        then: OnInvalid,
    ) -> Result<(), AutomationError> {
        let line = match then {
            OnInvalid::Fail(write) => {
                self.apply(vec![write]).await?;
                format!("{item} failed: invalid model output: {why}")
            }
            OnInvalid::FallBack(kept) => format!("{item}: invalid model output: {why}; {kept}"),
        };
        self.inner().logger.line(&AutomationService::run_log(&self.run), Some(stage), &line).await?;
        Ok(())
    }

    /// Runs one paid AI call: hold the estimate, call, settle to the actual cost
    /// (`actual_units` computed from the result), or release the hold if the call fails.
    async fn paid<T, Fut>(
        &self,
        bill: Bill,
        call: Fut,
        actual_units: impl FnOnce(&T) -> i64,
    ) -> Result<(T, i64), AutomationError>
    where
        Fut: Future<Output = Result<(T, Usage), igny8_ai::AiError>>,
    {
        let Bill { stage, item, operation, estimate_units } = bill;
        let run = &self.run;
        let key = format!("{}/{}/{item}", run.id, stage.number());
        let credits = &self.inner().credits;
        // One read of the operation's price serves the hold and the settle of every paid
        // call of the step (before, each call read it, and before that each hold and
        // each settle: GetItems of the same item on DynamoDB).
        let cached = self.prices.lock().ok().and_then(|p| p.get(operation.as_str()).cloned());
        let price = match cached {
            Some(price) => price,
            None => {
                let price = credits.cost_config(operation.as_str()).await?;
                if let Ok(mut prices) = self.prices.lock() {
                    prices.insert(operation.as_str(), price.clone());
                }
                price
            }
        };
        let cost = |units: i64| price.cost_for(units).ok_or(CreditError::InvalidUnits(units));
        let estimate = cost(estimate_units.max(1))?;
        let reason = format!("stage {} {}", stage.number(), stage.name());
        let mut hold = credits
            .hold(&run.account_id, estimate, &reason, Some(run.id.to_string()), Some(format!("{key}/hold")))
            .await?;
        let (value, u) = match call.await {
            Ok(done) => done,
            Err(e) => {
                // A call that failed after the model spent tokens on it (answers that
                // stayed invalid) is still recorded: its usage log, with no credits and
                // marked failed, is written with the release of its hold.
                match e.usage() {
                    Some(spent) => {
                        let details = usage(run, stage, operation.as_str(), 0, spent);
                        credits.release_spent(&run.account_id, &hold.id, details).await?;
                    }
                    None => {
                        credits.release(&run.account_id, &hold.id).await?;
                    }
                }
                return Err(e.into());
            }
        };
        let n = actual_units(&value);
        if n <= 0 {
            credits.release(&run.account_id, &hold.id).await?;
            return Ok((value, 0));
        }
        let actual = cost(n)?;
        let mut next = 1u32;
        let receipt = loop {
            let details = Some(usage(run, stage, operation.as_str(), n, &u));
            match credits.settle_hold(&run.account_id, &hold, actual, details).await {
                // An earlier attempt of this step whose call failed (a throttled
                // provider) released this hold: pay with the next hold in line, keyed
                // by its place, so a replay finds it again.
                Err(CreditError::HoldClosed { status: HoldStatus::Released, .. }) => {
                    let hold_key = Some(format!("{key}/hold{next}"));
                    hold = credits.hold(&run.account_id, estimate, &reason, Some(run.id.to_string()), hold_key).await?;
                    next += 1;
                }
                settled => break settled?,
            }
        };
        Ok((value, -receipt.transaction.amount))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::domain::{ClusterStatus, ContentStatus, IdeaStatus, ImageStatus, KeywordStatus, TaskStatus};

    fn wire<S: serde::Serialize>(status: S) -> String {
        serde_json::to_value(status).expect("json").as_str().expect("a string").to_owned()
    }

    #[test]
    fn input_statuses_are_the_domain_statuses_as_stored() {
        assert_eq!(Clusters::INPUT_STATUS, wire(KeywordStatus::New));
        assert_eq!(Ideas::INPUT_STATUS, wire(ClusterStatus::New));
        assert_eq!(Tasks::INPUT_STATUS, wire(IdeaStatus::New));
        assert_eq!(Contents::INPUT_STATUS, wire(TaskStatus::Queued));
        assert_eq!(ImagePrompts::INPUT_STATUS, wire(ContentStatus::Draft));
        assert_eq!(images::INPUT_STATUS, wire(ImageStatus::Pending));
        assert_eq!(images::QUEUED_STATUS, wire(ImageStatus::Queued));
    }

    #[test]
    fn each_stage_is_its_own_number() {
        let stages = [Clusters::STAGE, Ideas::STAGE, Tasks::STAGE, Contents::STAGE, ImagePrompts::STAGE];
        assert_eq!(stages, [Stage::Clusters, Stage::Ideas, Stage::Tasks, Stage::Content, Stage::ImagePrompts]);
    }
}
