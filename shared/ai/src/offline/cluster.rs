//! Keyword clustering: sparse TF-IDF vectors → sparse k-nearest-neighbour
//! similarity graph → average-linkage agglomeration restricted to that graph.
//!
//! # Algorithm
//!
//! 1. **Terms.** Each keyword is lower-cased, stripped of punctuation, tokenised,
//!    stop words are removed and the rest are stemmed (Snowball English), so
//!    "Running Shoes" and "running shoe" share terms.
//! 2. **Weights.** Sublinear TF (`1 + ln tf`) × smoothed IDF over the keyword set
//!    (`ln((1+n)/(1+df)) + 1`); intent modifiers ("best", "buy", years) are
//!    down-weighted so "best X" and "buy X" stay one topic. Vectors are L2-normalised,
//!    so a dot product is a cosine.
//!    Keywords with identical vectors ("Running Shoes!", "running shoe") collapse
//!    into one weighted node, so duplicates always share a cluster and cost one
//!    node's work.
//! 3. **Sparse graph.** An inverted index maps each term to the keywords holding
//!    it. A term whose posting list is no longer than `max_postings` is scanned in
//!    full. A common term (document frequency above that cap) is never scanned in
//!    full — that is what would make the work quadratic. Instead the keyword looks
//!    at (a) a window of `max_postings / 2` entries around its own position in the
//!    list, where lists follow a "sorted neighbourhood" order (keywords sorted by
//!    their terms, rarest first, so keywords sharing their most specific terms are
//!    adjacent), and (b) the term's `max_postings / 2` shortest keywords, the likely
//!    pillars ("running shoes" for every "… running shoes …"). Work is therefore
//!    `O(n · terms · max_postings)`. Partial dot products are accumulated in a dense
//!    array with a touched list; the best `2·max_neighbors` candidates get an exact
//!    sparse cosine and the best `max_neighbors` at or above `similarity_threshold`
//!    that share a topic word (not only intent modifiers such as "official website")
//!    become edges (the graph is the union of both directions). Keywords are scanned
//!    in posting-list order (neighbours touch the same accumulator entries while they
//!    are in cache), split over threads in fixed chunks; the edges are sorted at the
//!    end, so the result does not depend on the order or the thread count.
//! 4. **Agglomeration.** Classic average linkage (UPGMA) where keyword pairs without
//!    an edge count as similarity 0: each step merges the best pair of all. Clusters
//!    keep their summed edge weights to neighbours (lazily: an entry may name a
//!    cluster that has since merged, and entries add up when read), and every
//!    cluster has one entry in an indexed priority queue, keyed by its best pair.
//!    Average linkage is reducible — a merge never gives a neighbour a better pair
//!    than it had — so after a merge a neighbour's old key stays an upper bound and
//!    is recomputed only when it reaches the top. Merging stops below
//!    `linkage_threshold`; merges above `max_cluster_size` are refused. This is the
//!    TF-IDF + average-linkage agglomerative criterion, but in about `O(E log n)`
//!    time on the sparse graph instead of `O(n²)` memory.
//! 5. **Labelling.** Pillar = among the members closest to the cluster's centroid,
//!    the highest volume (comparisons "x vs y" only when nothing else is; ties:
//!    fewest words, then most central by summed in-cluster edge weight, then
//!    index); name = the pillar's topic words (intent modifiers dropped), so name
//!    and pillar agree; intent = volume-weighted vote of explicit labels (which
//!    outweigh) and cue words; singletons are kept.
//! 6. **One cluster per name.** Clusters with the same name merge while they fit
//!    `max_cluster_size`; a name still shared is made unique.
//!
//! Keywords are read in [`canonical_order`] and every step iterates in index order
//! or breaks ties by index, so the output is a pure function of the keywords, not
//! of their order. [`plan_clusters`] adds a site's existing clusters: keywords of
//! their topics join them.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use crate::{AiError, ClusterOptions, ClusterOut, ClusterPlan, ExistingCluster, KeywordInput};

use super::parallel;
use super::text::{self, FxHashMap, Intent, StemCache};

/// Weight multiplier for intent modifiers relative to topic words.
const MODIFIER_WEIGHT: f32 = 0.5;

/// Sparse, L2-normalised TF-IDF vectors for a keyword set plus the vocabulary
/// needed to name clusters. Exposed so benchmarks and tests can inspect it.
#[derive(Debug, Clone)]
pub struct TermVectors {
    /// Per keyword: `(term id, weight)` sorted by term id, unit length (or empty).
    pub vectors: Vec<Vec<(u32, f32)>>,
    /// Per term: its most common surface word, for display.
    pub surfaces: Vec<String>,
    /// Per keyword: its lower-cased tokens before stop-word removal (for cues).
    pub tokens: Vec<Vec<String>>,
    /// Per keyword, per token: the token's term id, or `u32::MAX` for stop words;
    /// lets a cluster name use the pillar's own spelling of a term.
    pub token_terms: Vec<Vec<u32>>,
    /// Per term: whether it is an intent modifier ("best", "official", a year).
    pub modifiers: Vec<bool>,
}

/// Builds [`TermVectors`] for `keywords` (steps 1–2 of the module algorithm).
pub fn vectorize(keywords: &[KeywordInput]) -> TermVectors {
    let mut vocab = Vocabulary::default();
    let mut raw: Vec<Vec<(u32, u32)>> = Vec::with_capacity(keywords.len());
    let mut all_tokens = Vec::with_capacity(keywords.len());
    let mut all_token_terms = Vec::with_capacity(keywords.len());
    for tokens in parallel::map(keywords, PARALLEL_MIN, |kw| text::tokenize(&kw.keyword)) {
        let mut terms: Vec<u32> = Vec::with_capacity(tokens.len());
        let mut token_ids: Vec<u32> = Vec::with_capacity(tokens.len());
        for tok in &tokens {
            if text::is_stop_word(tok) {
                token_ids.push(u32::MAX);
                continue;
            }
            let id = vocab.intern(tok);
            terms.push(id);
            token_ids.push(id);
        }
        raw.push(term_counts(terms));
        all_tokens.push(tokens);
        all_token_terms.push(token_ids);
    }
    let idf = idf_weights(&raw, &vocab.modifier, keywords.len());
    let vectors = raw.into_iter().map(|doc| unit_tf_idf(doc, &idf)).collect();
    let surfaces = vocab.surface_counts.into_iter().map(most_common_surface).collect();
    TermVectors { vectors, surfaces, tokens: all_tokens, token_terms: all_token_terms, modifiers: vocab.modifier }
}

/// The term vocabulary while keywords are read: stems map to dense term ids, and
/// each term remembers its surface spellings (for display) and whether it is an
/// intent modifier (for down-weighting). Ids are handed out in first-seen order,
/// which keeps vectorising a pure function of the input order.
#[derive(Default)]
struct Vocabulary {
    stems: StemCache,
    ids: FxHashMap<String, u32>,
    /// Per term: each surface spelling seen and how often.
    surface_counts: Vec<Vec<(String, u32)>>,
    /// Per term: whether its first spelling is an intent modifier.
    modifier: Vec<bool>,
}

impl Vocabulary {
    /// The term id of a (non-stop-word) token, registering the stem on first sight
    /// and counting this spelling.
    fn intern(&mut self, tok: &str) -> u32 {
        let stem = self.stems.stem(tok);
        let id = match self.ids.get(stem) {
            Some(id) => *id,
            None => {
                let id = u32::try_from(self.surface_counts.len()).unwrap_or(u32::MAX);
                self.ids.insert(stem.to_string(), id);
                self.surface_counts.push(Vec::new());
                self.modifier.push(text::is_modifier(tok));
                id
            }
        };
        let slot = &mut self.surface_counts[id as usize];
        match slot.iter_mut().find(|(s, _)| s == tok) {
            Some((_, c)) => *c += 1,
            None => slot.push((tok.to_string(), 1)),
        }
        id
    }
}

/// `(term id, count)` pairs sorted by term id, from a keyword's term ids.
fn term_counts(mut terms: Vec<u32>) -> Vec<(u32, u32)> {
    terms.sort_unstable();
    let mut counted: Vec<(u32, u32)> = Vec::with_capacity(terms.len());
    for t in terms {
        match counted.last_mut() {
            Some((last, c)) if *last == t => *c += 1,
            _ => counted.push((t, 1)),
        }
    }
    counted
}

/// Smoothed IDF per term over `n` keywords, with intent modifiers down-weighted
/// so "best X" and "buy X" stay one topic.
fn idf_weights(raw: &[Vec<(u32, u32)>], modifier: &[bool], n: usize) -> Vec<f32> {
    let n = n as f64;
    let mut df = vec![0u32; modifier.len()];
    for doc in raw {
        for (t, _) in doc {
            df[*t as usize] += 1;
        }
    }
    df.iter()
        .zip(modifier)
        .map(|(d, m)| {
            let w = (((1.0 + n) / (1.0 + f64::from(*d))).ln() + 1.0) as f32;
            if *m {
                w * MODIFIER_WEIGHT
            } else {
                w
            }
        })
        .collect()
}

/// Sublinear TF × IDF vector of one keyword, L2-normalised so dot products are
/// cosines (an all-zero vector stays as it is).
fn unit_tf_idf(doc: Vec<(u32, u32)>, idf: &[f32]) -> Vec<(u32, f32)> {
    let mut v: Vec<(u32, f32)> = doc.into_iter().map(|(t, c)| (t, (1.0 + (c as f32).ln()) * idf[t as usize])).collect();
    let norm = v.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
    if norm > 0.0 {
        for (_, w) in &mut v {
            *w /= norm;
        }
    }
    v
}

/// A term's display spelling: its most frequent surface form, ties broken
/// alphabetically so the choice is deterministic.
fn most_common_surface(mut forms: Vec<(String, u32)>) -> String {
    forms.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    forms.into_iter().next().map(|(s, _)| s).unwrap_or_default()
}

