//! Process death (issue 10): the `igny8` process running a run is killed (`kill -9`)
//! or interrupted (Ctrl-C once, twice) at several points — during a stage batch,
//! right after a batch, while paused, during the image jobs — and the run is
//! continued by `igny8 run` (or `runs resume` / `runs cancel`) each time. The run
//! ends exactly as an uninterrupted run of the same file does: the same records and
//! credits, the ledger reconciled, no hold left open, no charge twice.
//!
//! `IGNY8_STEP_DELAY_MS` slows every step (and every batch of image jobs) so that each
//! point is reached and held long enough to be hit; the test watches the run record
//! through `igny8 runs list` from other processes, as a person would.

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Keywords of the runs: enough for several batches in stages 2–5 and for a
/// stage 6 of some seconds.
const ROWS: usize = 20;
/// Each step sleeps this long before and after its handler.
const STEP_DELAY_MS: &str = "120";
/// The opening balance of a local account `igny8 run` creates.
const CREDITS: i64 = 100_000;

fn keywords(dir: &Path) -> PathBuf {
    let all = include_str!("../../examples/keywords.csv");
    let text: Vec<&str> = all.lines().take(ROWS + 1).collect();
    let path = dir.join("keywords.csv");
    std::fs::write(&path, text.join("\n")).expect("write csv");
    path
}

fn command(data: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_igny8"));
    c.arg("--data-dir").arg(data).env_remove("IGNY8_BACKEND").env_remove("IGNY8_AI_BASE_URL");
    c
}

fn igny8(data: &Path, args: &[&str]) -> Output {
    command(data).args(args).output().expect("run igny8")
}

fn json_of(o: &Output) -> Value {
    let text = String::from_utf8_lossy(&o.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text}\nstderr: {}", stderr(o)))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `igny8 run` in the background, slowed down.
fn spawn_run(data: &Path, csv: &Path) -> Child {
    command(data)
        .args(["run", "--quiet", "--json", "--keywords"])
        .arg(csv)
        .env("IGNY8_STEP_DELAY_MS", STEP_DELAY_MS)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn igny8 run")
}

/// The data directory's local account and site (written by the first `igny8 run`).
fn local(data: &Path) -> Option<(String, String)> {
    let text = std::fs::read_to_string(data.join("local.json")).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    Some((v["account_id"].as_str()?.to_owned(), v["site_id"].as_str()?.to_owned()))
}

/// The site's newest run record, once there is one.
fn latest_run(data: &Path) -> Option<Value> {
    let (_, site) = local(data)?;
    let o = igny8(data, &["runs", "list", "--site", &site, "--json"]);
    if !o.status.success() {
        return None;
    }
    json_of(&o)["runs"].get(0).cloned()
}

fn batches(run: &Value, stage: u8) -> u64 {
    run["stages"][stage.to_string()]["batches"].as_u64().unwrap_or(0)
}

/// Polls the run record until `ready` holds; the child must still be running.
fn wait_for(data: &Path, child: &mut Child, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(run) = latest_run(data) {
            if ready(&run) {
                return run;
            }
        }
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!("the run ended ({status}) before {what}");
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(40));
    }
}

/// SIGKILL, and the child must not have ended on its own before.
fn kill_9(child: &mut Child, what: &str) {
    assert!(child.try_wait().expect("try_wait").is_none(), "the run ended before it was killed {what}");
    child.kill().expect("kill -9");
    child.wait().expect("reap");
}

fn sigint(child: &Child) {
    let ok = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill -INT");
    assert!(ok.success());
}

/// What must come out the same as an uninterrupted run.
fn totals(summary: &Value) -> Value {
    let keys = ["clusters", "ideas", "tasks", "articles", "words", "images", "images_failed", "credits_used"];
    let mut t = serde_json::Map::new();
    for k in keys {
        t.insert(k.to_owned(), summary[k].clone());
    }
    t.insert("credits_by_stage".to_owned(), summary["credits_by_stage"].clone());
    Value::Object(t)
}

