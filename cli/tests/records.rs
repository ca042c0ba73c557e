//! The reading and importing commands as a person or a script uses them:
//! `keywords import|list`, `clusters list`, `content list|show|export`, with `--json`,
//! exit codes and error codes.

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../tests/imports/fixtures.rs"]
mod fixtures;

mod common;

use std::path::Path;
use std::process::{Command, Output};

use fixtures::{expected_rows, export, Enc, Tool};
use serde_json::Value;

use common::{igny8, json};

fn ok(o: Output) -> Value {
    assert!(o.status.success(), "{o:?}");
    json(&o)
}

fn site(dir: &Path) -> String {
    let account = ok(igny8(dir, &["account", "create", "--name", "Acme", "--json"]));
    let id = account["account"]["id"].as_str().expect("account id").to_owned();
    let site =
        ok(igny8(dir, &["site", "create", "--account", &id, "--name", "Blog", "--domain", "b.example", "--json"]));
    site["site"]["id"].as_str().expect("site id").to_owned()
}

#[test]
fn keywords_import_an_ahrefs_export_and_list_them() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let site = site(&data);
    let file = dir.path().join("ahrefs.csv");
    std::fs::write(&file, export(Tool::Ahrefs, Enc::Utf16Le, '\t', 150)).expect("write");
    let file = file.to_str().expect("utf-8 path");

    let report = ok(igny8(&data, &["keywords", "import", "--site", &site, file, "--json"]));
    assert_eq!(
        (report["rows"].as_u64(), report["imported"].as_u64(), report["duplicates"].as_u64()),
        (Some(expected_rows(150)), Some(150), Some(1)),
        "{report}"
    );
    assert_eq!((report["encoding"].as_str(), report["separator"].as_str()), (Some("UTF-16LE"), Some("tab")));
    let text = igny8(&data, &["keywords", "import", "--site", &site, file]);
    assert!(String::from_utf8_lossy(&text.stdout).starts_with("0 new keywords imported"), "{text:?}");

    let page = ok(igny8(&data, &["keywords", "list", "--site", &site, "--limit", "100", "--json"]));
    assert_eq!(page["keywords"].as_array().map(Vec::len), Some(100));
    assert!(page["cursor"].is_string(), "{page}");
    let rest = ok(igny8(
        &data,
        &["keywords", "list", "--site", &site, "--cursor", page["cursor"].as_str().unwrap(), "--json"],
    ));
    assert_eq!(rest["keywords"].as_array().map(Vec::len), Some(50), "{rest}");
    let all = ok(igny8(&data, &["keywords", "list", "--site", &site, "--all", "--json"]));
    let keywords = all["keywords"].as_array().expect("keywords");
    assert_eq!(keywords.len(), 150);
    assert!(keywords.iter().any(|k| k["keyword"] == "best café crème"), "UTF-16 text intact");
    let lines = igny8(&data, &["keywords", "list", "--site", &site, "--all"]);
    assert_eq!(String::from_utf8_lossy(&lines.stdout).lines().count(), 150);

    // A malformed file: exit 2, the code and the line, nothing imported.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "Keyword;Volume\nnew one;10\nbroken;lots\n").expect("write");
    let o = igny8(&data, &["keywords", "import", "--site", &site, bad.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert_eq!(json(&o)["error"]["code"], "validation_failed");
    assert!(String::from_utf8_lossy(&o.stderr).contains("line 3"), "{o:?}");
    let all = ok(igny8(&data, &["keywords", "list", "--site", &site, "--all", "--json"]));
    assert_eq!(all["keywords"].as_array().map(Vec::len), Some(150), "nothing imported");
    std::fs::write(&bad, b"Keyword\ncaf\xe9\n").expect("write");
    let o = igny8(&data, &["keywords", "import", "--site", &site, bad.to_str().unwrap(), "--json"]);
    assert_eq!((o.status.code(), json(&o)["error"]["code"].as_str()), (Some(2), Some("invalid_encoding")));

    let o = igny8(&data, &["keywords", "list", "--json"]);
    assert_eq!((o.status.code(), json(&o)["error"]["code"].as_str()), (Some(2), Some("site_required")), "{o:?}");
    let o = igny8(&data, &["clusters", "list", "--site", "site_00000000000000000000000000000000", "--json"]);
    assert_eq!((o.status.code(), json(&o)["error"]["code"].as_str()), (Some(2), Some("not_found")), "{o:?}");
}

#[test]
fn a_runs_articles_are_listed_shown_and_exported_with_their_images() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let csv = dir.path().join("keywords.csv");
    let all = include_str!("../../examples/keywords.csv");
    std::fs::write(&csv, all.lines().take(31).collect::<Vec<_>>().join("\n")).expect("write");
    let run = Command::new(env!("CARGO_BIN_EXE_igny8"))
        .arg("--data-dir")
        .arg(&data)
        .args(["run", "--quiet", "--keywords"])
        .arg(&csv)
        .output()
        .expect("run");
    assert!(run.status.success(), "{run:?}");
    assert!(
        String::from_utf8_lossy(&run.stdout).contains("igny8 content export --site site_"),
        "the run says how to read it"
    );

    // Without --site: the local site of the run.
    let clusters = ok(igny8(&data, &["clusters", "list", "--all", "--json"]));
    let clusters = clusters["clusters"].as_array().expect("clusters");
    assert!(!clusters.is_empty());
    assert!(clusters.iter().all(|c| c["pillar_keyword"].is_string() && c["keyword_ids"].is_array()));
    let content = ok(igny8(&data, &["content", "list", "--all", "--json"]));
    let articles = content["content"].as_array().expect("content").clone();
    assert!(!articles.is_empty());
    let first = articles[0]["id"].as_str().expect("id");
    let shown = ok(igny8(&data, &["content", "show", "--id", first, "--json"]));
    assert_eq!(shown["content"]["id"], first);
    let md = shown["markdown"].as_str().expect("markdown");
    assert!(md.starts_with("# ") && md.contains("\n## "), "{md}");
    let text = igny8(&data, &["content", "show", "--id", first]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("\n## "), "{text:?}");
    let o = igny8(&data, &["content", "show", "--id", "cnt_00000000000000000000000000000000", "--json"]);
    assert_eq!((o.status.code(), json(&o)["error"]["code"].as_str()), (Some(2), Some("not_found")));

    let out = dir.path().join("articles");
    let exported = ok(igny8(&data, &["content", "export", "--out", out.to_str().unwrap(), "--json"]));
    let listed = exported["articles"].as_array().expect("articles");
    assert_eq!(listed.len(), articles.len());
    let index = std::fs::read_to_string(out.join("index.html")).expect("index.html");
    let mut images = 0;
    for article in listed {
        let html_path = Path::new(article["html"].as_str().expect("html"));
        let folder = html_path.parent().expect("folder");
        let name = folder.file_name().and_then(|n| n.to_str()).expect("folder name");
        assert!(index.contains(&format!("href=\"{name}/article.html\"")), "index links {name}");
        assert!(index.contains(&format!("href=\"{name}/article.md\"")), "index links {name}.md");
        let html = std::fs::read_to_string(html_path).expect("article.html");
        assert!(html.starts_with("<!doctype html>") && html.contains("<h1>"), "{html}");
        let md = std::fs::read_to_string(folder.join("article.md")).expect("article.md");
        assert!(md.starts_with("# "), "{md}");
        let pngs: Vec<_> = std::fs::read_dir(folder)
            .expect("folder")
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "png"))
            .collect();
        assert_eq!(pngs.len() as u64, article["images"].as_u64().expect("images"));
        for png in &pngs {
            let file = png.file_name().into_string().expect("name");
            assert!(html.contains(&format!("src=\"{file}\"")) && md.contains(&format!("]({file})")), "{file} shown");
            assert!(std::fs::read(png.path()).expect("png").starts_with(b"\x89PNG"));
        }
        images += pngs.len();
    }
    assert!(images > 0, "the run's images are beside their articles");
    let text = igny8(&data, &["content", "export", "--out", out.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("index.html"), "{text:?}");
}

