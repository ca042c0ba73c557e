//! `igny8 integrations …`, `igny8 content approve`, `igny8 publish` and
//! `igny8 publications` against a real WordPress (Debian's, on 127.0.0.1, started by
//! `igny8_tests::wordpress::WordPress` and stopped after): a small run, an integration
//! added with the password from the environment, a connection test with the right and
//! a wrong password (read from stdin), every article approved and published, the posts
//! visible through WordPress's REST API, a second publish updating instead of posting
//! again, and the password in no output of any command.
//!
//! Needs root the first time (the script installs Debian packages); see docs/testing.md.

// Tests may panic: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use igny8_tests::wordpress::WordPress;
use serde_json::Value;

use common::{json, stdout};

/// Runs `igny8 --data-dir DIR ARGS… --json` with extra environment and stdin.
fn run(dir: &Path, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_igny8"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .arg("--json")
        .env_remove("IGNY8_BACKEND")
        .env_remove("IGNY8_APP_PASSWORD")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run igny8");
    if let Some(text) = stdin {
        child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("igny8 output")
}

/// Everything the commands printed, to look for the password in at the end.
#[derive(Default)]
struct Transcript(Vec<u8>);

impl Transcript {
    fn keep(&mut self, o: &Output) {
        self.0.extend_from_slice(&o.stdout);
        self.0.extend_from_slice(&o.stderr);
    }

    fn ok(&mut self, dir: &Path, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Value {
        let o = run(dir, args, env, stdin);
        self.keep(&o);
        assert!(o.status.success(), "igny8 {args:?}: {o:?}");
        json(&o)
    }
}

/// The posts of `status` WordPress lists (up to 100), through its REST API.
fn posts(wp: &WordPress, status: &str) -> Vec<Value> {
    let admin = wp.user("admin");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let reply = reqwest::Client::new()
            .get(format!("{}wp/v2/posts?per_page=100&status={status}&context=edit", wp.rest_root()))
            .basic_auth(&admin.username, Some(&admin.app_password))
            .send()
            .await
            .expect("GET wp/v2/posts");
        assert!(reply.status().is_success(), "GET wp/v2/posts: {}", reply.status());
        reply.json::<Vec<Value>>().await.expect("posts JSON")
    })
}

