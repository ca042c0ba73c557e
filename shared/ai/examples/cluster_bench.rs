//! Clustering benchmark for the offline AI provider.
//!
//! (a) Quality: clusters the BANKING77 test split (3,080 queries, 77 intents) and
//!     prints homogeneity, completeness, V-measure, ARI and the cluster count, with
//!     the default options and a small threshold sweep (reference: TF-IDF +
//!     agglomerative ≈ V 0.50).
//! (b) Speed: clusters 10k and 100k synthetic keywords built from topic vocabularies
//!     with a seeded generator (`metrics::synthetic_keywords`) and prints wall time
//!     and cluster count.
//! (c) Semantic: when MiniLM embeddings of BANKING77 are present
//!     (`banking77-{train,test}.f32`: little-endian f32, one 384-wide row per CSV row,
//!     written by igny8-embed), clusters both splits semantically with the default
//!     options and a merge-threshold sweep (tune on train, report test).
//!
//! Usage: `cargo run --release -p igny8-ai --example cluster_bench [path/to/test.csv [embeddings dir]]`
//! (the embeddings directory defaults to `$IGNY8_EMB_DIR`, else `/var/tmp/igny8-emb`);
//! `IGNY8_BENCH_ONLY=semantic` (or `lexical`) runs one part.

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Instant;

use igny8_ai::offline::cluster::{cluster_keywords, cluster_labels, plan_clusters};
use igny8_ai::offline::metrics::{adjusted_rand_index, dense_labels, synthetic_keywords, v_measure};
use igny8_ai::offline::semantic::{cluster_semantic, SemanticOptions};
use igny8_ai::{ClusterOptions, ExistingCluster, KeywordInput};

const DEFAULT_PATH: &str = "/work/shared/data/banking77/test.csv";

/// Parses CSV text into records (RFC 4180: quoted fields may hold commas, doubled
/// quotes and newlines — a few BANKING77 queries span lines).
fn csv_records(raw: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut cur)),
            '\r' if !quoted => {}
            '\n' if !quoted => {
                fields.push(std::mem::take(&mut cur));
                records.push(std::mem::take(&mut fields));
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() || !fields.is_empty() {
        fields.push(cur);
        records.push(fields);
    }
    records
}

/// Reads `text,category` rows (header skipped); the label is the last field.
fn load(path: &str) -> Result<(Vec<KeywordInput>, Vec<usize>), String> {
    let raw = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let mut texts = Vec::new();
    let mut labels = Vec::new();
    for mut f in csv_records(&raw).into_iter().skip(1) {
        if f.len() < 2 {
            continue;
        }
        let label = f.pop().unwrap_or_default();
        texts.push(KeywordInput::new(f.join(",").trim().to_string(), 0));
        labels.push(label);
    }
    Ok((texts, dense_labels(&labels)))
}

fn score(name: &str, truth: &[usize], pred: &[u32], secs: f64) {
    let pred: Vec<usize> = pred.iter().map(|&p| p as usize).collect();
    let m = v_measure(truth, &pred);
    let ari = adjusted_rand_index(truth, &pred);
    let k = dense_labels(&pred).into_iter().max().map_or(0, |x| x + 1);
    println!(
        "{name:<34} V={:.4} homogeneity={:.4} completeness={:.4} ARI={:.4} clusters={k} time={:.3}s",
        m.v_measure, m.homogeneity, m.completeness, ari, secs
    );
}

fn banking(path: &str) {
    let (kws, truth) = match load(path) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("skipping BANKING77: {e}");
            return;
        }
    };
    println!("BANKING77 {path}: {} queries, {} intents", kws.len(), truth.iter().max().map_or(0, |m| m + 1));
    let defaults = ClusterOptions::default();
    let start = Instant::now();
    match cluster_labels(&kws, &defaults) {
        Ok(pred) => score("default options", &truth, &pred, start.elapsed().as_secs_f64()),
        Err(e) => eprintln!("clustering failed: {e}"),
    }
    println!("threshold sweep (similarity_threshold / linkage_threshold):");
    for sim in [0.1f32, 0.2, 0.3] {
        for link in [0.02f32, 0.03, 0.05, 0.1, 0.2, 0.3] {
            let opts = ClusterOptions { similarity_threshold: sim, linkage_threshold: link, ..defaults.clone() };
            let start = Instant::now();
            if let Ok(pred) = cluster_labels(&kws, &opts) {
                score(&format!("  sim={sim:.2} link={link:.2}"), &truth, &pred, start.elapsed().as_secs_f64());
            }
        }
    }
}

