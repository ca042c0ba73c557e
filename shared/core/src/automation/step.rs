//! One stage step (DESIGN §3): read the run and the site's config once, honour
//! pause/cancel, extend the lock, do one batch of the stage, record the tallies on the
//! run and say where the state machine goes next.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::control::control_event_seq;
use super::error::AutomationError;
use super::history::{TaskCall, CHOICE_EVENTS, DELAY_EVENTS, END_EVENTS, PASS_RESERVE, START_EVENTS};
use super::logger::TraceKind;
use super::route::Route;
use super::service::{to_json, AutomationService};
use super::stages::{self, BatchOutcome, StageContext};
use crate::domain::{
    AccountId, AutomationConfig, AutomationRun, RunExecution, RunId, RunStatus, SiteId, Stage, StageResult,
};
use crate::ports::clock::rfc3339;
use crate::ports::workflow::WorkflowError;
use crate::repo::site_lock::LockError;

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

impl StepOutput {
    /// Sends the run back to `stage` for its next batch, through the delay state when
    /// the config pauses between batches.
    pub(in crate::automation) fn again(&mut self, stage: Route, delay_seconds: u32) {
        if delay_seconds > 0 {
            self.next = Route::Delay;
            self.then = Some(stage);
            self.delay_seconds = delay_seconds;
        } else {
            self.next = stage;
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
    /// One batch of stages 1–5 (stage 6 goes through [`AutomationService::queue_images`]),
    /// called from outside the state machine: no execution's history is counted.
    pub async fn step(&self, input: &StepInput, stage: Stage) -> Result<StepOutput, AutomationError> {
        self.step_call(input, stage, &TaskCall::default()).await
    }

    /// One batch of stages 1–5 as the state machine's task: the pass is counted in the
    /// calling execution's history, and the run continues in a new execution when that
    /// history nears its budget.
    pub async fn step_call(
        &self,
        input: &StepInput,
        stage: Stage,
        call: &TaskCall,
    ) -> Result<StepOutput, AutomationError> {
        let ctx = match self.gate(input, call, Route::stage(stage), false).await? {
            Gate::Go(ctx) => ctx,
            Gate::Stop(route) => return Ok(route),
        };
        let began = rfc3339(self.now());
        let outcome = stages::batch(&ctx, stage).await?;
        let remaining = stages::waiting(&self.inner, &ctx.run.site_id, stage).await?;
        // Items failed for an invalid answer left the stage's input status: progress too.
        if outcome.processed + outcome.failed == 0 && remaining > 0 {
            return Err(AutomationError::Stalled { stage: stage.number(), remaining });
        }
        let out = after_batch(input, stage, &ctx.config, outcome, remaining);
        let delay = if out.next == Route::Delay { DELAY_EVENTS } else { 0 };
        let events = call.task_events(false) + CHOICE_EVENTS + delay;
        self.record_batch(input, stage, &began, outcome, remaining, Some((call, events))).await?;
        Ok(out)
    }

    /// Reads the run and its site's config (the step's only reads of them), ends an
    /// execution the run has moved on from, stops a finished, cancelled or pausing run,
    /// keeps the site lock, and continues the run in a new execution (at `here`) when
    /// this one's history nears its budget. Only a lock another holder took is
    /// [`AutomationError::LockLost`].
    pub(in crate::automation) async fn gate(
        &self,
        input: &StepInput,
        call: &TaskCall,
        here: Route,
        waits_for_token: bool,
    ) -> Result<Gate<'_>, AutomationError> {
        let i = &self.inner;
        let mut run =
            i.runs.get(&input.run_id).await?.ok_or_else(|| AutomationError::RunNotFound(input.run_id.clone()))?;
        if let Some(generation) = call.execution.as_deref().and_then(|name| run.generation_of(name)) {
            if generation < run.generation() {
                // A newer execution carries the run; this one only ends (a retry of the
                // step that continued it, or a late task).
                let end = call.task_events(waits_for_token) + 2 * CHOICE_EVENTS + END_EVENTS;
                self.count_events(&input.run_id, call, end).await?;
                return Ok(Gate::Stop(input.output(Route::Continued)));
            }
            if generation > run.generation() || run.executions.is_empty() {
                run = self.adopt(&input.run_id, generation).await?;
            }
        }
        let pass = call.task_events(waits_for_token) + CHOICE_EVENTS;
        if run.status.is_final() {
            let end = if run.status == RunStatus::Cancelled { Route::Cancelled } else { Route::Finalize };
            return Ok(Gate::Stop(input.output(end)));
        }
        if run.cancel_requested {
            self.count_events(&input.run_id, call, pass).await?;
            return Ok(Gate::Stop(input.output(Route::Cancelled)));
        }
        if run.pause_requested {
            self.count_events(&input.run_id, call, pass).await?;
            return Ok(Gate::Stop(input.output(Route::Paused)));
        }
        let config = i
            .configs
            .get(&run.site_id)
            .await?
            .unwrap_or_else(|| AutomationConfig::defaults(run.account_id.clone(), run.site_id.clone()));
        let run = self.keep_lock(run, config.lease_seconds * 1000).await?;
        let counted = run.executions.last().filter(|e| call.execution.as_deref() == Some(e.name.as_str()));
        if counted.is_some_and(|e| e.history_events + PASS_RESERVE > self.history_budget()) {
            return Ok(Gate::Stop(self.continue_run(input, call, &run, here, waits_for_token).await?));
        }
        Ok(Gate::Go(Box::new(StageContext { service: self, run, config, prices: Default::default() })))
    }

    /// Extends the run's site lock by `lease_ms`. A lease that ran out while nobody
    /// took the site (a pause or a delay longer than the lease) is taken again, and the
    /// run records the new fence (also when an earlier attempt took it again but could
    /// not record it); a lock another holder took is lost.
    pub(in crate::automation) async fn keep_lock(
        &self,
        run: AutomationRun,
        lease_ms: i64,
    ) -> Result<AutomationRun, AutomationError> {
        let locks = &self.inner.locks;
        let lost = |holder: &str| AutomationError::LockLost(format!("site {} is locked by {holder}", run.site_id));
        let lease = match locks.extend(&run.site_id, run.id.as_str(), lease_ms).await {
            Ok(lease) => lease,
            Err(LockError::NotHolder { current: Some(holder), .. }) if holder != run.id.as_str() => {
                return Err(lost(&holder))
            }
            Err(LockError::NotHolder { .. }) => match locks.acquire(&run.site_id, run.id.as_str(), lease_ms).await {
                Ok(lease) => lease,
                Err(LockError::Held { holder, .. }) => return Err(lost(&holder)),
                Err(e) => return Err(e.into()),
            },
            Err(e) => return Err(e.into()),
        };
        if lease.fence == run.fence {
            return Ok(run);
        }
        if lease.fence < run.fence {
            return Err(AutomationError::LockLost(format!(
                "fence {} is older than the run's {}",
                lease.fence, run.fence
            )));
        }
        // The run holds the lock under a newer fence: it took the lock again.
        let (old, new) = (run.fence, lease.fence);
        let (run, ()) = self
            .modify(&run.id, |r| {
                r.fence = r.fence.max(new);
                Ok(())
            })
            .await?;
        let line = format!("site lock taken again after its lease ran out (fence {old} → {new})");
        self.inner.logger.line(&Self::run_log(&run), None, &line).await?;
        Ok(run)
    }

    /// Records that the run's execution `generation` has started (its first task runs).
    async fn adopt(&self, id: &RunId, generation: u32) -> Result<AutomationRun, AutomationError> {
        let (run, ()) = self
            .modify(id, |run| {
                while run.generation() < generation || run.executions.is_empty() {
                    let next = if run.executions.is_empty() { 0 } else { run.generation() + 1 };
                    run.executions.push(RunExecution { name: run.execution_name(next), history_events: START_EVENTS });
                }
                Ok(())
            })
            .await?;
        Ok(run)
    }

    /// Starts the run's next execution at `here` and ends this one: the new execution
    /// takes the run over at its first task. Starting again (a retried task) is harmless.
    async fn continue_run(
        &self,
        input: &StepInput,
        call: &TaskCall,
        run: &AutomationRun,
        here: Route,
        waits_for_token: bool,
    ) -> Result<StepOutput, AutomationError> {
        let next = run.execution_name(run.generation() + 1);
        let start = json!({
            "run_id": run.id, "account_id": run.account_id, "site_id": run.site_id, "next": here,
        });
        match self.workflow()?.start_execution(&next, start).await {
            Ok(()) | Err(WorkflowError::AlreadyExists(_)) => {}
            Err(e) => return Err(e.into()),
        }
        let events = call.task_events(waits_for_token) + 2 * CHOICE_EVENTS + END_EVENTS;
        let run = self.count_events(&input.run_id, call, events).await?;
        let counted = run.executions.iter().rev().find(|e| call.execution.as_deref() == Some(e.name.as_str()));
        let line =
            format!("continuing in execution {next} after {} history events", counted.map_or(0, |e| e.history_events));
        self.inner.logger.line(&Self::run_log(&run), None, &line).await?;
        Ok(input.output(Route::Continued))
    }

    /// A side stage (linking, publishing) switched off in the site's config after the
    /// run reached it: says so in the run's log and routes on to `next`.
    pub(in crate::automation) async fn skip_side_stage(
        &self,
        input: &StepInput,
        call: &TaskCall,
        run: &AutomationRun,
        line: &str,
        next: Route,
    ) -> Result<StepOutput, AutomationError> {
        self.inner.logger.line(&Self::run_log(run), None, line).await?;
        self.count_events(&input.run_id, call, call.task_events(false) + CHOICE_EVENTS).await?;
        Ok(input.output(next))
    }

    /// Logs a side stage's batch: its line, its `stage_progress` trace event — named
    /// after the run version that recorded the batch, like pause and resume: in order
    /// with them, never the object of the run's start, end or error — and, when the
    /// stage is done, its closing line.
    pub(in crate::automation) async fn log_side_batch(
        &self,
        run: &AutomationRun,
        line: &str,
        data: serde_json::Value,
        completed: Option<String>,
    ) -> Result<(), AutomationError> {
        let logger = &self.inner.logger;
        let log = Self::run_log(run);
        logger.line(&log, None, line).await?;
        logger.event(&log, None, control_event_seq(run), TraceKind::StageProgress, data).await?;
        if let Some(completed) = completed {
            logger.line(&log, None, &completed).await?;
        }
        Ok(())
    }

    /// Adds `events` to the history count of the calling execution (nothing for a call
    /// from outside the state machine).
    pub(in crate::automation) async fn count_events(
        &self,
        id: &RunId,
        call: &TaskCall,
        events: u64,
    ) -> Result<AutomationRun, AutomationError> {
        if call.execution.is_none() {
            return self.run_by_id(id).await;
        }
        let (run, ()) = self
            .modify(id, |run| {
                add_events(run, call, events);
                Ok(())
            })
            .await?;
        Ok(run)
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
        history: Option<(&TaskCall, u64)>,
    ) -> Result<AutomationRun, AutomationError> {
        let now = rfc3339(self.now());
        let (run, batches) = self
            .modify(&input.run_id, |run| {
                if let Some((call, events)) = history {
                    add_events(run, call, events);
                }
                let result = run.stages.entry(stage.number()).or_insert_with(StageResult::default);
                result.processed += outcome.processed;
                result.created += outcome.created;
                result.failed += outcome.failed;
                result.credits += outcome.credits;
                result.words += outcome.words;
                result.remaining = remaining;
                result.batches += u64::from(outcome.processed + outcome.failed > 0);
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
        if outcome.processed + outcome.failed > 0 {
            let BatchOutcome { processed, created, credits, words, failed } = outcome;
            let failures = if failed > 0 { format!(", failed {failed}") } else { String::new() };
            let line = format!(
                "batch {batches}: processed {processed}, created {created}{failures}, {credits} credits, {remaining} waiting"
            );
            logger.line(&log, Some(stage), &line).await?;
            let data = json!({
                "processed": processed, "created": created, "credits": credits, "words": words, "remaining": remaining,
                "failed": failed,
            });
            logger.event(&log, Some(stage), batches, TraceKind::StageProgress, data).await?;
        }
        if remaining == 0 {
            let result = run.stages.get(&stage.number()).cloned().unwrap_or_default();
            let failures = if result.failed > 0 { format!(", {} failed", result.failed) } else { String::new() };
            let line = format!("stage completed: {} processed, {} created{failures}", result.processed, result.created);
            logger.line(&log, Some(stage), &line).await?;
            let kind = TraceKind::StageCompleted;
            logger.event(&log, Some(stage), batches + 1, kind, to_json(&result)?).await?;
        }
        Ok(())
    }
}

/// Adds `events` to the history count of the execution that made `call`, if it is one
/// of the run's.
pub(in crate::automation) fn add_events(run: &mut AutomationRun, call: &TaskCall, events: u64) {
    let Some(name) = call.execution.as_deref() else { return };
    if let Some(execution) = run.executions.iter_mut().rev().find(|e| e.name == name) {
        execution.history_events += events;
    }
}

/// Where the run goes after a batch: the same stage (after the configured delay, if
/// any) while work remains, else the next stage (the linking stage after content when
/// the config links articles) or finalize.
fn after_batch(
    input: &StepInput,
    stage: Stage,
    config: &AutomationConfig,
    outcome: BatchOutcome,
    remaining: u64,
) -> StepOutput {
    // The linking stage comes between content and image prompts when the site links.
    let next = if stage == Stage::Content && config.link_articles { Route::StageLink } else { Route::after(stage) };
    let mut out = StepOutput { stage: stage.number(), processed: outcome.processed, remaining, ..input.output(next) };
    if remaining > 0 {
        out.again(Route::stage(stage), config.delay_between_batches_seconds);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AccountId, RunId, SiteId};

    #[test]
    fn after_content_the_run_links_when_the_config_says_so_else_goes_to_image_prompts() {
        let input = StepInput {
            run_id: RunId::derive("r"),
            account_id: AccountId::derive("a"),
            site_id: SiteId::derive("s"),
            task_token: None,
        };
        let mut config = AutomationConfig::defaults(input.account_id.clone(), input.site_id.clone());
        let done = BatchOutcome { processed: 1, ..BatchOutcome::default() };
        assert_eq!(after_batch(&input, Stage::Content, &config, done, 0).next, Route::StageLink);
        assert_eq!(after_batch(&input, Stage::Content, &config, done, 3).next, Route::StageContent, "work remains");
        assert_eq!(after_batch(&input, Stage::Tasks, &config, done, 0).next, Route::StageContent);
        config.link_articles = false;
        assert_eq!(after_batch(&input, Stage::Content, &config, done, 0).next, Route::StageImagePrompts);
    }
}
