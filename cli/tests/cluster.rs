//! `igny8 cluster` as people and scripts use it: a keyword tool's export in each
//! encoding it comes in gives the same rows, `--out` and `--json`, bad files, the
//! modes without the embedding model, and (with the model installed) semantic
//! clustering and its embedding cache. `igny8 run --cluster-mode` reaches the run.

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output};

use common::{json, stdout};

/// Keywords of four topics, one with a non-ASCII letter and one with a comma (quoted
/// in a comma-separated file).
const KEYWORDS: &[(&str, i64)] = &[
    ("best running shoes", 9_900),
    ("running shoes for women", 4_400),
    ("trail running shoes", 2_900),
    ("running shoes for flat feet", 1_300),
    ("cheap running shoes", 880),
    ("running shoes, wide fit", 590),
    ("espresso machine", 12_100),
    ("best espresso machine for home", 3_600),
    ("espresso machine cleaning", 1_000),
    ("café espresso machine price", 720),
    ("cheap espresso machine", 590),
    ("how to descale an espresso machine", 480),
    ("dog food", 40_500),
    ("grain free dog food", 6_600),
    ("best dry dog food", 5_400),
    ("puppy dog food", 2_400),
    ("dog food for allergies", 1_900),
    ("homemade dog food recipe", 1_600),
    ("solar panels for home", 14_800),
    ("solar panel cost", 8_100),
    ("portable solar panels", 4_400),
    ("solar panels for rv", 2_900),
    ("how many solar panels do i need", 2_400),
    ("solar panel installation", 1_600),
];

/// The keyword file's text with a separator, the keyword quoted where it must be.
fn csv_text(separator: char, crlf: bool) -> String {
    let eol = if crlf { "\r\n" } else { "\n" };
    let mut text = format!("Keyword{separator}Volume{eol}");
    for (keyword, volume) in KEYWORDS {
        let cell = if keyword.contains(separator) { format!("\"{keyword}\"") } else { (*keyword).to_owned() };
        text.push_str(&format!("{cell}{separator}{volume}{eol}"));
    }
    text
}

fn utf16(text: &str, bom: bool, little: bool) -> Vec<u8> {
    let mut out = Vec::new();
    if bom {
        out.extend_from_slice(if little { &[0xFF, 0xFE] } else { &[0xFE, 0xFF] });
    }
    for unit in text.encode_utf16() {
        out.extend_from_slice(&if little { unit.to_le_bytes() } else { unit.to_be_bytes() });
    }
    out
}

/// Every encoding and layout `keywords import` reads (see
/// shared/core/src/planner/keyword_file.rs): UTF-8 with and without a byte-order
/// mark, UTF-16LE and UTF-16BE with one, UTF-16LE without one; comma-, tab- and
/// semicolon-separated; LF and CRLF line ends.
fn exports() -> Vec<(&'static str, Vec<u8>)> {
    let mut bom = vec![0xEF, 0xBB, 0xBF];
    bom.extend_from_slice(csv_text(',', true).as_bytes());
    vec![
        ("utf-8, comma", csv_text(',', false).into_bytes()),
        ("utf-8 with BOM, comma, CRLF (Excel's CSV UTF-8)", bom),
        ("utf-8, semicolon", csv_text(';', false).into_bytes()),
        ("utf-16le with BOM, tab, CRLF (Ahrefs / Keyword Planner for Excel)", utf16(&csv_text('\t', true), true, true)),
        ("utf-16be with BOM, tab", utf16(&csv_text('\t', false), true, false)),
        ("utf-16le without BOM, tab", utf16(&csv_text('\t', false), false, true)),
    ]
}

/// `igny8 --data-dir DIR ARGS…` with no AI endpoint and the embedding model looked
/// for in `model_dir` (None: wherever the environment says).
fn igny8(dir: &Path, model_dir: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_igny8"));
    cmd.arg("--data-dir").arg(dir).args(args);
    for var in ["IGNY8_BACKEND", "IGNY8_AI_BASE_URL", "IGNY8_AI_API_KEY"] {
        cmd.env_remove(var);
    }
    if let Some(m) = model_dir {
        cmd.env("IGNY8_MODEL_DIR", m);
    }
    cmd.output().expect("run igny8")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).trim().to_owned()
}

/// The rows of the CSV `igny8 cluster` writes, header checked.
fn rows(csv: &str) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new().from_reader(csv.as_bytes());
    let header: Vec<String> = reader.headers().expect("header").iter().map(str::to_owned).collect();
    assert_eq!(header, ["keyword", "volume", "cluster_id", "cluster_name", "pillar_keyword"], "{csv}");
    reader.records().map(|r| r.expect("row").iter().map(str::to_owned).collect()).collect()
}

