//! The optimizer: rewrites what the analyzer flags through the AI provider (the
//! `optimization` operation, held before the call and settled after it like every
//! AI call; a failed call releases the hold and costs nothing), re-analyzes, and keeps
//! the rewrite only when it scores higher. Before and after are stored for review.
//!
//! Crash safety: every write is keyed by the optimization's id, which is derived from
//! the article and the idempotency key (or, without one, the article's current text).
//! The hold is keyed by it; the rewrite is stored (`settling`, with the hold and the
//! usage) before the hold is settled; the article update and the record's `done` are
//! one transaction. A retry with the same key after a crash anywhere finds what was
//! done and finishes it: it never calls the provider for a stored rewrite, never
//! charges twice, and never leaves an article half-updated.

use std::sync::Arc;

use serde::Serialize;

use igny8_ai::{AiProvider, OptimizeRequest};
use igny8_seo::analyze::check;
use igny8_seo::{Analysis, ArticleText};

use super::{ContentChecks, OptimizationError};
use crate::billing::{CreditError, CreditService};
use crate::domain::{
    AccountId, ArticleVersion, Content, ContentId, CreditHold, HoldStatus, Operation, OptimizationId,
    OptimizationRecord, SiteId, UsageDetails,
};
use crate::ports::clock::rfc3339;
use crate::ports::{Clock, Condition, IdGenerator, StoreError, UpdateAction, WriteOp};
use crate::publishing::article::slugify;
use crate::repo::pipeline::key as record_key;
use crate::repo::{
    keys, LedgerRepo, OptimizationRepo, OptimizationState, PublicationRepo, RepoError, StoredOptimization,
};

/// The operation an optimization is charged as.
pub const OPERATION: Operation = Operation::Optimization;

/// The checks a rewrite of the text can improve, and so the only ones sent to the
/// provider: links, passive voice and length need more than a rewrite of what is there.
pub const REWRITABLE_CHECKS: &[&str] = &[
    check::KEYPHRASE_IN_SEO_TITLE,
    check::SEO_TITLE_LENGTH,
    check::KEYPHRASE_IN_SLUG,
    check::KEYPHRASE_IN_INTRODUCTION,
    check::KEYPHRASE_IN_META_DESCRIPTION,
    check::META_DESCRIPTION_LENGTH,
    check::KEYPHRASE_IN_SUBHEADINGS,
    check::KEYPHRASE_DENSITY,
    check::FLESCH_READING_EASE,
    check::SENTENCE_LENGTH,
    check::PARAGRAPH_LENGTH,
    check::SUBHEADING_DISTRIBUTION,
    check::TRANSITION_WORDS,
];

/// Holds one optimization tries when earlier attempts' holds were released (each
/// failed provider call releases its hold; a retry takes the next one in line).
const MAX_HOLDS: u32 = 20;

/// Times the article's publications are read again when a publisher or sync changed
/// one between the read and the transaction that marks them.
const MAX_PUBLICATION_RACES: u32 = 5;

/// What an optimization would cost, asked before it is run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OptimizeEstimate {
    /// The article.
    pub content_id: ContentId,
    /// The operation charged (`optimization`).
    pub operation: String,
    /// The units priced (words, per the operation's cost unit).
    pub units: i64,
    /// Credits the call is estimated at (and held for).
    pub credits: i64,
    /// The account's available balance now.
    pub available: i64,
    /// The checks that would be sent for rewriting (none: nothing to optimize).
    pub flagged: Vec<String>,
}

/// The optimizer.
#[derive(Clone)]
pub struct OptimizationService {
    checks: ContentChecks,
    credits: CreditService,
    ai: Arc<dyn AiProvider>,
    clock: Arc<dyn Clock>,
}

/// The article as analyzed before a rewrite.
struct Prepared {
    content: Content,
    article: ArticleText,
    analysis: Analysis,
    flagged: Vec<String>,
    units: i64,
}

impl OptimizationService {
    /// The optimizer over the checks, the ledger and a provider. `ids` is taken like
    /// every service's, but an optimization's id is derived from its request (so a
    /// retry finds it), never generated.
    pub fn new(
        checks: ContentChecks,
        credits: CreditService,
        ai: Arc<dyn AiProvider>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
    ) -> Self {
        let _ = ids;
        Self { checks, credits, ai, clock }
    }

