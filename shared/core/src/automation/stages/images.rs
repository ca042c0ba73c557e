//! Stage 6, the image fan-out: one queue job per image; the last job of a run
//! completes the stage.
//!
//! `queue_images` runs as a `.waitForTaskToken` task: it records the token and the
//! number of images the stage waits for on the run, then enqueues the jobs. Each job
//! (`image_job`) is paid with a key per image (a retried job never pays twice),
//! renders the PNG into the blob store and, in one transaction, marks the image
//! generated and adds one to the run's `images_finished` — so a replayed job counts
//! once. The job that brings `images_finished` to `images_queued` claims the token
//! (a conditional update only one job can win) and sends it.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::BatchOutcome;
use crate::automation::error::AutomationError;
use crate::automation::history::{TaskCall, CHOICE_EVENTS};
use crate::automation::route::Route;
use crate::automation::service::{to_json, AutomationService};
use crate::automation::step::{add_events, Gate, StepInput};
use crate::billing::ChargeRequest;
use crate::domain::Operation;
use crate::domain::{
    AccountId, ImageId, ImageRecord, ImageStatus, RunId, SiteId, Stage, TransactionKind, UsageDetails,
};
use crate::ports::clock::rfc3339;
use crate::ports::queue::QueueMessage;
use crate::repo::pipeline::transact_counted;
use crate::repo::RepoError;

/// Queue the image jobs of stage 6 go to unless the service is told another
/// ([`AutomationService::set_image_queue`]; on AWS from `IGNY8_IMAGE_QUEUE`).
pub const IMAGE_QUEUE: &str = "igny8-images";
/// Dead-letter queue of image jobs.
pub const IMAGE_DLQ: &str = "igny8-images-dlq";
/// Receives before an image job is dead-lettered (and its image marked failed).
pub const IMAGE_MAX_RECEIVES: u32 = 3;

/// The status (as stored) of images waiting for a job.
pub(in crate::automation) const INPUT_STATUS: &str = "pending";
/// The status (as stored) of images whose job is on the queue.
pub(in crate::automation) const QUEUED_STATUS: &str = "queued";
/// The credit operation an image is charged as.
pub(in crate::automation) const OPERATION: Operation = Operation::ImageGeneration;

/// One image job on the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageJob {
    /// The run.
    pub run_id: RunId,
    /// Its tenant.
    pub account_id: AccountId,
    /// Its site.
    pub site_id: SiteId,
    /// The image to render.
    pub image_id: ImageId,
}

/// What happened to one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOutcome {
    /// The image was rendered now.
    Generated,
    /// Already done by an earlier delivery: nothing written.
    AlreadyDone,
    /// Given up after the last allowed delivery: image failed, credits refunded.
    GaveUp,
}

/// Default image size.
const WIDTH: u32 = 1024;
const HEIGHT: u32 = 576;

impl AutomationService {
    /// Names the queue stage 6 sends image jobs to (once, at wiring): the deployed
    /// queue's name comes from configuration, not from a constant.
    pub fn set_image_queue(&self, queue: impl Into<String>) {
        // A second naming is ignored, as for the workflow: jobs already sent stay put.
        let _ = self.inner.image_queue.set(queue.into());
    }

    /// The queue stage 6 sends image jobs to ([`IMAGE_QUEUE`] unless named).
    pub fn image_queue(&self) -> &str {
        self.inner.image_queue.get().map_or(IMAGE_QUEUE, String::as_str)
    }

    /// Stage 6's task: records the token and the images to wait for, enqueues them. A
    /// pause asked for before the stage began waits in the pause wait, like any other
    /// stage's (resume comes back here).
    pub async fn queue_images(&self, input: &StepInput, call: &TaskCall) -> Result<Value, AutomationError> {
        let token =
            input.task_token.clone().ok_or_else(|| AutomationError::Invalid("stage 6 needs a task token".into()))?;
        let i = &self.inner;
        let ctx = match self.gate(input, call, Route::StageImages, true).await? {
            Gate::Go(ctx) => ctx,
            Gate::Stop(route) => {
                self.workflow()?.send_task_success(&token, to_json(&route)?).await?;
                return Ok(json!({}));
            }
        };
        // Only the images still to render, from the status index: not the site's history.
        let site = &ctx.run.site_id;
        let mut outstanding = i.images.all_in_status(site, INPUT_STATUS).await?;
        outstanding.extend(i.images.all_in_status(site, QUEUED_STATUS).await?);
        let count = i64::try_from(outstanding.len()).unwrap_or(i64::MAX);
        let began = rfc3339(self.now());
        let (run, ()) = self
            .modify(&ctx.run.id, |r| {
                add_events(r, call, call.task_events(true) + CHOICE_EVENTS);
                // Stage 6 starts now; its one progress record comes when the last job ends.
                let result = r.stages.entry(Stage::Images.number()).or_default();
                result.started_at.get_or_insert_with(|| began.clone());
                r.images_token = Some(token.clone());
                r.images_queued = r.images_finished + count;
                r.current_stage = Stage::Images.number();
                Ok(())
            })
            .await?;
        let log = Self::run_log(&run);
        i.logger.line(&log, Some(Stage::Images), &format!("queued {count} image jobs")).await?;
        self.send_jobs(&run.id, &run.account_id, &run.site_id, &outstanding).await?;
        let mut writes = Vec::new();
        for im in outstanding.into_iter().filter(|im| im.status == ImageStatus::Pending) {
            writes.push(i.images.transition(&ImageRecord { status: ImageStatus::Queued, ..im }, INPUT_STATUS)?);
        }
        // The fence is the one the gate read; the run's other fields are not written.
        ctx.apply(writes).await?;
        self.complete_images_if_done(&run.id).await?;
        Ok(json!({}))
    }