/// Cosine of two unit sparse vectors sorted by term id (a merge join).
pub fn sparse_dot(a: &[(u32, f32)], b: &[(u32, f32)]) -> f32 {
    let (mut i, mut j, mut s) = (0, 0, 0.0f32);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            Ordering::Less => i += 1,
            Ordering::Greater => j += 1,
            Ordering::Equal => {
                s += a[i].1 * b[j].1;
                i += 1;
                j += 1;
            }
        }
    }
    s
}

/// The sparse similarity graph as a sorted, de-duplicated edge list `(a, b, sim)`
/// with `a < b` (step 3 of the module algorithm).
pub fn similarity_graph(tv: &TermVectors, options: &ClusterOptions) -> Vec<(u32, u32, f32)> {
    similarity_graph_threads(tv, options, parallel::threads_for(tv.vectors.len(), PARALLEL_MIN))
}

/// [`similarity_graph`] with an explicit thread count (tests check that the count
/// does not change the result).
fn similarity_graph_threads(tv: &TermVectors, options: &ClusterOptions, threads: usize) -> Vec<(u32, u32, f32)> {
    let cap = options.max_postings.max(2);
    let hub_cap = cap / 2;
    let hub_docs = hub_lists(tv, hub_cap);
    let (postings, positions, scan_order) = neighbourhood_postings(tv);
    let hubs = hubs_with_positions(&hub_docs, &positions, &tv.vectors);
    let ctx = GraphContext {
        tv,
        postings: &postings,
        positions: &positions,
        scan_order: &scan_order,
        hubs: &hubs,
        cap,
        half_window: (cap - hub_cap) / 2,
        k: options.max_neighbors.max(1),
        threshold: options.similarity_threshold,
    };
    sorted_unique_edges(ctx.scan_all(threads), tv.vectors.len())
}

/// The edges sorted by `(a, b)` with duplicates (an edge found from both ends)
/// dropped. A counting sort on `a`, then each keyword's few edges sorted by `b`:
/// linear in the edges, where a comparison sort of two million tuples was a tenth
/// of the clustering time. Both ends compute the same cosine, so which duplicate
/// is kept does not matter.
fn sorted_unique_edges(edges: Vec<(u32, u32, f32)>, n: usize) -> Vec<(u32, u32, f32)> {
    let mut start = vec![0usize; n + 1];
    for e in &edges {
        start[e.0 as usize + 1] += 1;
    }
    for i in 0..n {
        start[i + 1] += start[i];
    }
    let mut next = start.clone();
    let mut by_a: Vec<(u32, f32)> = vec![(0, 0.0); edges.len()];
    for &(a, b, sim) in &edges {
        by_a[next[a as usize]] = (b, sim);
        next[a as usize] += 1;
    }
    let mut out = Vec::with_capacity(edges.len());
    for a in 0..n {
        let bucket = &mut by_a[start[a]..start[a + 1]];
        bucket.sort_unstable_by_key(|e| e.0);
        let mut last = None;
        for &(b, sim) in bucket.iter() {
            if last != Some(b) {
                out.push((a as u32, b, sim));
                last = Some(b);
            }
        }
    }
    out
}

/// Per term: its `(keyword, weight)` entries.
type Postings = Vec<Vec<(u32, f32)>>;

/// Hub lists: per term, its `hub_cap` shortest keywords (the likely pillars), so a
/// keyword under a common term still meets the term's pillar.
fn hub_lists(tv: &TermVectors, hub_cap: usize) -> Postings {
    let n = tv.vectors.len();
    let mut by_len: Vec<u32> = (0..n as u32).collect();
    by_len.sort_by_key(|&d| (tv.vectors[d as usize].len(), d));
    let mut hub_docs: Postings = vec![Vec::new(); tv.surfaces.len()];
    for &d in &by_len {
        for &(t, w) in &tv.vectors[d as usize] {
            let list = &mut hub_docs[t as usize];
            if list.len() < hub_cap {
                list.push((d, w));
            }
        }
    }
    hub_docs
}

/// Full posting lists in "sorted neighbourhood" order: keywords sorted by their
/// terms, rarest term first, so keywords sharing their most specific terms sit next
/// to each other in every list they appear in. Also returns, per keyword, its
/// position in each of its terms' lists (same order as its vector), which anchors
/// the scan window.
fn neighbourhood_postings(tv: &TermVectors) -> (Postings, Vec<Vec<u32>>, Vec<u32>) {
    let n = tv.vectors.len();
    let n_terms = tv.surfaces.len();
    let mut df = vec![0u32; n_terms];
    for v in &tv.vectors {
        for (t, _) in v {
            df[*t as usize] += 1;
        }
    }
    let signatures: Vec<Vec<(u32, u32)>> = tv
        .vectors
        .iter()
        .map(|v| {
            let mut sig: Vec<(u32, u32)> = v.iter().map(|(t, _)| (df[*t as usize], *t)).collect();
            sig.sort_unstable();
            sig
        })
        .collect();
    let mut by_sig: Vec<u32> = (0..n as u32).collect();
    by_sig.sort_by(|&a, &b| signatures[a as usize].cmp(&signatures[b as usize]).then_with(|| a.cmp(&b)));
    let mut postings: Postings = vec![Vec::new(); n_terms];
    let mut positions: Vec<Vec<u32>> = tv.vectors.iter().map(|v| vec![0; v.len()]).collect();
    for &d in &by_sig {
        for (slot, &(t, w)) in tv.vectors[d as usize].iter().enumerate() {
            let list = &mut postings[t as usize];
            positions[d as usize][slot] = u32::try_from(list.len()).unwrap_or(u32::MAX);
            list.push((d, w));
        }
    }
    (postings, positions, by_sig)
}

/// Hubs with their position in the full posting list, so the scan can skip a hub
/// that already lies inside a keyword's window.
fn hubs_with_positions(
    hub_docs: &[Vec<(u32, f32)>],
    positions: &[Vec<u32>],
    vectors: &[Vec<(u32, f32)>],
) -> Vec<Vec<(u32, f32, u32)>> {
    hub_docs
        .iter()
        .enumerate()
        .map(|(t, list)| {
            list.iter()
                .map(|&(d, w)| {
                    let p = positions_of(positions, vectors, d, t as u32);
                    (d, w, u32::try_from(p).unwrap_or(u32::MAX))
                })
                .collect()
        })
        .collect()
}

/// Below this many keywords the graph scan, cleaning and tokenising stay on one
/// thread.
const PARALLEL_MIN: usize = 5_000;
/// Below this many clusters labelling stays on one thread.
const PARALLEL_DESCRIBE_MIN: usize = 500;

/// Read-only indexes shared by the graph-scan threads.
struct GraphContext<'a> {
    tv: &'a TermVectors,
    postings: &'a [Vec<(u32, f32)>],
    positions: &'a [Vec<u32>],
    /// Keywords in posting-list order: consecutive keywords scan overlapping
    /// windows, so the accumulator entries they touch are still in cache.
    scan_order: &'a [u32],
    hubs: &'a [Vec<(u32, f32, u32)>],
    cap: usize,
    half_window: usize,
    k: usize,
    threshold: f32,
}

impl GraphContext<'_> {
    /// Nearest-neighbour edges for every keyword. Keywords are independent here,
    /// so the scan is split over threads in contiguous chunks and concatenated in
    /// order: the result does not depend on the thread count.
    fn scan_all(&self, threads: usize) -> Vec<(u32, u32, f32)> {
        parallel::map_ranges(self.scan_order.len(), threads, |range| self.scan(range))
    }

    /// Nearest-neighbour edges for the keywords in `range`.
    fn scan(&self, range: std::ops::Range<usize>) -> Vec<(u32, u32, f32)> {
        // Dense accumulator + touched list: partial dot products from scanned postings.
        let mut acc = vec![0.0f32; self.tv.vectors.len()];
        let mut touched: Vec<u32> = Vec::new();
        let mut shortlist = BinaryHeap::new();
        let mut candidates: Vec<(f32, u32)> = Vec::new();
        let mut edges: Vec<(u32, u32, f32)> = Vec::new();
        for &i in &self.scan_order[range] {
            let i = i as usize;
            touched.clear();
            self.accumulate(i, &mut acc, &mut touched);
            self.best_neighbours(i, &mut acc, &touched, &mut shortlist, &mut candidates);
            for &(sim, d) in &candidates {
                let (a, b) = if (i as u32) < d { (i as u32, d) } else { (d, i as u32) };
                edges.push((a, b, sim));
            }
        }
        edges
    }

    /// Adds keyword `i`'s partial dot products with every keyword met in its scanned
    /// postings into `acc`, listing each newly touched keyword once in `touched`.
    /// Rare terms are scanned in full; a common term only around `i`'s position plus
    /// the term's hubs (a hub inside the window is counted once).
    fn accumulate(&self, i: usize, acc: &mut [f32], touched: &mut Vec<u32>) {
        let mut visit = |d: u32, contribution: f32| {
            let du = d as usize;
            if du != i {
                if acc[du] == 0.0 {
                    touched.push(d);
                }
                acc[du] += contribution;
            }
        };
        for (slot, &(t, wi)) in self.tv.vectors[i].iter().enumerate() {
            let list = &self.postings[t as usize];
            if list.len() <= self.cap {
                for &(d, wd) in list {
                    visit(d, wi * wd);
                }
                continue;
            }
            let pos = self.positions[i][slot] as usize;
            let lo = pos.saturating_sub(self.half_window);
            let hi = (pos + self.half_window + 1).min(list.len());
            for &(d, wd) in &list[lo..hi] {
                visit(d, wi * wd);
            }
            for &(d, wd, p) in &self.hubs[t as usize] {
                let p = p as usize;
                if p < lo || p >= hi {
                    visit(d, wi * wd);
                }
            }
        }
    }

    /// Leaves in `candidates` keyword `i`'s best `k` neighbours at or above the
    /// threshold as `(cosine, keyword)`: shortlist by partial score, then confirm
    /// with the exact cosine. Resets the touched entries of `acc` for the next keyword.
    ///
    /// The shortlist is a heap of the best seen so far with the worst of them on
    /// top: most touched keywords cost one integer comparison with that worst, where
    /// a selection over all of them moved every one (it was a sixth of the run).
    fn best_neighbours(
        &self,
        i: usize,
        acc: &mut [f32],
        touched: &[u32],
        shortlist: &mut BinaryHeap<u64>,
        candidates: &mut Vec<(f32, u32)>,
    ) {
        let k = self.k;
        let size = (2 * k).max(k + 8);
        shortlist.clear();
        for &d in touched {
            let seen = shortlist_key(acc[d as usize], d);
            acc[d as usize] = 0.0;
            if shortlist.len() < size {
                shortlist.push(seen);
            } else if let Some(mut worst) = shortlist.peek_mut() {
                if seen < *worst {
                    *worst = seen;
                }
            }
        }
        candidates.clear();
        candidates.extend(shortlist.drain().map(|key| (0.0, shortlisted_id(key))));
        let vi = &self.tv.vectors[i];
        for c in candidates.iter_mut() {
            c.0 = sparse_dot(vi, &self.tv.vectors[c.1 as usize]);
        }
        // Intent words alone ("official website", "best") say nothing about the topic:
        // two keywords sharing only those are not neighbours, whatever their cosine.
        candidates
            .retain(|c| c.0 >= self.threshold && shares_topic(vi, &self.tv.vectors[c.1 as usize], &self.tv.modifiers));
        if candidates.len() > k {
            candidates.select_nth_unstable_by(k - 1, cmp_candidate);
            candidates.truncate(k);
        }
    }
}