    fn repo(&self) -> OptimizationRepo {
        OptimizationRepo::new(Arc::clone(self.checks.store()))
    }

    /// Reads and analyzes the caller's article: what would be sent, and its size in
    /// the units the operation is priced in (words of the article as it stands).
    async fn prepare(&self, account: &AccountId, site: &SiteId, id: &ContentId) -> Result<Prepared, OptimizationError> {
        let content = self.checks.content(account, site, id).await?;
        if content.html.trim().is_empty() {
            return Err(OptimizationError::NotReady(content.id, "the article has no body yet".into()));
        }
        let article = self.checks.article_text(&content).await?;
        let analysis = igny8_seo::analyze(&article);
        let flagged = analysis
            .flagged()
            .map(|c| c.id.clone())
            .filter(|id| REWRITABLE_CHECKS.contains(&id.as_str()))
            .filter(|id| !article.focus_keyphrase.is_empty() || !id.contains("keyphrase"))
            .collect();
        let units = i64::from(igny8_ai::offline::text::count_html_words(&content.html)).max(1);
        Ok(Prepared { content, article, analysis, flagged, units })
    }

    /// What optimizing the caller's article would cost.
    pub async fn estimate(
        &self,
        account: &AccountId,
        site: &SiteId,
        id: &ContentId,
    ) -> Result<OptimizeEstimate, OptimizationError> {
        let prepared = self.prepare(account, site, id).await?;
        let credits =
            if prepared.flagged.is_empty() { 0 } else { self.credits.cost(OPERATION.as_str(), prepared.units).await? };
        let available = self.credits.balance(account).await?.available;
        Ok(OptimizeEstimate {
            content_id: prepared.content.id,
            operation: OPERATION.as_str().to_owned(),
            units: prepared.units,
            credits,
            available,
            flagged: prepared.flagged,
        })
    }

