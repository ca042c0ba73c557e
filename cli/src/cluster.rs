//! `igny8 cluster`: a keyword export grouped into topic clusters, for people who only
//! want the grouping — no site, no run, no credits. The file is read as `keywords
//! import` reads it; the clustering is the run's stage 1 service
//! ([`KeywordClustering::cluster_list`]), with the embedding cache in the data
//! directory's store, so a second run over the same keywords embeds nothing.

use std::path::Path;

use igny8_ai::ClusterOut;
use igny8_core::clustering::{ClusteringError, ClusteringOutcome, KeywordClustering};
use igny8_core::domain::ClusterMode;
use igny8_core::planner::{parse_keywords_csv, ImportError};
use igny8_wiring::Backend;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::args::ClusterArgs;
use crate::commands::Output;
use crate::error::CliError;
use crate::run::failure;

/// The CSV's header: one row per keyword.
const HEADER: [&str; 5] = ["keyword", "volume", "cluster_id", "cluster_name", "pillar_keyword"];

/// What to do instead of semantic clustering without a model.
const ALTERNATIVE: &str = "or cluster with --mode lexical (--mode auto picks semantic once the model is there)";

/// Where the embedding model comes from, named in the error when the service's own
/// message does not name it.
const MODEL_HINT: &str = "install it with scripts/models.sh (or point IGNY8_MODEL_DIR at its files), \
                          or cluster with --mode lexical (--mode auto picks semantic once the model is there)";

impl From<ClusteringError> for CliError {
    fn from(e: ClusteringError) -> Self {
        let code = e.code();
        match e {
            ClusteringError::NoEmbeddingModel(_) => {
                let said = e.to_string();
                let message = if said.contains("scripts/models.sh") {
                    format!("{said}; {ALTERNATIVE}")
                } else {
                    format!("{said}; {MODEL_HINT}")
                };
                Self::Refused { code, message }
            }
            // The provider's refusal or outage is its word, not a fault here.
            ClusteringError::Ai(_) => Self::Refused { code, message: e.to_string() },
            ClusteringError::Repo(r) => r.into(),
        }
    }
}

/// A bad file, said in one line that names it.
fn file_error(path: &Path, e: ImportError) -> CliError {
    let code = e.code();
    match e {
        ImportError::Malformed(rows) => {
            let shown: Vec<String> = rows.iter().take(5).map(|r| format!("line {}: {}", r.line, r.message)).collect();
            let more = rows.len().saturating_sub(shown.len());
            let more = if more > 0 { format!("; and {more} more") } else { String::new() };
            CliError::invalid(
                code,
                format!("{}: {} malformed row(s): {}{more}", path.display(), rows.len(), shown.join("; ")),
            )
        }
        ImportError::Repo(r) => r.into(),
        other => CliError::invalid(code, format!("{}: {other}", path.display())),
    }
}