/// An uninterrupted run of the same file: the reference.
fn reference(dir: &Path, csv: &Path) -> Value {
    let data = dir.join("reference");
    let o = command(&data).args(["run", "--quiet", "--json", "--keywords"]).arg(csv).output().expect("run");
    assert!(o.status.success(), "reference run: {}", stderr(&o));
    let summary = json_of(&o);
    assert_eq!(summary["status"], "completed");
    assert_eq!(summary["continued"], false);
    summary
}

/// The ledger after the run: balanced, nothing held, exactly the run's credits spent.
fn assert_ledger(data: &Path, credits_used: i64) {
    let (account, _) = local(data).expect("local account");
    let reconciled = igny8(data, &["credits", "reconcile", "--account", &account, "--json"]);
    assert!(reconciled.status.success(), "reconcile: {}", stderr(&reconciled));
    assert_eq!(json_of(&reconciled)["difference"], 0);
    let balance = json_of(&igny8(data, &["credits", "balance", "--account", &account, "--json"]));
    assert_eq!(balance["held"], 0, "no hold left open: {balance}");
    assert_eq!(balance["credits"].as_i64(), Some(CREDITS - credits_used), "each charge once: {balance}");
}

/// The lock is free and the run final.
fn assert_released(data: &Path) {
    let (_, site) = local(data).expect("local site");
    let lock = json_of(&igny8(data, &["lock", "status", "--site", &site, "--json"]));
    assert_eq!(lock["held"], false, "{lock}");
}

#[test]
fn a_run_killed_at_every_point_ends_as_an_uninterrupted_one() {
    let dir = tempfile::tempdir().expect("dir");
    let csv = keywords(dir.path());
    let want = totals(&reference(dir.path(), &csv));
    let data = dir.path().join("killed");

    // During a stage batch (stage 2). Meanwhile a second `igny8 run` is refused: the
    // first process is alive; the refusal names the lease end as people read times.
    let mut child = spawn_run(&data, &csv);
    let first = wait_for(&data, &mut child, "stage 2 began", |r| batches(r, 2) >= 1);
    let refused = command(&data).args(["run", "--quiet", "--json", "--keywords"]).arg(&csv).output().expect("run");
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    assert_eq!(json_of(&refused)["error"]["code"], "run_already_active");
    let message = stderr(&refused);
    assert!(message.contains(first["id"].as_str().expect("run id")), "names the active run: {message}");
    assert!(message.contains("Z, in ") && !message.contains("unix ms"), "{message}");
    std::thread::sleep(Duration::from_millis(90));
    kill_9(&mut child, "during a stage-2 batch");

    // Right after a batch (stage 4): the step recorded its batch, its result is not
    // committed yet.
    let mut child = spawn_run(&data, &csv);
    let at = wait_for(&data, &mut child, "stage 4 began", |r| batches(r, 4) >= 1);
    let done = batches(&at, 4);
    wait_for(&data, &mut child, "another stage-4 batch", |r| batches(r, 4) > done);
    kill_9(&mut child, "between stage-4 batches");

    // While paused: asked as soon as the next process has taken the run over (its
    // fence moved), so it pauses in stage 4 or 5, never at stage 6's door.
    let fence = latest_run(&data).expect("run")["fence"].as_i64().expect("fence");
    let mut child = spawn_run(&data, &csv);
    let run = wait_for(&data, &mut child, "the take-over", |r| r["fence"].as_i64() > Some(fence));
    let run_id = run["id"].as_str().expect("run id").to_owned();
    let paused = igny8(&data, &["runs", "pause", "--run", &run_id]);
    assert!(paused.status.success(), "{}", stderr(&paused));
    wait_for(&data, &mut child, "the pause", |r| r["status"] == "paused");
    kill_9(&mut child, "while paused");

    // During the image jobs.
    let mut child = spawn_run(&data, &csv);
    wait_for(&data, &mut child, "image jobs under way", |r| {
        let (queued, finished) = (r["images_queued"].as_i64().unwrap_or(0), r["images_finished"].as_i64().unwrap_or(0));
        r["current_stage"] == 6 && finished >= 1 && finished + 2 < queued
    });
    kill_9(&mut child, "during the image jobs");

    let last = command(&data).args(["run", "--quiet", "--json", "--keywords"]).arg(&csv).output().expect("run");
    assert!(last.status.success(), "{}", stderr(&last));
    assert!(stderr(&last).contains(&format!("continuing run {run_id}")), "{}", stderr(&last));
    let summary = json_of(&last);
    assert_eq!(summary["run_id"], run_id.as_str(), "the same run went on");
    assert_eq!(summary["status"], "completed");
    assert_eq!(summary["continued"], true);
    assert_eq!(totals(&summary), want, "the same as an uninterrupted run");
    assert_ledger(&data, want["credits_used"].as_i64().expect("credits"));
    assert_released(&data);
}

