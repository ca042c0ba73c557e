//! Clustering benchmark for the offline AI provider.
//!
//! (a) Quality: clusters the BANKING77 test split (3,080 queries, 77 intents) and
//!     prints homogeneity, completeness, V-measure, ARI and the cluster count, with
//!     the default options and a small threshold sweep (reference: TF-IDF +
//!     agglomerative ≈ V 0.50).
//! (b) Speed: clusters 10k and 100k synthetic keywords built from topic vocabularies
//!     with a seeded generator and prints wall time and cluster count.
//!
//! Usage: `cargo run --release -p igny8-core --example cluster_bench [path/to/test.csv]`

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Instant;

use igny8_ai::offline::cluster::{cluster_keywords, cluster_labels, plan_clusters};
use igny8_ai::offline::metrics::{adjusted_rand_index, dense_labels, v_measure};
use igny8_ai::offline::text::SplitMix64;
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

const HEADS: &[&str] = &[
    "running shoes",
    "coffee maker",
    "yoga mat",
    "electric bike",
    "standing desk",
    "gaming laptop",
    "air fryer",
    "hiking boots",
    "dog food",
    "cat litter",
    "office chair",
    "wireless earbuds",
    "mechanical keyboard",
    "baby stroller",
    "camping tent",
    "sleeping bag",
    "protein powder",
    "espresso machine",
    "robot vacuum",
    "water filter",
    "smart watch",
    "fitness tracker",
    "road bike",
    "kayak paddle",
    "garden hose",
    "lawn mower",
    "pressure washer",
    "electric toothbrush",
    "hair dryer",
    "face moisturizer",
    "sunscreen lotion",
    "vitamin supplements",
    "wedding dress",
    "engagement ring",
    "car insurance",
    "home insurance",
    "travel backpack",
    "carry on luggage",
    "noise cancelling headphones",
    "bluetooth speaker",
    "4k monitor",
    "graphics card",
    "web hosting",
    "vpn service",
    "password manager",
    "project management software",
    "email marketing tool",
    "seo audit",
    "keyword research",
    "content calendar",
    "chocolate cake",
    "sourdough bread",
    "banana bread",
    "vegan lasagna",
    "chicken curry",
    "pizza dough",
    "cold brew coffee",
    "green tea",
    "red wine",
    "craft beer",
    "house plants",
    "succulent care",
    "tomato plants",
    "compost bin",
    "bird feeder",
    "fish tank",
    "guitar strings",
    "piano lessons",
    "language learning app",
    "online courses",
    "resume template",
    "cover letter",
    "job interview",
    "mortgage rates",
    "credit card",
    "savings account",
    "stock trading app",
    "tax software",
    "solar panels",
    "heat pump",
    "roof repair",
    "kitchen remodel",
    "bathroom tiles",
    "paint colors",
    "wood flooring",
];
const ATTRS: &[&str] = &[
    "",
    "",
    "",
    "waterproof",
    "lightweight",
    "cheap",
    "premium",
    "organic",
    "portable",
    "small",
    "large",
    "quiet",
    "budget",
    "professional",
    "compact",
    "eco friendly",
    "durable",
    "kids",
    "beginner",
    "used",
    "refurbished",
    "luxury",
    "simple",
    "easy",
    "healthy",
    "fast",
    "digital",
    "classic",
];
const PREFIXES: &[&str] = &[
    "",
    "",
    "",
    "best",
    "buy",
    "how to choose",
    "how to clean",
    "top",
    "affordable",
    "what is the best",
    "where to buy",
    "cheapest",
    "review",
    "compare",
    "how to use",
    "guide to",
    "why use",
];
const SUFFIXES: &[&str] = &[
    "",
    "",
    "",
    "for women",
    "for men",
    "near me",
    "2026",
    "reviews",
    "price",
    "sale",
    "online",
    "uk",
    "for beginners",
    "guide",
    "ideas",
    "brands",
    "vs alternatives",
    "deals",
    "with warranty",
    "for home",
    "for travel",
    "under 100",
    "tips",
    "problems",
    "comparison",
    "recipe",
    "login",
];

/// Seeded synthetic keyword set: each keyword is prefix + attribute + head +
/// suffix; the head index is the ground-truth topic.
fn synthetic(n: usize, seed: u64) -> (Vec<KeywordInput>, Vec<usize>) {
    let mut rng = SplitMix64::new(seed);
    let mut kws = Vec::with_capacity(n);
    let mut truth = Vec::with_capacity(n);
    for _ in 0..n {
        let h = rng.below(HEADS.len());
        let parts = [
            PREFIXES[rng.below(PREFIXES.len())],
            ATTRS[rng.below(ATTRS.len())],
            HEADS[h],
            SUFFIXES[rng.below(SUFFIXES.len())],
        ];
        let text = parts.iter().filter(|p| !p.is_empty()).copied().collect::<Vec<_>>().join(" ");
        // Heavy-tailed volumes: most keywords small, a few large.
        let u = rng.unit().max(1e-6);
        let volume = (10.0 / u.powf(0.9)).min(1_000_000.0) as i64;
        kws.push(KeywordInput::new(text, volume));
        truth.push(h);
    }
    (kws, truth)
}

fn speed(n: usize) {
    let (kws, truth) = synthetic(n, 0x5eed_0000 + n as u64);
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
    let (kws, _) = synthetic(n, 0x5eed_0000 + n as u64);
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
    let (new, _) = synthetic(n / 100, 0xfeed);
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

fn main() {
    let path = std::env::args().nth(1).unwrap_or_else(|| DEFAULT_PATH.to_string());
    banking(&path);
    speed(10_000);
    speed(100_000);
    plan_speed(10_000);
    plan_speed(100_000);
}

/// Exposes the synthetic generator to profiling harnesses that include this file.
#[allow(dead_code)]
pub fn synthetic_pub(n: usize) -> (Vec<KeywordInput>, Vec<usize>) {
    synthetic(n, 0x5eed_0000 + n as u64)
}

/// Exposes the CSV loader to profiling harnesses that include this file.
#[allow(dead_code)]
pub fn load_pub(path: &str) -> Result<(Vec<KeywordInput>, Vec<usize>), String> {
    load(path)
}