#[test]
fn publishing_to_a_real_wordpress_from_the_command_line() {
    let wp = WordPress::start().expect("start WordPress");
    // An author: may publish and upload, but not create the categories an article
    // names; those are left off the posts and reported on the publications.
    let user = wp.user("author").clone();
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let mut out = Transcript::default();

    // A small run: a handful of articles on the data directory's local site.
    let csv = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/keywords.csv")).expect("csv");
    let small: String = csv.lines().take(6).map(|l| format!("{l}\n")).collect();
    std::fs::write(d.join("keywords.csv"), small).expect("write keywords");
    out.ok(d, &["run", "--keywords", d.join("keywords.csv").to_str().expect("path"), "--quiet"], &[], None);
    let articles = out.ok(d, &["content", "list"], &[], None)["content"].as_array().expect("content").clone();
    assert!(!articles.is_empty(), "the run wrote articles");
    let password = [("IGNY8_APP_PASSWORD", user.app_password.as_str())];

    // A wrong password (from stdin): added, but the test says so.
    let added = out.ok(
        d,
        &[
            "integrations",
            "add",
            "--platform",
            "wordpress",
            "--url",
            &wp.url,
            "--username",
            "author",
            "--app-password",
            "-",
        ],
        &[],
        Some("abcd efgh ijkl mnop qrst uvwx\n"),
    );
    let wrong = added["id"].as_str().expect("integration id").to_owned();
    let o = run(d, &["integrations", "test", "--integration", &wrong], &[], None);
    out.keep(&o);
    assert_eq!(o.status.code(), Some(3), "a refused test exits 3: {o:?}");
    let report = json(&o);
    assert_eq!(report["success"], Value::Bool(false), "{report}");
    assert_eq!(report["error"]["code"], "bad_credentials", "{report}");
    out.ok(d, &["integrations", "remove", "--integration", &wrong], &[], None);

    // An unknown platform is a clear error.
    let o = run(d, &["integrations", "add", "--platform", "wix", "--url", &wp.url], &[], None);
    out.keep(&o);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert_eq!(json(&o)["error"]["code"], "unsupported_platform");

    // The right password, from the environment.
    let added = out.ok(
        d,
        &["integrations", "add", "--platform", "wordpress", "--url", &wp.url, "--username", "author"],
        &password,
        None,
    );
    let integration = added["id"].as_str().expect("integration id").to_owned();
    let report = out.ok(d, &["integrations", "test", "--platform", "wordpress"], &[], None);
    assert_eq!(report["success"], Value::Bool(true), "{report}");
    assert_eq!(report["can_publish"], Value::Bool(true), "an author publishes: {report}");
    let listed = out.ok(d, &["integrations", "list"], &[], None);
    assert_eq!(listed["integrations"].as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed["integrations"][0]["id"].as_str(), Some(integration.as_str()));

    // Review, then publish.
    let approved = out.ok(d, &["content", "approve", "--all"], &[], None);
    assert_eq!(approved["approved"].as_u64(), Some(articles.len() as u64), "{approved}");
    let before = posts(&wp, "publish").len();
    let published = out.ok(d, &["publish", "--status", "publish"], &[], None);
    assert_eq!(
        (published["published"].as_u64(), published["failed"].as_u64()),
        (Some(articles.len() as u64), Some(0)),
        "{published}"
    );
    let live = posts(&wp, "publish");
    assert_eq!(live.len(), before + articles.len(), "one post per article");
    for article in &articles {
        let title = article["title"].as_str().expect("title");
        assert!(live.iter().any(|p| p["title"]["raw"].as_str() == Some(title)), "{title} is on WordPress: {live:?}");
    }

    // Publishing them again updates the same posts.
    let first = articles[0]["id"].as_str().expect("content id").to_owned();
    let mut again = vec!["publish", "--status", "publish"];
    for article in &articles {
        again.extend(["--content", article["id"].as_str().expect("content id")]);
    }
    let republished = out.ok(d, &again, &[], None);
    assert_eq!(republished["failed"].as_u64(), Some(0), "{republished}");
    assert_eq!(posts(&wp, "publish").len(), before + articles.len(), "no second post");
    let records = out.ok(d, &["publications", "--content", &first], &[], None);
    let items = records["publications"].as_array().expect("publications");
    assert_eq!(items.len(), 1, "{records}");
    assert_eq!(items[0]["state"], "published", "{records}");
    let skipped = items[0]["skipped_terms"].as_array().expect("skipped_terms");
    assert!(
        skipped.iter().all(|t| t.as_str().is_some_and(|t| t.starts_with("categories:"))) && !skipped.is_empty(),
        "the author cannot create the cluster's category; it is reported: {records}"
    );
    let remote = items[0]["remote_id"].as_str().expect("remote id");
    assert!(
        live.iter().any(|p| p["id"].as_u64().is_some_and(|id| id.to_string() == remote)),
        "publication {remote} is a WordPress post"
    );

    // Sync reads them back.
    let sync = out.ok(d, &["integrations", "sync", "--integration", &integration], &[], None);
    assert_eq!(sync["success"], Value::Bool(true), "{sync}");

    // A run told to publish when it ends: its new articles go out as drafts.
    let more: String = csv.lines().take(1).chain(csv.lines().skip(6).take(6)).map(|l| format!("{l}\n")).collect();
    std::fs::write(d.join("more.csv"), more).expect("write keywords");
    let drafts_before = posts(&wp, "draft").len();
    let ran = out.ok(
        d,
        &["run", "--keywords", d.join("more.csv").to_str().expect("path"), "--quiet", "--publish", "draft"],
        &[],
        None,
    );
    let published_by_run = ran["published"].as_u64().expect("published count");
    assert!(published_by_run > 0, "the run published its articles: {ran}");
    assert_eq!(ran["publish_failed"].as_u64(), Some(0), "{ran}");
    assert_eq!(posts(&wp, "draft").len() as u64, drafts_before as u64 + published_by_run, "one draft per article");

    let printed = String::from_utf8_lossy(&out.0).into_owned();
    let compact: String = user.app_password.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(
        !printed.contains(&user.app_password) && !printed.contains(&compact),
        "the password was printed: {}",
        stdout(&run(d, &["integrations", "list"], &[], None))
    );
    wp.stop().expect("stop WordPress");
}