fn speed(n: usize) {
    let (kws, truth) = synthetic_keywords(n, 0x5eed_0000 + n as u64);
    let opts = ClusterOptions::default();
    let start = Instant::now();
    match cluster_keywords(&kws, &opts) {
        Ok(clusters) => {
            let secs = start.elapsed().as_secs_f64();
            let largest = clusters.iter().map(|c| c.keywords.len()).max().unwrap_or(0);
            let singletons = clusters.iter().filter(|c| c.keywords.len() == 1).count();
            let mut pred = vec![0usize; n];
            for (ci, c) in clusters.iter().enumerate() {
                for &i in &c.keywords {
                    pred[i] = ci;
                }
            }
            let m = v_measure(&truth, &pred);
            println!(
                "synthetic {n:>7} keywords: {:.3}s, {} clusters (largest {largest}, singletons {singletons}), V vs topic={:.4} homogeneity={:.4}",
                secs,
                clusters.len(),
                m.v_measure,
                m.homogeneity
            );
            if let Some(top) = clusters.first() {
                println!(
                    "  top cluster: \"{}\" pillar \"{}\" intent {} volume {} ({} keywords)",
                    top.name,
                    top.pillar_keyword,
                    top.intent,
                    top.total_volume,
                    top.keywords.len()
                );
            }
        }
        Err(e) => eprintln!("synthetic {n}: clustering failed: {e}"),
    }
}

/// A second run's plan: `n` keywords already clustered, `n / 100` new ones (another
/// seed) joining them or forming new clusters.
fn plan_speed(n: usize) {
    let (kws, _) = synthetic_keywords(n, 0x5eed_0000 + n as u64);
    let opts = ClusterOptions::default();
    let Ok(clusters) = cluster_keywords(&kws, &opts) else { return };
    let existing: Vec<ExistingCluster> = clusters
        .iter()
        .map(|c| ExistingCluster {
            name: c.name.clone(),
            pillar_keyword: c.pillar_keyword.clone(),
            keywords: c.keywords.iter().map(|&i| kws[i].clone()).collect(),
        })
        .collect();
    let (new, _) = synthetic_keywords(n / 100, 0xfeed);
    let start = Instant::now();
    match plan_clusters(&new, &existing, &opts) {
        Ok(plan) => {
            let joined: usize = plan.joins.iter().map(Vec::len).sum();
            println!(
                "plan {:>6} new over {} existing clusters of {n} keywords: {:.3}s, {joined} joined, {} new clusters",
                new.len(),
                existing.len(),
                start.elapsed().as_secs_f64(),
                plan.clusters.len()
            );
        }
        Err(e) => eprintln!("plan over {n}: failed: {e}"),
    }
}

/// Reads `banking77-{split}.f32` from `dir` as rows of `n` equally long vectors.
fn load_embeddings(dir: &str, split: &str, n: usize) -> Result<Vec<Vec<f32>>, String> {
    let path = format!("{dir}/banking77-{split}.f32");
    let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let floats = bytes.len() / 4;
    if n == 0 || floats % n != 0 || bytes.len() % 4 != 0 {
        return Err(format!("{path}: {} bytes is not {n} rows of f32", bytes.len()));
    }
    let dim = floats / n;
    let all: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    Ok(all.chunks_exact(dim).map(<[f32]>::to_vec).collect())
}

/// Labels per keyword from named clusters (the cluster's position).
fn labels_of(clusters: &[igny8_ai::ClusterOut], n: usize) -> Vec<u32> {
    let mut pred = vec![0u32; n];
    for (c, cl) in clusters.iter().enumerate() {
        for &i in &cl.keywords {
            pred[i] = c as u32;
        }
    }
    pred
}