/// Per cluster id: the (name, pillar) pairs its rows carry and its member keywords.
type ClusterRows = BTreeMap<usize, (BTreeSet<(String, String)>, BTreeSet<String>)>;

/// What every output must be: each keyword once with its volume, clusters numbered
/// 1..=n in order, one name and one pillar per cluster, the pillar a member.
fn check_rows(rows: &[Vec<String>]) {
    let mut seen: Vec<(String, i64)> =
        rows.iter().map(|r| (r[0].clone(), r[1].parse::<i64>().expect("volume"))).collect();
    seen.sort();
    let mut want: Vec<(String, i64)> = KEYWORDS.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
    want.sort();
    assert_eq!(seen, want, "every keyword once, with its volume");
    let mut clusters: ClusterRows = BTreeMap::new();
    let mut order = Vec::new();
    for r in rows {
        let id: usize = r[2].parse().unwrap_or_else(|_| panic!("cluster id of {r:?}"));
        if order.last() != Some(&id) {
            order.push(id);
        }
        let entry = clusters.entry(id).or_default();
        entry.0.insert((r[3].clone(), r[4].clone()));
        entry.1.insert(r[0].clone());
    }
    let ids: Vec<usize> = clusters.keys().copied().collect();
    assert_eq!(ids, (1..=clusters.len()).collect::<Vec<_>>(), "ids are 1..=n");
    assert_eq!(order, ids, "rows come in cluster order, each cluster's rows together");
    for (id, (labels, members)) in &clusters {
        assert_eq!(labels.len(), 1, "cluster {id} has one name and pillar: {labels:?}");
        let (name, pillar) = labels.iter().next().expect("label");
        assert!(!name.is_empty(), "cluster {id} is named");
        assert!(members.contains(pillar), "cluster {id}'s pillar {pillar:?} is a member of {members:?}");
    }
    assert!(clusters.len() < KEYWORDS.len(), "keywords are grouped: {} clusters", clusters.len());
}

fn cluster_of<'a>(rows: &'a [Vec<String>], keyword: &str) -> &'a str {
    &rows.iter().find(|r| r[0] == keyword).unwrap_or_else(|| panic!("{keyword} missing"))[2]
}

#[test]
fn every_encoding_of_an_export_gives_the_same_rows() {
    let dir = tempfile::tempdir().expect("dir");
    let mut outputs = Vec::new();
    for (n, (name, bytes)) in exports().into_iter().enumerate() {
        let file = dir.path().join(format!("export-{n}.csv"));
        std::fs::write(&file, bytes).expect("write");
        let o = igny8(&dir.path().join("data"), None, &["cluster", "--in", file.to_str().expect("path")]);
        assert!(o.status.success(), "{name}: {o:?}");
        outputs.push((name, stdout(&o)));
    }
    let (first_name, first) = &outputs[0];
    let parsed = rows(first);
    check_rows(&parsed);
    assert_eq!(
        cluster_of(&parsed, "best running shoes"),
        cluster_of(&parsed, "trail running shoes"),
        "same topic, same cluster: {first}"
    );
    assert_ne!(cluster_of(&parsed, "best running shoes"), cluster_of(&parsed, "dog food"), "{first}");
    assert!(first.contains("\"running shoes, wide fit\""), "a keyword with a comma is quoted: {first}");
    assert!(first.contains("café espresso machine price"), "UTF-8 out: {first}");
    for (name, out) in &outputs[1..] {
        assert_eq!(out, first, "{name} differs from {first_name}");
    }
}

