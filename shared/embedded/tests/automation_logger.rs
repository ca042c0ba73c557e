//! The automation logger over the blob folder: lines, trace events and the mirror land
//! where docs/automation.md says.

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use igny8_core::automation::{AutomationLogger, RunLog, TraceKind};
use igny8_core::domain::{AccountId, RunId, SiteId, Stage};
use igny8_core::ports::BlobStore;
use igny8_core::ports::{IdGeneratorExt, ManualClock, UuidIds};
use igny8_embedded::BlobDir;
use serde_json::json;

fn run_log() -> RunLog {
    RunLog {
        account_id: UuidIds.generate::<AccountId>(),
        site_id: UuidIds.generate::<SiteId>(),
        run_id: UuidIds.generate::<RunId>(),
    }
}

#[tokio::test]
async fn lines_events_and_mirror_land_where_documented() {
    let dir = tempfile::tempdir().expect("dir");
    let blobs: Arc<dyn BlobStore> = Arc::new(BlobDir::open(dir.path()).expect("blob dir"));
    let logger =
        AutomationLogger::new(Arc::clone(&blobs), Arc::new(ManualClock::at(1_790_000_000_000))).with_mirror("archive");
    let run = run_log();
    logger.line(&run, None, "run started").await.expect("line");
    logger.line(&run, Some(Stage::Content), "batch 1: 5 articles").await.expect("line");
    logger.event(&run, None, 0, TraceKind::RunStarted, json!({"keywords": 10})).await.expect("event");
    logger
        .event(&run, Some(Stage::Content), 1, TraceKind::StageProgress, json!({"processed": 5}))
        .await
        .expect("event");
    logger.event(&run, Some(Stage::Content), 1, TraceKind::StageCompleted, json!({})).await.expect("event");

    let main = logger.main_log(&run).await.expect("main");
    assert_eq!(main.lines().count(), 2);
    assert!(main.contains("[stage 4 content] batch 1"));
    // Each line is its own object until the run's end writes the whole files.
    assert!(blobs.get(&run.main_log()).await.expect("get").is_none());
    logger.compact(&run).await.expect("compact");
    let stage = blobs.get(&run.stage_log(Stage::Content)).await.expect("get").expect("stage log");
    assert_eq!(String::from_utf8_lossy(&stage).lines().count(), 1);
    let events = logger.events(&run).await.expect("events");
    let kinds: Vec<TraceKind> = events.iter().map(|e| e.event).collect();
    assert_eq!(kinds, [TraceKind::RunStarted, TraceKind::StageProgress, TraceKind::StageCompleted]);
    assert_eq!(events[1].stage, Some(4));
    assert!(run.trace(Some(Stage::Content), 1).ends_with("trace/4-000001"));
    let written = blobs.get(&run.main_log()).await.expect("get").expect("main.log");
    assert_eq!(String::from_utf8_lossy(&written), main);
    let mirrored = blobs.get(&format!("archive/{}", run.main_log())).await.expect("get");
    assert_eq!(mirrored.map(|b| b.len()), Some(main.len()));
}
