//! The linking stage after content (issue 13, "linker service … as a run stage"): when
//! the site's config links articles (the default), the run gives each of its articles
//! internal links to the site's other articles — those of this run and earlier ones —
//! in batches of the config's `link_batch_size`, before image prompts.
//!
//! Each batch is one task of the state machine (`StageLink`, the stage-link function),
//! like a stage step: it passes the same gate (pause, cancel, lock, history budget),
//! calls [`LinkingService::link_run_batch`](crate::linking::LinkingService::link_run_batch),
//! records the tallies on the run's `linking` and routes back to itself while articles
//! remain, then to image prompts. Linking costs no credits and calls no AI: a replayed
//! batch finds its articles already stamped `linked_at` and changes nothing.

use serde_json::json;

use super::error::AutomationError;
use super::history::{TaskCall, CHOICE_EVENTS, DELAY_EVENTS};
use super::route::Route;
use super::service::AutomationService;
use super::step::{add_events, Gate, StepInput, StepOutput};
use crate::domain::{LinkProgress, Stage, LINK_STAGE};
use crate::linking::{LinkError, RunLinkBatch};
use crate::ports::clock::rfc3339;

impl From<LinkError> for AutomationError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Repo(e) => Self::Repo(e),
            // The run's site is gone (or is no longer its account's).
            LinkError::NotFound(_) => Self::SiteNotFound,
        }
    }
}

impl AutomationService {
    /// One batch of the linking stage as the state machine's task (see the module
    /// docs): the run goes on linking while its articles wait, then to image prompts.
    pub async fn link_step(&self, input: &StepInput, call: &TaskCall) -> Result<StepOutput, AutomationError> {
        let ctx = match self.gate(input, call, Route::StageLink, false).await? {
            Gate::Go(ctx) => ctx,
            Gate::Stop(route) => return Ok(route),
        };
        let (run, config) = (&ctx.run, &ctx.config);
        let after = Route::stage(Stage::ImagePrompts);
        if !config.link_articles {
            // Linking was switched off after the content stage ended: nothing to link.
            let line = "linking switched off in the site's config: articles left unlinked";
            return self.skip_side_stage(input, call, run, line, after).await;
        }
        let began = rfc3339(self.now());
        let limit = config.link_batch_size.max(1);
        let batch = self.inner.linking.link_run_batch(&run.account_id, &run.site_id, &run.id, limit).await?;
        // A batch that settled nothing and left as many waiting as before cannot get
        // further (every waiting article kept changing under it): the stage ends, the
        // articles stay unlinked for a later `links apply`.
        let stuck =
            batch.linked == 0 && run.linking.as_ref().is_some_and(|p| p.batches > 0 && p.remaining <= batch.remaining);
        let mut out = StepOutput {
            stage: LINK_STAGE,
            processed: u64::from(batch.linked),
            remaining: batch.remaining,
            ..input.output(after)
        };
        if batch.remaining > 0 && !stuck {
            out.again(Route::StageLink, config.delay_between_batches_seconds);
        }
        let delay = if out.next == Route::Delay { DELAY_EVENTS } else { 0 };
        let events = call.task_events(false) + CHOICE_EVENTS + delay;
        let done = out.next == after;
        self.record_link_batch(input, call, events, &began, &batch, done).await?;
        Ok(out)
    }

    /// Adds a batch's tallies to the run's `linking` and logs them.
    async fn record_link_batch(
        &self,
        input: &StepInput,
        call: &TaskCall,
        events: u64,
        began: &str,
        batch: &RunLinkBatch,
        done: bool,
    ) -> Result<(), AutomationError> {
        let now = rfc3339(self.now());
        let (run, progress) = self
            .modify(&input.run_id, |run| {
                add_events(run, call, events);
                run.current_stage = LINK_STAGE;
                let p = run.linking.get_or_insert_with(LinkProgress::default);
                p.linked += u64::from(batch.linked);
                p.links_added += u64::from(batch.links_added);
                p.remaining = batch.remaining;
                p.batches += 1;
                p.started_at.get_or_insert_with(|| began.to_owned());
                if done && p.completed_at.is_none() {
                    p.completed_at = Some(now.clone());
                }
                Ok(p.clone())
            })
            .await?;
        let RunLinkBatch { linked, links_added, remaining } = batch;
        let line = format!(
            "linking batch {}: {linked} articles linked, {links_added} links added, {remaining} waiting",
            progress.batches
        );
        let data = json!({
            "stage": LINK_STAGE, "linked": linked, "links_added": links_added, "remaining": remaining,
        });
        let completed = done.then(|| {
            format!(
                "linking completed: {} articles linked, {} links added, {} left unlinked",
                progress.linked, progress.links_added, progress.remaining
            )
        });
        self.log_side_batch(&run, &line, data, completed).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::automation::control::resume_route;
    use crate::domain::{AccountId, AutomationRun, RunId, SiteId, PUBLISH_STAGE};
    use crate::ports::StoreError;
    use crate::repo::RepoError;

    fn run_in(stage: u8) -> AutomationRun {
        serde_json::from_value(json!({
            "id": RunId::derive("r"), "account_id": AccountId::derive("a"), "site_id": SiteId::derive("s"),
            "status": "paused",
            "current_stage": stage, "trigger": "manual", "fence": 1, "estimated_credits": 0,
            "credits_used": 0, "stages": {}, "pause_requested": false, "cancel_requested": false,
            "images_queued": 0, "images_finished": 0, "started_at": "2026-12-02T00:00:00Z",
        }))
        .expect("a run")
    }

    #[test]
    fn a_run_paused_while_linking_resumes_in_the_linking_stage() {
        assert_eq!(resume_route(&run_in(LINK_STAGE)), Route::StageLink);
        assert_eq!(resume_route(&run_in(PUBLISH_STAGE)), Route::StagePublish);
        assert_eq!(resume_route(&run_in(4)), Route::StageContent);
    }

    #[test]
    fn a_linker_error_keeps_its_meaning_in_the_run() {
        let gone: AutomationError = LinkError::NotFound("site site_x".into()).into();
        assert_eq!(gone.code(), "not_found");
        let throttled: AutomationError = LinkError::Repo(RepoError::Store(StoreError::Throttled)).into();
        assert_eq!(throttled.error_name(), "Igny8.Throttled", "a throttled store is retried by the state machine");
    }
}