/// The embedding progress bar: on stderr, drawn only on a terminal and never with
/// `--json` (scripts read stdout and stderr as they are).
fn progress_bar(visible: bool) -> ProgressBar {
    let target = if visible { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
    let bar = ProgressBar::with_draw_target(None, target);
    let style = ProgressStyle::with_template("embedding [{bar:32.cyan/blue}] {pos:>6}/{len:6} {per_sec} {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar
}

/// `igny8 cluster`.
pub async fn cluster(backend: Backend, args: ClusterArgs, json_out: bool) -> Result<Output, CliError> {
    let data = std::fs::read(&args.input)
        .map_err(|e| CliError::invalid("unreadable_file", format!("cannot read {}: {e}", args.input.display())))?;
    let keywords = parse_keywords_csv(&data).map_err(|e| file_error(&args.input, e))?;
    let store = backend.open_store().await?;
    let ai = igny8_wiring::ai_from_env().map_err(failure)?;
    let clustering = KeywordClustering::new(ai, store);
    let bar = progress_bar(!json_out);
    let progress = |done: usize, total: usize| {
        bar.set_length(u64::try_from(total).unwrap_or(u64::MAX));
        bar.set_position(u64::try_from(done).unwrap_or(u64::MAX));
    };
    let outcome = clustering.cluster_list(&keywords, args.mode.into(), &progress).await;
    bar.finish_and_clear();
    let outcome = outcome?;
    if let Some(reason) = &outcome.fallback {
        eprintln!("note: {reason}");
    }
    let rows = rows(&keywords, &outcome.clusters);
    let csv = match (&args.out, json_out) {
        (None, true) => String::new(),
        _ => to_csv(&rows)?,
    };
    let text = match &args.out {
        Some(path) => {
            std::fs::write(path, &csv)
                .map_err(|e| CliError::Failure(format!("cannot write {}: {e}", path.display())))?;
            summary_line(&keywords, &outcome, path)
        }
        None => csv.trim_end().to_owned(),
    };
    let json = if json_out { document(&keywords, &outcome, &rows, args.out.as_deref())? } else { String::new() };
    Ok(Output::rendered(json, text))
}

/// One output row: a keyword and, when it was clustered, its cluster.
struct Row<'a> {
    keyword: &'a str,
    volume: i64,
    /// 1-based position of its cluster in the outcome; None when no cluster holds it.
    cluster: Option<(usize, &'a ClusterOut)>,
}

/// The rows in cluster order (each cluster's pillar first, as the clustering lists
/// them), then any keyword no cluster holds, in file order.
fn rows<'a>(keywords: &'a [igny8_ai::KeywordInput], clusters: &'a [ClusterOut]) -> Vec<Row<'a>> {
    let mut placed = vec![false; keywords.len()];
    let mut out = Vec::with_capacity(keywords.len());
    for (n, cluster) in clusters.iter().enumerate() {
        for &i in &cluster.keywords {
            let Some(k) = keywords.get(i) else { continue };
            if std::mem::replace(&mut placed[i], true) {
                continue;
            }
            out.push(Row { keyword: &k.keyword, volume: k.volume, cluster: Some((n + 1, cluster)) });
        }
    }
    for (k, _) in keywords.iter().zip(&placed).filter(|(_, placed)| !**placed) {
        out.push(Row { keyword: &k.keyword, volume: k.volume, cluster: None });
    }
    out
}

fn to_csv(rows: &[Row<'_>]) -> Result<String, CliError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(HEADER).map_err(failure)?;
    for row in rows {
        let (id, name, pillar) = match row.cluster {
            Some((id, c)) => (id.to_string(), c.name.as_str(), c.pillar_keyword.as_str()),
            None => (String::new(), "", ""),
        };
        writer.write_record([row.keyword, &row.volume.to_string(), &id, name, pillar]).map_err(failure)?;
    }
    let bytes = writer.into_inner().map_err(failure)?;
    String::from_utf8(bytes).map_err(failure)
}

/// `--json`: the clusters with their keywords, and how they were made. Fields in
/// key order, as every other command's document prints them.
#[derive(Serialize)]
struct Document<'a> {
    cached: usize,
    clusters: Vec<ClusterDocument<'a>>,
    embedded: usize,
    fallback: Option<&'a str>,
    keywords: usize,
    mode: &'a str,
    out: Option<String>,
    unclustered: Vec<&'a str>,
}

/// One cluster of the `--json` document.
#[derive(Serialize)]
struct ClusterDocument<'a> {
    id: usize,
    intent: &'a str,
    keywords: Vec<Member<'a>>,
    name: &'a str,
    pillar_keyword: &'a str,
    size: usize,
    total_volume: i64,
}

/// A keyword of a cluster in the `--json` document.
#[derive(Serialize)]
struct Member<'a> {
    keyword: &'a str,
    volume: i64,
}

/// The `--json` document, serialized straight from the outcome: at 100,000 keywords
/// building it as a `serde_json::Value` first copied every keyword twice and took a
/// tenth of the command's time.
fn document(
    keywords: &[igny8_ai::KeywordInput],
    outcome: &ClusteringOutcome,
    rows: &[Row<'_>],
    out: Option<&Path>,
) -> Result<String, CliError> {
    let clusters = outcome
        .clusters
        .iter()
        .enumerate()
        .map(|(n, c)| {
            let members: Vec<Member<'_>> = c
                .keywords
                .iter()
                .filter_map(|&i| keywords.get(i))
                .map(|k| Member { keyword: &k.keyword, volume: k.volume })
                .collect();
            ClusterDocument {
                id: n + 1,
                intent: &c.intent,
                size: members.len(),
                keywords: members,
                name: &c.name,
                pillar_keyword: &c.pillar_keyword,
                total_volume: c.total_volume,
            }
        })
        .collect();
    let document = Document {
        cached: outcome.cached,
        clusters,
        embedded: outcome.embedded,
        fallback: outcome.fallback.as_deref(),
        keywords: keywords.len(),
        mode: outcome.mode.as_str(),
        out: out.map(|p| p.display().to_string()),
        unclustered: rows.iter().filter(|r| r.cluster.is_none()).map(|r| r.keyword).collect(),
    };
    serde_json::to_string(&document).map_err(failure)
}

/// What `--out` prints instead of the rows.
fn summary_line(keywords: &[igny8_ai::KeywordInput], outcome: &ClusteringOutcome, path: &Path) -> String {
    let embeddings = if outcome.mode == ClusterMode::Semantic {
        format!(" ({} embedded, {} from the cache)", outcome.embedded, outcome.cached)
    } else {
        String::new()
    };
    format!(
        "{} keywords in {} clusters, {}{embeddings}: {}",
        keywords.len(),
        outcome.clusters.len(),
        outcome.mode.as_str(),
        path.display()
    )
}