#[test]
fn keywords_import_and_list_on_the_aws_adapters() {
    let endpoint = std::env::var("IGNY8_TEST_DYNAMODB_ENDPOINT")
        .expect("IGNY8_TEST_DYNAMODB_ENDPOINT is not set: run the tests with scripts/with_moto.sh");
    let dir = tempfile::tempdir().expect("dir");
    let table = format!("kw{}", std::process::id());
    let aws = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_igny8"))
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--backend", "aws", "--endpoint", &endpoint, "--table", &table, "--bucket", &table])
            .args(args)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .output()
            .expect("run igny8")
    };
    let account = ok(aws(&["account", "create", "--name", "Acme", "--json"]));
    let account = account["account"]["id"].as_str().expect("account").to_owned();
    let site = ok(aws(&["site", "create", "--account", &account, "--name", "B", "--domain", "b.example", "--json"]));
    let site = site["site"]["id"].as_str().expect("site").to_owned();
    let file = dir.path().join("gkp.csv");
    std::fs::write(&file, export(Tool::KeywordPlanner, Enc::Utf16Be, ';', 40)).expect("write");
    let report = ok(aws(&["keywords", "import", "--site", &site, file.to_str().unwrap(), "--json"]));
    assert_eq!((report["imported"].as_u64(), report["duplicates"].as_u64()), (Some(40), Some(1)), "{report}");
    let all = ok(aws(&["keywords", "list", "--site", &site, "--all", "--json"]));
    assert_eq!(all["keywords"].as_array().map(Vec::len), Some(40));
    let clusters = ok(aws(&["clusters", "list", "--site", &site, "--json"]));
    assert_eq!(clusters["clusters"].as_array().map(Vec::len), Some(0), "no run yet");
}