/// True when two sparse vectors (sorted by term id) share a term that is not an
/// intent modifier.
fn shares_topic(a: &[(u32, f32)], b: &[(u32, f32)], modifiers: &[bool]) -> bool {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            Ordering::Less => i += 1,
            Ordering::Greater => j += 1,
            Ordering::Equal => {
                if !modifiers.get(a[i].0 as usize).copied().unwrap_or(false) {
                    return true;
                }
                i += 1;
                j += 1;
            }
        }
    }
    false
}

/// Position of keyword `d` in the posting list of term `t`.
fn positions_of(positions: &[Vec<u32>], vectors: &[Vec<(u32, f32)>], d: u32, t: u32) -> usize {
    let v = &vectors[d as usize];
    match v.binary_search_by_key(&t, |e| e.0) {
        Ok(slot) => positions[d as usize][slot] as usize,
        Err(_) => usize::MAX,
    }
}

/// Orders neighbour candidates best first: higher similarity, then lower index.
fn cmp_candidate(a: &(f32, u32), b: &(f32, u32)) -> Ordering {
    b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1))
}

/// A shortlisted neighbour as one integer ordered as [`cmp_candidate`] orders
/// `(score, id)` (smaller is better): the score's total-order bits inverted, then
/// the id. Why: the shortlist compares every touched keyword with its worst entry,
/// and one integer compare is a fraction of a float total order with a tie-break.
fn shortlist_key(score: f32, id: u32) -> u64 {
    let bits = score.to_bits();
    let ascending = if bits >> 31 == 1 { !bits } else { bits | 0x8000_0000 };
    (u64::from(!ascending) << 32) | u64::from(id)
}

/// The keyword of a [`shortlist_key`].
fn shortlisted_id(key: u64) -> u32 {
    (key & u64::from(u32::MAX)) as u32
}

/// A merge candidate packed into one integer so heap comparisons are a single
/// `u128` compare: the score's bits (non-negative floats order like their bits),
/// then the inverted ids, so a higher score wins and lower ids win ties. The score
/// is the pair's average linkage when pushed; it may since have dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Candidate(u128);

impl Candidate {
    pub(super) fn new(score: f32, a: u32, b: u32) -> Self {
        let score = if score > 0.0 { score } else { 0.0 };
        Candidate((u128::from(score.to_bits()) << 64) | (u128::from(u32::MAX - a) << 32) | u128::from(u32::MAX - b))
    }
    pub(super) fn score(self) -> f32 {
        f32::from_bits((self.0 >> 64) as u32)
    }
    pub(super) fn a(self) -> u32 {
        u32::MAX - ((self.0 >> 32) as u32)
    }
    pub(super) fn b(self) -> u32 {
        u32::MAX - (self.0 as u32)
    }
}

/// Average-linkage agglomeration over the sparse graph (step 4); returns a cluster
/// label per keyword (the label is the id of the cluster's surviving root).
///
/// Each step merges the best pair of all (highest average linkage, ties to the lower
/// ids), exactly as textbook UPGMA. Finding it cheaply: every cluster keeps one
/// entry in a priority queue keyed by its best pair, and average linkage is
/// *reducible* — merging `keep` and `gone` never gives a neighbour a better pair
/// than it had with one of them. So after a merge a neighbour's old key stays an
/// upper bound: it is only marked inexact (unless its new pair with the merged
/// cluster is better, which then becomes its exact key), and an inexact key is
/// recomputed when it reaches the top. The first exact key at the top is the best
/// pair. The queue never holds more than one entry per cluster, so it stays in cache
/// where a heap of every re-scored pair grew to millions of entries.
///
/// `sizes` gives each node's starting size (1 for a keyword; `m` for a node that
/// stands for `m` identical keywords), and an edge `(a, b, sim)` stands for
/// `sizes[a] · sizes[b]` keyword pairs of similarity `sim`.
pub fn agglomerate(sizes: &[u32], edges: &[(u32, u32, f32)], options: &ClusterOptions) -> Vec<u32> {
    let mut linkage = Linkage::new(sizes, edges, options);
    while let Some(top) = linkage.queue.peek() {
        if linkage.exact[top as usize] {
            let best = linkage.queue.key(top);
            linkage.merge(best.a() as usize, best.b() as usize);
        } else {
            linkage.refresh(top as usize);
        }
    }
    linkage.roots()
}

/// State of the average-linkage agglomeration: per cluster root its edges, size and
/// parent (union-find), plus the queue of each root's best pair (exact, or an
/// upper bound).
///
/// Edges are kept lazily: an entry may still name a cluster that has since merged
/// into another, and several entries may resolve to the same root. Summed edge
/// weights are additive, so resolving each entry to its root and adding them up
/// gives the exact weight between two roots; a merge therefore never touches its
/// neighbours' lists, and a list is compacted only when it is read.
struct Linkage {
    adj: Vec<Vec<(u32, f32)>>,
    size: Vec<u32>,
    parent: Vec<u32>,
    queue: BestQueue,
    /// Whether a root's queue key is its current best pair (else an upper bound).
    exact: Vec<bool>,
    threshold: f32,
    max_size: u32,
    /// Per root, the weight summed so far while compacting (NaN when untouched).
    scratch: Vec<f32>,
}

impl Linkage {
    /// Singleton clusters joined by the graph's edges (each edge weighted by the
    /// keyword pairs it stands for), each queued at its best pair.
    fn new(sizes: &[u32], edges: &[(u32, u32, f32)], options: &ClusterOptions) -> Self {
        let n = sizes.len();
        let mut degree = vec![0usize; n];
        for &(a, b, _) in edges {
            degree[a as usize] += 1;
            degree[b as usize] += 1;
        }
        let mut adj: Vec<Vec<(u32, f32)>> = degree.iter().map(|&d| Vec::with_capacity(d)).collect();
        let size: Vec<u32> = sizes.iter().map(|&m| m.max(1)).collect();
        for &(a, b, sim) in edges {
            let w = sim * (size[a as usize] as f32 * size[b as usize] as f32);
            adj[a as usize].push((b, w));
            adj[b as usize].push((a, w));
        }
        let mut linkage = Linkage {
            adj,
            size,
            parent: (0..n as u32).collect(),
            queue: BestQueue::new(n),
            exact: vec![false; n],
            threshold: options.linkage_threshold,
            max_size: u32::try_from(options.max_cluster_size.max(1)).unwrap_or(u32::MAX),
            scratch: vec![f32::NAN; n],
        };
        for i in 0..n {
            linkage.requeue(i);
        }
        linkage
    }

