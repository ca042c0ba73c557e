//! The stage steps: each does one batch of its stage and says where to go next.
//!
//! Every AI call is paid for before it runs: a hold of the expected cost (keyed by
//! run/stage/item, so a replayed step finds the same hold), settled to the actual
//! cost after the call, released if the call fails. Outputs have ids derived from
//! their inputs and are written with "must not exist" conditions, inputs move on with
//! "still in the old status" conditions, and every write carries the run's lock fence
//! — so a replayed step neither duplicates records nor charges twice, and a run that
//! lost its lock cannot write.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use super::error::AutomationError;
use super::service::{stage_route, AutomationService, BatchOutcome, StepInput, StepOutput};
use crate::billing::CreditError;
use crate::domain::{
    AutomationConfig, AutomationRun, Cluster, ClusterId, ClusterStatus, Content, ContentId, ContentStatus, Idea,
    IdeaId, IdeaStatus, ImageId, ImageRecord, ImageStatus, KeywordId, KeywordStatus, Stage, TaskId, TaskStatus,
    UsageDetails, WriterTask,
};
use crate::ports::clock::rfc3339;
use crate::ports::{StoreError, WriteOp};
use igny8_ai::{ArticleOut, ClusterOptions, ClusterOut, IdeaOut, KeywordInput, Usage};

/// Writes per transaction, leaving room for the fence guard.
const CHUNK: usize = 90;

fn digest<'a>(ids: impl Iterator<Item = &'a str>) -> String {
    let mut h = DefaultHasher::new();
    for id in ids {
        id.hash(&mut h);
    }
    format!("{:016x}", h.finish())
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

/// What a paid AI call is: its stage, the item it works on (part of the idempotency
/// key `<run>/<stage>/<item>`), the operation priced, and the units expected.
struct Bill<'a> {
    stage: Stage,
    item: String,
    operation: &'a str,
    estimate_units: i64,
}

