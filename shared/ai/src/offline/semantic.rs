//! Semantic keyword clustering: unit-length sentence embeddings (all-MiniLM-L6-v2
//! locally, or an `/embeddings` model in the cloud) grouped by a linkage that finds
//! the number of clusters itself, so the user never gives `k`.
//!
//! The embeddings are inputs: this module is a pure function of the keywords and
//! their vectors (no model, no I/O), deterministic for the same input in any order,
//! and names clusters with the lexical module's labelling so names and pillars read
//! the same in both modes.
//!
//! # Algorithm
//!
//! 1. **Order.** Keywords are read in [`canonical_order`] (ties between identical
//!    keywords broken by their vectors), so the result does not depend on the input
//!    order; vectors are re-normalised to unit length (dot product = cosine).
//! 2. **Exact k-nearest-neighbour graph.** Every keyword's [`NEIGHBOURS`] most
//!    similar keywords at or above `merge_threshold`. The similarities are matrix
//!    products (ndarray over matrixmultiply's sgemm, AVX/FMA chosen at run time) of
//!    fixed blocks of 256 rows against tiles of 1,024 later rows, never an n × n
//!    matrix in memory; each pair is scored once (upper triangle) and offered to both
//!    of its rows. Blocks are shared among the cores; each core keeps its own
//!    per-row lists, merged at the end under the same total order, so neither the
//!    scores nor the graph depend on the thread count. The graph is the union of
//!    both directions.
//! 3. **Average linkage (UPGMA) on exact scores.** For unit vectors the average
//!    pairwise cosine of two clusters is the dot product of their mean vectors, so
//!    each cluster keeps only the sum of its members' vectors and every candidate
//!    pair is scored exactly, without a pairwise matrix. Pairs are candidates when
//!    the graph joins them; merges are taken best first from a heap, stale entries
//!    (a side merged or grew since) are recognised by re-scoring and dropped, since
//!    every merge re-queues all pairs of the merged cluster. Merging stops when no
//!    pair reaches `merge_threshold`, which therefore decides the number of clusters;
//!    merges beyond `max_cluster_size` are refused. Average linkage keeps this
//!    threshold meaningful at any set size (it is a mean similarity, not a sum).
//! 4. **Labelling** exactly as the lexical mode ([`super::cluster`] step 5–6): the
//!    pillar among the members closest to the cluster's embedding centroid, the name
//!    from the pillar's topic words, intent by vote, then one cluster per name.
//!
//! [`plan_semantic_clusters`] adds a site's existing clusters: a new keyword joins
//! the existing cluster whose centroid (mean member embedding, re-normalised) is
//! most similar, if at least `join_threshold`; the rest are clustered among
//! themselves, and a new cluster joins an existing one whole when its centroid is
//! that close or it has the existing cluster's name.

use std::cmp::Ordering;
use std::collections::{BTreeSet, BinaryHeap};

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2, Axis, Slice};
use serde::{Deserialize, Serialize};

use crate::{AiError, ClusterOut, ClusterPlan, ExistingCluster, KeywordInput};

use super::cluster::{
    canonical_order, existing_names, existing_rank, rank, unique_names, Candidate, CentroidSpace, Labeller,
};
use super::parallel;
use super::text::{self, FxHashMap};

/// Tuning of semantic clustering; the defaults are tuned on BANKING77's train
/// split and checked on its test split (docs/clustering.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SemanticOptions {
    /// Cosine similarity at or above which two clusters may merge (the linkage's
    /// stopping threshold); it decides the number of clusters.
    pub merge_threshold: f32,
    /// Cosine similarity to an existing cluster's centroid at or above which a new
    /// keyword joins that cluster instead of founding a new one.
    pub join_threshold: f32,
    /// Largest allowed cluster; merges beyond it are refused.
    pub max_cluster_size: usize,
}

impl Default for SemanticOptions {
    fn default() -> Self {
        Self { merge_threshold: 0.55, join_threshold: 0.7, max_cluster_size: 200 }
    }
}

/// Nearest neighbours kept per keyword in the graph: enough that the members of a
/// topic are connected, few enough that the linkage's candidate pairs stay linear.
pub const NEIGHBOURS: usize = 24;

/// Rows per unit of work handed to a thread; fixed, so the split (and therefore
/// every computed value) does not depend on the thread count.
const BLOCK: usize = 256;
/// Columns per matrix product of a block's rows: a 256 × 1024 product buffer
/// (1 MB) per thread, large enough that the kernel runs at full speed.
const TILE: usize = 1024;
/// Below this many keywords the neighbour search stays on one thread.
const PARALLEL_MIN: usize = 2_000;