#[test]
fn ctrl_c_once_pauses_twice_exits_and_the_run_resumes() {
    let dir = tempfile::tempdir().expect("dir");
    let csv = keywords(dir.path());
    let want = totals(&reference(dir.path(), &csv));
    let data = dir.path().join("interrupted");

    // Once: pauses after the current batch and exits, saying how to resume.
    let mut child = spawn_run(&data, &csv);
    let run = wait_for(&data, &mut child, "stage 3 began", |r| batches(r, 3) >= 1);
    let run_id = run["id"].as_str().expect("run id").to_owned();
    sigint(&child);
    let once = child.wait_with_output().expect("wait");
    assert_eq!(once.status.code(), Some(130), "{}", stderr(&once));
    assert!(stderr(&once).contains(&format!("igny8 runs resume --run {run_id}")), "{}", stderr(&once));
    assert_eq!(json_of(&once)["status"], "paused");
    assert_eq!(latest_run(&data).expect("run")["status"], "paused");
    let shown = json_of(&igny8(&data, &["runs", "show", "--run", &run_id, "--json"]));
    assert_eq!(shown["interrupted"], true, "no process drives it now");

    // `igny8 run` continues it; twice exits at once.
    let mut child = spawn_run(&data, &csv);
    let at = wait_for(&data, &mut child, "the run going on", |r| r["status"] == "running" && batches(r, 4) >= 1);
    assert_eq!(at["id"], run_id.as_str());
    sigint(&child);
    std::thread::sleep(Duration::from_millis(60));
    let second = Instant::now();
    sigint(&child);
    let twice = child.wait_with_output().expect("wait");
    assert!(second.elapsed() < Duration::from_secs(5), "the second Ctrl-C exits at once");
    assert_eq!(twice.status.code(), Some(130), "{}", stderr(&twice));
    assert!(stderr(&twice).contains("exiting now"), "{}", stderr(&twice));

    // `runs resume` continues the interrupted run here, to its end.
    let resumed = command(&data).args(["runs", "resume", "--run", &run_id, "--json"]).output().expect("resume");
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let doc = json_of(&resumed);
    assert_eq!(doc["run"]["status"], "completed");
    assert_eq!(totals(&doc["summary"]), want, "the same as an uninterrupted run");
    assert_ledger(&data, want["credits_used"].as_i64().expect("credits"));
    assert_released(&data);
}

#[test]
fn cancelling_an_interrupted_run_finishes_it_and_gives_everything_back() {
    let dir = tempfile::tempdir().expect("dir");
    let csv = keywords(dir.path());
    let data = dir.path().join("cancelled");
    let mut child = spawn_run(&data, &csv);
    let run = wait_for(&data, &mut child, "stage 2 began", |r| batches(r, 2) >= 1);
    let run_id = run["id"].as_str().expect("run id").to_owned();
    kill_9(&mut child, "during stage 2");

    let cancelled = command(&data).args(["runs", "cancel", "--run", &run_id, "--json"]).output().expect("cancel");
    assert!(cancelled.status.success(), "{}", stderr(&cancelled));
    let doc = json_of(&cancelled);
    assert_eq!(doc["run"]["status"], "cancelled");
    assert_ledger(&data, doc["summary"]["credits_used"].as_i64().expect("credits"));
    assert_released(&data);
    let again = igny8(&data, &["runs", "cancel", "--run", &run_id]);
    assert_eq!(again.status.code(), Some(3), "a cancelled run stays cancelled: {}", stderr(&again));
}