    /// Optimizes the caller's article once; a repeated `idempotency_key` returns the
    /// first optimization instead of charging again.
    pub async fn optimize(
        &self,
        account: &AccountId,
        site: &SiteId,
        id: &ContentId,
        idempotency_key: Option<&str>,
    ) -> Result<OptimizationRecord, OptimizationError> {
        if let Some(key) = idempotency_key {
            if key.is_empty() || key.len() > 200 || key.chars().any(char::is_control) {
                return Err(CreditError::InvalidKey.into());
            }
        }
        let prepared = self.prepare(account, site, id).await?;
        let content = &prepared.content;
        let opt_id = optimization_id(content, idempotency_key);
        let repo = self.repo();
        if let Some(stored) = repo.get(site, &content.id, &opt_id).await? {
            return self.finish(stored).await;
        }
        let before = version(&content.title, &content.meta_description, &content.html, prepared.analysis.score);
        if prepared.flagged.is_empty() {
            // Nothing a rewrite could improve: no call, no charge, nothing stored.
            return Ok(OptimizationRecord {
                id: opt_id,
                account_id: account.clone(),
                site_id: site.clone(),
                content_id: content.id.clone(),
                flagged: Vec::new(),
                after: before.clone(),
                before,
                kept: false,
                credits: 0,
                model: String::new(),
                created_at: rfc3339(self.clock.now_ms()),
            });
        }
        let credits = self.credits.cost(OPERATION.as_str(), prepared.units).await?;
        let hold = match self.secure(account, &opt_id, content, credits).await {
            Ok(hold) => hold,
            // A concurrent attempt with the same key already settled the hold, so it
            // stored its rewrite first: that optimization is the answer.
            Err(OptimizationError::Credits(CreditError::HoldClosed { status: HoldStatus::Settled, .. })) => {
                if let Some(first) = repo.get(site, &content.id, &opt_id).await? {
                    return self.finish(first).await;
                }
                return Err(RepoError::Store(StoreError::Conflict).into());
            }
            Err(e) => return Err(e),
        };
        let request = OptimizeRequest {
            title: content.title.clone(),
            meta_description: content.meta_description.clone(),
            html: content.html.clone(),
            focus_keyphrase: prepared.article.focus_keyphrase.clone(),
            language: prepared.article.language.clone(),
            flagged: prepared.flagged.clone(),
        };
        let (out, usage) = match self.ai.optimize_article(&request).await {
            Ok(done) => done,
            Err(e) => {
                self.credits.release(account, &hold.id).await?;
                return Err(e.into());
            }
        };
        let rewritten = ArticleText {
            title: out.title.clone(),
            seo_title: out.title.clone(),
            slug: slugify(&out.title, content.id.as_str()),
            meta_description: out.meta_description.clone(),
            html: out.html.clone(),
            ..prepared.article.clone()
        };
        let after_score = igny8_seo::analyze(&rewritten).score;
        let stored = StoredOptimization {
            record: OptimizationRecord {
                id: opt_id.clone(),
                account_id: account.clone(),
                site_id: site.clone(),
                content_id: content.id.clone(),
                flagged: prepared.flagged.clone(),
                after: version(&out.title, &out.meta_description, &out.html, after_score),
                kept: after_score > before.score,
                before,
                credits,
                model: usage.model.clone(),
                created_at: rfc3339(self.clock.now_ms()),
            },
            state: OptimizationState::Settling,
            hold,
            usage: UsageDetails {
                operation: OPERATION.as_str().to_owned(),
                model: Some(usage.model),
                tokens_in: usage.tokens_in,
                tokens_out: usage.tokens_out,
                units: prepared.units,
                run_id: None,
                stage: None,
            },
        };
        match repo.begin(&stored).await {
            Ok(()) => self.finish(stored).await,
            // Another attempt with the same key stored its rewrite first: finish that one.
            Err(RepoError::Store(StoreError::ConditionFailed(_))) => {
                let first = repo.get(site, &content.id, &opt_id).await?.ok_or_else(|| RepoError::Corrupt {
                    key: opt_id.to_string(),
                    reason: "optimization vanished".into(),
                })?;
                self.finish(first).await
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Holds `credits` for the optimization before its call, keyed by the optimization
    /// so a retry finds the same hold; a hold an earlier failed call released is
    /// skipped for the next one in line.
    async fn secure(
        &self,
        account: &AccountId,
        opt_id: &OptimizationId,
        content: &Content,
        credits: i64,
    ) -> Result<CreditHold, OptimizationError> {
        let ledger = LedgerRepo::new(Arc::clone(self.checks.store()));
        for n in 0..MAX_HOLDS {
            let key = if n == 0 { format!("opt/{opt_id}") } else { format!("opt/{opt_id}/{n}") };
            let hold = self
                .credits
                .hold(account, credits, OPERATION.as_str(), Some(content.id.to_string()), Some(key))
                .await?;
            // A replayed key returns the hold as it was taken: read where it stands now.
            let now = ledger.hold(account, &hold.id).await?.unwrap_or(hold);
            match now.status {
                HoldStatus::Open => return Ok(now),
                HoldStatus::Released => continue,
                status => return Err(CreditError::HoldClosed { id: now.id, status }.into()),
            }
        }
        Err(CreditError::Contended { attempts: MAX_HOLDS }.into())
    }

    /// Finishes a stored optimization: settles its hold (a settled one answers with its
    /// first receipt) and, in one transaction, updates the article if the rewrite is
    /// kept and the article is still as it was, marks the article's live publications
    /// `needs_update` (so the publisher sends the rewrite), and marks the record done. A
    /// record already done is returned as it is.
    async fn finish(&self, mut stored: StoredOptimization) -> Result<OptimizationRecord, OptimizationError> {
        if stored.state == OptimizationState::Done {
            return Ok(stored.record);
        }
        let account = stored.record.account_id.clone();
        self.credits.settle_hold(&account, &stored.hold, stored.record.credits, Some(stored.usage.clone())).await?;
        let repo = self.repo();
        let store = self.checks.store();
        let mut publication_races = 0;
        loop {
            let mut writes = Vec::new();
            if stored.record.kept {
                writes.push(content_update(&stored.record));
            }
            writes.push(repo.finish_write(&stored)?);
            let first_publication = writes.len();
            if stored.record.kept {
                writes.extend(self.publication_updates(&stored.record).await?);
            }
            let publications = first_publication..writes.len();
            match store.transact(writes).await {
                Ok(()) => {
                    stored.state = OptimizationState::Done;
                    return Ok(stored.record);
                }
                Err(e) if stored.record.kept && e.failed_at(0) => {
                    // The article changed since it was read: the rewrite of the old
                    // text is kept for review but not applied.
                    stored.record.kept = false;
                }
                Err(e) if publications.clone().any(|i| e.failed_at(i)) && publication_races < MAX_PUBLICATION_RACES => {
                    // A publisher or sync wrote a publication meanwhile: read them again.
                    publication_races += 1;
                }
                Err(StoreError::ConditionFailed(_)) => {
                    // Another attempt finished it first.
                    let r = &stored.record;
                    let done = repo.get(&r.site_id, &r.content_id, &r.id).await?;
                    return match done {
                        Some(first) if first.state == OptimizationState::Done => Ok(first.record),
                        _ => Err(RepoError::Store(StoreError::Conflict).into()),
                    };
                }
                Err(e) => return Err(RepoError::Store(e).into()),
            }
        }
    }

    /// The writes that mark the article's publications with a remote post
    /// `needs_update`, each on the condition that it is still at the version read and
    /// no publish holds it (a publish in progress wins, as with content sync).
    async fn publication_updates(&self, record: &OptimizationRecord) -> Result<Vec<WriteOp>, OptimizationError> {
        let publications = PublicationRepo::new(Arc::clone(self.checks.store()));
        let now = rfc3339(self.clock.now_ms());
        Ok(publications
            .for_content(&record.site_id, &record.content_id)
            .await?
            .into_iter()
            .filter(|p| p.publication.remote_id.is_some() && !p.publication.needs_update && p.claim_token.is_none())
            .map(|p| {
                let pb = &p.publication;
                WriteOp::Update {
                    key: keys::publication(&pb.site_id, &pb.content_id, &pb.integration_id),
                    actions: vec![
                        UpdateAction::set("needs_update", true),
                        UpdateAction::add("version", 1),
                        UpdateAction::set("updated_at", now.clone()),
                    ],
                    condition: Some(Condition::And(vec![
                        Condition::eq("version", p.version),
                        Condition::AttributeNotExists("claim_token".into()),
                    ])),
                }
            })
            .collect())
    }

    /// The article's optimizations, newest first.
    pub async fn history(
        &self,
        account: &AccountId,
        site: &SiteId,
        id: &ContentId,
    ) -> Result<Vec<OptimizationRecord>, OptimizationError> {
        let content = self.checks.content(account, site, id).await?;
        Ok(self.repo().history(site, &content.id).await?)
    }
}

/// The optimization's id: derived from the article and the caller's idempotency key,
/// or without one from the article's current text, so the same request is one
/// optimization however often it is retried.
fn optimization_id(content: &Content, idempotency_key: Option<&str>) -> OptimizationId {
    let key = match idempotency_key {
        Some(key) => format!("key:{key}"),
        None => {
            let text = format!("{}\u{1f}{}\u{1f}{}", content.title, content.meta_description, content.html);
            format!("text:{}", OptimizationId::derive(&text))
        }
    };
    OptimizationId::derive(&format!("{}/{}/{}/{key}", content.account_id, content.site_id, content.id))
}

/// A version of the rewritable parts.
fn version(title: &str, meta_description: &str, html: &str, score: u8) -> ArticleVersion {
    ArticleVersion {
        title: title.to_owned(),
        meta_description: meta_description.to_owned(),
        html: html.to_owned(),
        score,
    }
}

/// The update that puts the rewrite on the article, only if the article still holds
/// the text that was rewritten.
fn content_update(record: &OptimizationRecord) -> WriteOp {
    let (before, after) = (&record.before, &record.after);
    let word_count = igny8_ai::offline::text::count_html_words(&after.html);
    WriteOp::Update {
        key: record_key::<Content>(&record.site_id, record.content_id.as_str()),
        actions: vec![
            UpdateAction::set("title", after.title.clone()),
            UpdateAction::set("meta_description", after.meta_description.clone()),
            UpdateAction::set("html", after.html.clone()),
            UpdateAction::set("word_count", word_count),
        ],
        condition: Some(Condition::And(vec![
            Condition::ItemExists,
            Condition::eq("title", before.title.clone()),
            Condition::eq("meta_description", before.meta_description.clone()),
            Condition::eq("html", before.html.clone()),
        ])),
    }
}
