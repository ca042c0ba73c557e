//! Run control (DESIGN §3): start, pause, resume, cancel, the pause wait, finalize and
//! failure. Each changes the run record with an optimistic update (`modify`), logs
//! what it did, and sends a waiting execution's task token where one is due.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::error::AutomationError;
use super::estimate::Estimate;
use super::history::{TaskCall, CHOICE_EVENTS, END_EVENTS, MAX_PAUSE_SECONDS, START_EVENTS};
use super::logger::TraceKind;
use super::route::Route;
use super::service::{to_json, AutomationService};
use super::step::{add_events, StepInput};
use super::summary::{summarize, RunSummary};
use crate::domain::{
    AccountId, AutomationConfig, AutomationRun, HoldStatus, RunExecution, RunId, RunStatus, Site, SiteId, SiteStatus,
    Stage, LINK_STAGE, PUBLISH_STAGE,
};
use crate::ports::clock::rfc3339;
use crate::ports::workflow::WorkflowError;
use crate::ports::{all_pages, IdGeneratorExt};
use crate::repo::site_lock::{LockError, MAX_LEASE_MS};

/// The lease a paused run keeps its site for: as long as the pause wait may last.
const PAUSE_LEASE_MS: i64 = {
    let pause = MAX_PAUSE_SECONDS * 1000;
    if pause < MAX_LEASE_MS {
        pause
    } else {
        MAX_LEASE_MS
    }
};

/// Where a paused run goes back to: the stage it paused in (linking and publishing
/// included).
pub(in crate::automation) fn resume_route(run: &AutomationRun) -> Route {
    if run.current_stage == PUBLISH_STAGE {
        return Route::StagePublish;
    }
    if run.current_stage == LINK_STAGE {
        return Route::StageLink;
    }
    Route::stage(Stage::from_number(run.current_stage).unwrap_or(Stage::Clusters))
}

impl AutomationService {
    /// Starts a run: lock → validate → estimate → require balance → record → execution.
    /// Anything failing after the lock releases it; nothing else is left behind.
    pub async fn start(
        &self,
        account: &AccountId,
        site: &SiteId,
        trigger: &str,
    ) -> Result<AutomationRun, AutomationError> {
        let site_record = self.site_of(account, site).await?;
        let config = self.config(account, site).await?;
        let run_id = self.inner.ports.ids.generate::<RunId>();
        let lease = match self.inner.locks.acquire(site, run_id.as_str(), config.lease_seconds * 1000).await {
            Ok(lease) => lease,
            Err(LockError::Held { holder, expires_at, now, .. }) => {
                return Err(AutomationError::AlreadyRunning { holder, until: expires_at, now })
            }
            Err(e) => return Err(e.into()),
        };
        match self.start_locked(&site_record, &config, &run_id, lease.fence, trigger).await {
            Ok(run) => Ok(run),
            Err(e) => {
                if let Ok(Some(mut run)) = self.inner.runs.get(&run_id).await {
                    run.status = RunStatus::Failed;
                    run.error = Some(e.to_string());
                    run.finished_at = Some(rfc3339(self.now()));
                    run.version += 1;
                    // Best effort: the start error is what the caller must see.
                    let _ = self.inner.runs.save(&run).await;
                }
                let _ = self.inner.locks.release(site, run_id.as_str()).await;
                Err(e)
            }
        }
    }

