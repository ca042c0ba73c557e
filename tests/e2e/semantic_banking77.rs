//! Semantic clustering of BANKING77's test split (3,080 customer questions, 77
//! intents) with the real all-MiniLM-L6-v2 model through the clustering service
//! (`KeywordClustering::cluster_list`, as `igny8 cluster --mode semantic` runs it),
//! not told the number of clusters: V-measure ≥ 0.75 (lexical clustering reaches
//! about 0.63; the benchmark, scripts/bench_clustering.sh, holds the real goal).
//! Then the same list again: every vector comes from the cache, none from the model.
//!
//! Needs the model files (`scripts/models.sh`) and the data set beside the repository
//! (`../shared/data/banking77`, read in place, never copied; `IGNY8_SHARED_DIR` names
//! the shared folder for a clone kept elsewhere, as for scripts/bench_clustering.sh);
//! fails, never skips, without them.

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;

use igny8_ai::offline::metrics::{dense_labels, v_measure};
use igny8_ai::{Embedder, KeywordInput, OfflineProvider};
use igny8_core::clustering::KeywordClustering;
use igny8_core::domain::ClusterMode;
use igny8_embed::MiniLmEmbedder;
use igny8_embedded::SqliteStore;

/// The data set's test split: `data/banking77/test.csv` in `$IGNY8_SHARED_DIR` when it
/// is set, else in `../shared` from the workspace root (looked for beside the root and
/// beside its parents, so a git worktree one level deeper finds the same folder).
fn banking77() -> PathBuf {
    const SPLIT: &str = "data/banking77/test.csv";
    if let Some(shared) = std::env::var_os("IGNY8_SHARED_DIR") {
        let path = PathBuf::from(shared).join(SPLIT);
        assert!(path.is_file(), "BANKING77 is not at {} (IGNY8_SHARED_DIR)", path.display());
        return path;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    root.ancestors().map(|dir| dir.join("../shared").join(SPLIT)).find(|p| p.is_file()).unwrap_or_else(|| {
        panic!("BANKING77 is not at ../shared/{SPLIT} beside the repository (or set IGNY8_SHARED_DIR)")
    })
}

fn read_split() -> (Vec<KeywordInput>, Vec<String>) {
    let mut reader = csv::Reader::from_path(banking77()).expect("open BANKING77");
    let (mut texts, mut intents) = (Vec::new(), Vec::new());
    for row in reader.records() {
        let row = row.expect("row");
        texts.push(KeywordInput::new(row.get(0).expect("text"), 0));
        intents.push(row.get(1).expect("category").to_owned());
    }
    (texts, intents)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn banking77_clusters_semantically_with_minilm() {
    let model = MiniLmEmbedder::from_env()
        .unwrap_or_else(|| panic!("the MiniLM model files are not installed: run scripts/models.sh"));
    let embedder: Arc<dyn Embedder> = Arc::new(model);
    let ai = Arc::new(OfflineProvider::with_year(2026).with_embedder(embedder));
    let dir = tempfile::tempdir().expect("dir");
    let store = Arc::new(SqliteStore::open(dir.path().join("cache.sqlite")).expect("store"));
    let clustering = KeywordClustering::new(ai, store);

    let (keywords, intents) = read_split();
    assert_eq!(keywords.len(), 3080, "BANKING77's test split");
    let started = std::time::Instant::now();
    let out = clustering.cluster_list(&keywords, ClusterMode::Semantic, &|_, _| ()).await.expect("cluster");
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(out.mode, ClusterMode::Semantic);
    assert!(out.embedded > 3000 && out.cached == 0, "embedded {}, cached {}", out.embedded, out.cached);

    let mut predicted = vec![usize::MAX; keywords.len()];
    for (n, c) in out.clusters.iter().enumerate() {
        for &k in &c.keywords {
            assert_eq!(predicted[k], usize::MAX, "keyword {k} is in two clusters");
            predicted[k] = n;
        }
    }
    assert!(predicted.iter().all(|&p| p != usize::MAX), "every keyword is in a cluster");
    let score = v_measure(&dense_labels(&intents), &predicted);
    println!(
        "BANKING77 semantic: V = {:.3} (h {:.3}, c {:.3}), {} clusters, {seconds:.1} s",
        score.v_measure,
        score.homogeneity,
        score.completeness,
        out.clusters.len()
    );
    assert!(score.v_measure >= 0.75, "V-measure {:.3} < 0.75", score.v_measure);

    // Again: everything from the cache, the same clusters.
    let again = clustering.cluster_list(&keywords, ClusterMode::Semantic, &|_, _| ()).await.expect("again");
    assert_eq!((again.embedded, again.cached), (0, out.embedded));
    assert_eq!(again.clusters, out.clusters);
}
