//! The optimizer: rewrites what the analyzer flags through the AI provider (the
//! `optimization` operation, held before the call and settled after it like every
//! AI call; a failed call releases the hold and costs nothing), re-analyzes, and keeps
//! the rewrite only when it scores higher. Before and after are stored for review.

use std::sync::Arc;

use serde::Serialize;

use igny8_ai::AiProvider;

use super::{ContentChecks, OptimizationError};
use crate::billing::CreditService;
use crate::domain::{AccountId, ContentId, OptimizationRecord, SiteId};
use crate::ports::{Clock, IdGenerator};

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
    ids: Arc<dyn IdGenerator>,
}

impl OptimizationService {
    /// The optimizer over the checks, the ledger and a provider.
    pub fn new(
        checks: ContentChecks,
        credits: CreditService,
        ai: Arc<dyn AiProvider>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
    ) -> Self {
        Self { checks, credits, ai, clock, ids }
    }

    /// What optimizing the caller's article would cost.
    pub async fn estimate(
        &self,
        account: &AccountId,
        site: &SiteId,
        id: &ContentId,
    ) -> Result<OptimizeEstimate, OptimizationError> {
        let _ = (account, site, id, &self.checks, &self.credits, &self.ai, &self.clock, &self.ids);
        todo!("H-optimizer")
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
        let _ = (account, site, id, idempotency_key);
        todo!("H-optimizer")
    }

    /// The article's optimizations, newest first.
    pub async fn history(
        &self,
        account: &AccountId,
        site: &SiteId,
        id: &ContentId,
    ) -> Result<Vec<OptimizationRecord>, OptimizationError> {
        let _ = (account, site, id);
        todo!("H-optimizer")
    }
}
