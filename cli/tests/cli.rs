//! The `igny8` binary as scripts use it: exit codes, --json documents, bad input, and
//! many processes charging one SQLite file at once.

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{igny8, json, stdout};

fn account(dir: &Path, credits: i64) -> String {
    let o = igny8(dir, &["account", "create", "--name", "Acme", "--credits", &credits.to_string()]);
    assert!(o.status.success(), "{o:?}");
    stdout(&o)
}

fn balance(dir: &Path, account: &str) -> i64 {
    let o = igny8(dir, &["credits", "balance", "--account", account, "--json"]);
    assert!(o.status.success(), "{o:?}");
    json(&o)["credits"].as_i64().expect("credits")
}

#[test]
fn twenty_processes_never_overdraw_one_file() {
    let dir = tempfile::tempdir().expect("dir");
    let acct = account(dir.path(), 12);
    let children: Vec<_> = (0..20)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_igny8"))
                .args(["--data-dir"])
                .arg(dir.path())
                .args(["credits", "charge", "--account", &acct, "--amount", "1", "--json"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    let outputs: Vec<Output> = children.into_iter().map(|c| c.wait_with_output().expect("wait")).collect();
    let ok = outputs.iter().filter(|o| o.status.success()).count();
    let refused: Vec<_> = outputs.iter().filter(|o| !o.status.success()).collect();
    assert_eq!(ok, 12, "exactly the funded charges succeed");
    for o in &refused {
        assert_eq!(o.status.code(), Some(3), "refusal exit code: {o:?}");
        assert_eq!(json(o)["error"]["code"], "insufficient_credits");
    }
    assert_eq!(balance(dir.path(), &acct), 0);
    let r = igny8(dir.path(), &["credits", "reconcile", "--account", &acct, "--json"]);
    assert!(r.status.success(), "{r:?}");
    assert_eq!(json(&r)["difference"], 0);
}

#[test]
fn processes_each_charging_many_times_stay_consistent() {
    let dir = tempfile::tempdir().expect("dir");
    let acct = account(dir.path(), 150);
    let script = format!(
        "for i in $(seq 1 50); do {} --data-dir {} credits charge --account {} --amount 1 >/dev/null 2>&1 || true; done",
        env!("CARGO_BIN_EXE_igny8"),
        dir.path().display(),
        acct
    );
    let children: Vec<_> = (0..4).map(|_| Command::new("bash").args(["-c", &script]).spawn().expect("spawn")).collect();
    for mut c in children {
        assert!(c.wait().expect("wait").success());
    }
    assert_eq!(balance(dir.path(), &acct), 0);
    let r = igny8(dir.path(), &["credits", "reconcile", "--account", &acct]);
    assert!(r.status.success(), "{r:?}");
}

#[test]
fn bad_input_is_one_clear_line_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let acct = account(dir.path(), 10);
    let cases: &[(&[&str], &str)] = &[
        (&["credits", "charge", "--account", &acct, "--amount", "0"], "positive"),
        (&["credits", "charge", "--account", &acct, "--amount", "-3"], "positive"),
        (&["credits", "charge", "--account", &acct, "--operation", "warp", "--units", "1"], "unknown operation"),
        (&["credits", "charge", "--account", &acct, "--operation", "clustering", "--units", "0"], "units"),
        (&["credits", "charge", "--account", "acct_nope", "--amount", "1"], "malformed account id"),
        (&["credits", "charge", "--account", "acct_0123456789abcdef0123456789abcdef", "--amount", "1"], "not found"),
        (&["credits", "add", "--account", &acct, "--amount", "-1"], "positive"),
        (&["account", "create", "--name", "X", "--credits", "-5"], "negative"),
        (&["lock", "acquire", "--site", "site_bad", "--holder", "r"], "malformed site id"),
    ];
    for (args, needle) in cases {
        let o = igny8(dir.path(), args);
        assert_eq!(o.status.code(), Some(2), "{args:?} → {o:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(err.to_lowercase().contains(needle), "{args:?}: {err}");
    }
    assert_eq!(balance(dir.path(), &acct), 10);
    let ledger = igny8(dir.path(), &["credits", "ledger", "--account", &acct, "--json"]);
    assert_eq!(json(&ledger)["transactions"].as_array().map(Vec::len), Some(1));
}

#[test]
fn charge_key_hold_settle_and_lock_round_trip() {
    let dir = tempfile::tempdir().expect("dir");
    let acct = account(dir.path(), 100);
    let first = igny8(dir.path(), &["credits", "charge", "--account", &acct, "--amount", "5", "--key", "k1", "--json"]);
    let again = igny8(dir.path(), &["credits", "charge", "--account", &acct, "--amount", "5", "--key", "k1", "--json"]);
    assert_eq!(json(&first)["transaction"]["id"], json(&again)["transaction"]["id"]);
    assert_eq!(json(&again)["replayed"], true);
    let hold = igny8(dir.path(), &["credits", "hold", "--account", &acct, "--amount", "40"]);
    let hold_id = stdout(&hold);
    let b = json(&igny8(dir.path(), &["credits", "balance", "--account", &acct, "--json"]));
    assert_eq!((b["credits"].as_i64(), b["held"].as_i64(), b["available"].as_i64()), (Some(95), Some(40), Some(55)));
    let settle =
        igny8(dir.path(), &["credits", "settle", "--account", &acct, "--hold", &hold_id, "--amount", "30", "--json"]);
    assert_eq!(json(&settle)["transaction"]["balance_after"], 65);
    let check = igny8(dir.path(), &["credits", "check", "--account", &acct, "--amount", "60", "--buffer", "1.2"]);
    assert_eq!(check.status.code(), Some(3), "60 × 1.2 = 72 > 65");

    let site =
        igny8(dir.path(), &["site", "create", "--account", &acct, "--name", "Blog", "--domain", "blog.example.com"]);
    assert!(site.status.success(), "{site:?}");
    let site_id = stdout(&site);
    let got = igny8(dir.path(), &["lock", "acquire", "--site", &site_id, "--holder", "run-1", "--json"]);
    assert_eq!(json(&got)["fence"], 1);
    let busy = igny8(dir.path(), &["lock", "acquire", "--site", &site_id, "--holder", "run-2", "--json"]);
    assert_eq!(busy.status.code(), Some(3));
    assert_eq!(json(&busy)["error"]["code"], "lock_held");
    assert!(String::from_utf8_lossy(&busy.stderr).contains("run-1"));
    let wrong = igny8(dir.path(), &["lock", "release", "--site", &site_id, "--holder", "run-2"]);
    assert_eq!(wrong.status.code(), Some(3));
    assert!(igny8(dir.path(), &["lock", "release", "--site", &site_id, "--holder", "run-1"]).status.success());
    let status = json(&igny8(dir.path(), &["lock", "status", "--site", &site_id, "--json"]));
    assert_eq!(status["held"], false);
    assert_eq!(status["lock"]["fence"], 1);
}

#[test]
fn dynamodb_backend_round_trip() {
    let endpoint = std::env::var("IGNY8_TEST_DYNAMODB_ENDPOINT")
        .expect("IGNY8_TEST_DYNAMODB_ENDPOINT is not set: run the tests with scripts/test.sh");
    let table = format!("cli{}", std::process::id());
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_igny8"))
            .args(["--backend", "dynamodb", "--endpoint", &endpoint, "--table", &table])
            .args(args)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .output()
            .expect("run igny8")
    };
    let created = run(&["account", "create", "--name", "Cloud", "--credits", "20"]);
    assert!(created.status.success(), "{created:?}");
    let acct = stdout(&created);
    let charged =
        run(&["credits", "charge", "--account", &acct, "--operation", "image_generation", "--units", "3", "--json"]);
    assert_eq!(json(&charged)["transaction"]["balance_after"], 5);
    let refused = run(&["credits", "charge", "--account", &acct, "--amount", "6"]);
    assert_eq!(refused.status.code(), Some(3));
    let reconciled = run(&["credits", "reconcile", "--account", &acct, "--json"]);
    assert!(reconciled.status.success(), "{reconciled:?}");
    assert_eq!(json(&reconciled)["entries"], 2);
}

fn small_keywords(dir: &Path, rows: usize) -> std::path::PathBuf {
    let all = include_str!("../../examples/keywords.csv");
    let text: Vec<&str> = all.lines().take(rows + 1).collect();
    let path = dir.join("keywords.csv");
    std::fs::write(&path, text.join("\n")).expect("write csv");
    path
}

#[test]
fn the_main_job_runs_every_stage_and_prints_its_summary() {
    let dir = tempfile::tempdir().expect("dir");
    let csv = small_keywords(dir.path(), 40);
    let data = dir.path().join("data");
    let o = Command::new(env!("CARGO_BIN_EXE_igny8"))
        .arg("--data-dir")
        .arg(&data)
        .args(["run", "--keywords"])
        .arg(&csv)
        .arg("--json")
        .output()
        .expect("run igny8");
    assert!(o.status.success(), "{o:?}");
    let s = json(&o);
    assert_eq!(s["status"], "completed", "{s}");
    for field in ["clusters", "ideas", "tasks", "articles", "words", "images", "credits_used"] {
        assert!(s[field].as_u64().is_some_and(|n| n > 0), "{field} in {s}");
    }
    assert!(s["credits_by_stage"]["4"].as_i64().is_some_and(|n| n > 0), "{s}");
    let images = std::fs::read_dir(s["images_dir"].as_str().expect("images_dir")).expect("images dir").count();
    assert_eq!(images as u64, s["images"].as_u64().expect("images"));
    assert!(Path::new(s["logs"].as_str().expect("logs")).join("main.log").exists());
    let account = s["account_id"].as_str().expect("account");
    let run = s["run_id"].as_str().expect("run");
    assert!(igny8(&data, &["credits", "reconcile", "--account", account]).status.success());
    let shown = igny8(&data, &["runs", "show", "--run", run, "--json"]);
    assert_eq!(json(&shown)["run"]["status"], "completed");
    // The text shows each stage's items done (and failed, when any) and the total failed.
    let shown = stdout(&igny8(&data, &["runs", "show", "--run", run]));
    assert!(shown.contains("stage 1 clusters: ") && shown.contains("stage 4 content: "), "{shown}");
    assert!(shown.contains("  failed     0"), "no item failed on the offline provider: {shown}");
    let logs = igny8(&data, &["runs", "logs", "--run", run, "--trace"]);
    assert!(stdout(&logs).contains("run_completed"), "{}", stdout(&logs));
    // A second run on the same data dir reuses the local account and site.
    let again = Command::new(env!("CARGO_BIN_EXE_igny8"))
        .arg("--data-dir")
        .arg(&data)
        .args(["run", "--keywords"])
        .arg(&csv)
        .arg("--json")
        .output()
        .expect("run igny8");
    assert_eq!(again.status.code(), Some(3), "no new keywords: refused, {again:?}");
    assert_eq!(json(&again)["error"]["code"], "not_enough_keywords");
    let local = std::fs::read_to_string(data.join("local.json")).expect("local.json");
    assert!(local.contains(account), "the local account is reused: {local}");
}

#[test]
fn a_malformed_keyword_file_is_reported_by_line_and_imports_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let csv = dir.path().join("bad.csv");
    std::fs::write(&csv, "Keyword,Volume\ngood one,10\n,5\nbad volume,many\n").expect("write");
    let data = dir.path().join("data");
    let o = Command::new(env!("CARGO_BIN_EXE_igny8"))
        .arg("--data-dir")
        .arg(&data)
        .args(["run", "--keywords"])
        .arg(&csv)
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("line 3") && err.contains("line 4"), "{err}");
    assert!(!data.join("local.json").exists(), "nothing created");
}