    /// The root of node `x` (with path halving, which never changes a root).
    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] as usize != x {
            let grand = self.parent[self.parent[x] as usize];
            self.parent[x] = grand;
            x = grand as usize;
        }
        x
    }

    /// Rewrites root `i`'s edges, plus `more`, as one entry per neighbouring root
    /// with the summed weight (edges inside `i` dropped), in first-seen order.
    /// The list is rewritten in place (no allocation unless `more` makes it grow).
    fn compact(&mut self, i: usize, more: &[(u32, f32)]) {
        let mut entries = std::mem::take(&mut self.adj[i]);
        entries.extend_from_slice(more);
        let mut kept = 0;
        for e in 0..entries.len() {
            let (node, w) = entries[e];
            let r = self.find(node as usize);
            if r == i {
                continue;
            }
            if self.scratch[r].is_nan() {
                entries[kept].0 = r as u32;
                kept += 1;
                self.scratch[r] = w;
            } else {
                self.scratch[r] += w;
            }
        }
        entries.truncate(kept);
        for entry in &mut entries {
            entry.1 = std::mem::replace(&mut self.scratch[entry.0 as usize], f32::NAN);
        }
        self.adj[i] = entries;
    }

    /// The pair of roots `a` and `b` as a merge candidate, if it may merge: it fits
    /// the size cap and its average linkage reaches the threshold.
    fn candidate(&self, a: usize, b: usize, weight: f32) -> Option<Candidate> {
        if self.size[a] + self.size[b] > self.max_size {
            return None;
        }
        let score = weight / (self.size[a] as f32 * self.size[b] as f32);
        let (x, y) = if a < b { (a, b) } else { (b, a) };
        (score >= self.threshold).then(|| Candidate::new(score, x as u32, y as u32))
    }

    /// Queues root `i` exactly at its best pair (its edges already compacted), or
    /// drops it from the queue when it has no pair that may merge.
    fn requeue(&mut self, i: usize) {
        let best = self.adj[i].iter().filter_map(|&(o, w)| self.candidate(i, o as usize, w)).max();
        match best {
            Some(c) => {
                self.queue.set(i as u32, c);
                self.exact[i] = true;
            }
            None => self.queue.remove(i as u32),
        }
    }

    /// Recomputes root `i`'s best pair from its compacted edges.
    fn refresh(&mut self, i: usize) {
        self.compact(i, &[]);
        self.requeue(i);
    }

    /// Merges clusters `a` and `b` into the lower id: the merged cluster is
    /// re-keyed exactly and each neighbour's key is kept as a bound or raised to its
    /// new pair.
    fn merge(&mut self, a: usize, b: usize) {
        let (keep, gone) = (a.min(b), a.max(b));
        self.parent[gone] = keep as u32;
        self.size[keep] += self.size[gone];
        self.queue.remove(gone as u32);
        let gone_edges = std::mem::take(&mut self.adj[gone]);
        self.compact(keep, &gone_edges);
        for n in 0..self.adj[keep].len() {
            let (other, w) = self.adj[keep][n];
            self.rebound(other as usize, keep, gone, self.candidate(keep, other as usize, w));
        }
        self.requeue(keep);
    }

    /// Updates neighbour `o`'s key after `gone` merged into `keep`, given its new
    /// pair with the merged cluster. Its other pairs did not change, so its old key
    /// still bounds them; it stays exact unless its best partner was one of the two.
    fn rebound(&mut self, o: usize, keep: usize, gone: usize, with_merged: Option<Candidate>) {
        let old = self.queue.get(o as u32);
        if with_merged.is_some() && with_merged > old {
            if let Some(c) = with_merged {
                self.queue.set(o as u32, c);
                self.exact[o] = true;
            }
            return;
        }
        if let Some(key) = old {
            let partner = if key.a() as usize == o { key.b() } else { key.a() } as usize;
            if partner == keep || partner == gone {
                self.exact[o] = false;
            }
        }
    }

    /// The cluster label of every node: the id of its surviving root.
    fn roots(&self) -> Vec<u32> {
        (0..self.parent.len())
            .map(|i| {
                let mut r = i;
                while self.parent[r] as usize != r {
                    r = self.parent[r] as usize;
                }
                r as u32
            })
            .collect()
    }
}

/// A max-priority queue of cluster ids, one entry per id, whose keys change in
/// place. Why not `BinaryHeap`: it cannot re-key an entry, and pushing a fresh entry
/// per change is what made the heap huge; ids are dense, so positions live in a
/// plain array rather than the hash map a general indexed-queue crate would use.
struct BestQueue {
    heap: Vec<u32>,
    /// Per id: its index in `heap`, or `ABSENT`.
    pos: Vec<u32>,
    key: Vec<Candidate>,
}

/// `BestQueue::pos` of an id that is not queued.
const ABSENT: u32 = u32::MAX;

impl BestQueue {
    fn new(n: usize) -> Self {
        BestQueue { heap: Vec::with_capacity(n), pos: vec![ABSENT; n], key: vec![Candidate(0); n] }
    }

    /// The id with the highest key.
    fn peek(&self) -> Option<u32> {
        self.heap.first().copied()
    }

    /// The key of a queued id.
    fn key(&self, id: u32) -> Candidate {
        self.key[id as usize]
    }

    /// The key of `id`, if queued.
    fn get(&self, id: u32) -> Option<Candidate> {
        (self.pos[id as usize] != ABSENT).then(|| self.key[id as usize])
    }

    /// Queues `id` at `key`, or moves it there if already queued.
    fn set(&mut self, id: u32, key: Candidate) {
        let i = id as usize;
        let old = self.key[i];
        self.key[i] = key;
        if self.pos[i] == ABSENT {
            self.pos[i] = self.heap.len() as u32;
            self.heap.push(id);
            self.sift_up(self.heap.len() - 1);
        } else if key > old {
            self.sift_up(self.pos[i] as usize);
        } else {
            self.sift_down(self.pos[i] as usize);
        }
    }

    /// Drops `id` from the queue (a no-op when it is not queued).
    fn remove(&mut self, id: u32) {
        let at = self.pos[id as usize];
        if at == ABSENT {
            return;
        }
        let at = at as usize;
        let last = self.heap.len() - 1;
        self.swap(at, last);
        self.heap.pop();
        self.pos[id as usize] = ABSENT;
        if at < self.heap.len() {
            self.sift_up(at);
            self.sift_down(at);
        }
    }

    fn higher(&self, x: usize, y: usize) -> bool {
        self.key[self.heap[x] as usize] > self.key[self.heap[y] as usize]
    }

    fn swap(&mut self, x: usize, y: usize) {
        self.heap.swap(x, y);
        self.pos[self.heap[x] as usize] = x as u32;
        self.pos[self.heap[y] as usize] = y as u32;
    }

    fn sift_up(&mut self, mut at: usize) {
        while at > 0 {
            let parent = (at - 1) / 2;
            if !self.higher(at, parent) {
                break;
            }
            self.swap(at, parent);
            at = parent;
        }
    }

    fn sift_down(&mut self, mut at: usize) {
        loop {
            let (left, right) = (2 * at + 1, 2 * at + 2);
            let mut top = at;
            if left < self.heap.len() && self.higher(left, top) {
                top = left;
            }
            if right < self.heap.len() && self.higher(right, top) {
                top = right;
            }
            if top == at {
                break;
            }
            self.swap(at, top);
            at = top;
        }
    }
}

/// Checks options and input, returning why they are unusable.
fn validate(keywords: &[KeywordInput], options: &ClusterOptions) -> Result<(), AiError> {
    if keywords.is_empty() {
        return Err(AiError::InvalidInput("no keywords to cluster".into()));
    }
    if u32::try_from(keywords.len()).is_err() {
        return Err(AiError::InvalidInput("too many keywords".into()));
    }
    for (name, v) in
        [("similarity_threshold", options.similarity_threshold), ("linkage_threshold", options.linkage_threshold)]
    {
        if !(0.0..=1.0).contains(&v) {
            return Err(AiError::InvalidInput(format!("{name} must be within 0..=1, got {v}")));
        }
    }
    if options.max_cluster_size == 0 || options.max_neighbors == 0 || options.max_postings == 0 {
        return Err(AiError::InvalidInput("max_cluster_size, max_neighbors and max_postings must be positive".into()));
    }
    Ok(())
}

/// Keywords with identical term vectors (same terms, same counts: "Running
/// Shoes!" and "running shoe") collapsed to one graph node each. Why: duplicates
/// must always share a cluster, and a node per duplicate would waste neighbour
/// slots and merges on them. Keywords without terms stay separate.
struct Collapsed {
    /// Per keyword: its node.
    node_of: Vec<u32>,
    /// Per node: how many keywords it stands for.
    sizes: Vec<u32>,
    /// Term vectors of the nodes (first keyword of each).
    nodes: TermVectors,
}

fn collapse(tv: &TermVectors) -> Collapsed {
    let mut index: FxHashMap<Vec<(u32, u32)>, u32> = FxHashMap::default();
    let mut node_of = Vec::with_capacity(tv.vectors.len());
    let mut sizes: Vec<u32> = Vec::new();
    let mut vectors: Vec<Vec<(u32, f32)>> = Vec::new();
    for v in &tv.vectors {
        let next = u32::try_from(sizes.len()).unwrap_or(u32::MAX);
        let node = if v.is_empty() {
            next
        } else {
            let key: Vec<(u32, u32)> = v.iter().map(|(t, w)| (*t, w.to_bits())).collect();
            *index.entry(key).or_insert(next)
        };
        if node == next {
            sizes.push(1);
            vectors.push(v.clone());
        } else {
            sizes[node as usize] += 1;
        }
        node_of.push(node);
    }
    let nodes = TermVectors {
        vectors,
        surfaces: tv.surfaces.clone(),
        tokens: Vec::new(),
        token_terms: Vec::new(),
        modifiers: tv.modifiers.clone(),
    };
    Collapsed { node_of, sizes, nodes }
}

/// Steps 3–4 on already vectorised keywords: per-keyword cluster labels, plus the
/// graph's edges mapped back to keywords' nodes (for centrality).
fn label(tv: &TermVectors, options: &ClusterOptions) -> (Vec<u32>, Collapsed, Vec<(u32, u32, f32)>) {
    let collapsed = collapse(tv);
    let edges = similarity_graph(&collapsed.nodes, options);
    let node_labels = agglomerate(&collapsed.sizes, &edges, options);
    let labels = collapsed.node_of.iter().map(|&g| node_labels[g as usize]).collect();
    (labels, collapsed, edges)
}

/// Clusters keywords and returns only the label per keyword (cluster root ids);
/// used by the quality benchmark, which needs labels rather than named clusters.
pub fn cluster_labels(keywords: &[KeywordInput], options: &ClusterOptions) -> Result<Vec<u32>, AiError> {
    validate(keywords, options)?;
    let tv = vectorize(keywords);
    Ok(label(&tv, options).0)
}

/// Clusters keywords into named, labelled clusters (the full module algorithm),
/// ordered by total volume (descending), then by their first member in canonical
/// order. The result depends only on the keywords (text and metrics), not on the
/// order they come in: they are clustered in [`canonical_order`], and the indices are
/// mapped back to the input.
pub fn cluster_keywords(keywords: &[KeywordInput], options: &ClusterOptions) -> Result<Vec<ClusterOut>, AiError> {
    validate(keywords, options)?;
    let order = canonical_order(keywords);
    let sorted: Vec<KeywordInput> = order.iter().map(|&i| keywords[i].clone()).collect();
    let mut clusters = cluster_sorted(&sorted, options);
    for c in &mut clusters {
        for idx in &mut c.keywords {
            *idx = order[*idx];
        }
    }
    Ok(clusters)
}

