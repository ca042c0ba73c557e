//! The publishing stage after images (issue 12, "publish after the run"): when the
//! site's config says so, the run sends its articles to the site's active integrations
//! in batches of the config's `publish_batch_size`, as drafts or live, before finalize.
//!
//! Each batch is one task of the state machine (`StagePublish`, the stage-publish
//! function), like a stage step: it passes the same gate (pause, cancel, lock, history
//! budget), calls [`PublishingService::publish_run_batch`], records the tallies on the
//! run's `publishing` and routes back to itself while articles remain. A platform's
//! throttle or outage is a transient error (`Igny8.Throttled`), which the state machine
//! retries with backoff; a platform's refusal of one article (forbidden, rejected) is
//! recorded on its publication and counted as failed without failing the run.

use serde_json::json;

use super::error::AutomationError;
use super::history::{TaskCall, CHOICE_EVENTS, DELAY_EVENTS};
use super::route::Route;
use super::service::AutomationService;
use super::step::{add_events, Gate, StepInput, StepOutput};
use crate::domain::{AutomationRun, PublishAfterRun, PublishProgress, PUBLISH_STAGE};
use crate::ports::clock::rfc3339;
use crate::publishing::{PublishingService, RunPublishBatch};

impl AutomationService {
    /// Binds the publisher the publishing stage sends articles with, at wiring, where
    /// integrations are wired (the stage-publish function, the laptop); binding again
    /// replaces it (a laptop runtime given other platform clients).
    pub fn set_publishing(&self, publishing: PublishingService) {
        let mut slot = self.inner.publishing.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        *slot = Some(publishing);
    }

    fn publisher(&self) -> Result<PublishingService, AutomationError> {
        let slot = self.inner.publishing.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        slot.clone().ok_or(AutomationError::PublishingUnavailable)
    }

    /// Where a run goes once its images are done: the publishing stage when the site's
    /// config publishes after the run, else finalize.
    pub(in crate::automation) async fn after_images(&self, run: &AutomationRun) -> Result<Route, AutomationError> {
        let config = self.inner.configs.get(&run.site_id).await?;
        let publishes = config.is_some_and(|c| c.publish != PublishAfterRun::Off);
        Ok(if publishes { Route::StagePublish } else { Route::Finalize })
    }

    /// One batch of the publishing stage as the state machine's task (see the module
    /// docs): the run goes on publishing while articles remain, then to finalize.
    pub async fn publish_step(&self, input: &StepInput, call: &TaskCall) -> Result<StepOutput, AutomationError> {
        let ctx = match self.gate(input, call, Route::StagePublish, false).await? {
            Gate::Go(ctx) => ctx,
            Gate::Stop(route) => return Ok(route),
        };
        let (run, config) = (&ctx.run, &ctx.config);
        let Some(status) = config.publish.remote_status() else {
            // Publishing was switched off after the images finished: nothing to send.
            let line = "publishing switched off in the site's config: nothing published";
            return self.skip_side_stage(input, call, run, line, Route::Finalize).await;
        };
        let began = rfc3339(self.now());
        let limit = config.publish_batch_size.max(1);
        let batch = self.publisher()?.publish_run_batch(&run.account_id, &run.site_id, &run.id, status, limit).await?;
        // A batch that published nothing and left as many waiting as before cannot get
        // further (every waiting article was refused again): the stage ends, the
        // refusals stay recorded on their publications.
        let stuck = batch.published == 0
            && run.publishing.as_ref().is_some_and(|p| p.batches > 0 && p.remaining <= batch.remaining);
        let mut out = StepOutput {
            stage: PUBLISH_STAGE,
            processed: u64::from(batch.attempted),
            remaining: batch.remaining,
            ..input.output(Route::Finalize)
        };
        if batch.remaining > 0 && !stuck {
            out.again(Route::StagePublish, config.delay_between_batches_seconds);
        }
        let delay = if out.next == Route::Delay { DELAY_EVENTS } else { 0 };
        let events = call.task_events(false) + CHOICE_EVENTS + delay;
        let done = out.next == Route::Finalize;
        self.record_publish_batch(input, call, events, config.publish, &began, &batch, done).await?;
        Ok(out)
    }

    /// Adds a batch's tallies to the run's `publishing` and logs them.
    #[allow(clippy::too_many_arguments)]
    async fn record_publish_batch(
        &self,
        input: &StepInput,
        call: &TaskCall,
        events: u64,
        mode: PublishAfterRun,
        began: &str,
        batch: &RunPublishBatch,
        done: bool,
    ) -> Result<(), AutomationError> {
        let now = rfc3339(self.now());
        let (run, progress) = self
            .modify(&input.run_id, |run| {
                add_events(run, call, events);
                run.current_stage = PUBLISH_STAGE;
                let p = run.publishing.get_or_insert_with(PublishProgress::default);
                p.mode = mode;
                p.attempted += u64::from(batch.attempted);
                p.published += u64::from(batch.published);
                p.failed += u64::from(batch.failed);
                p.remaining = batch.remaining;
                p.batches += 1;
                p.started_at.get_or_insert_with(|| began.to_owned());
                if done && p.completed_at.is_none() {
                    p.completed_at = Some(now.clone());
                }
                Ok(p.clone())
            })
            .await?;
        let RunPublishBatch { attempted, published, failed, remaining } = batch;
        let line = format!(
            "publishing batch {}: {attempted} attempted, {published} published, {failed} failed, {remaining} waiting",
            progress.batches
        );
        let data = json!({
            "stage": PUBLISH_STAGE, "attempted": attempted, "published": published, "failed": failed,
            "remaining": remaining,
        });
        let completed = done.then(|| {
            format!(
                "publishing completed: {} published, {} failed, {} left waiting",
                progress.published, progress.failed, progress.remaining
            )
        });
        self.log_side_batch(&run, &line, data, completed).await?;
        Ok(())
    }
}
