//! External clustering-quality measures computed from two label vectors (ground
//! truth and prediction): homogeneity, completeness, V-measure (Rosenberg &
//! Hirschberg 2007) and the Adjusted Rand Index (Hubert & Arabie 1985).
//!
//! Why: clustering thresholds are tuned against labelled benchmarks (BANKING77);
//! these are the standard scores, computed exactly as scikit-learn does (natural
//! logarithms, same conventions for degenerate cases) so figures are comparable.

use std::hash::Hash;

use crate::{ClusterOut, KeywordInput};

use super::text::{FxHashMap, SplitMix64};

/// Homogeneity, completeness and their harmonic mean (V-measure, β = 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VMeasure {
    /// 1 when every cluster holds members of a single class.
    pub homogeneity: f64,
    /// 1 when every class sits in a single cluster.
    pub completeness: f64,
    /// Harmonic mean of the two.
    pub v_measure: f64,
}

/// Maps arbitrary labels to dense ids `0..k` in order of first appearance, so
/// string labels (e.g. intent names) can be scored.
pub fn dense_labels<T: Eq + Hash + Clone>(labels: &[T]) -> Vec<usize> {
    let mut ids: FxHashMap<T, usize> = FxHashMap::default();
    labels
        .iter()
        .map(|l| {
            let next = ids.len();
            *ids.entry(l.clone()).or_insert(next)
        })
        .collect()
}

/// Contingency counts and marginals of two equally long labelings.
struct Contingency {
    n: f64,
    cells: Vec<((usize, usize), f64)>,
    rows: Vec<f64>,
    cols: Vec<f64>,
}

fn contingency(truth: &[usize], pred: &[usize]) -> Contingency {
    let t = dense_labels(truth);
    let p = dense_labels(pred);
    let rows_n = t.iter().max().map_or(0, |m| m + 1);
    let cols_n = p.iter().max().map_or(0, |m| m + 1);
    let mut cells: FxHashMap<(usize, usize), f64> = FxHashMap::default();
    let mut rows = vec![0.0; rows_n];
    let mut cols = vec![0.0; cols_n];
    for (a, b) in t.iter().zip(&p) {
        *cells.entry((*a, *b)).or_insert(0.0) += 1.0;
        rows[*a] += 1.0;
        cols[*b] += 1.0;
    }
    let mut cells: Vec<((usize, usize), f64)> = cells.into_iter().collect();
    cells.sort_by_key(|c| c.0);
    Contingency { n: truth.len() as f64, cells, rows, cols }
}

fn entropy(counts: &[f64], n: f64) -> f64 {
    counts.iter().filter(|c| **c > 0.0).map(|c| -(c / n) * (c / n).ln()).sum()
}

/// Homogeneity, completeness and V-measure of `pred` against `truth`.
/// Panics never; mismatched lengths score over the common prefix.
pub fn v_measure(truth: &[usize], pred: &[usize]) -> VMeasure {
    let len = truth.len().min(pred.len());
    let (truth, pred) = (&truth[..len], &pred[..len]);
    if len == 0 {
        return VMeasure { homogeneity: 1.0, completeness: 1.0, v_measure: 1.0 };
    }
    let c = contingency(truth, pred);
    let h_c = entropy(&c.rows, c.n);
    let h_k = entropy(&c.cols, c.n);
    // Mutual information from the contingency table.
    let mut mi = 0.0;
    for &((a, b), nij) in &c.cells {
        mi += (nij / c.n) * ((nij * c.n) / (c.rows[a] * c.cols[b])).ln();
    }
    let homogeneity = if h_c == 0.0 { 1.0 } else { mi / h_c };
    let completeness = if h_k == 0.0 { 1.0 } else { mi / h_k };
    let v = if homogeneity + completeness == 0.0 {
        0.0
    } else {
        2.0 * homogeneity * completeness / (homogeneity + completeness)
    };
    VMeasure { homogeneity, completeness, v_measure: v }
}

fn comb2(x: f64) -> f64 {
    x * (x - 1.0) / 2.0
}

/// Adjusted Rand Index of `pred` against `truth`: 1 for identical partitions,
/// about 0 for random ones (can be negative).
pub fn adjusted_rand_index(truth: &[usize], pred: &[usize]) -> f64 {
    let len = truth.len().min(pred.len());
    let (truth, pred) = (&truth[..len], &pred[..len]);
    let c = contingency(truth, pred);
    let n_classes = c.rows.len();
    let n_clusters = c.cols.len();
    // scikit-learn's special cases: trivial partitions that agree score 1.
    if n_classes == n_clusters && (n_classes <= 1 || n_classes == len) {
        return 1.0;
    }
    let sum_cells: f64 = c.cells.iter().map(|x| comb2(x.1)).sum();
    let sum_rows: f64 = c.rows.iter().map(|x| comb2(*x)).sum();
    let sum_cols: f64 = c.cols.iter().map(|x| comb2(*x)).sum();
    let expected = sum_rows * sum_cols / comb2(c.n);
    let max = (sum_rows + sum_cols) / 2.0;
    if max == expected {
        return 0.0;
    }
    (sum_cells - expected) / (max - expected)
}