/// The order clustering reads keywords in: by cleaned text, then raw text and
/// metrics. Why: every tie the algorithm breaks "by index" is then broken by the
/// keywords' content, so two imports of the same file cluster identically whatever
/// their row order or the ids their records got.
pub fn canonical_order(keywords: &[KeywordInput]) -> Vec<usize> {
    let cleaned: Vec<String> = parallel::map(keywords, PARALLEL_MIN, |k| text::clean_phrase(&k.keyword));
    let mut order: Vec<usize> = (0..keywords.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&keywords[a], &keywords[b]);
        cleaned[a]
            .cmp(&cleaned[b])
            .then_with(|| x.keyword.cmp(&y.keyword))
            .then_with(|| y.volume.cmp(&x.volume))
            .then_with(|| x.intent.cmp(&y.intent))
            .then_with(|| x.difficulty.cmp(&y.difficulty))
            .then_with(|| x.cpc.unwrap_or(0.0).total_cmp(&y.cpc.unwrap_or(0.0)))
            .then_with(|| a.cmp(&b))
    });
    order
}

/// Clusters keywords already in canonical order: groups (steps 1–4), labels
/// (step 5), then one cluster per name (step 6).
fn cluster_sorted(keywords: &[KeywordInput], options: &ClusterOptions) -> Vec<ClusterOut> {
    let tv = vectorize(keywords);
    let (labels, collapsed, edges) = label(&tv, options);

    // Centrality of a node: summed similarity to neighbours in the same cluster
    // (duplicates count fully); every keyword gets its node's value.
    let mut node_cluster = vec![0u32; collapsed.sizes.len()];
    for (i, &g) in collapsed.node_of.iter().enumerate() {
        node_cluster[g as usize] = labels[i];
    }
    let mut node_centrality: Vec<f32> = collapsed.sizes.iter().map(|&m| m.saturating_sub(1) as f32).collect();
    for &(a, b, w) in &edges {
        if node_cluster[a as usize] == node_cluster[b as usize] {
            node_centrality[a as usize] += w * collapsed.sizes[b as usize] as f32;
            node_centrality[b as usize] += w * collapsed.sizes[a as usize] as f32;
        }
    }
    let centrality: Vec<f32> = collapsed.node_of.iter().map(|&g| node_centrality[g as usize]).collect();
    let mut groups: FxHashMap<u32, Vec<usize>> = FxHashMap::default();
    for (i, l) in labels.iter().enumerate() {
        groups.entry(*l).or_default().push(i);
    }
    let mut members: Vec<Vec<usize>> = groups.into_values().collect();
    members.sort_by_key(|m| m.iter().copied().min());
    let space = SparseSpace(&tv.vectors);
    let labeller = Labeller { keywords, tokens: &tv.tokens, centrality: &centrality, space: &space };
    let clusters: Vec<ClusterOut> = parallel::map(&members, PARALLEL_DESCRIBE_MIN, |m| labeller.describe(m.clone()));
    let clusters = labeller.one_per_name(clusters, options.max_cluster_size);
    rank(clusters)
}

/// Clusters ordered by total volume (descending), then by first member index.
pub(super) fn rank(clusters: Vec<ClusterOut>) -> Vec<ClusterOut> {
    let mut out: Vec<(i64, usize, ClusterOut)> = clusters
        .into_iter()
        .filter_map(|c| {
            let first = c.keywords.iter().copied().min()?;
            Some((c.total_volume, first, c))
        })
        .collect();
    out.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    out.into_iter().map(|(_, _, c)| c).collect()
}

/// Share of the best centroid score a member needs to be eligible as pillar.
const PILLAR_CENTRALITY: f32 = 0.8;

/// The space a clustering worked in, as the labeller needs it: how close each member
/// of a cluster is to the cluster's centroid. Why a trait: the lexical (sparse
/// TF-IDF) and semantic (dense embedding) modes choose pillars and names by the same
/// rules, each measuring closeness in its own vectors.
pub(super) trait CentroidSpace {
    /// Per member (same order as `members`): its cosine to the members' centroid.
    fn centroid_scores(&self, members: &[usize]) -> Vec<f32>;
}

/// Sparse TF-IDF vectors (the lexical mode's space).
struct SparseSpace<'a>(&'a [Vec<(u32, f32)>]);

impl CentroidSpace for SparseSpace<'_> {
    fn centroid_scores(&self, members: &[usize]) -> Vec<f32> {
        let centroid = centroid(members.iter().map(|&i| self.0[i].as_slice()));
        members.iter().map(|&i| sparse_dot(&self.0[i], &centroid)).collect()
    }
}

/// Names and labels clusters (step 5) from their keywords' text, their closeness to
/// the cluster's centroid and their in-cluster centrality; shared by both modes.
pub(super) struct Labeller<'a> {
    /// The keywords the member indices point into.
    pub(super) keywords: &'a [KeywordInput],
    /// Per keyword: its lower-cased tokens ([`text::tokenize`]), for cues and length.
    pub(super) tokens: &'a [Vec<String>],
    /// Per keyword: summed similarity to its graph neighbours in the same cluster.
    pub(super) centrality: &'a [f32],
    /// Closeness to a cluster's centroid (`Sync`: clusters are labelled in parallel).
    pub(super) space: &'a (dyn CentroidSpace + Sync),
}

impl Labeller<'_> {
    /// Labels one cluster. Pillar: among the members closest to the cluster's
    /// centroid (at least [`PILLAR_CENTRALITY`] of the best score; comparisons such
    /// as "x vs y" only when nothing else is), the highest volume (ties: fewest
    /// words, then most central by in-cluster edges, then index). Name: the pillar's
    /// topic words (its text without intent modifiers), so name and pillar always
    /// agree and both come from the members.
    pub(super) fn describe(&self, mut members: Vec<usize>) -> ClusterOut {
        let (keywords, tokens) = (self.keywords, self.tokens);
        members.sort_by(|&x, &y| {
            keywords[y]
                .volume
                .cmp(&keywords[x].volume)
                .then_with(|| tokens[x].len().cmp(&tokens[y].len()))
                .then_with(|| self.centrality[y].total_cmp(&self.centrality[x]))
                .then_with(|| x.cmp(&y))
        });
        let score = self.space.centroid_scores(&members);
        let comparison = |i: usize| tokens[i].iter().any(|t| t == "vs" || t == "versus");
        let best = |allow_comparisons: bool| {
            score
                .iter()
                .zip(&members)
                .filter(|(_, &i)| allow_comparisons || !comparison(i))
                .map(|(s, _)| *s)
                .fold(f32::NEG_INFINITY, f32::max)
        };
        let allow_comparisons = best(false) == f32::NEG_INFINITY;
        let top = best(allow_comparisons);
        let pillar_slot = (0..members.len())
            .find(|&s| (allow_comparisons || !comparison(members[s])) && score[s] >= top * PILLAR_CENTRALITY)
            .unwrap_or(0);
        let pillar_idx = members.remove(pillar_slot);
        members.insert(0, pillar_idx);
        let pillar = text::clean_phrase(&keywords[pillar_idx].keyword);
        let name = text::title_case(&text::topic_phrase(&keywords[pillar_idx].keyword));
        let total_volume: i64 = members.iter().map(|&i| keywords[i].volume.max(0)).sum();
        let intent = cluster_intent(keywords, tokens, &members).as_str().to_string();
        let description = describe_cluster(members.len(), &name, &pillar, total_volume, &intent);
        ClusterOut { name, pillar_keyword: pillar, keywords: members, intent, total_volume, description }
    }

    /// Step 6: clusters whose names agree are one topic (the name is the pillar's
    /// topic words), so they merge while the merged cluster fits
    /// `max_cluster_size`; a name still shared after that is made unique
    /// ([`unique_names`]). Merging re-labels, which can give a new shared name, so
    /// this repeats until nothing merges.
    pub(super) fn one_per_name(&self, mut clusters: Vec<ClusterOut>, max_size: usize) -> Vec<ClusterOut> {
        loop {
            let mut by_name: BTreeMap<String, Vec<usize>> = BTreeMap::new();
            for (n, c) in clusters.iter().enumerate() {
                by_name.entry(c.name.to_lowercase()).or_default().push(n);
            }
            let mut fate = vec![Fate::Kept; clusters.len()];
            for group in by_name.values().filter(|g| g.len() > 1) {
                let mut target = group[0];
                for &other in &group[1..] {
                    if clusters[target].keywords.len() + clusters[other].keywords.len() > max_size {
                        target = other;
                        continue;
                    }
                    let moved = std::mem::take(&mut clusters[other].keywords);
                    clusters[target].keywords.extend(moved);
                    fate[other] = Fate::Absorbed;
                    fate[target] = Fate::Grew;
                }
            }
            if !fate.contains(&Fate::Grew) {
                break;
            }
            // Labelling is a pure function of the members, so only grown clusters
            // need it again.
            clusters = clusters
                .into_iter()
                .zip(fate)
                .filter(|(_, f)| *f != Fate::Absorbed)
                .map(|(c, f)| if f == Fate::Grew { self.describe(c.keywords) } else { c })
                .collect();
        }
        let mut taken = BTreeSet::new();
        unique_names(&mut clusters, &mut taken);
        clusters
    }
}

/// What a round of [`Labeller::one_per_name`] did to a cluster.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    Kept,
    /// Took in a namesake's keywords: labelled again.
    Grew,
    /// Moved into a namesake: dropped.
    Absorbed,
}