fn units(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl AutomationService {
    /// One batch of stages 1–5 (stage 6 goes through [`AutomationService::queue_images`]).
    pub async fn step(&self, input: &StepInput, stage: Stage) -> Result<StepOutput, AutomationError> {
        let run = match self.before_batch(input).await? {
            Ok(run) => run,
            Err(route) => return Ok(route),
        };
        let config = self.config(&run.account_id, &run.site_id).await?;
        let outcome = match stage {
            Stage::Clusters => self.cluster_batch(&run, &config).await?,
            Stage::Ideas => self.ideas_batch(&run, &config).await?,
            Stage::Tasks => self.tasks_batch(&run, &config).await?,
            Stage::Content => self.content_batch(&run, &config).await?,
            Stage::ImagePrompts => self.prompts_batch(&run, &config).await?,
            Stage::Images => return Err(AutomationError::Invalid("stage 6 runs through the image queue".into())),
        };
        let remaining = self.waiting(&run, stage).await?;
        if outcome.processed == 0 && remaining > 0 {
            return Err(AutomationError::Stalled { stage: stage.number(), remaining });
        }
        self.record_batch(input, stage, outcome, remaining).await?;
        let mut out =
            StepOutput { stage: stage.number(), processed: outcome.processed, remaining, ..input_output(input) };
        if remaining > 0 {
            if config.delay_between_batches_seconds > 0 {
                out.next = "delay".into();
                out.then = Some(stage_route(stage));
                out.delay_seconds = config.delay_between_batches_seconds;
            } else {
                out.next = stage_route(stage);
            }
        } else {
            out.next = stage.next().map_or_else(|| "finalize".to_owned(), stage_route);
        }
        Ok(out)
    }

    /// Items waiting for a stage on the run's site.
    pub(crate) async fn waiting(&self, run: &AutomationRun, stage: Stage) -> Result<u64, AutomationError> {
        let i = &self.inner;
        let site = &run.site_id;
        Ok(match stage {
            Stage::Clusters => i.keywords.count_in_status(site, "new").await?,
            Stage::Ideas => i.clusters.count_in_status(site, "new").await?,
            Stage::Tasks => i.ideas.count_in_status(site, "new").await?,
            Stage::Content => i.tasks.count_in_status(site, "queued").await?,
            Stage::ImagePrompts => i.contents.count_in_status(site, "draft").await?,
            Stage::Images => i.images.count_in_status(site, "pending").await?,
        })
    }

    /// Applies writes in fenced chunks; a write whose condition already failed
    /// (created or moved on by an earlier attempt) is skipped, a lost fence is fatal.
    pub(crate) async fn apply(&self, run: &AutomationRun, writes: Vec<WriteOp>) -> Result<(), AutomationError> {
        let store = &self.inner.ports.store;
        let guard = || self.inner.locks.fence_guard(&run.site_id, run.id.as_str(), run.fence);
        for chunk in writes.chunks(CHUNK) {
            let mut ops = vec![guard()];
            ops.extend(chunk.iter().cloned());
            match store.transact(ops).await {
                Ok(()) => {}
                Err(e) if e.failed_at(0) => return Err(AutomationError::LockLost("fence check failed".into())),
                Err(StoreError::ConditionFailed(_)) => {
                    for op in chunk {
                        match store.transact(vec![guard(), op.clone()]).await {
                            Ok(()) => {}
                            Err(e) if e.failed_at(0) => {
                                return Err(AutomationError::LockLost("fence check failed".into()))
                            }
                            Err(StoreError::ConditionFailed(_)) => {}
                            Err(e) => return Err(e.into()),
                        }
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Runs one paid AI call: hold `estimate` credits, call, settle to the actual cost
    /// (`actual` computed from the result), or release the hold if the call fails.
    async fn paid<T, Fut>(
        &self,
        run: &AutomationRun,
        bill: Bill<'_>,
        call: Fut,
        actual_units: impl FnOnce(&T) -> i64,
    ) -> Result<(T, i64), AutomationError>
    where
        Fut: std::future::Future<Output = Result<(T, Usage), igny8_ai::AiError>>,
    {
        let Bill { stage, item, operation, estimate_units } = bill;
        let key = format!("{}/{}/{item}", run.id, stage.number());
        let credits = &self.inner.credits;
        // One read of the operation's price serves the hold and the settle (before, each
        // priced itself: a second GetItem of the same item per AI call on DynamoDB).
        let price = credits.cost_config(operation).await?;
        let cost = |units: i64| price.cost_for(units).ok_or(CreditError::InvalidUnits(units));
        let estimate = cost(estimate_units.max(1))?;
        let reason = format!("stage {} {}", stage.number(), stage.name());
        let hold = credits
            .hold(&run.account_id, estimate, &reason, Some(run.id.to_string()), Some(format!("{key}/hold")))
            .await?;
        let (value, u) = match call.await {
            Ok(done) => done,
            Err(e) => {
                credits.release(&run.account_id, &hold.id).await?;
                return Err(e.into());
            }
        };
        let n = actual_units(&value);
        if n <= 0 {
            credits.release(&run.account_id, &hold.id).await?;
            return Ok((value, 0));
        }
        let actual = cost(n)?;
        let receipt =
            credits.settle(&run.account_id, &hold.id, actual, Some(usage(run, stage, operation, n, &u))).await?;
        Ok((value, -receipt.transaction.amount))
    }

    async fn cluster_batch(
        &self,
        run: &AutomationRun,
        config: &AutomationConfig,
    ) -> Result<BatchOutcome, AutomationError> {
        let i = &self.inner;
        let batch = i.keywords.in_status(&run.site_id, "new", config.batch_size(Stage::Clusters) as usize).await?;
        if batch.is_empty() {
            return Ok(BatchOutcome::default());
        }
        let inputs: Vec<KeywordInput> = batch
            .iter()
            .map(|k| KeywordInput {
                keyword: k.keyword.clone(),
                volume: k.volume,
                difficulty: k.difficulty,
                cpc: k.cpc,
                intent: k.intent.clone(),
            })
            .collect();
        let bill = Bill {
            stage: Stage::Clusters,
            item: digest(batch.iter().map(|k| k.id.as_str())),
            operation: "clustering",
            estimate_units: 1,
        };
        let ai = &i.ports.ai;
        let (clusters, credits) =
            self.paid(run, bill, ai.cluster_keywords(&inputs, &ClusterOptions::default()), |_| 1).await?;
        let now = rfc3339(self.now());
        let mut writes = Vec::new();
        for c in &clusters {
            let members: Vec<_> = c.keywords.iter().filter_map(|&idx| batch.get(idx)).collect();
            if members.is_empty() {
                continue;
            }
            let id = ClusterId::derive(&format!("{}/{}", run.id, digest(members.iter().map(|k| k.id.as_str()))));
            let cluster = Cluster {
                id: id.clone(),
                account_id: run.account_id.clone(),
                site_id: run.site_id.clone(),
                run_id: run.id.clone(),
                name: c.name.clone(),
                pillar_keyword: c.pillar_keyword.clone(),
                keyword_ids: members.iter().map(|k| k.id.clone()).collect(),
                intent: c.intent.clone(),
                total_volume: c.total_volume,
                description: c.description.clone(),
                status: ClusterStatus::New,
                created_at: now.clone(),
            };
            writes.push(i.clusters.create(&cluster)?);
            for k in members {
                let moved = crate::domain::Keyword {
                    status: KeywordStatus::Clustered,
                    cluster_id: Some(id.clone()),
                    ..k.clone()
                };
                writes.push(i.keywords.transition(&moved, "new")?);
            }
        }
        let created = units(clusters.len()) as u64;
        self.apply(run, writes).await?;
        Ok(BatchOutcome { processed: batch.len() as u64, created, credits, words: 0 })
    }

    async fn ideas_batch(
        &self,
        run: &AutomationRun,
        config: &AutomationConfig,
    ) -> Result<BatchOutcome, AutomationError> {
        let i = &self.inner;
        let batch = i.clusters.in_status(&run.site_id, "new", config.batch_size(Stage::Ideas) as usize).await?;
        let mut outcome = BatchOutcome::default();
        let now = rfc3339(self.now());
        // One batch read for the keywords of every cluster of this step, not one read
        // per keyword (nor per cluster); a keyword deleted since clustering is skipped.
        let wanted: Vec<KeywordId> = batch.iter().flat_map(|c| c.keyword_ids.iter().cloned()).collect();
        let mut read = i.keywords.get_many(&run.site_id, &wanted).await?.into_iter();
        for cluster in batch {
            let keywords: Vec<KeywordInput> = read
                .by_ref()
                .take(cluster.keyword_ids.len())
                .flatten()
                .map(|k| KeywordInput {
                    keyword: k.keyword,
                    volume: k.volume,
                    difficulty: k.difficulty,
                    cpc: k.cpc,
                    intent: k.intent,
                })
                .collect();
            let out = ClusterOut {
                name: cluster.name.clone(),
                pillar_keyword: cluster.pillar_keyword.clone(),
                keywords: (0..keywords.len()).collect(),
                intent: cluster.intent.clone(),
                total_volume: cluster.total_volume,
                description: cluster.description.clone(),
            };
            let count = config.ideas_per_cluster as usize;
            let bill = Bill {
                stage: Stage::Ideas,
                item: cluster.id.to_string(),
                operation: "idea_generation",
                estimate_units: units(count),
            };
            let (ideas, credits) = self
                .paid(run, bill, i.ports.ai.generate_ideas(&out, &keywords, count), |v: &Vec<IdeaOut>| units(v.len()))
                .await?;
            let mut writes = Vec::new();
            for (n, idea) in ideas.iter().enumerate() {
                let record = Idea {
                    id: IdeaId::derive(&format!("{}/{n}", cluster.id)),
                    account_id: run.account_id.clone(),
                    site_id: run.site_id.clone(),
                    cluster_id: cluster.id.clone(),
                    run_id: run.id.clone(),
                    title: idea.title.clone(),
                    outline: idea.outline.clone(),
                    target_keyword: idea.target_keyword.clone(),
                    secondary_keywords: idea.secondary_keywords.clone(),
                    word_target: idea.word_target,
                    content_type: idea.content_type.clone(),
                    status: IdeaStatus::New,
                    created_at: now.clone(),
                };
                writes.push(i.ideas.create(&record)?);
            }
            let done = Cluster { status: ClusterStatus::IdeasGenerated, ..cluster };
            writes.push(i.clusters.transition(&done, "new")?);
            self.apply(run, writes).await?;
            outcome.processed += 1;
            outcome.created += ideas.len() as u64;
            outcome.credits += credits;
        }
        Ok(outcome)
    }

    async fn tasks_batch(
        &self,
        run: &AutomationRun,
        config: &AutomationConfig,
    ) -> Result<BatchOutcome, AutomationError> {
        let i = &self.inner;
        let batch = i.ideas.in_status(&run.site_id, "new", config.batch_size(Stage::Tasks) as usize).await?;
        let now = rfc3339(self.now());
        let mut writes = Vec::new();
        for idea in &batch {
            let task = WriterTask {
                id: TaskId::derive(idea.id.as_str()),
                account_id: run.account_id.clone(),
                site_id: run.site_id.clone(),
                idea_id: idea.id.clone(),
                run_id: run.id.clone(),
                status: TaskStatus::Queued,
                created_at: now.clone(),
            };
            writes.push(i.tasks.create(&task)?);
            writes.push(i.ideas.transition(&Idea { status: IdeaStatus::Queued, ..idea.clone() }, "new")?);
        }
        self.apply(run, writes).await?;
        Ok(BatchOutcome { processed: batch.len() as u64, created: batch.len() as u64, credits: 0, words: 0 })
    }

    async fn content_batch(
        &self,
        run: &AutomationRun,
        config: &AutomationConfig,
    ) -> Result<BatchOutcome, AutomationError> {
        let i = &self.inner;
        let batch = i.tasks.in_status(&run.site_id, "queued", config.batch_size(Stage::Content) as usize).await?;
        let mut outcome = BatchOutcome::default();
        let now = rfc3339(self.now());
        for task in batch {
            let idea =
                i.ideas.get(&run.site_id, task.idea_id.as_str()).await?.ok_or_else(|| {
                    AutomationError::Invalid(format!("task {} has no idea {}", task.id, task.idea_id))
                })?;
            let plan = IdeaOut {
                title: idea.title.clone(),
                outline: idea.outline.clone(),
                target_keyword: idea.target_keyword.clone(),
                secondary_keywords: idea.secondary_keywords.clone(),
                word_target: idea.word_target,
                content_type: idea.content_type.clone(),
            };
            let bill = Bill {
                stage: Stage::Content,
                item: task.id.to_string(),
                operation: "content_generation",
                estimate_units: i64::from(idea.word_target),
            };
            let (article, credits) = self
                .paid(run, bill, i.ports.ai.generate_article(&plan, idea.word_target), |a: &ArticleOut| {
                    i64::from(a.word_count)
                })
                .await?;
            let content = Content {
                id: ContentId::derive(task.id.as_str()),
                account_id: run.account_id.clone(),
                site_id: run.site_id.clone(),
                task_id: task.id.clone(),
                run_id: run.id.clone(),
                title: article.title.clone(),
                html: article.html.clone(),
                word_count: article.word_count,
                meta_description: article.meta_description.clone(),
                status: ContentStatus::Draft,
                created_at: now.clone(),
            };
            let writes = vec![
                i.contents.create(&content)?,
                i.tasks.transition(&WriterTask { status: TaskStatus::Written, ..task }, "queued")?,
            ];
            self.apply(run, writes).await?;
            outcome.processed += 1;
            outcome.created += 1;
            outcome.credits += credits;
            outcome.words += u64::from(article.word_count);
        }
        Ok(outcome)
    }

    async fn prompts_batch(
        &self,
        run: &AutomationRun,
        config: &AutomationConfig,
    ) -> Result<BatchOutcome, AutomationError> {
        let i = &self.inner;
        let batch =
            i.contents.in_status(&run.site_id, "draft", config.batch_size(Stage::ImagePrompts) as usize).await?;
        let mut outcome = BatchOutcome::default();
        let now = rfc3339(self.now());
        let max = config.images_per_article as usize;
        for content in batch {
            let article = ArticleOut {
                title: content.title.clone(),
                html: content.html.clone(),
                word_count: content.word_count,
                meta_description: content.meta_description.clone(),
            };
            let (prompts, credits) = if max == 0 {
                (Vec::new(), 0)
            } else {
                let bill = Bill {
                    stage: Stage::ImagePrompts,
                    item: content.id.to_string(),
                    operation: "image_prompt_extraction",
                    estimate_units: units(max),
                };
                self.paid(
                    run,
                    bill,
                    i.ports.ai.generate_image_prompts(&article, max),
                    |p: &Vec<igny8_ai::ImagePromptOut>| units(p.len()),
                )
                .await?
            };
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
                    created_at: now.clone(),
                };
                writes.push(i.images.create(&image)?);
            }
            writes.push(i.contents.transition(&Content { status: ContentStatus::PromptsReady, ..content }, "draft")?);
            self.apply(run, writes).await?;
            outcome.processed += 1;
            outcome.created += prompts.len() as u64;
            outcome.credits += credits;
        }
        Ok(outcome)
    }
}

fn input_output(input: &StepInput) -> StepOutput {
    StepOutput {
        run_id: input.run_id.clone(),
        account_id: input.account_id.clone(),
        site_id: input.site_id.clone(),
        next: String::new(),
        then: None,
        stage: 0,
        processed: 0,
        remaining: 0,
        delay_seconds: 0,
    }
}
