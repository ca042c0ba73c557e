//! Continuing an interrupted run (DESIGN §3, durability on a laptop): a process died
//! (killed, Ctrl-C twice, the laptop's battery) while it drove a run's execution; the
//! run record, its lock and the execution's last state are all still stored. The
//! process that continues it takes the run's site lock over *by holder* — the lock
//! belongs to the run, not to the process — and records the new fence on the run, so
//! a write still in flight from the dead process carries the old fence and fails.

use serde_json::{json, Value};

use super::control::{control_event_seq, resume_route};
use super::error::AutomationError;
use super::logger::TraceKind;
use super::route::Route;
use super::service::AutomationService;
use crate::domain::{AutomationConfig, AutomationRun, RunId, RunStatus};
use crate::repo::site_lock::LockError;

/// What the continuing process does with the run besides driving it on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Continuation {
    /// Go on, un-pausing it if it was paused or pausing (`igny8 run`, `runs resume`).
    Resume,
    /// Finish it as cancelled (`runs cancel`): its next step routes to Cancel, which
    /// releases its holds and its lock.
    Cancel,
}

impl AutomationService {
    /// Takes an interrupted run over for this process: re-takes its site lock by
    /// holder (a fresh lease and a new fence, even if the dead process's lease has
    /// not ended), records the fence on the run, and applies `how`. A run that is
    /// already final needs no lock (its execution only has to reach its end again).
    ///
    /// The caller must know that no live process drives the run (the embedded
    /// workflow adapter's execution claim says so): taking the lock from a live
    /// process makes its next write fail with `LockLost`.
    pub async fn take_over(&self, id: &RunId, how: Continuation) -> Result<AutomationRun, AutomationError> {
        let run = self.run_by_id(id).await?;
        if run.status.is_final() {
            return Ok(run);
        }
        let config = self
            .inner
            .configs
            .get(&run.site_id)
            .await?
            .unwrap_or_else(|| AutomationConfig::defaults(run.account_id.clone(), run.site_id.clone()));
        let lease = match self.inner.locks.acquire(&run.site_id, run.id.as_str(), config.lease_seconds * 1000).await {
            Ok(lease) => lease,
            // The lease ended and another run took the site meanwhile.
            Err(LockError::Held { holder, expires_at, now, .. }) => {
                return Err(AutomationError::AlreadyRunning { holder, until: expires_at, now })
            }
            Err(e) => return Err(e.into()),
        };
        let (run, was_paused) = self
            .modify(id, |run| {
                if run.status.is_final() {
                    return Ok(false);
                }
                run.fence = lease.fence;
                let was_paused = run.status == RunStatus::Paused || run.pause_requested;
                match how {
                    Continuation::Resume => {
                        run.pause_requested = false;
                        if run.status == RunStatus::Paused {
                            // The re-entered pause wait sees no pause and routes on.
                            run.status = RunStatus::Running;
                            run.pause_token = None;
                        }
                    }
                    Continuation::Cancel => run.cancel_requested = true,
                }
                Ok(was_paused)
            })
            .await?;
        let log = Self::run_log(&run);
        let line = format!("continued by a new process: site lock taken over by the run (fence {})", lease.fence);
        self.inner.logger.line(&log, None, &line).await?;
        match how {
            Continuation::Resume if was_paused => {
                self.inner.logger.line(&log, None, "resume requested").await?;
                let seq = control_event_seq(&run);
                self.inner.logger.event(&log, None, seq, TraceKind::RunResumed, json!({})).await?;
            }
            Continuation::Cancel => self.inner.logger.line(&log, None, "cancel requested").await?,
            Continuation::Resume => {}
        }
        Ok(run)
    }

    /// The input of a new execution that carries the run on from where its record
    /// says it is: for a run whose execution was never stored (the process died
    /// between writing the run and starting its execution).
    pub fn continuation_input(run: &AutomationRun) -> Value {
        let next = if run.status.is_final() {
            if run.status == RunStatus::Cancelled {
                Route::Cancelled
            } else {
                Route::Finalize
            }
        } else if run.cancel_requested {
            Route::Cancelled
        } else {
            resume_route(run)
        };
        json!({ "run_id": run.id, "account_id": run.account_id, "site_id": run.site_id, "next": next })
    }
}