/// Plans clusters for `keywords` from their embeddings (`embeddings[i]` belongs to
/// `keywords[i]`): new keywords close to an existing cluster (its members'
/// embeddings in `existing_embeddings[c][m]`, aligned with `existing[c].keywords`)
/// join it, the rest form new clusters, each with a pillar among its members and a
/// provisional name. Same contract as [`super::cluster::plan_clusters`].
pub fn plan_semantic_clusters(
    keywords: &[KeywordInput],
    embeddings: &[Vec<f32>],
    existing: &[ExistingCluster],
    existing_embeddings: &[Vec<Vec<f32>>],
    options: &SemanticOptions,
) -> Result<ClusterPlan, AiError> {
    let dim = validate(keywords, embeddings, existing, existing_embeddings, options)?;
    if existing.is_empty() {
        return Ok(ClusterPlan {
            joins: Vec::new(),
            clusters: cluster_sorted_input(keywords, embeddings, dim, options)?,
        });
    }
    let centroids: Vec<Option<Vec<f32>>> = existing_embeddings
        .iter()
        .map(|members| {
            let mut sum = vec![0.0f32; dim];
            for v in members {
                add_unit(&mut sum, v);
            }
            (!members.is_empty() && normalise(&mut sum)).then_some(sum)
        })
        .collect();
    let nearest =
        NearestCentroid { centroids: &centroids, rank: existing_rank(existing), threshold: options.join_threshold };
    let order = semantic_order(keywords, embeddings);
    let mut sizes: Vec<usize> = existing.iter().map(|e| e.keywords.len()).collect();
    let mut joins: Vec<Vec<usize>> = vec![Vec::new(); existing.len()];
    let mut rest: Vec<usize> = Vec::new();
    for &i in &order {
        let v = unit(&embeddings[i]);
        match nearest.find(&v, &sizes, 1, options.max_cluster_size) {
            Some(c) => {
                joins[c].push(i);
                sizes[c] += 1;
            }
            None => rest.push(i),
        }
    }
    let mut clusters = Vec::new();
    if !rest.is_empty() {
        let rest_keywords: Vec<KeywordInput> = rest.iter().map(|&i| keywords[i].clone()).collect();
        let rest_vectors: Vec<Vec<f32>> = rest.iter().map(|&i| embeddings[i].clone()).collect();
        let names = existing_names(existing);
        for mut c in cluster_sorted_input(&rest_keywords, &rest_vectors, dim, options)? {
            for idx in &mut c.keywords {
                *idx = rest[*idx];
            }
            let mut center = vec![0.0f32; dim];
            for &i in &c.keywords {
                add_unit(&mut center, &embeddings[i]);
            }
            normalise(&mut center);
            let size = c.keywords.len();
            let by_name =
                names.get(&c.name.to_lowercase()).copied().filter(|&n| sizes[n] + size <= options.max_cluster_size);
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

/// Clusters keywords by their embeddings alone (no existing clusters): the named,
/// labelled clusters of the module algorithm, ordered by total volume, then first
/// member. Used by the benchmark and by [`plan_semantic_clusters`].
pub fn cluster_semantic(
    keywords: &[KeywordInput],
    embeddings: &[Vec<f32>],
    options: &SemanticOptions,
) -> Result<Vec<ClusterOut>, AiError> {
    let dim = validate(keywords, embeddings, &[], &[], options)?;
    cluster_sorted_input(keywords, embeddings, dim, options)
}

/// Checks input and options; returns the embedding dimension.
fn validate(
    keywords: &[KeywordInput],
    embeddings: &[Vec<f32>],
    existing: &[ExistingCluster],
    existing_embeddings: &[Vec<Vec<f32>>],
    options: &SemanticOptions,
) -> Result<usize, AiError> {
    if keywords.is_empty() {
        return Err(AiError::InvalidInput("no keywords to cluster".into()));
    }
    if u32::try_from(keywords.len()).is_err() {
        return Err(AiError::InvalidInput("too many keywords".into()));
    }
    if embeddings.len() != keywords.len() {
        return Err(AiError::InvalidInput(format!("{} embeddings for {} keywords", embeddings.len(), keywords.len())));
    }
    if existing_embeddings.len() != existing.len() {
        return Err(AiError::InvalidInput(format!(
            "embeddings for {} existing clusters, {} given",
            existing_embeddings.len(),
            existing.len()
        )));
    }
    for (n, (e, vs)) in existing.iter().zip(existing_embeddings).enumerate() {
        if e.keywords.len() != vs.len() {
            return Err(AiError::InvalidInput(format!(
                "existing cluster {n} has {} keywords and {} embeddings",
                e.keywords.len(),
                vs.len()
            )));
        }
    }
    let dim = embeddings[0].len();
    let all = embeddings.iter().chain(existing_embeddings.iter().flatten());
    for v in all {
        if v.is_empty() || v.len() != dim {
            return Err(AiError::InvalidInput(format!("embeddings of mixed or zero length ({} and {dim})", v.len())));
        }
        if v.iter().any(|x| !x.is_finite()) {
            return Err(AiError::InvalidInput("an embedding holds a non-finite value".into()));
        }
    }
    for (name, v) in [("merge_threshold", options.merge_threshold), ("join_threshold", options.join_threshold)] {
        if !(0.0..=1.0).contains(&v) {
            return Err(AiError::InvalidInput(format!("{name} must be within 0..=1, got {v}")));
        }
    }
    if options.max_cluster_size == 0 {
        return Err(AiError::InvalidInput("max_cluster_size must be positive".into()));
    }
    Ok(dim)
}

/// [`canonical_order`], with identical keywords (same text and metrics) ordered by
/// their vectors' bits, so even a caller that embeds duplicates differently gets
/// the same clusters in any input order.
fn semantic_order(keywords: &[KeywordInput], embeddings: &[Vec<f32>]) -> Vec<usize> {
    let mut order = canonical_order(keywords);
    let bits = |i: usize| embeddings[i].iter().map(|x| x.to_bits());
    for same in order.chunk_by_mut(|&a, &b| keywords[a] == keywords[b]).filter(|run| run.len() > 1) {
        same.sort_by(|&a, &b| bits(a).cmp(bits(b)).then_with(|| a.cmp(&b)));
    }
    order
}

/// Clusters validated input: canonical order, then the sorted clustering, with the
/// member indices mapped back to the input.
fn cluster_sorted_input(
    keywords: &[KeywordInput],
    embeddings: &[Vec<f32>],
    dim: usize,
    options: &SemanticOptions,
) -> Result<Vec<ClusterOut>, AiError> {
    let order = semantic_order(keywords, embeddings);
    let sorted: Vec<KeywordInput> = order.iter().map(|&i| keywords[i].clone()).collect();
    let mut data = Vec::with_capacity(order.len() * dim);
    for &i in &order {
        data.extend(unit(&embeddings[i]));
    }
    let matrix = Dense { dim, data };
    let mut clusters = cluster_sorted(&sorted, &matrix, options)?;
    for c in &mut clusters {
        for idx in &mut c.keywords {
            *idx = order[*idx];
        }
    }
    Ok(clusters)
}

/// Row-major matrix of unit-length vectors (one row per keyword).
struct Dense {
    dim: usize,
    data: Vec<f32>,
}

impl Dense {
    fn rows(&self) -> usize {
        self.data.len() / self.dim
    }
    fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

impl CentroidSpace for Dense {
    fn centroid_scores(&self, members: &[usize]) -> Vec<f32> {
        let mut center = vec![0.0f32; self.dim];
        for &i in members {
            add_unit(&mut center, self.row(i));
        }
        normalise(&mut center);
        members.iter().map(|&i| dot(self.row(i), &center)).collect()
    }
}

/// Clusters keywords already in canonical order with their unit vectors: graph,
/// linkage, labelling, one cluster per name, ranking.
fn cluster_sorted(
    keywords: &[KeywordInput],
    matrix: &Dense,
    options: &SemanticOptions,
) -> Result<Vec<ClusterOut>, AiError> {
    let n = keywords.len();
    let threads = parallel::threads_for(n, PARALLEL_MIN);
    let edges = knn_edges(matrix, NEIGHBOURS, options.merge_threshold, threads)?;
    let labels = average_linkage(matrix, &edges, options);
    let mut centrality = vec![0.0f32; n];
    for &(a, b, w) in &edges {
        if labels[a as usize] == labels[b as usize] {
            centrality[a as usize] += w;
            centrality[b as usize] += w;
        }
    }
    let mut groups: FxHashMap<u32, Vec<usize>> = FxHashMap::default();
    for (i, l) in labels.iter().enumerate() {
        groups.entry(*l).or_default().push(i);
    }
    let mut members: Vec<Vec<usize>> = groups.into_values().collect();
    members.sort_by_key(|m| m.iter().copied().min());
    let tokens: Vec<Vec<String>> = keywords.iter().map(|k| text::tokenize(&k.keyword)).collect();
    let labeller = Labeller { keywords, tokens: &tokens, centrality: &centrality, space: matrix };
    let clusters: Vec<ClusterOut> = members.into_iter().map(|m| labeller.describe(m)).collect();
    Ok(rank(labeller.one_per_name(clusters, options.max_cluster_size)))
}

/// Dot product of two equally long vectors, summed in eight fixed lanes (which the
/// compiler vectorises) and reduced in a fixed order, so a pair's value is the same
/// bits wherever it is computed.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for ((s, a), b) in acc.iter_mut().zip(x).zip(y) {
            *s += a * b;
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// Adds `v`, scaled to unit length, into `sum`.
fn add_unit(sum: &mut [f32], v: &[f32]) {
    let norm = dot(v, v).sqrt();
    if norm > 0.0 {
        for (s, x) in sum.iter_mut().zip(v) {
            *s += x / norm;
        }
    }
}

/// `v` scaled to unit length (a zero vector stays zero).
fn unit(v: &[f32]) -> Vec<f32> {
    let mut out = v.to_vec();
    normalise(&mut out);
    out
}

/// Scales `v` to unit length in place; false for a zero vector.
fn normalise(v: &mut [f32]) -> bool {
    let norm = dot(v, v).sqrt();
    if norm > 0.0 {
        for x in v.iter_mut() {
            *x /= norm;
        }
        true
    } else {
        false
    }
}

/// Orders neighbour candidates best first: higher similarity, then lower index. A
/// total order (the inputs are finite), so a row's best `k` are one set whatever
/// order the candidates arrive in.
fn better(a: (f32, u32), b: (f32, u32)) -> bool {
    a.0 > b.0 || (a.0 == b.0 && a.1 < b.1)
}

/// The exact k-nearest-neighbour graph (step 2): per keyword its `k` most similar
/// others at or above `threshold`, as a sorted, de-duplicated edge list
/// `(a, b, cosine)` with `a < b`. The work is split in fixed blocks and each pair is
/// scored once, so the result does not depend on `threads`.
pub fn knn_graph(
    vectors: &[Vec<f32>],
    k: usize,
    threshold: f32,
    threads: usize,
) -> Result<Vec<(u32, u32, f32)>, AiError> {
    let dim = vectors.first().map_or(0, Vec::len);
    let mut data = Vec::with_capacity(vectors.len() * dim);
    for v in vectors {
        data.extend(unit(v));
    }
    knn_edges(&Dense { dim: dim.max(1), data }, k, threshold, threads)
}

/// Per row, its best neighbours so far, best first, at most `k`.
struct TopK {
    k: usize,
    threshold: f32,
    lists: Vec<Vec<(f32, u32)>>,
}

impl TopK {
    fn new(rows: usize, k: usize, threshold: f32) -> Self {
        Self { k, threshold, lists: vec![Vec::new(); rows] }
    }

    /// Offers `cand` (similarity, column) to `row`'s list: kept if it reaches the
    /// threshold and beats the list's worst.
    fn offer(&mut self, row: usize, cand: (f32, u32)) {
        let list = &mut self.lists[row];
        if cand.0 < self.threshold || (list.len() == self.k && !list.last().is_some_and(|&w| better(cand, w))) {
            return;
        }
        let pos = list.partition_point(|&x| better(x, cand));
        list.insert(pos, cand);
        list.truncate(self.k);
    }
}

/// The graph of a unit-row matrix: the upper triangle of the similarity matrix in
/// fixed row blocks (each pair scored once by the matrix kernel and offered to both
/// of its rows), blocks taken by `threads` workers from a shared counter, each
/// worker keeping its own lists for every row, merged at the end. A row's best `k`
/// under [`better`] is the same set whichever worker saw which candidate, and every
/// pair's score comes from the same fixed block product, so neither the scores nor
/// the graph depend on the thread count.
fn knn_edges(matrix: &Dense, k: usize, threshold: f32, threads: usize) -> Result<Vec<(u32, u32, f32)>, AiError> {
    let n = matrix.rows();
    if k == 0 || n < 2 {
        return Ok(Vec::new());
    }
    let all = ArrayView2::from_shape((n, matrix.dim), &matrix.data[..])
        .map_err(|e| AiError::InvalidInput(format!("embedding matrix of {n} rows: {e}")))?;
    let blocks = n.div_ceil(BLOCK);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = |_worker| -> Result<TopK, AiError> {
        let mut top = TopK::new(n, k, threshold);
        let mut products = vec![0.0f32; BLOCK * TILE];
        loop {
            let b = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if b >= blocks {
                return Ok(top);
            }
            knn_block(all, b * BLOCK..((b + 1) * BLOCK).min(n), &mut products, &mut top)?;
        }
    };
    let parts = parallel::on_threads(threads.min(blocks), work).into_iter().collect::<Result<Vec<TopK>, _>>()?;
    let mut edges = Vec::new();
    let mut merged: Vec<(f32, u32)> = Vec::new();
    for i in 0..n {
        merged.clear();
        for part in &parts {
            merged.extend_from_slice(&part.lists[i]);
        }
        merged.sort_unstable_by(|&x, &y| y.0.partial_cmp(&x.0).unwrap_or(Ordering::Equal).then_with(|| x.1.cmp(&y.1)));
        merged.truncate(k);
        let i = i as u32;
        edges.extend(merged.iter().map(|&(sim, j)| if i < j { (i, j, sim) } else { (j, i, sim) }));
    }
    edges.sort_unstable_by_key(|e| (e.0, e.1));
    edges.dedup_by(|x, y| x.0 == y.0 && x.1 == y.1);
    Ok(edges)
}

/// Scores the rows in `range` against every later row (and each other) with the
/// matrix kernel, one column tile at a time, and offers every pair to both rows.
fn knn_block(
    all: ArrayView2<'_, f32>,
    range: std::ops::Range<usize>,
    products: &mut [f32],
    top: &mut TopK,
) -> Result<(), AiError> {
    let n = all.nrows();
    let rows = all.slice_axis(Axis(0), Slice::from(range.clone()));
    for tile in (range.start..n).step_by(TILE) {
        let cols = tile..(tile + TILE).min(n);
        let width = cols.len();
        let out = &mut products[..range.len() * width];
        let mut view = ArrayViewMut2::from_shape((range.len(), width), &mut *out)
            .map_err(|e| AiError::InvalidInput(format!("similarity tile: {e}")))?;
        let others = all.slice_axis(Axis(0), Slice::from(cols.clone()));
        general_mat_mul(1.0, &rows, &others.t(), 0.0, &mut view);
        for (r, sims) in out.chunks_exact(width).enumerate() {
            let i = range.start + r;
            // Only pairs i < j: the diagonal tile holds both orders of its pairs.
            let skip = (i + 1).saturating_sub(cols.start).min(width);
            for (j, &sim) in (cols.start + skip..).zip(&sims[skip..]) {
                if sim >= top.threshold {
                    top.offer(i, (sim, j as u32));
                    top.offer(j, (sim, i as u32));
                }
            }
        }
    }
    Ok(())
}

/// Average-linkage agglomeration (step 3) over the graph's candidate pairs, scored
/// exactly from cluster vector sums; returns a cluster label (root id) per row.
fn average_linkage(matrix: &Dense, edges: &[(u32, u32, f32)], options: &SemanticOptions) -> Vec<u32> {
    let n = matrix.rows();
    let mut link = Linkage {
        dim: matrix.dim,
        sums: matrix.data.clone(),
        size: vec![1; n],
        parent: (0..n as u32).collect(),
        adj: vec![Vec::new(); n],
        heap: BinaryHeap::new(),
        threshold: options.merge_threshold,
        max_size: u32::try_from(options.max_cluster_size.max(1)).unwrap_or(u32::MAX),
    };
    for &(a, b, _) in edges {
        link.adj[a as usize].push(b);
        link.adj[b as usize].push(a);
    }
    for list in &mut link.adj {
        list.sort_unstable();
    }
    for &(a, b, _) in edges {
        link.push(a as usize, b as usize);
    }
    while let Some(c) = link.heap.pop() {
        link.consider(c);
    }
    link.roots()
}

/// State of the exact average linkage: per root its vector sum, size and sorted
/// neighbouring roots; union-find parents; the merge heap.
struct Linkage {
    dim: usize,
    sums: Vec<f32>,
    size: Vec<u32>,
    parent: Vec<u32>,
    adj: Vec<Vec<u32>>,
    heap: BinaryHeap<Candidate>,
    threshold: f32,
    max_size: u32,
}

impl Linkage {
    fn sum(&self, c: usize) -> &[f32] {
        &self.sums[c * self.dim..(c + 1) * self.dim]
    }

    /// Average pairwise cosine of clusters `a` and `b`: the dot product of their
    /// sums over the number of pairs.
    fn score(&self, a: usize, b: usize) -> f32 {
        dot(self.sum(a), self.sum(b)) / (self.size[a] as f32 * self.size[b] as f32)
    }

    /// Queues the pair at its current score if it may merge.
    fn push(&mut self, a: usize, b: usize) {
        if self.size[a] + self.size[b] > self.max_size {
            return;
        }
        let s = self.score(a, b);
        if s >= self.threshold {
            let (x, y) = if a < b { (a, b) } else { (b, a) };
            self.heap.push(Candidate::new(s, x as u32, y as u32));
        }
    }

    /// Merges a popped pair if both sides are still roots, it fits and its score is
    /// current (an entry pushed before either side last changed is stale; a fresh one
    /// was queued by that change).
    fn consider(&mut self, c: Candidate) {
        let (a, b) = (c.a() as usize, c.b() as usize);
        if self.parent[a] as usize != a || self.parent[b] as usize != b || self.size[a] + self.size[b] > self.max_size {
            return;
        }
        let current = self.score(a, b);
        if (if current > 0.0 { current } else { 0.0 }).to_bits() != c.score().to_bits() {
            return;
        }
        self.merge(a, b);
    }

    /// Merges `a` and `b` (the one with more neighbours keeps its id; ties keep the
    /// lower id) and re-queues every pair of the merged cluster.
    fn merge(&mut self, a: usize, b: usize) {
        let (keep, gone) = if self.adj[a].len() > self.adj[b].len() || (self.adj[a].len() == self.adj[b].len() && a < b)
        {
            (a, b)
        } else {
            (b, a)
        };
        self.parent[gone] = keep as u32;
        self.size[keep] += self.size[gone];
        let gone_sum = self.sum(gone).to_vec();
        let dim = self.dim;
        for (s, g) in self.sums[keep * dim..(keep + 1) * dim].iter_mut().zip(gone_sum) {
            *s += g;
        }
        let gone_adj = std::mem::take(&mut self.adj[gone]);
        for &o in &gone_adj {
            let list = &mut self.adj[o as usize];
            if let Ok(p) = list.binary_search(&(gone as u32)) {
                list.remove(p);
            }
            if o as usize != keep {
                if let Err(p) = list.binary_search(&(keep as u32)) {
                    list.insert(p, keep as u32);
                }
            }
        }
        let mut merged = Vec::with_capacity(self.adj[keep].len() + gone_adj.len());
        let (mut i, mut j) = (0, 0);
        let kept = std::mem::take(&mut self.adj[keep]);
        while i < kept.len() || j < gone_adj.len() {
            let next = match (kept.get(i), gone_adj.get(j)) {
                (Some(&x), Some(&y)) if x == y => {
                    i += 1;
                    j += 1;
                    x
                }
                (Some(&x), Some(&y)) if x < y => {
                    i += 1;
                    x
                }
                (Some(_), Some(&y)) | (None, Some(&y)) => {
                    j += 1;
                    y
                }
                (Some(&x), None) => {
                    i += 1;
                    x
                }
                (None, None) => break,
            };
            if next as usize != keep && next as usize != gone {
                merged.push(next);
            }
        }
        for &o in &merged {
            self.push(keep, o as usize);
        }
        self.adj[keep] = merged;
    }

    /// The cluster label of every row: the id of its surviving root.
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

/// Existing clusters' centroids, for the nearest one to a vector.
struct NearestCentroid<'a> {
    /// Per existing cluster: its unit centroid, or `None` when it has no members.
    centroids: &'a [Option<Vec<f32>>],
    /// Content rank of each existing cluster, to break ties.
    rank: Vec<usize>,
    threshold: f32,
}

impl NearestCentroid<'_> {
    /// The existing cluster whose centroid is most similar to the unit vector `v`, if
    /// at least the join threshold, with room for `adding` more keywords.
    fn find(&self, v: &[f32], sizes: &[usize], adding: usize, max_size: usize) -> Option<usize> {
        self.centroids
            .iter()
            .enumerate()
            .filter_map(|(c, centroid)| centroid.as_ref().map(|x| (dot(v, x), c)))
            .filter(|&(s, c)| s >= self.threshold && sizes[c] + adding <= max_size)
            .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| self.rank[b.1].cmp(&self.rank[a.1])))
            .map(|(_, c)| c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offline::metrics::{partition_labels, v_measure};
    use crate::offline::text::SplitMix64;

    const DIM: usize = 32;

    fn random_unit(rng: &mut SplitMix64) -> Vec<f32> {
        let mut v: Vec<f32> = (0..DIM).map(|_| (rng.unit() * 2.0 - 1.0) as f32).collect();
        normalise(&mut v);
        v
    }

    /// `topics` random unit centroids, `per_topic` noisy copies of each (cosine to
    /// the centroid about 0.8), with keyword texts "topic T variant V".
    fn synthetic(topics: usize, per_topic: usize, seed: u64) -> (Vec<KeywordInput>, Vec<Vec<f32>>, Vec<usize>) {
        let mut rng = SplitMix64::new(seed);
        let centres: Vec<Vec<f32>> = (0..topics).map(|_| random_unit(&mut rng)).collect();
        let (mut kws, mut vecs, mut truth) = (Vec::new(), Vec::new(), Vec::new());
        for (t, c) in centres.iter().enumerate() {
            for v in 0..per_topic {
                let noise = random_unit(&mut rng);
                let mut x: Vec<f32> = c.iter().zip(&noise).map(|(a, b)| a + 0.6 * b).collect();
                normalise(&mut x);
                kws.push(KeywordInput::new(format!("topic{t} variant{v}"), (v * 10) as i64));
                vecs.push(x);
                truth.push(t);
            }
        }
        (kws, vecs, truth)
    }

    #[test]
    fn recovers_synthetic_topics_without_being_told_k() {
        let (kws, vecs, truth) = synthetic(12, 15, 1);
        let clusters = cluster_semantic(&kws, &vecs, &SemanticOptions::default()).unwrap();
        let pred = partition_labels(&clusters, kws.len()).expect("a partition");
        let m = v_measure(&truth, &pred);
        assert!(m.v_measure > 0.97, "{m:?} with {} clusters", clusters.len());
        assert!((10..=14).contains(&clusters.len()), "{} clusters", clusters.len());
        for c in &clusters {
            assert_eq!(c.pillar_keyword, text::clean_phrase(&kws[c.keywords[0]].keyword));
        }
        let names: BTreeSet<String> = clusters.iter().map(|c| c.name.to_lowercase()).collect();
        assert_eq!(names.len(), clusters.len());
    }

    #[test]
    fn the_merge_threshold_decides_the_cluster_count() {
        let (kws, vecs, _) = synthetic(6, 10, 2);
        let strict = SemanticOptions { merge_threshold: 0.99, ..SemanticOptions::default() };
        assert_eq!(cluster_semantic(&kws, &vecs, &strict).unwrap().len(), kws.len());
        let loose = SemanticOptions { merge_threshold: 0.0, max_cluster_size: 1_000, ..SemanticOptions::default() };
        assert!(cluster_semantic(&kws, &vecs, &loose).unwrap().len() < 6);
    }

    #[test]
    fn same_clusters_in_any_input_order() {
        let (kws, vecs, _) = synthetic(8, 12, 3);
        let a = cluster_semantic(&kws, &vecs, &SemanticOptions::default()).unwrap();
        let mut perm: Vec<usize> = (0..kws.len()).collect();
        let mut rng = SplitMix64::new(9);
        for i in (1..perm.len()).rev() {
            perm.swap(i, rng.below(i + 1));
        }
        let kws2: Vec<KeywordInput> = perm.iter().map(|&i| kws[i].clone()).collect();
        let vecs2: Vec<Vec<f32>> = perm.iter().map(|&i| vecs[i].clone()).collect();
        let b = cluster_semantic(&kws2, &vecs2, &SemanticOptions::default()).unwrap();
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            let mut mx: Vec<usize> = x.keywords.clone();
            let mut my: Vec<usize> = y.keywords.iter().map(|&i| perm[i]).collect();
            assert_eq!(mx[0], my[0], "same pillar");
            mx.sort_unstable();
            my.sort_unstable();
            assert_eq!(mx, my);
            assert_eq!((&x.name, &x.intent, x.total_volume), (&y.name, &y.intent, y.total_volume));
        }
    }

    #[test]
    fn the_graph_does_not_depend_on_the_thread_count() {
        let (_, vecs, _) = synthetic(10, 30, 4);
        let one = knn_graph(&vecs, 8, 0.1, 1).unwrap();
        assert!(!one.is_empty());
        assert_eq!(one, knn_graph(&vecs, 8, 0.1, 3).unwrap());
        assert!(one.iter().all(|e| e.0 < e.1 && e.2 >= 0.1));
        // Exact: the best neighbour of every row is in the graph.
        for (i, v) in vecs.iter().enumerate() {
            let best = (0..vecs.len())
                .filter(|&j| j != i)
                .max_by(|&a, &b| dot(v, &vecs[a]).total_cmp(&dot(v, &vecs[b])).then_with(|| b.cmp(&a)))
                .unwrap();
            let (x, y) = (i.min(best) as u32, i.max(best) as u32);
            assert!(one.iter().any(|e| (e.0, e.1) == (x, y)), "row {i} misses {best}");
        }
    }

    #[test]
    fn the_graph_is_every_rows_exact_top_k() {
        // More rows than one block and one column tile, so blocks, tiles and the
        // merge of the workers' lists are all exercised.
        let (_, vecs, _) = synthetic(40, 30, 7);
        let (k, threshold) = (5, 0.2);
        let graph = knn_graph(&vecs, k, threshold, 2).unwrap();
        let mut expected = BTreeSet::new();
        for (i, v) in vecs.iter().enumerate() {
            let mut sims: Vec<(f32, usize)> =
                (0..vecs.len()).filter(|&j| j != i).map(|j| (dot(v, &vecs[j]), j)).collect();
            sims.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
            for &(sim, j) in sims.iter().take(k).filter(|s| s.0 >= threshold) {
                expected.insert((i.min(j) as u32, i.max(j) as u32));
                let got = graph.iter().find(|e| (e.0 as usize, e.1 as usize) == (i.min(j), i.max(j)));
                assert!(got.is_some_and(|e| (e.2 - sim).abs() < 1e-5), "{i}-{j}: {got:?} vs {sim}");
            }
        }
        let actual: BTreeSet<(u32, u32)> = graph.iter().map(|e| (e.0, e.1)).collect();
        assert_eq!(actual, expected);
        assert_eq!(actual.len(), graph.len(), "one edge per pair");
    }

    #[test]
    fn linkage_matches_textbook_average_linkage_on_a_complete_graph() {
        let (_, vecs, _) = synthetic(4, 6, 5);
        let n = vecs.len();
        let matrix = Dense { dim: DIM, data: vecs.iter().flat_map(|v| unit(v)).collect() };
        let edges: Vec<(u32, u32, f32)> =
            (0..n).flat_map(|a| (a + 1..n).map(move |b| (a as u32, b as u32, 0.0))).collect();
        let opts = SemanticOptions { merge_threshold: 0.3, max_cluster_size: 1_000, ..SemanticOptions::default() };
        let got = average_linkage(&matrix, &edges, &opts);
        let mut clusters: Vec<Vec<usize>> = (0..n).map(|i| vec![i]).collect();
        loop {
            let mut best: Option<(f64, usize, usize)> = None;
            for i in 0..clusters.len() {
                for j in i + 1..clusters.len() {
                    let mut sum = 0.0f64;
                    for &a in &clusters[i] {
                        for &b in &clusters[j] {
                            sum += f64::from(dot(&vecs[a], &vecs[b]));
                        }
                    }
                    let avg = sum / (clusters[i].len() * clusters[j].len()) as f64;
                    if best.is_none_or(|b| avg > b.0) {
                        best = Some((avg, i, j));
                    }
                }
            }
            match best {
                Some((avg, i, j)) if avg >= 0.3 => {
                    let moved = clusters.remove(j);
                    clusters[i].extend(moved);
                }
                _ => break,
            }
        }
        let mut expected: Vec<Vec<usize>> = clusters
            .into_iter()
            .map(|mut c| {
                c.sort_unstable();
                c
            })
            .collect();
        expected.sort();
        let mut groups: std::collections::BTreeMap<u32, Vec<usize>> = Default::default();
        for (i, l) in got.iter().enumerate() {
            groups.entry(*l).or_default().push(i);
        }
        let mut actual: Vec<Vec<usize>> = groups.into_values().collect();
        actual.sort();
        assert_eq!(actual, expected);
    }

    #[test]
    fn new_keywords_join_the_nearest_existing_cluster() {
        let (kws, vecs, truth) = synthetic(5, 10, 6);
        let first = cluster_semantic(&kws, &vecs, &SemanticOptions::default()).unwrap();
        assert_eq!(first.len(), 5);
        let existing: Vec<ExistingCluster> = first
            .iter()
            .map(|c| ExistingCluster {
                name: c.name.clone(),
                pillar_keyword: c.pillar_keyword.clone(),
                keywords: c.keywords.iter().map(|&i| kws[i].clone()).collect(),
            })
            .collect();
        let existing_vecs: Vec<Vec<Vec<f32>>> =
            first.iter().map(|c| c.keywords.iter().map(|&i| vecs[i].clone()).collect()).collect();
        // New keywords: more noisy copies of the same topics (another seed's noise),
        // plus a small topic of its own far from all of them.
        let (more_kws, more_vecs, more_truth) = synthetic(5, 3, 6);
        let mut rng = SplitMix64::new(77);
        let fresh_centre = random_unit(&mut rng);
        let mut new_kws: Vec<KeywordInput> =
            more_kws.iter().map(|k| KeywordInput::new(format!("new {}", k.keyword), 1)).collect();
        let mut new_vecs: Vec<Vec<f32>> = more_vecs
            .iter()
            .map(|v| {
                let noise = random_unit(&mut rng);
                let mut x: Vec<f32> = v.iter().zip(&noise).map(|(a, b)| a + 0.2 * b).collect();
                normalise(&mut x);
                x
            })
            .collect();
        for v in 0..4 {
            let noise = random_unit(&mut rng);
            let mut x: Vec<f32> = fresh_centre.iter().zip(&noise).map(|(a, b)| a + 0.3 * b).collect();
            normalise(&mut x);
            new_kws.push(KeywordInput::new(format!("fresh idea {v}"), 5));
            new_vecs.push(x);
        }
        let plan = plan_semantic_clusters(&new_kws, &new_vecs, &existing, &existing_vecs, &SemanticOptions::default())
            .unwrap();
        for (k, &t) in more_truth.iter().enumerate() {
            let home = first.iter().position(|c| truth[c.keywords[0]] == t).unwrap();
            assert!(plan.joins[home].contains(&k), "{} should join {}", new_kws[k].keyword, first[home].name);
        }
        assert_eq!(plan.clusters.len(), 1, "{plan:?}");
        let mut fresh = plan.clusters[0].keywords.clone();
        fresh.sort_unstable();
        assert_eq!(fresh, (15..19).collect::<Vec<_>>());
        assert!(existing.iter().all(|e| e.name.to_lowercase() != plan.clusters[0].name.to_lowercase()));
        // No existing clusters: the plan is the clustering.
        let alone = plan_semantic_clusters(&kws, &vecs, &[], &[], &SemanticOptions::default()).unwrap();
        assert!(alone.joins.is_empty());
        assert_eq!(alone.clusters, first);
    }

    #[test]
    fn one_keyword_is_one_cluster_and_bad_input_is_invalid() {
        let one =
            cluster_semantic(&[KeywordInput::new("solo", 3)], &[vec![0.6, 0.8]], &SemanticOptions::default()).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].keywords, vec![0]);
        assert_eq!(one[0].pillar_keyword, "solo");
        let opts = SemanticOptions::default();
        let invalid = |r: Result<ClusterPlan, AiError>| matches!(r, Err(AiError::InvalidInput(_)));
        assert!(invalid(plan_semantic_clusters(&[], &[], &[], &[], &opts)));
        let two = [KeywordInput::new("a", 1), KeywordInput::new("b", 1)];
        assert!(invalid(plan_semantic_clusters(&two, &[vec![1.0, 0.0]], &[], &[], &opts)));
        assert!(invalid(plan_semantic_clusters(&two, &[vec![1.0, 0.0], vec![1.0]], &[], &[], &opts)));
        assert!(invalid(plan_semantic_clusters(&two, &[vec![1.0, 0.0], vec![f32::NAN, 0.0]], &[], &[], &opts)));
        let existing = [ExistingCluster {
            name: "A".into(),
            pillar_keyword: "a".into(),
            keywords: vec![KeywordInput::new("a", 1)],
        }];
        let vs = [vec![1.0, 0.0], vec![0.0, 1.0]];
        assert!(invalid(plan_semantic_clusters(&two, &vs, &existing, &[], &opts)));
        assert!(invalid(plan_semantic_clusters(&two, &vs, &existing, &[vec![]], &opts)));
        let bad = SemanticOptions { merge_threshold: 1.5, ..SemanticOptions::default() };
        assert!(invalid(plan_semantic_clusters(&two, &vs, &[], &[], &bad)));
    }

    #[test]
    fn duplicates_share_a_cluster_and_sizes_are_capped() {
        let mut kws = Vec::new();
        let mut vecs = Vec::new();
        for i in 0..30 {
            kws.push(KeywordInput::new(format!("widget {i}"), 1));
            vecs.push(vec![1.0, 0.01 * i as f32, 0.0]);
        }
        let capped = SemanticOptions { max_cluster_size: 7, ..SemanticOptions::default() };
        let clusters = cluster_semantic(&kws, &vecs, &capped).unwrap();
        assert!(clusters.iter().all(|c| c.keywords.len() <= 7), "{clusters:?}");
        let same = vec![vec![0.0, 1.0, 0.0]; 5];
        let dup: Vec<KeywordInput> = (0..5).map(|_| KeywordInput::new("same thing", 1)).collect();
        assert_eq!(cluster_semantic(&dup, &same, &SemanticOptions::default()).unwrap().len(), 1);
    }
}
