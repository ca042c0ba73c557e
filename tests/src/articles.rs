//! An article's records as stage 4 leaves them — its cluster, idea, writer task and the
//! article — for tests that need stored articles without running a pipeline. Every test
//! that builds them by hand spelled out the same four records; callers now change the
//! fields they care about and write [`ArticleRecords::writes`] in one transaction.

use std::sync::Arc;

use igny8_core::domain::{
    AccountId, Cluster, ClusterId, ClusterStatus, Content, ContentId, ContentStatus, Idea, IdeaId, IdeaStatus,
    ReviewStatus, RunId, SiteId, TaskId, TaskStatus, WriterTask,
};
use igny8_core::ports::{ItemStore, WriteOp};
use igny8_core::repo::Records;

/// The four records behind one article, ids derived from one seed.
#[derive(Debug, Clone)]
pub struct ArticleRecords {
    /// Its cluster (`IdeasGenerated`).
    pub cluster: Cluster,
    /// The idea it was written from (`Queued`).
    pub idea: Idea,
    /// The writer task it fulfils (`Written`).
    pub task: WriterTask,
    /// The article (`Draft`, review draft).
    pub content: Content,
}

impl ArticleRecords {
    /// Records of tenant `account`/`site` made by `run` at `now`, ids derived from
    /// `seed`, with a placeholder topic, outline and body that callers replace.
    pub fn new(account: &AccountId, site: &SiteId, run: &RunId, seed: &str, now: &str) -> Self {
        let cluster = Cluster {
            id: ClusterId::derive(seed),
            account_id: account.clone(),
            site_id: site.clone(),
            run_id: run.clone(),
            name: "Garden tools".into(),
            pillar_keyword: "garden tools".into(),
            keyword_ids: Vec::new(),
            intent: "informational".into(),
            total_volume: 100,
            description: String::new(),
            status: ClusterStatus::IdeasGenerated,
            created_at: now.to_owned(),
        };
        let idea = Idea {
            id: IdeaId::derive(seed),
            account_id: account.clone(),
            site_id: site.clone(),
            cluster_id: cluster.id.clone(),
            run_id: run.clone(),
            title: "Garden tools".into(),
            outline: vec!["Fit".into(), "Grip".into()],
            target_keyword: "garden tools".into(),
            secondary_keywords: Vec::new(),
            word_target: 800,
            content_type: "guide".into(),
            status: IdeaStatus::Queued,
            created_at: now.to_owned(),
        };
        let task = WriterTask {
            id: TaskId::derive(seed),
            account_id: account.clone(),
            site_id: site.clone(),
            idea_id: idea.id.clone(),
            run_id: run.clone(),
            status: TaskStatus::Written,
            created_at: now.to_owned(),
        };
        let content = Content {
            id: ContentId::derive(seed),
            account_id: account.clone(),
            site_id: site.clone(),
            task_id: task.id.clone(),
            run_id: run.clone(),
            title: "Garden tools".into(),
            html: "<h1>Garden tools</h1><p>Intro.</p><h2>Fit</h2><p>Fit.</p><h2>Grip</h2><p>Grip.</p>".into(),
            word_count: 3,
            meta_description: "Garden tools.".into(),
            status: ContentStatus::Draft,
            review: ReviewStatus::Draft,
            focus_keyphrase: String::new(),
            linked_at: None,
            created_at: now.to_owned(),
        };
        Self { cluster, idea, task, content }
    }

    /// Moves the article to another cluster (articles sharing a cluster), keeping the
    /// idea pointing at it.
    pub fn in_cluster(mut self, id: ClusterId) -> Self {
        self.cluster.id = id.clone();
        self.idea.cluster_id = id;
        self
    }

    /// The creates of the cluster, idea, task and article, in that order (a caller
    /// whose cluster is already stored drops the first).
    pub fn writes(&self, store: &Arc<dyn ItemStore>) -> Vec<WriteOp> {
        vec![
            Records::<Cluster>::new(Arc::clone(store)).create(&self.cluster).expect("cluster"),
            Records::<Idea>::new(Arc::clone(store)).create(&self.idea).expect("idea"),
            Records::<WriterTask>::new(Arc::clone(store)).create(&self.task).expect("task"),
            Records::<Content>::new(Arc::clone(store)).create(&self.content).expect("content"),
        ]
    }
}