#[test]
fn out_writes_the_file_and_json_describes_the_clusters() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let file = dir.path().join("keywords.csv");
    std::fs::write(&file, csv_text(',', false)).expect("write");
    let input = file.to_str().expect("path");
    let printed = igny8(&data, None, &["cluster", "--in", input]);
    assert!(printed.status.success(), "{printed:?}");

    let out = dir.path().join("clusters.csv");
    let o = igny8(&data, None, &["cluster", "--in", input, "--out", out.to_str().expect("path")]);
    assert!(o.status.success(), "{o:?}");
    let written = std::fs::read_to_string(&out).expect("--out file");
    assert_eq!(written.trim_end(), stdout(&printed), "--out holds what stdout would");
    assert!(written.ends_with('\n'));
    let line = stdout(&o);
    assert!(line.contains("24 keywords") && line.contains("lexical") && line.contains("clusters.csv"), "{line}");
    assert_eq!(line.lines().count(), 1, "one summary line: {line}");

    let j = igny8(&data, None, &["cluster", "--in", input, "--json"]);
    assert!(j.status.success(), "{j:?}");
    assert!(stderr(&j).is_empty(), "no progress or notes with --json: {}", stderr(&j));
    let doc = json(&j);
    assert_eq!(doc["mode"], "lexical", "{doc}");
    assert!(doc["fallback"].is_null(), "{doc}");
    assert_eq!(doc["cached"], 0, "lexical embeds nothing: {doc}");
    assert_eq!(doc["embedded"], 0, "{doc}");
    assert_eq!(doc["keywords"], KEYWORDS.len());
    assert_eq!(doc["unclustered"].as_array().map(Vec::len), Some(0), "{doc}");
    let clusters = doc["clusters"].as_array().expect("clusters");
    let rows = rows(&stdout(&printed));
    assert_eq!(clusters.len(), rows.iter().map(|r| r[2].clone()).collect::<BTreeSet<_>>().len());
    let mut total = 0;
    for (n, c) in clusters.iter().enumerate() {
        assert_eq!(c["id"], n + 1, "{c}");
        let members = c["keywords"].as_array().expect("members");
        assert_eq!(c["size"], members.len());
        assert_eq!(members[0]["keyword"], c["pillar_keyword"], "the pillar comes first: {c}");
        let id = (n + 1).to_string();
        for m in members {
            let keyword = m["keyword"].as_str().expect("keyword");
            assert_eq!(cluster_of(&rows, keyword), id, "{keyword}: the CSV and the document agree");
        }
        total += members.len();
    }
    assert_eq!(total, KEYWORDS.len());

    // Both: the file is written and the document names it.
    let both = dir.path().join("both.csv");
    let o = igny8(&data, None, &["cluster", "--in", input, "--out", both.to_str().expect("path"), "--json"]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(json(&o)["out"], both.to_str().expect("path"));
    assert_eq!(std::fs::read_to_string(&both).expect("file"), written);
}

#[test]
fn a_bad_file_is_one_clear_line() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "Keyword,Volume\ngood one,10\n,5\nbad volume,many\n").expect("write");
    let no_header = dir.path().join("no-header.csv");
    std::fs::write(&no_header, "Phrase list\nfoo bar\n").expect("write");
    let not_text = dir.path().join("binary.csv");
    std::fs::write(&not_text, [b'K', b'e', b'y', 0xC3, 0x28, b'\n']).expect("write");
    let missing = dir.path().join("missing.csv");
    let cases: [(&Path, &[&str]); 4] = [
        (&bad, &["bad.csv", "line 3", "line 4", "many"]),
        (&no_header, &["no-header.csv", "keyword column"]),
        (&not_text, &["binary.csv", "UTF-8"]),
        (&missing, &["missing.csv"]),
    ];
    for (file, words) in cases {
        let o = igny8(&data, None, &["cluster", "--in", file.to_str().expect("path")]);
        assert_eq!(o.status.code(), Some(2), "{o:?}");
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.starts_with("error: "), "{err}");
        for w in words {
            assert!(err.contains(w), "{w:?} in {err}");
        }
        assert!(stdout(&o).is_empty(), "no rows: {}", stdout(&o));
        let j = igny8(&data, None, &["cluster", "--in", file.to_str().expect("path"), "--json"]);
        assert_eq!(j.status.code(), Some(2));
        assert!(json(&j)["error"]["code"].as_str().is_some_and(|c| !c.is_empty()), "{}", stdout(&j));
    }
}

#[test]
fn semantic_without_the_model_says_how_to_install_it() {
    let dir = tempfile::tempdir().expect("dir");
    let empty = dir.path().join("no-model");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let file = dir.path().join("keywords.csv");
    std::fs::write(&file, csv_text(',', false)).expect("write");
    let o = igny8(
        &dir.path().join("data"),
        Some(&empty),
        &["cluster", "--in", file.to_str().expect("path"), "--mode", "semantic"],
    );
    assert!(!o.status.success(), "{o:?}");
    assert_eq!(o.status.code(), Some(3), "refused: {o:?}");
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("error: ") && err.contains("scripts/models.sh"), "{err}");
    assert!(stdout(&o).is_empty(), "no rows: {}", stdout(&o));
    let j = igny8(
        &dir.path().join("data"),
        Some(&empty),
        &["cluster", "--in", file.to_str().expect("path"), "--mode", "semantic", "--json"],
    );
    assert_eq!(json(&j)["error"]["code"], "embedding_model_missing");
}