/// Normalised sum of sparse unit vectors: the direction of a group of keywords.
fn centroid<'a>(vectors: impl Iterator<Item = &'a [(u32, f32)]>) -> Vec<(u32, f32)> {
    let mut entries: Vec<(u32, f32)> = vectors.flat_map(|v| v.iter().copied()).collect();
    // Stable, so each term's weights add up in member order, as they always did.
    entries.sort_by_key(|e| e.0);
    let mut sum: Vec<(u32, f32)> = Vec::with_capacity(entries.len());
    for (t, w) in entries {
        match sum.last_mut() {
            Some(last) if last.0 == t => last.1 += w,
            _ => sum.push((t, w)),
        }
    }
    let norm = sum.iter().map(|e| e.1 * e.1).sum::<f32>().sqrt();
    for e in &mut sum {
        e.1 = if norm > 0.0 { e.1 / norm } else { 0.0 };
    }
    sum
}

/// The one-sentence description of a cluster.
fn describe_cluster(size: usize, name: &str, pillar: &str, total_volume: i64, intent: &str) -> String {
    format!(
        "{} keyword{} about {}, led by \"{}\" ({} monthly searches in total); mostly {} intent.",
        size,
        if size == 1 { "" } else { "s" },
        name.to_lowercase(),
        pillar,
        total_volume,
        intent
    )
}

/// Makes every name unique (case-insensitively) against `taken` and each other, in
/// the clusters' order: a name already taken becomes the title-cased pillar, and if
/// that is taken too, the name with the lowest free number appended ("Yoga Mat 2").
/// Deterministic because the order is.
pub fn unique_names(clusters: &mut [ClusterOut], taken: &mut BTreeSet<String>) {
    for c in clusters.iter_mut() {
        if taken.insert(c.name.to_lowercase()) {
            continue;
        }
        let from_pillar = text::title_case(&c.pillar_keyword);
        if taken.insert(from_pillar.to_lowercase()) {
            c.name = from_pillar;
            continue;
        }
        let mut n = 2u32;
        while !taken.insert(format!("{} {n}", c.name).to_lowercase()) {
            n += 1;
        }
        c.name = format!("{} {n}", c.name);
    }
}

/// Least cosine between a new keyword (or a new cluster's centroid) and an existing
/// cluster's centroid for it to join that cluster.
pub const JOIN_SIMILARITY: f32 = 0.4;

/// Centroid postings scanned per term when looking for a keyword's existing
/// cluster: a term shared by more clusters than this (an intent word) finds no
/// candidates by itself, so the lookup never becomes keywords × clusters.
const JOIN_POSTINGS: usize = 256;

/// Candidates per keyword whose exact centroid cosine is computed.
const JOIN_CANDIDATES: usize = 16;

/// Decides the grouping of `keywords` over the whole set, given the clusters the
/// site already has (see [`crate::AiProvider::plan_clusters`]):
///
/// 1. keywords and existing members are vectorised together (one IDF);
/// 2. each new keyword, in canonical order, joins the existing cluster whose
///    centroid is closest, if the cosine reaches [`JOIN_SIMILARITY`] and the
///    cluster has room (candidates come from an inverted index over the centroids'
///    terms, capped per term);
/// 3. the rest are clustered among themselves ([`cluster_keywords`]);
/// 4. a new cluster joins an existing one whole when its centroid is that close, or
///    when it has the existing cluster's name (the same topic words), room allowing;
/// 5. names are made unique against the existing clusters' names.
///
/// Pure function of the keywords and the existing clusters' content.
pub fn plan_clusters(
    keywords: &[KeywordInput],
    existing: &[ExistingCluster],
    options: &ClusterOptions,
) -> Result<ClusterPlan, AiError> {
    validate(keywords, options)?;
    if existing.is_empty() {
        return Ok(ClusterPlan { joins: Vec::new(), clusters: cluster_keywords(keywords, options)? });
    }
    let order = canonical_order(keywords);
    let mut union: Vec<KeywordInput> = existing.iter().flat_map(|e| e.keywords.iter().cloned()).collect();
    let base = union.len();
    union.extend(order.iter().map(|&i| keywords[i].clone()));
    let tv = vectorize(&union);
    let mut start = 0;
    let centroids: Vec<Vec<(u32, f32)>> = existing
        .iter()
        .map(|e| {
            let range = start..start + e.keywords.len();
            start = range.end;
            centroid(tv.vectors[range].iter().map(Vec::as_slice))
        })
        .collect();
    let nearest = NearestCluster::new(existing, &centroids);
    let mut sizes: Vec<usize> = existing.iter().map(|e| e.keywords.len()).collect();
    let mut joins: Vec<Vec<usize>> = vec![Vec::new(); existing.len()];
    let mut rest: Vec<usize> = Vec::new();
    for (slot, &original) in order.iter().enumerate() {
        match nearest.find(&tv.vectors[base + slot], &sizes, 1, options.max_cluster_size) {
            Some(c) => {
                joins[c].push(original);
                sizes[c] += 1;
            }
            None => rest.push(original),
        }
    }
    let mut clusters = Vec::new();
    if !rest.is_empty() {
        let rest_keywords: Vec<KeywordInput> = rest.iter().map(|&i| keywords[i].clone()).collect();
        let slot_of: FxHashMap<usize, usize> = order.iter().enumerate().map(|(s, &i)| (i, s)).collect();
        let existing_names = existing_names(existing);
        for mut c in cluster_keywords(&rest_keywords, options)? {
            for idx in &mut c.keywords {
                *idx = rest[*idx];
            }
            let center = centroid(c.keywords.iter().map(|i| tv.vectors[base + slot_of[i]].as_slice()));
            let size = c.keywords.len();
            let by_name = existing_names
                .get(&c.name.to_lowercase())
                .copied()
                .filter(|&n| sizes[n] + size <= options.max_cluster_size);
            match by_name.or_else(|| nearest.find(&center, &sizes, size, options.max_cluster_size)) {
                Some(n) => {
                    joins[n].extend(c.keywords.iter().copied());
                    sizes[n] += size;
                }
                None => clusters.push(c),
            }
        }
    }
    for j in &mut joins {
        j.sort_unstable();
    }
    let mut taken: BTreeSet<String> = existing.iter().map(|e| e.name.to_lowercase()).collect();
    unique_names(&mut clusters, &mut taken);
    Ok(ClusterPlan { joins, clusters })
}

/// Existing clusters by topic: each one's lower-cased name and its pillar's topic
/// words, so a new cluster with the same name can join it (one cluster per name).
pub(super) fn existing_names(existing: &[ExistingCluster]) -> FxHashMap<String, usize> {
    existing
        .iter()
        .enumerate()
        .flat_map(|(n, e)| [(e.name.to_lowercase(), n), (text::topic_phrase(&e.pillar_keyword).to_lowercase(), n)])
        .collect()
}

/// Rank of each existing cluster in canonical order (by pillar, then name), to
/// break ties between clusters by their content rather than by the order they were
/// given in.
pub(super) fn existing_rank(existing: &[ExistingCluster]) -> Vec<usize> {
    let mut by_content: Vec<usize> = (0..existing.len()).collect();
    by_content.sort_by(|&a, &b| {
        (&existing[a].pillar_keyword, &existing[a].name, a).cmp(&(&existing[b].pillar_keyword, &existing[b].name, b))
    });
    let mut rank = vec![0; existing.len()];
    for (r, &c) in by_content.iter().enumerate() {
        rank[c] = r;
    }
    rank
}

/// An inverted index over existing clusters' centroids, for the nearest cluster of
/// a vector (step 2 of [`plan_clusters`]).
struct NearestCluster<'a> {
    centroids: &'a [Vec<(u32, f32)>],
    postings: FxHashMap<u32, Vec<(u32, f32)>>,
    /// Rank of each existing cluster in canonical order (by pillar, then name), to
    /// break ties by content rather than by the order clusters were given in.
    rank: Vec<usize>,
}

impl<'a> NearestCluster<'a> {
    fn new(existing: &[ExistingCluster], centroids: &'a [Vec<(u32, f32)>]) -> Self {
        let mut postings: FxHashMap<u32, Vec<(u32, f32)>> = FxHashMap::default();
        for (c, v) in centroids.iter().enumerate() {
            for &(t, w) in v {
                postings.entry(t).or_default().push((c as u32, w));
            }
        }
        Self { centroids, postings, rank: existing_rank(existing) }
    }

    /// The existing cluster closest to `v` with room for `adding` more keywords, if
    /// its cosine reaches [`JOIN_SIMILARITY`].
    fn find(&self, v: &[(u32, f32)], sizes: &[usize], adding: usize, max_size: usize) -> Option<usize> {
        let mut acc: FxHashMap<u32, f32> = FxHashMap::default();
        for &(t, w) in v {
            match self.postings.get(&t) {
                Some(list) if list.len() <= JOIN_POSTINGS => {
                    for &(c, cw) in list {
                        *acc.entry(c).or_insert(0.0) += w * cw;
                    }
                }
                _ => {}
            }
        }
        let mut candidates: Vec<(f32, u32)> = acc.into_iter().map(|(c, s)| (s, c)).collect();
        candidates
            .sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| self.rank[a.1 as usize].cmp(&self.rank[b.1 as usize])));
        candidates.truncate(JOIN_CANDIDATES);
        candidates
            .into_iter()
            .map(|(_, c)| (sparse_dot(v, &self.centroids[c as usize]), c as usize))
            .filter(|&(s, c)| s >= JOIN_SIMILARITY && sizes[c] + adding <= max_size)
            .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| self.rank[b.1].cmp(&self.rank[a.1])))
            .map(|(_, c)| c)
    }
}

