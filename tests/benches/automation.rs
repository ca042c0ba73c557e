//! Whole local run benchmark: N keywords through every stage on the embedded default
//! with the offline provider, through the real state machine file; prints the seconds
//! of each stage (from the run record's stage timestamps), per stage item, and what the
//! run produced.
//!
//! Sizes: `IGNY8_BENCH_KEYWORDS=1000,10000,100000` (default `1000,10000`), or the same
//! list as the first argument after `--`. Each size runs on a fresh data directory;
//! the keyword lists are generated the same way every time
//! ([`igny8_tests::bench_keywords`]). With two or more sizes it prints how time grew
//! against keywords (goal: 10× keywords ≤ 11× time).

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use igny8_ai::{AiProvider, OfflineProvider};
use igny8_asl::ExecutorOptions;
use igny8_core::domain::AutomationRun;
use igny8_core::ports::{SystemClock, UuidIds};
use igny8_wiring::embedded::LocalRuntime;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// What one size measured.
struct Measured {
    keywords: usize,
    total: Duration,
}

fn sizes() -> Vec<usize> {
    let arg = std::env::args().skip(1).find(|a| a.chars().next().is_some_and(|c| c.is_ascii_digit()));
    let spec = arg.or_else(|| std::env::var("IGNY8_BENCH_KEYWORDS").ok()).unwrap_or_else(|| "1000,10000".into());
    spec.split(',').map(|s| s.trim().replace('_', "").parse().expect("a keyword count")).collect()
}

fn at(t: &Option<String>) -> Option<OffsetDateTime> {
    t.as_deref().and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
}

fn print_stages(run: &AutomationRun) {
    println!("  stage  items in  created   seconds  ms/item");
    for (n, s) in &run.stages {
        let secs = match (at(&s.started_at), at(&s.completed_at)) {
            (Some(a), Some(b)) => (b - a).as_seconds_f64(),
            _ => f64::NAN,
        };
        let per_item = if s.processed > 0 { secs * 1000.0 / s.processed as f64 } else { f64::NAN };
        println!("  {n:>5}  {:>8}  {:>7}  {secs:>8.2}  {per_item:>7.3}", s.processed, s.created);
    }
}

async fn one(n: usize) -> Measured {
    let keywords = igny8_tests::bench_keywords(n);
    assert_eq!(keywords.len(), n, "the generator makes up to ≈ 260,000 keywords");
    let dir = tempfile::tempdir().expect("dir");
    let rt = LocalRuntime::open(
        dir.path(),
        Arc::new(OfflineProvider::with_year(2026)),
        Arc::new(SystemClock),
        Arc::new(UuidIds),
        ExecutorOptions::default(),
    )
    .expect("runtime");
    let (account, _) = rt.services.account_service.create_account("bench", 1_000_000_000).await.expect("account");
    let site = rt.services.account_service.create_site(&account.id, "Bench", "bench.example.com").await.expect("site");
    let start = Instant::now();
    rt.importer.import(&account.id, &site.id, &keywords).await.expect("import");
    let imported = start.elapsed();
    let run = rt.automation.start(&account.id, &site.id, "manual").await.expect("start");
    rt.drive(&run.id, |_| {}).await.expect("drive");
    let total = start.elapsed();
    let record = rt.automation.run(&account.id, &run.id).await.expect("run");
    let s = rt.automation.summary(&account.id, &run.id).await.expect("summary");
    println!("whole local run, {n} keywords, offline provider:");
    println!("  total    {:>8.2} s   (import {:.2} s)", total.as_secs_f64(), imported.as_secs_f64());
    print_stages(&record);
    let most_events = record.executions.iter().map(|e| e.history_events).max().unwrap_or_default();
    println!(
        "  executions {}, at most {most_events} history events in one (a run continues in a new one before {}; Step Functions stops one at 25,000)",
        record.executions.len().max(1),
        igny8_core::automation::HISTORY_BUDGET
    );
    println!(
        "  produced {} clusters, {} ideas, {} articles ({} words), {} images, {} credits, status {:?}",
        s.clusters, s.ideas, s.articles, s.words, s.images, s.credits_used, s.status
    );
    Measured { keywords: n, total }
}

/// Rendering alone, the floor of stage 6's time per image: the offline provider's
/// 1024×576 PNG, eight at a time as the image jobs run.
async fn rendering_floor() {
    let ai = Arc::new(OfflineProvider::with_year(2026));
    let start = Instant::now();
    let n = 64;
    for round in 0..n / 8 {
        let jobs: Vec<_> = (0..8)
            .map(|i| {
                let ai = Arc::clone(&ai);
                tokio::spawn(async move {
                    let prompt = format!("a bright kitchen with a stand mixer, photo {round}-{i}");
                    ai.generate_image(&prompt, 1024, 576).await.expect("image")
                })
            })
            .collect();
        for job in jobs {
            job.await.expect("render");
        }
    }
    let per = start.elapsed().as_secs_f64() * 1000.0 / f64::from(n);
    println!("rendering alone (offline provider, 1024×576 PNG, 8 at a time): {per:.1} ms per image");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    rendering_floor().await;
    let mut measured = Vec::new();
    for n in sizes() {
        measured.push(one(n).await);
    }
    if let Some(first) = measured.first() {
        for m in &measured[1..] {
            let keys = m.keywords as f64 / first.keywords as f64;
            let time = m.total.as_secs_f64() / first.total.as_secs_f64();
            println!(
                "growth {} → {} keywords: {keys:.1}× keywords, {time:.1}× time (goal ≤ {:.1}×)",
                first.keywords,
                m.keywords,
                keys * 1.1
            );
        }
    }
}