#[test]
fn auto_without_the_model_clusters_lexically_and_says_why() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let empty = dir.path().join("no-model");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let file = dir.path().join("keywords.csv");
    std::fs::write(&file, csv_text(',', false)).expect("write");
    let input = file.to_str().expect("path");
    let lexical = igny8(&data, Some(&empty), &["cluster", "--in", input, "--mode", "lexical"]);
    assert!(lexical.status.success(), "{lexical:?}");
    assert!(stderr(&lexical).is_empty(), "lexical says nothing: {}", stderr(&lexical));
    let auto = igny8(&data, Some(&empty), &["cluster", "--in", input, "--mode", "auto"]);
    assert!(auto.status.success(), "{auto:?}");
    let err = stderr(&auto);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("lexical"), "{err}");
    assert_eq!(stdout(&auto), stdout(&lexical), "the fallback is the lexical clustering");
    let j = igny8(&data, Some(&empty), &["cluster", "--in", input, "--mode", "auto", "--json"]);
    assert!(j.status.success(), "{j:?}");
    let doc = json(&j);
    assert_eq!(doc["mode"], "lexical", "{doc}");
    assert!(doc["fallback"].as_str().is_some_and(|r| !r.is_empty()), "{doc}");
    assert_eq!(stderr(&j).lines().count(), 1, "the fallback line is on stderr with --json too");
}

/// The model `scripts/models.sh` installs. CI installs it, so its absence is a
/// failure here, not a skip.
fn installed_model() -> std::path::PathBuf {
    let dir = igny8_embed::default_model_dir();
    assert!(
        igny8_embed::MiniLmEmbedder::locate(&dir).is_some(),
        "the embedding model is not installed in {}: run scripts/models.sh (CI does)",
        dir.display()
    );
    dir
}

/// Needs the real model (scripts/models.sh): semantic clustering through the CLI,
/// its embeddings cached in the data directory — the second run embeds nothing and
/// gives the same rows.
#[test]
fn semantic_with_the_installed_model_caches_its_embeddings() {
    let model = installed_model();
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let file = dir.path().join("keywords.csv");
    std::fs::write(&file, csv_text(',', false)).expect("write");
    let input = file.to_str().expect("path");
    let out = dir.path().join("semantic.csv");
    let first = igny8(
        &data,
        Some(&model),
        &["cluster", "--in", input, "--mode", "semantic", "--out", out.to_str().expect("path"), "--json"],
    );
    assert!(first.status.success(), "{first:?}");
    let doc = json(&first);
    assert_eq!(doc["mode"], "semantic", "{doc}");
    assert_eq!(doc["embedded"], KEYWORDS.len(), "every keyword embedded once: {doc}");
    assert_eq!(doc["cached"], 0, "{doc}");
    let written = std::fs::read_to_string(&out).expect("out");
    let parsed = rows(&written);
    check_rows(&parsed);
    assert_eq!(cluster_of(&parsed, "dog food"), cluster_of(&parsed, "puppy dog food"), "{written}");
    assert_ne!(cluster_of(&parsed, "dog food"), cluster_of(&parsed, "solar panel cost"), "{written}");

    let again = igny8(&data, Some(&model), &["cluster", "--in", input, "--mode", "semantic", "--json"]);
    assert!(again.status.success(), "{again:?}");
    let doc = json(&again);
    assert_eq!(doc["embedded"], 0, "the cache answers: {doc}");
    assert_eq!(doc["cached"], KEYWORDS.len(), "{doc}");
    let csv = igny8(&data, Some(&model), &["cluster", "--in", input, "--mode", "auto"]);
    assert!(csv.status.success(), "{csv:?}");
    assert!(stderr(&csv).is_empty(), "auto with the model falls back to nothing: {}", stderr(&csv));
    assert_eq!(stdout(&csv), written.trim_end(), "same input, same rows");
}

/// `igny8 run --cluster-mode semantic` without the model: stage 1 cannot cluster, and
/// the run says the embedding model is missing; `--cluster-mode lexical` on the same
/// file completes. The flag reaches the site's config either way.
#[test]
fn run_cluster_mode_reaches_stage_one() {
    let dir = tempfile::tempdir().expect("dir");
    let empty = dir.path().join("no-model");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let file = dir.path().join("keywords.csv");
    std::fs::write(&file, csv_text(',', false)).expect("write");
    let input = file.to_str().expect("path");
    let semantic = igny8(
        &dir.path().join("semantic"),
        Some(&empty),
        &["run", "--keywords", input, "--cluster-mode", "semantic", "--quiet"],
    );
    assert!(!semantic.status.success(), "no model, no semantic clusters: {semantic:?}");
    let said = format!("{}\n{}", stdout(&semantic), stderr(&semantic));
    assert!(said.contains("embedding model"), "{said}");
    let lexical = igny8(
        &dir.path().join("lexical"),
        Some(&empty),
        &["run", "--keywords", input, "--cluster-mode", "lexical", "--quiet", "--json"],
    );
    assert!(lexical.status.success(), "{lexical:?}");
    assert_eq!(json(&lexical)["status"], "completed");
}
