//! One stage step (DESIGN §3): read the run and the site's config once, honour
//! pause/cancel, extend the lock, do one batch of the stage, record the tallies on the
//! run and say where the state machine goes next.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::error::AutomationError;
use super::logger::TraceKind;
use super::route::Route;
use super::service::{to_json, AutomationService};
use super::stages::{self, BatchOutcome, StageContext};
use crate::domain::{AccountId, AutomationConfig, AutomationRun, RunId, RunStatus, SiteId, Stage, StageResult};
use crate::ports::clock::rfc3339;

/// What every state of the machine passes along: which run, and where to go next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepInput {
    /// The run.
    pub run_id: RunId,
    /// Its tenant.
    pub account_id: AccountId,
    /// Its site.
    pub site_id: SiteId,
    /// Task token of a `.waitForTaskToken` state.
    #[serde(default)]
    pub task_token: Option<String>,
}

/// A step's result: small JSON the Choice state routes on (`next`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepOutput {
    /// The run.
    pub run_id: RunId,
    /// Its tenant.
    pub account_id: AccountId,
    /// Its site.
    pub site_id: SiteId,
    /// Where the Choice state sends the execution.
    pub next: Route,
    /// After a delay, where to go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub then: Option<Route>,
    /// The stage that ran (0 when none).
    pub stage: u8,
    /// Items this step processed.
    pub processed: u64,
    /// Items still waiting in the stage.
    pub remaining: u64,
    /// Delay before the next batch.
    pub delay_seconds: u32,
}

impl StepInput {
    /// A result routing this run to `next`.
    pub fn output(&self, next: Route) -> StepOutput {
        StepOutput {
            run_id: self.run_id.clone(),
            account_id: self.account_id.clone(),
            site_id: self.site_id.clone(),
            next,
            then: None,
            stage: 0,
            processed: 0,
            remaining: 0,
            delay_seconds: 0,
        }
    }
}

/// Whether a step may do its batch: yes, with the run and config it read, or no, with
/// where the run goes instead (finished, cancelled, paused).
pub(in crate::automation) enum Gate<'a> {
    /// Do the batch.
    Go(Box<StageContext<'a>>),
    /// Do nothing; route here.
    Stop(StepOutput),
}

impl AutomationService {
    /// One batch of stages 1–5 (stage 6 goes through [`AutomationService::queue_images`]).
    pub async fn step(&self, input: &StepInput, stage: Stage) -> Result<StepOutput, AutomationError> {
        let ctx = match self.gate(input).await? {
            Gate::Go(ctx) => ctx,
            Gate::Stop(route) => return Ok(route),
        };
        let began = rfc3339(self.now());
        let outcome = stages::batch(&ctx, stage).await?;
        let remaining = stages::waiting(&self.inner, &ctx.run.site_id, stage).await?;
        if outcome.processed == 0 && remaining > 0 {
            return Err(AutomationError::Stalled { stage: stage.number(), remaining });
        }
        self.record_batch(input, stage, &began, outcome, remaining).await?;
        Ok(after_batch(input, stage, &ctx.config, outcome, remaining))
    }

