//! Whole local run benchmark: 1,000 keywords through every stage on the embedded
//! default with the offline provider; prints the time and what the run produced.

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Instant;

use igny8_ai::OfflineProvider;
use igny8_asl::ExecutorOptions;
use igny8_core::ports::{SystemClock, UuidIds};
use igny8_wiring::embedded::LocalRuntime;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let keywords = igny8_tests::thousand_keywords();
    let dir = tempfile::tempdir().expect("dir");
    let rt = LocalRuntime::open(
        dir.path(),
        Arc::new(OfflineProvider::with_year(2026)),
        Arc::new(SystemClock),
        Arc::new(UuidIds),
        ExecutorOptions::default(),
    )
    .expect("runtime");
    let (account, _) = rt.services.account_service.create_account("bench", 10_000_000).await.expect("account");
    let site = rt.services.account_service.create_site(&account.id, "Bench", "bench.example.com").await.expect("site");
    let start = Instant::now();
    rt.importer.import(&account.id, &site.id, &keywords).await.expect("import");
    let imported = start.elapsed();
    let run = rt.automation.start(&account.id, &site.id, "manual").await.expect("start");
    let mut stage_seen = 0u8;
    let mut marks = Vec::new();
    rt.drive(&run.id, |r| {
        if r.current_stage != stage_seen {
            stage_seen = r.current_stage;
            marks.push((stage_seen, start.elapsed()));
        }
    })
    .await
    .expect("drive");
    let total = start.elapsed();
    let s = rt.automation.summary(&account.id, &run.id).await.expect("summary");
    println!("whole local run, {} keywords, offline provider:", keywords.len());
    println!("  total            {:>8.2} s  (goal ≤ 10 s)", total.as_secs_f64());
    println!("  import           {:>8.2} s", imported.as_secs_f64());
    for w in marks.windows(2) {
        println!("  stage {} took     {:>8.2} s", w[0].0, (w[1].1 - w[0].1).as_secs_f64());
    }
    if let Some((stage, at)) = marks.last() {
        println!("  stage {stage} took     {:>8.2} s", (total - *at).as_secs_f64());
    }
    println!(
        "  produced         {} clusters, {} ideas, {} articles ({} words), {} images, {} credits, status {:?}",
        s.clusters, s.ideas, s.articles, s.words, s.images, s.credits_used, s.status
    );
}
