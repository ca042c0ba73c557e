//! `igny8 content analyze|validate|optimize` and `igny8 links suggest|apply` as a person
//! or a script uses them, on the data directory of an `igny8 run`: every check and the
//! score, validation's exit status, an optimization that asks first (and charges
//! nothing when not confirmed), then charges what it says; links suggested and applied
//! once; and bad input as one clear line with its code and exit status.

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "../../tests/api/unlink.rs"]
mod unlink;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use igny8_ai::OfflineProvider;
use igny8_core::domain::SiteId;
use igny8_core::ports::{SystemClock, UuidIds};
use igny8_wiring::embedded::{ExecutorOptions, LocalRuntime};
use serde_json::Value;

use common::{igny8, json, stdout};

fn ok(o: Output) -> Value {
    assert!(o.status.success(), "{o:?}");
    json(&o)
}

/// A data directory after `igny8 run` on the first 30 example keywords; its account and site.
fn ran(dir: &Path) -> (std::path::PathBuf, String, String) {
    let all = include_str!("../../examples/keywords.csv");
    let csv = dir.join("keywords.csv");
    std::fs::write(&csv, all.lines().take(31).collect::<Vec<_>>().join("\n")).expect("write csv");
    let data = dir.join("data");
    let summary = ok(igny8(&data, &["run", "--keywords", csv.to_str().expect("utf-8"), "--quiet", "--json"]));
    assert_eq!(summary["status"], "completed", "{summary}");
    let account = summary["account_id"].as_str().expect("account").to_owned();
    let site = summary["site_id"].as_str().expect("site").to_owned();
    (data, account, site)
}

fn credits(data: &Path, account: &str) -> i64 {
    ok(igny8(data, &["credits", "balance", "--account", account, "--json"]))["credits"].as_i64().expect("credits")
}

