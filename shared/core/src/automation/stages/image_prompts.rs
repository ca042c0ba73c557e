//! Stage 5, articles → image prompts: one paid call per article (none when the config
//! wants no images), priced per prompt; each prompt becomes a pending image record. An
//! article the model gives invalid prompts for moves to `prompts_failed` (kept, no
//! images).

use super::{or_invalid, units, BatchOutcome, Bill, StageContext, StageWork};
use crate::automation::error::AutomationError;
use crate::automation::service::Inner;
use crate::domain::Operation;
use crate::domain::{Content, ContentStatus, ImageId, ImageRecord, ImageStatus, Stage};
use crate::ports::WriteOp;
use crate::repo::Records;
use igny8_ai::{ArticleOut, ImagePromptOut};

/// Stage 5.
pub(in crate::automation) struct ImagePrompts;

impl StageWork for ImagePrompts {
    const STAGE: Stage = Stage::ImagePrompts;
    const ITEM: &'static str = "article";
    const INPUT_STATUS: &'static str = "draft";
    const OPERATION: Option<Operation> = Some(Operation::ImagePromptExtraction);
    type Input = Content;

    fn inputs(inner: &Inner) -> &Records<Content> {
        &inner.contents
    }

    async fn process(ctx: &StageContext<'_>, batch: Vec<Content>) -> Result<BatchOutcome, AutomationError> {
        let mut outcome = BatchOutcome::default();
        let now = ctx.now();
        for content in batch {
            let (prompts, credits) = match or_invalid(extract(ctx, &content).await)? {
                Ok(done) => done,
                Err(why) => {
                    ctx.fail_input::<ImagePrompts>(
                        &Content { status: ContentStatus::PromptsFailed, ..content },
                        &why,
                        &mut outcome,
                    )
                    .await?;
                    continue;
                }
            };
            let writes = outputs(ctx, content, &prompts, &now)?;
            ctx.apply(writes).await?;
            outcome.processed += 1;
            outcome.created += prompts.len() as u64;
            outcome.credits += credits;
        }
        Ok(outcome)
    }
}

/// The AI call: up to `images_per_article` prompts for the article, paid per prompt.
async fn extract(ctx: &StageContext<'_>, content: &Content) -> Result<(Vec<ImagePromptOut>, i64), AutomationError> {
    let max = ctx.config.images_per_article as usize;
    if max == 0 {
        return Ok((Vec::new(), 0));
    }
    let article = ArticleOut {
        title: content.title.clone(),
        html: content.html.clone(),
        word_count: content.word_count,
        meta_description: content.meta_description.clone(),
    };
    let bill = Bill::of::<ImagePrompts>(content.id.to_string(), units(max))?;
    let ai = &ctx.inner().ports.ai;
    ctx.paid(bill, ai.generate_image_prompts(&article, max), |p: &Vec<ImagePromptOut>| units(p.len())).await
}

/// The outputs: a pending image per prompt (id from the article and position), the
/// article moved to `prompts_ready`.
fn outputs(
    ctx: &StageContext<'_>,
    content: Content,
    prompts: &[ImagePromptOut],
    now: &str,
) -> Result<Vec<WriteOp>, AutomationError> {
    let (i, run) = (ctx.inner(), &ctx.run);
    let mut writes = Vec::new();
    for (n, p) in prompts.iter().enumerate() {
        let image = ImageRecord {
            id: ImageId::derive(&format!("{}/{n}", content.id)),
            account_id: run.account_id.clone(),
            site_id: run.site_id.clone(),
            content_id: content.id.clone(),
            run_id: run.id.clone(),
            prompt: p.prompt.clone(),
            alt_text: p.alt_text.clone(),
            placement: p.placement.clone(),
            heading: Some(p.heading.clone()),
            status: ImageStatus::Pending,
            blob_key: None,
            created_at: now.to_owned(),
        };
        writes.push(i.images.create(&image)?);
    }
    let ready = Content { status: ContentStatus::PromptsReady, ..content };
    writes.push(i.contents.transition(&ready, ImagePrompts::INPUT_STATUS)?);
    Ok(writes)
}