/// Volume-weighted intent vote: explicit labels count three times as much as cue
/// words; with no signal at all the cluster is informational.
fn cluster_intent(keywords: &[KeywordInput], tokens: &[Vec<String>], members: &[usize]) -> Intent {
    let mut votes = [0.0f64; 4];
    for &i in members {
        let weight = keywords[i].volume.max(0) as f64 + 1.0;
        let explicit = keywords[i].intent.as_deref().and_then(Intent::parse);
        let (intent, factor) = match explicit {
            Some(it) => (Some(it), 3.0),
            None => (text::cue_intent(&tokens[i]), 1.0),
        };
        if let Some(it) = intent {
            if let Some(slot) = Intent::ALL.iter().position(|x| *x == it) {
                votes[slot] += weight * factor;
            }
        }
    }
    let mut best = Intent::Informational;
    let mut best_vote = 0.0;
    for (slot, it) in Intent::ALL.iter().enumerate() {
        if votes[slot] > best_vote {
            best_vote = votes[slot];
            best = *it;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kws(list: &[(&str, i64)]) -> Vec<KeywordInput> {
        list.iter().map(|(k, v)| KeywordInput::new(*k, *v)).collect()
    }

    fn cluster_of(clusters: &[ClusterOut], idx: usize) -> usize {
        clusters.iter().position(|c| c.keywords.contains(&idx)).unwrap()
    }

    #[test]
    fn the_shortlist_key_orders_as_the_candidate_order() {
        let scores = [0.0f32, -0.0, 1e-30, 0.25, 0.5, 0.5000001, 1.0, 3.5, f32::MAX, -1.0, f32::INFINITY];
        let ids = [0u32, 1, 7, u32::MAX - 1, u32::MAX];
        let candidates: Vec<(f32, u32)> = scores.iter().flat_map(|&s| ids.iter().map(move |&d| (s, d))).collect();
        for a in &candidates {
            assert_eq!(shortlisted_id(shortlist_key(a.0, a.1)), a.1);
            for b in &candidates {
                let by_key = shortlist_key(a.0, a.1).cmp(&shortlist_key(b.0, b.1));
                assert_eq!(by_key, cmp_candidate(a, b), "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn groups_obvious_variants_and_separates_topics() {
        let input = kws(&[
            ("running shoes", 5000),
            ("best running shoes", 3000),
            ("running shoe reviews", 800),
            ("chocolate cake recipe", 4000),
            ("easy chocolate cake", 900),
            ("Running Shoes for Women", 1200),
        ]);
        let clusters = cluster_keywords(&input, &ClusterOptions::default()).unwrap();
        let shoes = cluster_of(&clusters, 0);
        assert_eq!(cluster_of(&clusters, 1), shoes);
        assert_eq!(cluster_of(&clusters, 2), shoes);
        assert_eq!(cluster_of(&clusters, 5), shoes);
        let cake = cluster_of(&clusters, 3);
        assert_ne!(cake, shoes);
        assert_eq!(cluster_of(&clusters, 4), cake);
        let c = &clusters[shoes];
        assert_eq!(c.pillar_keyword, "running shoes");
        assert_eq!(c.keywords[0], 0);
        assert_eq!(c.total_volume, 5000 + 3000 + 800 + 1200);
        assert_eq!(c.name, "Running Shoes");
        // Every input index appears exactly once.
        let mut all: Vec<usize> = clusters.iter().flat_map(|c| c.keywords.clone()).collect();
        all.sort();
        assert_eq!(all, (0..input.len()).collect::<Vec<_>>());
        // Ordered by total volume.
        assert!(clusters.windows(2).all(|w| w[0].total_volume >= w[1].total_volume));
    }

    /// The project's example keyword file (text, intent, volume).
    fn example_keywords() -> Vec<KeywordInput> {
        include_str!("../../../../examples/keywords.csv")
            .lines()
            .skip(1)
            .map(|line| {
                let f: Vec<&str> = line.split(',').collect();
                let mut k = KeywordInput::new(f[0], f[2].parse().unwrap());
                k.intent = Some(f[1].to_string());
                k
            })
            .collect()
    }

    /// A clustering as content: per cluster its name, pillar and sorted member texts.
    fn as_content(clusters: &[ClusterOut], input: &[KeywordInput]) -> Vec<(String, String, Vec<String>)> {
        let mut out: Vec<_> = clusters
            .iter()
            .map(|c| {
                let mut m: Vec<String> = c.keywords.iter().map(|&i| input[i].keyword.clone()).collect();
                m.sort();
                (c.name.clone(), c.pillar_keyword.clone(), m)
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn the_order_of_the_keywords_does_not_change_the_clusters() {
        let input = example_keywords();
        let a = cluster_keywords(&input, &ClusterOptions::default()).unwrap();
        let mut shuffled = input.clone();
        let mut rng = crate::offline::text::SplitMix64::new(7);
        for i in (1..shuffled.len()).rev() {
            shuffled.swap(i, rng.below(i + 1));
        }
        let b = cluster_keywords(&shuffled, &ClusterOptions::default()).unwrap();
        assert_eq!(as_content(&a, &input), as_content(&b, &shuffled));
    }

    #[test]
    fn on_the_example_file_names_and_pillars_are_unique_and_agree() {
        let input = example_keywords();
        let clusters = cluster_keywords(&input, &ClusterOptions::default()).unwrap();
        let names: BTreeSet<String> = clusters.iter().map(|c| c.name.to_lowercase()).collect();
        let pillars: BTreeSet<&str> = clusters.iter().map(|c| c.pillar_keyword.as_str()).collect();
        assert_eq!(names.len(), clusters.len(), "a name repeats");
        assert_eq!(pillars.len(), clusters.len(), "a pillar repeats");
        for c in &clusters {
            let pillar = &input[c.keywords[0]];
            assert_eq!(c.pillar_keyword, text::clean_phrase(&pillar.keyword), "the pillar is the first member");
            // The name is the pillar's topic words (a repeated one gets a qualifier).
            let topic = text::title_case(&text::topic_phrase(&pillar.keyword));
            assert!(c.name.starts_with(&topic) || c.name == text::title_case(&c.pillar_keyword), "{c:?}");
            assert!(!c.pillar_keyword.contains(" vs ") || c.keywords.len() == 1, "a comparison leads {c:?}");
        }
    }

    #[test]
    fn a_brand_site_keyword_does_not_lead_a_topic() {
        // The incoherent cluster of the issue: a brand's site keyword with the most
        // volume led a cluster named after another brand.
        let input = kws(&[
            ("fiskars official website", 9000),
            ("fiskars raised garden bed review", 300),
            ("raised garden bed", 2000),
            ("raised garden bed price", 800),
            ("how to choose raised garden bed", 500),
            ("miracle gro raised garden bed review", 200),
        ]);
        let clusters = cluster_keywords(&input, &ClusterOptions::default()).unwrap();
        let beds = &clusters[cluster_of(&clusters, 2)];
        assert_eq!(beds.pillar_keyword, "raised garden bed");
        assert_eq!(beds.name, "Raised Garden Bed");
    }

    #[test]
    fn clusters_with_one_name_merge() {
        let labeller_input = kws(&[("best retinol cream", 10), ("retinol cream guide", 5), ("yoga mat", 3)]);
        let tv = vectorize(&labeller_input);
        let centrality = vec![0.0; 3];
        let space = SparseSpace(&tv.vectors);
        let labeller =
            Labeller { keywords: &labeller_input, tokens: &tv.tokens, centrality: &centrality, space: &space };
        let split = vec![labeller.describe(vec![0]), labeller.describe(vec![1]), labeller.describe(vec![2])];
        assert_eq!(split[0].name, split[1].name);
        let merged = labeller.one_per_name(split.clone(), 10);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].keywords, vec![0, 1]);
        // Without room to merge, the second gets a name of its own.
        let kept = labeller.one_per_name(split, 1);
        let names: BTreeSet<String> = kept.iter().map(|c| c.name.clone()).collect();
        assert_eq!(names.len(), 3, "{kept:?}");
    }

    #[test]
    fn unique_names_qualify_repeats_deterministically() {
        let c = |name: &str, pillar: &str| ClusterOut {
            name: name.into(),
            pillar_keyword: pillar.into(),
            keywords: vec![0],
            intent: "informational".into(),
            total_volume: 0,
            description: String::new(),
        };
        let mut clusters =
            vec![c("Yoga Mat", "yoga mat"), c("Yoga Mat", "best yoga mat"), c("Yoga Mat", "best yoga mat")];
        let mut taken = BTreeSet::from(["hot yoga".to_string()]);
        unique_names(&mut clusters, &mut taken);
        let names: Vec<&str> = clusters.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["Yoga Mat", "Best Yoga Mat", "Yoga Mat 2"]);
    }

    fn existing_from(clusters: &[ClusterOut], input: &[KeywordInput]) -> Vec<ExistingCluster> {
        clusters
            .iter()
            .map(|c| ExistingCluster {
                name: c.name.clone(),
                pillar_keyword: c.pillar_keyword.clone(),
                keywords: c.keywords.iter().map(|&i| input[i].clone()).collect(),
            })
            .collect()
    }

    #[test]
    fn new_keywords_of_existing_topics_join_their_clusters() {
        let input = example_keywords();
        let first = cluster_keywords(&input, &ClusterOptions::default()).unwrap();
        let existing = existing_from(&first, &input);
        let known: BTreeSet<String> = input.iter().map(|k| k.keyword.clone()).collect();
        let qualifiers = ["for small apartments", "for seniors", "for travel", "under 50 dollars", "for families"];
        let mut new = Vec::new();
        let mut home = Vec::new();
        for (n, c) in first.iter().enumerate().filter(|(_, c)| c.keywords.len() >= 3) {
            let topic = text::topic_phrase(&c.pillar_keyword);
            for q in qualifiers.iter().take(2) {
                let keyword = format!("best {topic} {}", qualifiers[(n + q.len()) % qualifiers.len()]);
                if !known.contains(&keyword) && !new.iter().any(|k: &KeywordInput| k.keyword == keyword) {
                    new.push(KeywordInput::new(keyword, 50));
                    home.push(n);
                }
            }
        }
        let plan = plan_clusters(&new, &existing, &ClusterOptions::default()).unwrap();
        assert!(plan.clusters.is_empty(), "no new cluster for known topics: {:?}", plan.clusters);
        for (k, &n) in home.iter().enumerate() {
            assert!(plan.joins[n].contains(&k), "{:?} should join {:?}", new[k].keyword, first[n].name);
        }
        // A genuinely new topic still makes a cluster, with a name no existing one has.
        let fresh = kws(&[("sea kayak paddle", 900), ("best sea kayak paddle", 400), ("sea kayak paddle length", 100)]);
        let plan = plan_clusters(&fresh, &existing, &ClusterOptions::default()).unwrap();
        assert_eq!(plan.clusters.len(), 1, "{plan:?}");
        assert!(plan.joins.iter().all(Vec::is_empty));
        assert!(existing.iter().all(|e| e.name.to_lowercase() != plan.clusters[0].name.to_lowercase()));
    }

    #[test]
    fn a_plan_with_no_existing_clusters_is_the_clustering() {
        let input = example_keywords();
        let plan = plan_clusters(&input, &[], &ClusterOptions::default()).unwrap();
        assert!(plan.joins.is_empty());
        assert_eq!(plan.clusters, cluster_keywords(&input, &ClusterOptions::default()).unwrap());
    }

    #[test]
    fn a_new_cluster_named_like_an_existing_one_joins_it() {
        // An existing cluster whose members are gone has no centroid to be close to;
        // its name still says its topic.
        let existing = vec![
            ExistingCluster { name: "Standing Desk".into(), pillar_keyword: "standing desk".into(), keywords: vec![] },
            ExistingCluster {
                name: "Yoga Mat".into(),
                pillar_keyword: "yoga mat".into(),
                keywords: kws(&[("yoga mat", 10)]),
            },
        ];
        let new = kws(&[("best standing desk", 10), ("standing desk review", 5)]);
        let plan = plan_clusters(&new, &existing, &ClusterOptions::default()).unwrap();
        assert_eq!(plan.joins, vec![vec![0, 1], vec![]]);
        assert!(plan.clusters.is_empty());
    }

    #[test]
    fn keywords_sharing_only_intent_words_are_not_neighbours() {
        let input = kws(&[
            ("brooks official website", 100),
            ("fiskars official website", 900),
            ("brooks running shoes", 50),
            ("fiskars raised garden bed", 40),
        ]);
        let tv = vectorize(&input);
        let opts = ClusterOptions { similarity_threshold: 0.01, ..ClusterOptions::default() };
        let edges = similarity_graph(&tv, &opts);
        assert!(!edges.iter().any(|e| (e.0, e.1) == (0, 1)), "{edges:?}");
        assert!(edges.iter().any(|e| (e.0, e.1) == (0, 2)), "{edges:?}");
        let clusters = cluster_keywords(&input, &opts).unwrap();
        assert_ne!(cluster_of(&clusters, 0), cluster_of(&clusters, 1));
    }

    #[test]
    fn deterministic_for_same_input() {
        let input = kws(&[
            ("seo tools", 100),
            ("free seo tools", 50),
            ("seo audit", 70),
            ("seo audit checklist", 20),
            ("keyword research", 300),
            ("keyword research tools", 90),
        ]);
        let a = cluster_keywords(&input, &ClusterOptions::default()).unwrap();
        let b = cluster_keywords(&input, &ClusterOptions::default()).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn empty_input_and_bad_options_are_invalid() {
        assert!(matches!(cluster_keywords(&[], &ClusterOptions::default()), Err(AiError::InvalidInput(_))));
        let opts = ClusterOptions { similarity_threshold: 1.5, ..ClusterOptions::default() };
        assert!(matches!(cluster_keywords(&kws(&[("a b", 1)]), &opts), Err(AiError::InvalidInput(_))));
    }

    #[test]
    fn intent_labels_follow_cues_and_explicit_labels() {
        let input = kws(&[
            ("buy espresso machine", 500),
            ("espresso machine price", 400),
            ("how to descale a kettle", 300),
            ("kettle descaling guide", 200),
            ("best noise cancelling headphones", 900),
            ("noise cancelling headphones review", 300),
            ("acme bank login", 700),
        ]);
        let clusters = cluster_keywords(&input, &ClusterOptions::default()).unwrap();
        let intent = |i: usize| clusters[cluster_of(&clusters, i)].intent.clone();
        assert_eq!(intent(0), "transactional");
        assert_eq!(intent(2), "informational");
        assert_eq!(intent(4), "commercial");
        assert_eq!(intent(6), "navigational");
        let mut labelled = kws(&[("garden hose", 10)]);
        labelled[0].intent = Some("Commercial".into());
        let c = cluster_keywords(&labelled, &ClusterOptions::default()).unwrap();
        assert_eq!(c[0].intent, "commercial");
    }

    #[test]
    fn stop_word_only_keywords_become_singletons() {
        let input = kws(&[("the", 1), ("of the", 2), ("running shoes", 3)]);
        let clusters = cluster_keywords(&input, &ClusterOptions::default()).unwrap();
        assert_eq!(clusters.len(), 3);
    }

    #[test]
    fn duplicates_always_share_a_cluster() {
        let mut input: Vec<KeywordInput> = (0..600)
            .map(|i| KeywordInput::new(if i % 2 == 0 { "Running Shoes!" } else { "running shoe" }, 1))
            .collect();
        input.push(KeywordInput::new("chocolate cake", 5));
        let clusters = cluster_keywords(&input, &ClusterOptions::default()).unwrap();
        assert_eq!(clusters.len(), 2);
        assert_eq!(clusters[0].keywords.len(), 600);
        assert_eq!(clusters[0].total_volume, 600);
    }

    #[test]
    fn size_cap_is_respected() {
        let input: Vec<KeywordInput> = (0..50).map(|i| KeywordInput::new(format!("garden tools {i}"), i)).collect();
        let opts = ClusterOptions { max_cluster_size: 10, ..ClusterOptions::default() };
        let clusters = cluster_keywords(&input, &opts).unwrap();
        assert!(clusters.iter().all(|c| c.keywords.len() <= 10));
    }

    /// Canonical form of a partition: sorted member lists, sorted.
    fn partition(labels: &[u32]) -> Vec<Vec<usize>> {
        let mut groups: std::collections::BTreeMap<u32, Vec<usize>> = Default::default();
        for (i, l) in labels.iter().enumerate() {
            groups.entry(*l).or_default().push(i);
        }
        let mut out: Vec<Vec<usize>> = groups.into_values().collect();
        out.sort();
        out
    }

    #[test]
    #[allow(clippy::needless_range_loop)] // symmetric matrix fill reads best by index
    fn lazy_agglomeration_matches_textbook_average_linkage() {
        let mut rng = crate::offline::text::SplitMix64::new(42);
        for round in 0..20 {
            let n = 12 + round;
            let mut w = vec![vec![0.0f32; n]; n];
            let mut edges = Vec::new();
            for a in 0..n {
                for b in a + 1..n {
                    if rng.unit() < 0.35 {
                        let x = rng.unit() as f32;
                        w[a][b] = x;
                        w[b][a] = x;
                        edges.push((a as u32, b as u32, x));
                    }
                }
            }
            let opts = ClusterOptions { linkage_threshold: 0.15, max_cluster_size: 1_000, ..ClusterOptions::default() };
            // Naive UPGMA: recompute every cluster pair's average each step.
            let mut clusters: Vec<Vec<usize>> = (0..n).map(|i| vec![i]).collect();
            loop {
                let mut best: Option<(f32, usize, usize)> = None;
                for i in 0..clusters.len() {
                    for j in i + 1..clusters.len() {
                        let sum: f32 = clusters[i]
                            .iter()
                            .flat_map(|&a| clusters[j].iter().map(move |&b| (a, b)))
                            .map(|(a, b)| w[a][b])
                            .sum();
                        let avg = sum / (clusters[i].len() * clusters[j].len()) as f32;
                        if best.is_none_or(|b| avg > b.0) {
                            best = Some((avg, i, j));
                        }
                    }
                }
                match best {
                    Some((avg, i, j)) if avg >= opts.linkage_threshold => {
                        let moved = clusters.remove(j);
                        clusters[i].extend(moved);
                    }
                    _ => break,
                }
            }
            let mut expected: Vec<Vec<usize>> = clusters
                .into_iter()
                .map(|mut c| {
                    c.sort();
                    c
                })
                .collect();
            expected.sort();
            assert_eq!(partition(&agglomerate(&vec![1; n], &edges, &opts)), expected, "round {round}");
        }
    }

    #[test]
    fn packed_candidates_order_by_score_then_lower_ids() {
        let c = Candidate::new(0.5, 1, 2);
        assert_eq!((c.score(), c.a(), c.b()), (0.5, 1, 2));
        assert!(c > Candidate::new(0.4, 0, 0));
        assert!(c > Candidate::new(0.5, 1, 3));
        assert!(c > Candidate::new(0.5, 2, 0));
        assert_eq!(Candidate::new(-0.0, 0, 0).score(), 0.0);
    }

    #[test]
    fn thread_count_does_not_change_the_graph() {
        let input: Vec<KeywordInput> = (0..3_000)
            .map(|i| KeywordInput::new(format!("topic{} widget{} extra{}", i % 40, i % 13, i % 7), 1))
            .collect();
        let tv = vectorize(&input);
        let opts = ClusterOptions { max_postings: 50, ..ClusterOptions::default() };
        let one = similarity_graph_threads(&tv, &opts, 1);
        assert!(!one.is_empty());
        assert_eq!(one, similarity_graph_threads(&tv, &opts, 3));
    }

    #[test]
    fn graph_has_no_self_loops_and_is_sorted() {
        let input = kws(&[("a red car", 1), ("red car", 1), ("blue car", 1), ("red", 1)]);
        let tv = vectorize(&input);
        let edges = similarity_graph(&tv, &ClusterOptions::default());
        assert!(edges.iter().all(|e| e.0 < e.1 && e.2 > 0.0 && e.2 <= 1.0001));
        assert!(edges.windows(2).all(|w| (w[0].0, w[0].1) < (w[1].0, w[1].1)));
    }
}