    /// Start with the lock held: validate (site active, automation enabled, account not
    /// past due), estimate, check the balance, write the run, log it and start its execution.
    async fn start_locked(
        &self,
        site: &Site,
        config: &AutomationConfig,
        run_id: &RunId,
        fence: i64,
        trigger: &str,
    ) -> Result<AutomationRun, AutomationError> {
        if site.status != SiteStatus::Active {
            return Err(AutomationError::SiteInactive);
        }
        if !config.enabled {
            return Err(AutomationError::Disabled);
        }
        if crate::billing::subscriptions::account_past_due(&self.inner.ports.store, &site.account_id).await? {
            return Err(AutomationError::AccountPastDue);
        }
        let estimate = self.estimate_with(config).await?;
        if estimate.keywords < u64::from(config.min_keywords) {
            return Err(AutomationError::NotEnoughKeywords { have: estimate.keywords, need: config.min_keywords });
        }
        let check = self.inner.credits.check_balance(&site.account_id, estimate.total, config.credit_buffer).await?;
        if !check.sufficient {
            return Err(AutomationError::InsufficientCredits {
                required: check.required_with_buffer,
                available: check.balance.available,
            });
        }
        let run = self.new_run(site, run_id, fence, trigger, &estimate);
        self.inner.ports.store.transact(vec![self.inner.runs.create(&run)?]).await?;
        self.log_started(&run, trigger, &estimate).await?;
        let input = json!({
            "run_id": run.id, "account_id": run.account_id, "site_id": run.site_id,
            "next": Route::stage(Stage::Clusters),
        });
        self.workflow()?.start_execution(run.id.as_str(), input).await?;
        Ok(run)
    }

    /// The record of a run about to start: running, stage 1, the lock's fence.
    fn new_run(&self, site: &Site, run_id: &RunId, fence: i64, trigger: &str, estimate: &Estimate) -> AutomationRun {
        AutomationRun {
            id: run_id.clone(),
            account_id: site.account_id.clone(),
            site_id: site.id.clone(),
            status: RunStatus::Running,
            current_stage: 1,
            trigger: trigger.to_owned(),
            fence,
            estimated_credits: estimate.total,
            credits_used: 0,
            stages: BTreeMap::new(),
            pause_requested: false,
            cancel_requested: false,
            pause_token: None,
            images_queued: 0,
            images_finished: 0,
            images_token: None,
            error: None,
            started_at: rfc3339(self.now()),
            finished_at: None,
            version: 0,
            executions: vec![RunExecution { name: run_id.to_string(), history_events: START_EVENTS }],
            publishing: None,
            linking: None,
        }
    }

    async fn log_started(
        &self,
        run: &AutomationRun,
        trigger: &str,
        estimate: &Estimate,
    ) -> Result<(), AutomationError> {
        let log = Self::run_log(run);
        let line =
            format!("run started ({trigger}): {} keywords, estimate {} credits", estimate.keywords, estimate.total);
        self.inner.logger.line(&log, None, &line).await?;
        let data = json!({"keywords": estimate.keywords, "estimate": estimate});
        self.inner.logger.event(&log, None, 0, TraceKind::RunStarted, data).await?;
        Ok(())
    }

    /// Asks the run to pause after its current batch.
    pub async fn pause(&self, account: &AccountId, id: &RunId) -> Result<AutomationRun, AutomationError> {
        self.run(account, id).await?;
        let (run, ()) = self
            .modify(id, |run| match run.status {
                RunStatus::Running => {
                    run.pause_requested = true;
                    Ok(())
                }
                status => Err(AutomationError::InvalidState { status, action: "pause" }),
            })
            .await?;
        self.inner.logger.line(&Self::run_log(&run), None, "pause requested").await?;
        Ok(run)
    }

    /// Resumes a paused (or pause-requested) run where it stopped.
    pub async fn resume(&self, account: &AccountId, id: &RunId) -> Result<AutomationRun, AutomationError> {
        self.run(account, id).await?;
        let (run, ()) = self
            .modify(id, |run| match run.status {
                RunStatus::Paused => {
                    run.pause_requested = false;
                    Ok(())
                }
                RunStatus::Running if run.pause_requested => {
                    run.pause_requested = false;
                    Ok(())
                }
                status => Err(AutomationError::InvalidState { status, action: "resume" }),
            })
            .await?;
        let log = Self::run_log(&run);
        self.inner.logger.line(&log, None, "resume requested").await?;
        self.inner.logger.event(&log, None, control_event_seq(&run), TraceKind::RunResumed, json!({})).await?;
        self.wake_paused(id).await?;
        Ok(self.inner.runs.get(id).await?.unwrap_or(run))
    }