    /// Reads the run and its site's config (the step's only reads of them), stops a
    /// finished, cancelled or pausing run, and extends the lock: a lost lease or a
    /// changed fence is [`AutomationError::LockLost`].
    pub(in crate::automation) async fn gate(&self, input: &StepInput) -> Result<Gate<'_>, AutomationError> {
        let i = &self.inner;
        let run = i.runs.get(&input.run_id).await?.ok_or_else(|| AutomationError::RunNotFound(input.run_id.clone()))?;
        if run.status.is_final() {
            let end = if run.status == RunStatus::Cancelled { Route::Cancelled } else { Route::Finalize };
            return Ok(Gate::Stop(input.output(end)));
        }
        if run.cancel_requested {
            return Ok(Gate::Stop(input.output(Route::Cancelled)));
        }
        if run.pause_requested {
            return Ok(Gate::Stop(input.output(Route::Paused)));
        }
        let config = i
            .configs
            .get(&run.site_id)
            .await?
            .unwrap_or_else(|| AutomationConfig::defaults(run.account_id.clone(), run.site_id.clone()));
        let lease = i
            .locks
            .extend(&run.site_id, run.id.as_str(), config.lease_seconds * 1000)
            .await
            .map_err(|e| AutomationError::LockLost(e.to_string()))?;
        if lease.fence != run.fence {
            return Err(AutomationError::LockLost(format!("fence {} is not the run's {}", lease.fence, run.fence)));
        }
        Ok(Gate::Go(Box::new(StageContext { service: self, run, config, prices: Default::default() })))
    }

    /// Records a stage's progress on the run and logs it; `began` is when the batch
    /// started, the stage's start if it is its first.
    pub(in crate::automation) async fn record_batch(
        &self,
        input: &StepInput,
        stage: Stage,
        began: &str,
        outcome: BatchOutcome,
        remaining: u64,
    ) -> Result<AutomationRun, AutomationError> {
        let now = rfc3339(self.now());
        let (run, batches) = self
            .modify(&input.run_id, |run| {
                let result = run.stages.entry(stage.number()).or_insert_with(StageResult::default);
                result.processed += outcome.processed;
                result.created += outcome.created;
                result.credits += outcome.credits;
                result.words += outcome.words;
                result.remaining = remaining;
                result.batches += u64::from(outcome.processed > 0);
                if result.started_at.is_none() {
                    result.started_at = Some(began.to_owned());
                }
                if remaining == 0 && result.completed_at.is_none() {
                    result.completed_at = Some(now.clone());
                }
                run.credits_used += outcome.credits;
                run.current_stage = stage.number();
                Ok(result.batches)
            })
            .await?;
        self.log_batch(&run, stage, outcome, remaining, batches).await?;
        Ok(run)
    }

    /// The batch's line and `stage_progress` event; `stage_completed` when none remain.
    async fn log_batch(
        &self,
        run: &AutomationRun,
        stage: Stage,
        outcome: BatchOutcome,
        remaining: u64,
        batches: u64,
    ) -> Result<(), AutomationError> {
        let logger = &self.inner.logger;
        let log = Self::run_log(run);
        if outcome.processed > 0 {
            let BatchOutcome { processed, created, credits, words } = outcome;
            let line = format!(
                "batch {batches}: processed {processed}, created {created}, {credits} credits, {remaining} waiting"
            );
            logger.line(&log, Some(stage), &line).await?;
            let data = json!({
                "processed": processed, "created": created, "credits": credits, "words": words, "remaining": remaining,
            });
            logger.event(&log, Some(stage), batches, TraceKind::StageProgress, data).await?;
        }
        if remaining == 0 {
            let result = run.stages.get(&stage.number()).cloned().unwrap_or_default();
            let line = format!("stage completed: {} processed, {} created", result.processed, result.created);
            logger.line(&log, Some(stage), &line).await?;
            let kind = TraceKind::StageCompleted;
            logger.event(&log, Some(stage), batches + 1, kind, to_json(&result)?).await?;
        }
        Ok(())
    }
}

/// Where the run goes after a batch: the same stage (after the configured delay, if
/// any) while work remains, else the next stage or finalize.
fn after_batch(
    input: &StepInput,
    stage: Stage,
    config: &AutomationConfig,
    outcome: BatchOutcome,
    remaining: u64,
) -> StepOutput {
    let mut out = StepOutput {
        stage: stage.number(),
        processed: outcome.processed,
        remaining,
        ..input.output(Route::after(stage))
    };
    if remaining > 0 {
        if config.delay_between_batches_seconds > 0 {
            out.next = Route::Delay;
            out.then = Some(Route::stage(stage));
            out.delay_seconds = config.delay_between_batches_seconds;
        } else {
            out.next = Route::stage(stage);
        }
    }
    out
}