/// Every score a clustering benchmark reports for one prediction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scores {
    /// Homogeneity, completeness and V-measure.
    pub v: VMeasure,
    /// Adjusted Rand Index.
    pub ari: f64,
    /// Number of distinct predicted clusters.
    pub clusters: usize,
}

/// V-measure, ARI and cluster count of `pred` against `truth`. Why: the benchmark,
/// the tests and the side-by-side runs report the same figures, computed once here.
pub fn scores(truth: &[usize], pred: &[usize]) -> Scores {
    Scores {
        v: v_measure(truth, pred),
        ari: adjusted_rand_index(truth, pred),
        clusters: dense_labels(pred).into_iter().max().map_or(0, |m| m + 1),
    }
}

/// The label of each of `n` keywords from named clusters (a cluster's position in
/// `clusters`), or `None` unless the clusters are a partition of `0..n` (a keyword
/// in no cluster, in two, or out of range). Why: every semantic and lexical caller
/// that scores [`ClusterOut`]s needs these labels, and checking the partition on the
/// way is what its tests want.
pub fn partition_labels(clusters: &[ClusterOut], n: usize) -> Option<Vec<usize>> {
    let mut pred = vec![usize::MAX; n];
    for (c, cluster) in clusters.iter().enumerate() {
        for &i in &cluster.keywords {
            match pred.get_mut(i) {
                Some(p) if *p == usize::MAX => *p = c,
                _ => return None,
            }
        }
    }
    pred.iter().all(|&p| p != usize::MAX).then_some(pred)
}

/// Topic heads of [`synthetic_keywords`] (the ground-truth topics).
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
/// Attributes of [`synthetic_keywords`].
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
/// Prefixes of [`synthetic_keywords`].
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
/// Suffixes of [`synthetic_keywords`].
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

/// Seeded synthetic keyword set of `n` keywords: each is prefix + attribute +
/// head + suffix from fixed vocabularies (85 heads), with heavy-tailed volumes; the
/// head index is returned as the ground-truth topic. Why here: the clustering
/// benchmark and the side-by-side benchmark (`igny8 cluster` on a CSV) must cluster
/// exactly the same set, so there is one generator.
pub fn synthetic_keywords(n: usize, seed: u64) -> (Vec<KeywordInput>, Vec<usize>) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn v_measure_textbook_values() {
        // scikit-learn documentation examples.
        let m = v_measure(&[0, 0, 1, 1], &[0, 0, 1, 2]);
        assert!(close(m.homogeneity, 1.0));
        assert!(close(m.completeness, 2.0 / 3.0), "{m:?}");
        assert!(close(m.v_measure, 0.8));
        let m = v_measure(&[0, 0, 1, 1], &[1, 1, 0, 0]);
        assert!(close(m.v_measure, 1.0));
        let m = v_measure(&[0, 0, 1, 1], &[0, 1, 0, 1]);
        assert!(close(m.v_measure, 0.0));
        let m = v_measure(&[0, 0, 0, 0], &[0, 1, 2, 3]);
        assert!(close(m.homogeneity, 1.0) && close(m.completeness, 0.0) && close(m.v_measure, 0.0));
    }

    #[test]
    fn ari_textbook_values() {
        assert!(close(adjusted_rand_index(&[0, 0, 1, 1], &[0, 0, 1, 1]), 1.0));
        assert!(close(adjusted_rand_index(&[0, 0, 1, 1], &[1, 1, 0, 0]), 1.0));
        assert!(close(adjusted_rand_index(&[0, 0, 1, 2], &[0, 0, 1, 1]), 0.571_428_571_428_571_4));
        assert!(close(adjusted_rand_index(&[0, 0, 1, 1], &[0, 0, 1, 2]), 0.571_428_571_428_571_4));
        assert!(close(adjusted_rand_index(&[0, 0, 0, 0], &[0, 1, 2, 3]), 0.0));
        assert!(close(adjusted_rand_index(&[0, 0, 1, 1], &[0, 1, 0, 1]), -0.5));
    }

    #[test]
    fn partition_labels_checks_the_partition() {
        let cluster = |keywords: Vec<usize>| ClusterOut {
            name: String::new(),
            pillar_keyword: String::new(),
            keywords,
            intent: String::new(),
            total_volume: 0,
            description: String::new(),
        };
        assert_eq!(partition_labels(&[cluster(vec![2, 0]), cluster(vec![1])], 3), Some(vec![0, 1, 0]));
        assert_eq!(partition_labels(&[cluster(vec![0, 1]), cluster(vec![1])], 2), None, "in two");
        assert_eq!(partition_labels(&[cluster(vec![0])], 2), None, "in none");
        assert_eq!(partition_labels(&[cluster(vec![0, 5])], 2), None, "out of range");
        let s = scores(&[0, 0, 1, 1], &[0, 0, 1, 2]);
        assert_eq!(s.clusters, 3);
        assert!(close(s.v.v_measure, 0.8) && close(s.ari, 0.571_428_571_428_571_4), "{s:?}");
    }

    #[test]
    fn dense_labels_maps_strings() {
        assert_eq!(dense_labels(&["b", "a", "b", "c"]), vec![0, 1, 0, 2]);
    }
}