    /// Cancels the run after its current batch; partial results are kept.
    pub async fn cancel(&self, account: &AccountId, id: &RunId) -> Result<AutomationRun, AutomationError> {
        self.run(account, id).await?;
        let (run, ()) = self
            .modify(id, |run| {
                if run.status.is_final() {
                    return Err(AutomationError::InvalidState { status: run.status, action: "cancel" });
                }
                run.cancel_requested = true;
                Ok(())
            })
            .await?;
        self.inner.logger.line(&Self::run_log(&run), None, "cancel requested").await?;
        self.wake_paused(id).await?;
        Ok(self.inner.runs.get(id).await?.unwrap_or(run))
    }

    /// Sends a paused run's task token once resume or cancel asked for it. Returns
    /// false when this engine does not know the token (a laptop run driven by another
    /// process): the token stays on the run and that process's driver sends it.
    pub async fn wake_paused(&self, id: &RunId) -> Result<bool, AutomationError> {
        let (run, token) = self
            .modify(id, |run| {
                let wake = run.pause_token.is_some() && (run.cancel_requested || !run.pause_requested);
                if wake {
                    run.status = RunStatus::Running;
                    Ok(run.pause_token.take())
                } else {
                    Ok(None)
                }
            })
            .await?;
        let Some(token) = token else { return Ok(false) };
        let input = StepInput {
            run_id: run.id.clone(),
            account_id: run.account_id.clone(),
            site_id: run.site_id.clone(),
            task_token: None,
        };
        let next = if run.cancel_requested { Route::Cancelled } else { resume_route(&run) };
        let Err(e) = self.workflow()?.send_task_success(&token, to_json(&input.output(next))?).await else {
            return Ok(true);
        };
        // Not sent: the token goes back on the run, so the driver of the execution (or
        // a retry after a throttled engine) sends it.
        self.modify(id, |run| {
            if run.pause_token.is_none() && !run.status.is_final() {
                run.pause_token = Some(token.clone());
                run.status = RunStatus::Paused;
            }
            Ok(())
        })
        .await?;
        match e {
            WorkflowError::InvalidToken | WorkflowError::NotFound(_) => Ok(false),
            e => Err(e.into()),
        }
    }

    /// The pause wait: records the task token resume will send (or sends it at once
    /// when resume or cancel already came), and keeps the site locked for as long as
    /// the pause may last, so a pause longer than the lease resumes.
    pub async fn pause_wait(&self, input: &StepInput, call: &TaskCall) -> Result<Value, AutomationError> {
        let token =
            input.task_token.clone().ok_or_else(|| AutomationError::Invalid("pause wait without task token".into()))?;
        let (run, route) = self
            .modify(&input.run_id, |run| {
                add_events(run, call, call.task_events(true) + CHOICE_EVENTS);
                if run.cancel_requested {
                    return Ok(Some(Route::Cancelled));
                }
                if !run.pause_requested {
                    return Ok(Some(resume_route(run)));
                }
                run.status = RunStatus::Paused;
                run.pause_token = Some(token.clone());
                Ok(None)
            })
            .await?;
        match route {
            Some(next) => self.workflow()?.send_task_success(&token, to_json(&input.output(next))?).await?,
            None => {
                let run = self.keep_lock(run, PAUSE_LEASE_MS).await?;
                let log = Self::run_log(&run);
                self.inner.logger.line(&log, None, &format!("paused in stage {}", run.current_stage)).await?;
                let data = json!({"stage": run.current_stage});
                self.inner.logger.event(&log, None, control_event_seq(&run), TraceKind::RunPaused, data).await?;
            }
        }
        Ok(json!({}))
    }