#[test]
fn the_main_job_on_the_aws_adapters_gives_the_same_summary() {
    let endpoint = std::env::var("IGNY8_TEST_DYNAMODB_ENDPOINT")
        .expect("IGNY8_TEST_DYNAMODB_ENDPOINT is not set: run the tests with scripts/test.sh");
    let dir = tempfile::tempdir().expect("dir");
    let csv = small_keywords(dir.path(), 20);
    let table = format!("run{}", std::process::id());
    let run = |extra: &[&str], data: &str| {
        Command::new(env!("CARGO_BIN_EXE_igny8"))
            .arg("--data-dir")
            .arg(dir.path().join(data))
            .args(extra)
            .args(["run", "--keywords"])
            .arg(&csv)
            .arg("--json")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .output()
            .expect("run igny8")
    };
    let local = run(&[], "local");
    let cloud = run(&["--backend", "aws", "--endpoint", &endpoint, "--table", &table, "--bucket", &table], "cloud");
    assert!(local.status.success(), "{local:?}");
    assert!(cloud.status.success(), "{cloud:?}");
    let (l, c) = (json(&local), json(&cloud));
    for field in
        ["status", "clusters", "ideas", "tasks", "articles", "words", "images", "credits_used", "credits_by_stage"]
    {
        assert_eq!(l[field], c[field], "{field}: local {l} vs aws {c}");
    }
    assert!(c["images_dir"].as_str().is_some_and(|d| d.starts_with(&format!("s3://{table}/images/"))), "{c}");
    let bad = Command::new(env!("CARGO_BIN_EXE_igny8"))
        .args(["--backend", "dynamodb", "run", "--keywords"])
        .arg(&csv)
        .output()
        .expect("run");
    assert_eq!(bad.status.code(), Some(2), "--backend dynamodb cannot run the pipeline: {bad:?}");
}

#[test]
fn a_reader_that_stops_early_ends_the_output_quietly() {
    let dir = tempfile::tempdir().expect("dir");
    let keywords = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/keywords.csv");
    let mut child = Command::new(env!("CARGO_BIN_EXE_igny8"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["cluster", "--in", keywords, "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn igny8");
    // Like `igny8 … | head -c 0`: the reader is gone before the document is written.
    drop(child.stdout.take());
    let o = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(o.status.code(), Some(0), "{stderr}");
}