/// Semantic clustering of both BANKING77 splits from their embeddings: defaults,
/// then a merge-threshold sweep (choose on train, read the test row).
fn semantic(csv_dir: &str, emb_dir: &str) {
    for split in ["train", "test"] {
        let csv = format!("{csv_dir}/{split}.csv");
        let (kws, truth) = match load(&csv) {
            Ok(x) => x,
            Err(e) => {
                eprintln!("skipping semantic {split}: {e}");
                continue;
            }
        };
        let vectors = match load_embeddings(emb_dir, split, kws.len()) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("skipping semantic {split}: {e}");
                continue;
            }
        };
        println!("semantic BANKING77 {split}: {} queries, {}-wide embeddings", kws.len(), vectors[0].len());
        let defaults = SemanticOptions::default();
        let run = |name: &str, opts: &SemanticOptions| {
            let start = Instant::now();
            match cluster_semantic(&kws, &vectors, opts) {
                Ok(clusters) => score(name, &truth, &labels_of(&clusters, kws.len()), start.elapsed().as_secs_f64()),
                Err(e) => eprintln!("semantic clustering failed: {e}"),
            }
        };
        run(&format!("  defaults (merge {:.2})", defaults.merge_threshold), &defaults);
        let sweep = std::env::var("IGNY8_BENCH_SWEEP").unwrap_or_else(|_| "0.40,0.45,0.50,0.55,0.60,0.65".into());
        for t in sweep.split(',').filter_map(|t| t.trim().parse::<f32>().ok()) {
            run(&format!("  merge={t:.2}"), &SemanticOptions { merge_threshold: t, ..defaults.clone() });
        }
    }
}

/// Scale check without a model: `n` 384-wide vectors, noisy copies of 500 random
/// unit centroids (cosine to their centroid ≈ 0.75), as keywords "topic T item I".
fn semantic_speed(n: usize) {
    let mut rng = igny8_ai::offline::text::SplitMix64::new(0x5e3a);
    let mut gaussian_unit = |scale: f32| -> Vec<f32> {
        let mut v: Vec<f32> = (0..384).map(|_| (rng.unit() as f32 - 0.5) * scale).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= norm);
        v
    };
    let centres: Vec<Vec<f32>> = (0..500).map(|_| gaussian_unit(1.0)).collect();
    let mut kws = Vec::with_capacity(n);
    let mut vectors = Vec::with_capacity(n);
    let mut truth = Vec::with_capacity(n);
    for i in 0..n {
        let t = (i * 7919) % centres.len();
        let noise = gaussian_unit(1.0);
        vectors.push(centres[t].iter().zip(&noise).map(|(c, e)| c + 0.85 * e).collect::<Vec<f32>>());
        kws.push(KeywordInput::new(format!("topic {t} item {i}"), (i % 97) as i64));
        truth.push(t);
    }
    let start = Instant::now();
    match cluster_semantic(&kws, &vectors, &SemanticOptions::default()) {
        Ok(clusters) => score(
            &format!("semantic synthetic {n} (500 topics)"),
            &truth,
            &labels_of(&clusters, n),
            start.elapsed().as_secs_f64(),
        ),
        Err(e) => eprintln!("semantic synthetic {n}: failed: {e}"),
    }
}

fn main() {
    let path = std::env::args().nth(1).unwrap_or_else(|| DEFAULT_PATH.to_string());
    let emb_dir = std::env::args()
        .nth(2)
        .or_else(|| std::env::var("IGNY8_EMB_DIR").ok())
        .unwrap_or_else(|| "/var/tmp/igny8-emb".to_string());
    let only = std::env::var("IGNY8_BENCH_ONLY").unwrap_or_default();
    if only != "semantic" {
        banking(&path);
        speed(10_000);
        speed(100_000);
        plan_speed(10_000);
        plan_speed(100_000);
    }
    if only != "lexical" {
        let csv_dir = std::path::Path::new(&path).parent().map_or(".".into(), |p| p.display().to_string());
        semantic(&csv_dir, &emb_dir);
        semantic_speed(20_000);
    }
}

/// Exposes the synthetic generator to profiling harnesses that include this file.
#[allow(dead_code)]
pub fn synthetic_pub(n: usize) -> (Vec<KeywordInput>, Vec<usize>) {
    synthetic_keywords(n, 0x5eed_0000 + n as u64)
}

/// Exposes the CSV loader to profiling harnesses that include this file.
#[allow(dead_code)]
pub fn load_pub(path: &str) -> Result<(Vec<KeywordInput>, Vec<usize>), String> {
    load(path)
}