fn error_code(o: &Output) -> String {
    json(o)["error"]["code"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn analyze_validate_optimize_and_links_from_the_command_line() {
    let dir = tempfile::tempdir().expect("dir");
    let (data, account, site) = ran(dir.path());
    let list = ok(igny8(&data, &["content", "list", "--all", "--json"]));
    let articles: Vec<String> =
        list["content"].as_array().expect("content").iter().map(|c| c["id"].as_str().expect("id").to_owned()).collect();
    assert!(articles.len() >= 2, "{list}");
    let article = articles[0].as_str();

    // analyze: every check with its score and message, and the total.
    let analysis = ok(igny8(&data, &["content", "analyze", "--content", article, "--json"]));
    assert_eq!(analysis["content_id"], article, "{analysis}");
    let checks = analysis["analysis"]["checks"].as_array().expect("checks");
    assert!(checks.len() >= 10, "{analysis}");
    let score = analysis["analysis"]["score"].as_u64().expect("score");
    assert!(score <= 100);
    let table = igny8(&data, &["content", "analyze", "--site", &site, "--content", article]);
    assert!(table.status.success(), "{table:?}");
    let text = stdout(&table);
    for check in checks {
        let id = check["id"].as_str().expect("id");
        let line = text.lines().find(|l| l.starts_with(id)).unwrap_or_else(|| panic!("{id} is shown: {text}"));
        assert!(line.contains(&format!("{}/9", check["score"])), "{line}");
    }
    assert!(text.contains(&format!("score {score}/100")), "{text}");
    assert!(text.contains("validation: "), "{text}");

    // validate: the report; exit 3 exactly when it has errors.
    let validated = igny8(&data, &["content", "validate", "--content", article, "--json"]);
    let report = json(&validated);
    let errors = report["issues"].as_array().expect("issues").iter().filter(|i| i["severity"] == "error").count();
    assert_eq!(validated.status.code(), Some(if errors > 0 { 3 } else { 0 }), "{report}");
    assert_eq!(report["issues"], analysis["validation"]["issues"]);

    // optimize: asks first; not confirmed (no terminal) charges nothing.
    let before = credits(&data, &account);
    let refused = Command::new(env!("CARGO_BIN_EXE_igny8"))
        .arg("--data-dir")
        .arg(&data)
        .args(["content", "optimize", "--content", article, "--json"])
        .env_remove("IGNY8_BACKEND")
        .stdin(Stdio::null())
        .output()
        .expect("run igny8");
    assert_eq!((refused.status.code(), error_code(&refused).as_str()), (Some(3), "not_confirmed"), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("credits"), "the estimate is shown: {refused:?}");
    assert_eq!(credits(&data, &account), before, "nothing charged");
    let done = ok(igny8(&data, &["content", "optimize", "--content", article, "--yes", "--json"]));
    let record = &done["optimization"];
    let charged = record["credits"].as_i64().expect("credits");
    assert!(charged > 0, "{done}");
    assert_eq!(credits(&data, &account), before - charged, "the record's credits are what the ledger lost");
    let (was, now) =
        (record["before"]["score"].as_u64().expect("before"), record["after"]["score"].as_u64().expect("after"));
    assert_eq!(was, score);
    assert_eq!(record["kept"].as_bool(), Some(now > was), "{record}");
    let rescored = ok(igny8(&data, &["content", "analyze", "--content", article, "--json"]));
    assert_eq!(rescored["analysis"]["score"].as_u64(), Some(was.max(now)), "never a lower score");
    let text = stdout(&igny8(&data, &["content", "optimize", "--content", &articles[1], "--yes"]));
    assert!(text.contains(" -> ") && text.contains("credits charged"), "{text}");
    assert!(ok(igny8(&data, &["credits", "reconcile", "--account", &account, "--json"]))["balanced"] == true);

    // links: a pass over the site changes nothing the run's linking left; an article
    // that names another gets a link to it suggested, then applied once.
    let first = ok(igny8(&data, &["links", "apply", "--json"]));
    assert_eq!(first["articles"].as_u64(), Some(articles.len() as u64), "{first}");
    let again = ok(igny8(&data, &["links", "apply", "--site", &site, "--json"]));
    assert_eq!((again["links_added"].as_u64(), again["changed"].as_u64()), (Some(0), Some(0)), "{again}");
    let site_id: SiteId = site.parse().expect("site");
    let (one, target) =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(async {
            let options = ExecutorOptions { time_scale: 0.0, ..ExecutorOptions::default() };
            let rt = LocalRuntime::open(
                &data,
                Arc::new(OfflineProvider::with_year(2026)),
                Arc::new(SystemClock),
                Arc::new(UuidIds),
                options,
            )
            .expect("runtime");
            let (one, target, _) = unlink::relate_two(Arc::clone(&rt.services.store), &site_id).await;
            (one, target)
        });
    let suggested = ok(igny8(&data, &["links", "suggest", "--content", &one, "--json"]));
    let links: Vec<&Value> = suggested["suggestions"]
        .as_array()
        .expect("suggestions")
        .iter()
        .flat_map(|a| a["links"].as_array().expect("links"))
        .collect();
    assert!(links.iter().any(|l| l["target"] == target.as_str()), "a link to the article it names: {suggested}");
    assert!(links.iter().all(|l| l["target"] != one.as_str() && l["anchor"].as_str().is_some_and(|a| !a.is_empty())));
    let text = stdout(&igny8(&data, &["links", "suggest", "--content", &one]));
    assert!(text.contains(&format!("{} links suggested for 1 articles", links.len())), "{text}");
    let applied = ok(igny8(&data, &["links", "apply", "--content", &one, "--json"]));
    assert_eq!(applied["links_added"].as_u64(), Some(links.len() as u64), "{applied}");
    let text = stdout(&igny8(&data, &["links", "apply", "--content", &one]));
    assert!(
        text.ends_with("1 articles looked at, 0 changed: 0 links added, 0 updated; 0 publications marked for update"),
        "{text}"
    );

    // Bad input: one clear line, its code, exit 2; nothing charged.
    let spent = credits(&data, &account);
    for args in [
        vec!["content", "analyze", "--content", "cnt_nothex", "--json"],
        vec!["content", "validate", "--content", "nope", "--json"],
        vec!["content", "optimize", "--content", "cnt_nothex", "--yes", "--json"],
        vec!["links", "suggest", "--content", "nope", "--json"],
        vec!["links", "apply", "--site", "site_nothex", "--json"],
    ] {
        let o = igny8(&data, &args);
        assert_eq!((o.status.code(), error_code(&o).as_str()), (Some(2), "malformed_id"), "{args:?}: {o:?}");
        assert_eq!(String::from_utf8_lossy(&o.stderr).trim().lines().count(), 1, "one line: {o:?}");
    }
    let unknown = "cnt_00000000000000000000000000000000";
    for args in [
        vec!["content", "analyze", "--content", unknown, "--json"],
        vec!["content", "optimize", "--content", unknown, "--yes", "--json"],
        vec!["links", "apply", "--content", unknown, "--json"],
        vec!["links", "suggest", "--site", "site_00000000000000000000000000000000", "--json"],
    ] {
        let o = igny8(&data, &args);
        assert_eq!((o.status.code(), error_code(&o).as_str()), (Some(2), "not_found"), "{args:?}: {o:?}");
    }
    assert_eq!(credits(&data, &account), spent, "refusals charge nothing");
}