    /// One queue message per image, in batches of ten (SQS's limit).
    async fn send_jobs(
        &self,
        run: &RunId,
        account: &AccountId,
        site: &SiteId,
        images: &[ImageRecord],
    ) -> Result<(), AutomationError> {
        let bodies: Vec<String> = images
            .iter()
            .map(|im| {
                serde_json::to_string(&ImageJob {
                    run_id: run.clone(),
                    account_id: account.clone(),
                    site_id: site.clone(),
                    image_id: im.id.clone(),
                })
                .map_err(|e| AutomationError::Invalid(e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        for chunk in bodies.chunks(10) {
            self.inner.ports.queue.send_batch(self.image_queue(), chunk.to_vec()).await?;
        }
        Ok(())
    }

    /// Handles a batch of queue messages concurrently; returns the ids of those to retry
    /// (a job that failed or whose task stopped).
    pub async fn image_jobs(&self, messages: &[QueueMessage]) -> Vec<String> {
        let running: Vec<_> = messages
            .iter()
            .map(|m| {
                let (service, m) = (self.clone(), m.clone());
                let id = m.id.clone();
                let task = tokio::spawn(async move {
                    match serde_json::from_str::<ImageJob>(&m.body) {
                        Ok(job) => service.image_job(&job, m.receive_count).await.map(drop),
                        Err(e) => Err(AutomationError::Invalid(format!("malformed image job: {e}"))),
                    }
                });
                (id, task)
            })
            .collect();
        let mut failed = Vec::new();
        for (id, task) in running {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(message_id = %id, error = %e, "image job failed");
                    failed.push(id);
                }
                Err(e) => {
                    tracing::error!(message_id = %id, error = %e, "image job task stopped");
                    failed.push(id);
                }
            }
        }
        failed
    }

    /// Renders one image (or recognises it was done) and counts it on the run.
    pub async fn image_job(&self, job: &ImageJob, receive_count: u32) -> Result<JobOutcome, AutomationError> {
        let i = &self.inner;
        let Some(image) = i.images.get(&job.site_id, job.image_id.as_str()).await? else {
            return Ok(JobOutcome::AlreadyDone);
        };
        if image.account_id != job.account_id || image.run_id != job.run_id {
            return Err(AutomationError::Invalid("image job does not match its image".into()));
        }
        if matches!(image.status, ImageStatus::Generated | ImageStatus::Failed) {
            // A redelivered job whose first delivery finished the image but failed to
            // send stage 6's token (a throttled engine) sends it now.
            self.complete_images_if_done(&job.run_id).await?;
            return Ok(JobOutcome::AlreadyDone);
        }
        let key = format!("{}/6/{}", job.run_id, job.image_id);
        match self.render(job, &image, &key).await {
            Ok(outcome) => Ok(outcome),
            // An invalid answer is not retried by redelivery: the provider already
            // retried it, and another attempt would most likely be invalid too.
            Err(e)
                if receive_count >= IMAGE_MAX_RECEIVES
                    || matches!(&e, AutomationError::Ai(ai) if ai.invalid_output().is_some()) =>
            {
                self.give_up(job, &image, &key, &e.to_string()).await?;
                Ok(JobOutcome::GaveUp)
            }
            Err(e) => Err(e),
        }
    }

    async fn render(&self, job: &ImageJob, image: &ImageRecord, key: &str) -> Result<JobOutcome, AutomationError> {
        let i = &self.inner;
        let charge = ChargeRequest {
            usage: Some(UsageDetails {
                run_id: Some(job.run_id.to_string()),
                stage: Some(6),
                ..UsageDetails::default()
            }),
            reason: Some("stage 6 images".into()),
            reference: Some(job.run_id.to_string()),
            ..ChargeRequest::operation(job.account_id.clone(), OPERATION.as_str(), 1).with_key(key)
        };
        i.credits.charge(charge).await?;
        let (png, _usage) = i.ports.ai.generate_image(&image.prompt, WIDTH, HEIGHT).await?;
        let blob_key = format!("images/{}/{}/{}.png", job.account_id, job.site_id, job.image_id);
        i.ports.blobs.put(&blob_key, png.png, "image/png").await?;
        let done = ImageRecord { status: ImageStatus::Generated, blob_key: Some(blob_key), ..image.clone() };
        self.finish_image(job, image.status, done).await
    }

    async fn give_up(
        &self,
        job: &ImageJob,
        image: &ImageRecord,
        key: &str,
        error: &str,
    ) -> Result<(), AutomationError> {
        let i = &self.inner;
        // Give back what this image was charged, if it was, once.
        if let Some(paid) = i.credits.charged_with_key(&job.account_id, key).await? {
            i.credits
                .add(
                    &job.account_id,
                    -paid.amount,
                    TransactionKind::Refund,
                    "image generation failed",
                    Some(job.run_id.to_string()),
                    Some(format!("{key}/refund")),
                )
                .await?;
        }
        let failed = ImageRecord { status: ImageStatus::Failed, ..image.clone() };
        self.finish_image(job, image.status, failed).await?;
        let run = i.runs.get(&job.run_id).await?.ok_or_else(|| AutomationError::RunNotFound(job.run_id.clone()))?;
        i.logger
            .line(&Self::run_log(&run), Some(Stage::Images), &format!("image {} failed: {error}", job.image_id))
            .await?;
        Ok(())
    }

    async fn finish_image(
        &self,
        job: &ImageJob,
        before: ImageStatus,
        after: ImageRecord,
    ) -> Result<JobOutcome, AutomationError> {
        let i = &self.inner;
        // The move names the status it leaves, so the status counters follow it. Stage 6
        // may move the image from pending to queued while this job runs: then read it
        // again and move it from there.
        let mut from = before;
        loop {
            let writes = vec![
                i.images.transition(&after, if from == ImageStatus::Pending { INPUT_STATUS } else { QUEUED_STATUS })?,
                i.runs.image_finished_write(&job.run_id),
            ];
            match transact_counted(&*i.ports.store, writes).await {
                Ok(()) => break,
                Err(RepoError::Store(e)) if e.failed_at(0) => {
                    match i.images.get(&job.site_id, job.image_id.as_str()).await?.map(|im| im.status) {
                        Some(now @ (ImageStatus::Pending | ImageStatus::Queued)) if now != from => from = now,
                        _ => return Ok(JobOutcome::AlreadyDone),
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.complete_images_if_done(&job.run_id).await?;
        Ok(if after.status == ImageStatus::Generated { JobOutcome::Generated } else { JobOutcome::GaveUp })
    }

    /// Sends stage 6's token once every queued image is finished; only one caller wins.
    async fn complete_images_if_done(&self, run_id: &RunId) -> Result<(), AutomationError> {
        let i = &self.inner;
        let Some(run) = i.runs.get(run_id).await? else { return Ok(()) };
        let Some(token) = run.images_token.clone() else { return Ok(()) };
        if run.images_finished < run.images_queued {
            return Ok(());
        }
        if !i.runs.claim_images_token(run_id, &token).await? {
            return Ok(());
        }
        let input = StepInput {
            run_id: run.id.clone(),
            account_id: run.account_id.clone(),
            site_id: run.site_id.clone(),
            task_token: None,
        };
        let remaining = super::waiting(i, &run.site_id, Stage::Images).await?;
        let stage_out = BatchOutcome {
            processed: u64::try_from(run.images_finished).unwrap_or(0),
            created: u64::try_from(run.images_finished).unwrap_or(0),
            credits: 0,
            words: 0,
            failed: 0,
        };
        // The stage's start was recorded when its jobs were queued.
        let now = rfc3339(self.now());
        self.record_batch(&input, Stage::Images, &now, stage_out, remaining, None).await?;
        let next = if run.cancel_requested { Route::Cancelled } else { self.after_images(&run).await? };
        if let Err(e) = self.workflow()?.send_task_success(&token, to_json(&input.output(next))?).await {
            // Give the claim back so the job's redelivery sends the token again; a
            // token the engine no longer knows has nothing left to wait for it.
            if e.is_transient() {
                self.modify(run_id, |r| {
                    if r.images_token.is_none() && !r.status.is_final() {
                        r.images_token = Some(token.clone());
                    }
                    Ok(())
                })
                .await?;
                return Err(e.into());
            }
            tracing::warn!(run = %run_id, error = %e, "stage 6 token not accepted");
        }
        Ok(())
    }
}
