//! The credits a run is expected to need, per stage, from the work waiting in each
//! stage and the cost config (DESIGN §3 step 3: start requires balance ≥ estimate ×
//! buffer).

use std::collections::BTreeMap;
use std::sync::Arc;

use igny8_ai::KeywordInput;

use serde::{Deserialize, Serialize};

use super::error::AutomationError;
use super::service::AutomationService;
use super::stages::{self, Clusters, Contents, Ideas, ImagePrompts, StageWork};
use crate::billing::CreditError;
use crate::clustering::KeywordClustering;
use crate::domain::ClusterMode;
use crate::domain::Operation;
use crate::domain::{AccountId, AutomationConfig, SiteId, Stage};
use crate::repo::EmbeddingScope;

/// Credits a run is expected to need, per stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Estimate {
    /// Keywords waiting for clustering.
    pub keywords: u64,
    /// Credits per stage number (JSON object keys are strings: "1" to "6").
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, i64>))]
    pub per_stage: BTreeMap<u8, i64>,
    /// Σ per stage.
    pub total: i64,
}

/// Items expected through each stage: what waits there now plus what the stages
/// before it will make from their own waiting work.
struct Volumes {
    keywords: u64,
    clusters: u64,
    articles: u64,
    drafts: u64,
    images: u64,
}

fn units(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The operation stage `S` is priced as (every paid stage names one).
fn operation<S: StageWork>() -> Result<Operation, AutomationError> {
    S::OPERATION.ok_or_else(|| AutomationError::Invalid(format!("stage {} is not priced", S::STAGE.number())))
}

impl AutomationService {
    /// Credits a run of the site would need now, per stage, from the waiting work.
    pub async fn estimate(&self, account: &AccountId, site: &SiteId) -> Result<Estimate, AutomationError> {
        let config = self.config(account, site).await?;
        self.estimate_with(&config).await
    }

    /// The estimate under a config already read.
    pub(in crate::automation) async fn estimate_with(
        &self,
        config: &AutomationConfig,
    ) -> Result<Estimate, AutomationError> {
        let v = self.volumes(config).await?;
        let mut per_stage = BTreeMap::new();
        // Stage 1 charges one clustering request per slice of its plan, and a slice
        // holds at least a batch of keywords (but the last): never more slices than
        // batches.
        let batches = v.keywords.div_ceil(u64::from(config.batch_size(Stage::Clusters)));
        let clustering = if batches > 0 { self.cost(operation::<Clusters>()?, 1).await? * units(batches) } else { 0 };
        per_stage.insert(1, clustering + self.embedding_cost(config).await?);
        let ideas = if v.clusters > 0 {
            self.cost(operation::<Ideas>()?, u64::from(config.ideas_per_cluster)).await? * units(v.clusters)
        } else {
            0
        };
        per_stage.insert(2, ideas);
        per_stage.insert(3, 0);
        let articles =
            if v.articles > 0 { self.cost(operation::<Contents>()?, 1500).await? * units(v.articles) } else { 0 };
        per_stage.insert(4, articles);
        let prompts = if v.drafts > 0 && config.images_per_article > 0 {
            self.cost(operation::<ImagePrompts>()?, u64::from(config.images_per_article)).await? * units(v.drafts)
        } else {
            0
        };
        per_stage.insert(5, prompts);
        per_stage.insert(6, self.cost(stages::images::OPERATION, v.images).await?);
        let total = per_stage.values().sum();
        Ok(Estimate { keywords: v.keywords, per_stage, total })
    }

    /// What stage 1 would pay for embeddings: nothing unless the config's cluster
    /// mode resolves to semantic (auto, or semantic, with an embedding model), then the
    /// price of the waiting keywords the account's embedding cache lacks. (The
    /// existing clusters' members are embedded too when a site switches from lexical
    /// to semantic; at a credit per 1,000 the buffer covers them.)
    async fn embedding_cost(&self, config: &AutomationConfig) -> Result<i64, AutomationError> {
        let i = &self.inner;
        let clustering = KeywordClustering::new(Arc::clone(&i.ports.ai), Arc::clone(&i.ports.store));
        // Semantic with no model: the run fails at stage 1, before any charge.
        let Ok(resolved) = clustering.resolve(config.cluster_mode) else { return Ok(0) };
        let Some(model) = resolved.model.filter(|_| resolved.mode == ClusterMode::Semantic) else {
            return Ok(0);
        };
        let waiting = i.keywords.all_in_status(&config.site_id, Clusters::INPUT_STATUS).await?;
        if waiting.is_empty() {
            return Ok(0);
        }
        let inputs: Vec<KeywordInput> =
            waiting.iter().map(|k| KeywordInput::new(k.keyword.clone(), k.volume)).collect();
        let scope = EmbeddingScope::Account(config.account_id.clone());
        let missing = clustering.lookup(&scope, &model, &inputs).await?.missing.len();
        Ok(self.cost(Operation::Embedding, u64::try_from(missing).unwrap_or(u64::MAX)).await?)
    }

    /// The price of `n` units of `operation` (none for nothing).
    async fn cost(&self, operation: Operation, n: u64) -> Result<i64, CreditError> {
        if n == 0 {
            Ok(0)
        } else {
            self.inner.credits.cost(operation.as_str(), units(n)).await
        }
    }

    async fn volumes(&self, config: &AutomationConfig) -> Result<Volumes, AutomationError> {
        let site = &config.site_id;
        let mut waiting = [0u64; 6];
        for (slot, stage) in waiting.iter_mut().zip(Stage::ALL) {
            *slot = stages::waiting(&self.inner, site, stage).await?;
        }
        let [keywords, clusters_waiting, ideas_waiting, tasks_waiting, drafts_waiting, images_waiting] = waiting;
        // Clusters grow sub-linearly with the keywords (≈ n^0.75 for real keyword lists:
        // 16 for 30 keywords, 161 for 1,000); erring high keeps the balance check safe.
        // Keywords that join a site's existing clusters make fewer new ones still.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        let new_clusters = ((keywords as f64).powf(0.75).ceil() as u64).min(keywords);
        let clusters = clusters_waiting + new_clusters;
        let ideas = ideas_waiting + clusters * u64::from(config.ideas_per_cluster);
        let articles = tasks_waiting + ideas;
        let drafts = drafts_waiting + articles;
        let images = images_waiting + drafts * u64::from(config.images_per_article);
        Ok(Volumes { keywords, clusters, articles, drafts, images })
    }
}