    /// Ends the run: totals, status (completed or cancelled), lock released.
    /// Finalizing again changes nothing.
    pub async fn finalize(
        &self,
        input: &StepInput,
        cancelled: bool,
        call: &TaskCall,
    ) -> Result<AutomationRun, AutomationError> {
        let summary = summarize(&self.inner.ports.store, &self.inner.credits, &input.run_id).await?;
        let now = rfc3339(self.now());
        let (run, changed) = self
            .modify(&input.run_id, |run| {
                // The task, the Succeed state after it and the execution's end.
                add_events(run, call, call.task_events(false) + CHOICE_EVENTS + END_EVENTS);
                if run.status.is_final() {
                    return Ok(false);
                }
                run.status = if cancelled { RunStatus::Cancelled } else { RunStatus::Completed };
                run.finished_at = Some(now.clone());
                run.credits_used = summary.credits_used;
                run.pause_token = None;
                Ok(true)
            })
            .await?;
        // A hold still open now belongs to a batch a dead process never settled (its
        // replay took other items): nothing will settle it, so give it back.
        self.release_open_holds(&run).await?;
        self.release(&run).await?;
        if changed {
            self.log_finished(&run, &summary, cancelled).await?;
        }
        Ok(run)
    }

    async fn log_finished(
        &self,
        run: &AutomationRun,
        summary: &RunSummary,
        cancelled: bool,
    ) -> Result<(), AutomationError> {
        let log = Self::run_log(run);
        let kind = if cancelled { TraceKind::RunCancelled } else { TraceKind::RunCompleted };
        let line = format!(
            "run {}: {} clusters, {} ideas, {} tasks, {} articles ({} words), {} images, {} credits",
            if cancelled { "cancelled" } else { "completed" },
            summary.clusters,
            summary.ideas,
            summary.tasks,
            summary.articles,
            summary.words,
            summary.images,
            summary.credits_used
        );
        let line = match &run.publishing {
            Some(p) => format!("{line}, {} published, {} not published", p.published, p.failed),
            None => line,
        };
        self.inner.logger.line(&log, None, &line).await?;
        self.inner.logger.event(&log, None, 1, kind, to_json(summary)?).await?;
        self.inner.logger.compact(&log).await?;
        Ok(())
    }

    /// Marks the run failed with the error, gives back open holds and the lock.
    pub async fn fail(&self, input: &StepInput, error: &str, cause: &str) -> Result<AutomationRun, AutomationError> {
        let now = rfc3339(self.now());
        let message = if cause.is_empty() { error.to_owned() } else { format!("{error}: {cause}") };
        let (run, changed) = self
            .modify(&input.run_id, |run| {
                if run.status.is_final() {
                    return Ok(false);
                }
                run.status = RunStatus::Failed;
                run.error = Some(message.clone());
                run.finished_at = Some(now.clone());
                Ok(true)
            })
            .await?;
        self.release_open_holds(&run).await?;
        self.release(&run).await?;
        if changed {
            let log = Self::run_log(&run);
            self.inner.logger.line(&log, None, &format!("run failed: {message}")).await?;
            self.inner.logger.event(&log, None, 2, TraceKind::Error, json!({"error": error, "cause": cause})).await?;
            self.inner.logger.compact(&log).await?;
        }
        Ok(run)
    }

    /// Releases the run's site lock, if the run still holds it.
    async fn release(&self, run: &AutomationRun) -> Result<(), AutomationError> {
        match self.inner.locks.release(&run.site_id, run.id.as_str()).await {
            Ok(_) | Err(LockError::NotHolder { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Gives back every credit hold the run left open (a step that failed mid-call).
    async fn release_open_holds(&self, run: &AutomationRun) -> Result<(), AutomationError> {
        let credits = &self.inner.credits;
        // The account's open holds only, not every hold it ever took.
        let holds = all_pages(|cursor| credits.open_holds(&run.account_id, 1000, cursor)).await?;
        let open =
            holds.iter().filter(|h| h.status == HoldStatus::Open && h.reference.as_deref() == Some(run.id.as_str()));
        for hold in open {
            credits.release(&run.account_id, &hold.id).await?;
        }
        Ok(())
    }
}

/// The trace object of a pause or resume event: its own, named after the run version
/// that recorded it. A pause and the resume that follows at once (another process, a
/// person) never append to the same object, so neither event is lost; objects 0–2 are
/// the run's start, end and error.
pub(in crate::automation) fn control_event_seq(run: &AutomationRun) -> u64 {
    3 + u64::try_from(run.version).unwrap_or(0)
}
