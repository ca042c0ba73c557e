//! Analyzing and linking a whole site (issue 13): synthetic sites of 1,000 and 10,000
//! articles written by the offline provider (the bench keywords clustered by the
//! offline clusterer, the clusters' ideas, an article of 800–1,500 words per idea —
//! generation is not timed), then, timed:
//!
//! - `analyze`: `igny8_seo::analyze` on every article;
//! - `index`: `LinkIndex::build` over the site;
//! - `link`: candidates + `inject` for every article (what the linker does per pass);
//! - `all pairs`: the same scoring against every other article
//!   (`LinkIndex::candidates_all_pairs`) + `inject`: the linker one would write without
//!   an index. Run over every article at 1,000; at larger sizes over an evenly spread
//!   sample of sources and extrapolated (printed as such) unless
//!   `IGNY8_BENCH_ALL_PAIRS=full`. Its top candidates are also the reference for the
//!   index's recall.
//!
//! Work is spread over the machine's cores (std threads, fixed chunks). Memory: the
//! process's peak (VmHWM, which includes writing the site) and the resident growth
//! from the articles in memory to the end of linking (the index and the work of
//! linking; the articles themselves are moved into the index, not copied). Tests never
//! assert times; this prints a table (docs/performance.md has the figures).
//!
//! `cargo bench -p igny8-tests --all-features --bench optimization`
//! (`IGNY8_BENCH_ARTICLES=1000,10000` by default).

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use igny8_ai::offline::{article::generate_article, cluster::cluster_keywords, ideas::generate_ideas};
use igny8_ai::{ClusterOptions, IdeaOut};
use igny8_core::publishing::article::slugify;
use igny8_seo::link::{inject, CandidateScan, LinkDoc, LinkIndex, LinkOptions};
use igny8_seo::ArticleText;

/// Keywords of a cluster a linked article lists (as the linker service does).
const MAX_CLUSTER_KEYWORDS: usize = 20;
/// Sources the all-pairs linker is timed on above 1,000 articles.
const ALL_PAIRS_SAMPLE: usize = 500;

/// One synthetic article: what the linker and the analyzer read.
struct Article {
    doc: LinkDoc,
    meta_description: String,
    slug: String,
}

/// Writes a site of `n` articles: bench keywords → offline clusters → ideas → articles.
fn site(n: usize) -> Vec<Article> {
    // Ideas per keyword depend on how the keywords cluster: grow the list until the
    // clusters' ideas cover `n` articles.
    let mut wanted = n;
    let (keywords, clusters, ideas) = loop {
        let keywords = igny8_tests::bench_keywords(wanted);
        let clusters = cluster_keywords(&keywords, &ClusterOptions::default()).expect("cluster");
        let mut ideas: Vec<(usize, IdeaOut)> = Vec::new();
        for (c, cluster) in clusters.iter().enumerate() {
            for idea in generate_ideas(cluster, &keywords, cluster.keywords.len(), 2027).expect("ideas") {
                ideas.push((c, idea));
            }
        }
        if ideas.len() >= n || keywords.len() < wanted {
            break (keywords, clusters, ideas);
        }
        wanted = wanted * n / ideas.len().max(1) + n / 10;
    };
    let mut ideas = ideas;
    ideas.truncate(n);
    assert_eq!(ideas.len(), n, "{} keywords gave only {} ideas", keywords.len(), ideas.len());
    let written: Vec<Article> = ideas
        .iter()
        .enumerate()
        .map(|(i, (c, idea))| {
            let cluster = &clusters[*c];
            let words = idea.word_target.clamp(800, 1500);
            let article = generate_article(idea, words).expect("article");
            let key = format!("cnt_{i:06}");
            let slug = slugify(&article.title, &key);
            let mut listed: Vec<String> = Vec::new();
            let members = cluster.keywords.iter().take(MAX_CLUSTER_KEYWORDS).map(|&k| keywords[k].keyword.clone());
            for phrase in members.chain(idea.secondary_keywords.iter().cloned()) {
                if phrase != cluster.pillar_keyword && !listed.contains(&phrase) {
                    listed.push(phrase);
                }
            }
            Article {
                doc: LinkDoc {
                    url: format!("https://bench.example/{slug}/"),
                    key,
                    title: article.title,
                    focus_keyphrase: cluster.pillar_keyword.clone(),
                    keywords: listed,
                    topic: format!("clu_{c:06}"),
                    html: article.html,
                },
                meta_description: article.meta_description,
                slug,
            }
        })
        .collect();
    written
}

/// A field of /proc/self/status in KiB (VmHWM, VmRSS).
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.trim_start_matches(':').split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |p| p.get())
}

/// Runs `work` on every item over the cores in fixed chunks; the results in order.
fn par_map<T: Sync, R: Send>(items: &[T], work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let chunk = items.len().div_ceil(threads()).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> =
            items.chunks(chunk).map(|part| s.spawn(|| part.iter().map(&work).collect::<Vec<R>>())).collect();
        handles.into_iter().flat_map(|h| h.join().expect("worker")).collect()
    })
}

/// What linking one article gave.
struct Linked {
    added: usize,
    visited: usize,
    top: Vec<String>,
}

/// Candidates (by `scan`) and injection for one article.
fn link_one(article: &LinkDoc, scan: impl Fn(&str) -> CandidateScan, options: &LinkOptions) -> Linked {
    let found = scan(&article.key);
    let out = inject(&article.html, &article.key, &found.candidates, options);
    Linked {
        added: out.added.len(),
        visited: found.postings_visited,
        top: found.candidates.iter().map(|c| c.target.clone()).collect(),
    }
}

/// The analyzer over every article, or `None` while `igny8_seo::analyze` is not
/// filled in (the linking figures still print).
fn analyze_all(articles: &[Article]) -> Option<(Duration, f64)> {
    let text = |a: &Article| ArticleText {
        title: a.doc.title.clone(),
        seo_title: a.doc.title.clone(),
        slug: a.slug.clone(),
        meta_description: a.meta_description.clone(),
        html: a.doc.html.clone(),
        focus_keyphrase: a.doc.focus_keyphrase.clone(),
        language: "en".into(),
        site_host: "bench.example".into(),
    };
    let first = articles.first()?;
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let probe = std::panic::catch_unwind(|| igny8_seo::analyze(&text(first)));
    std::panic::set_hook(quiet);
    if probe.is_err() {
        return None;
    }
    let texts: Vec<ArticleText> = articles.iter().map(text).collect();
    let start = Instant::now();
    let scores = par_map(&texts, |t| f64::from(igny8_seo::analyze(t).score));
    Some((start.elapsed(), scores.iter().sum::<f64>() / scores.len().max(1) as f64))
}

/// One size's figures.
struct Row {
    n: usize,
    words: f64,
    analyze: Option<(Duration, f64)>,
    build: Duration,
    link: Duration,
    links_per_article: f64,
    two_or_more: f64,
    postings_per_article: f64,
    all_pairs: Duration,
    all_pairs_extrapolated: bool,
    recall: f64,
    hwm_mib: f64,
    rss_growth_mib: f64,
}

fn measure(n: usize, full_all_pairs: bool) -> Row {
    let generated = Instant::now();
    let articles = site(n);
    let words =
        articles.iter().map(|a| igny8_ai::offline::text::count_html_words(&a.doc.html) as f64).sum::<f64>() / n as f64;
    eprintln!(
        "{n} articles written in {:.1} s (not measured), {words:.0} words on average",
        generated.elapsed().as_secs_f64()
    );
    let analyze = analyze_all(&articles);

    let options = LinkOptions { max_candidates: 10, links_per_300_words: 1 };
    let docs: Vec<LinkDoc> = articles.into_iter().map(|a| a.doc).collect();
    let rss_before = status_kib("VmRSS");
    let start = Instant::now();
    let index = LinkIndex::build(docs, &options);
    let build = start.elapsed();
    let start = Instant::now();
    let linked = par_map(index.docs(), |d| link_one(d, |k| index.scan(k, &options), &options));
    let link = start.elapsed();
    let rss_growth_mib = status_kib("VmRSS").saturating_sub(rss_before) as f64 / 1024.0;

    let sources: Vec<usize> = if full_all_pairs || n <= 1000 {
        (0..n).collect()
    } else {
        (0..ALL_PAIRS_SAMPLE).map(|i| i * n / ALL_PAIRS_SAMPLE).collect()
    };
    let sampled: Vec<&LinkDoc> = sources.iter().map(|&i| &index.docs()[i]).collect();
    let start = Instant::now();
    let reference = par_map(&sampled, |d| link_one(d, |k| index.candidates_all_pairs(k, &options), &options));
    let all_pairs_sample = start.elapsed();
    let all_pairs_extrapolated = sources.len() < n;
    let all_pairs = all_pairs_sample.mul_f64(n as f64 / sources.len() as f64);
    let (mut hits, mut wanted) = (0usize, 0usize);
    for (&i, slow) in sources.iter().zip(&reference) {
        let fast: BTreeSet<&String> = linked[i].top.iter().collect();
        wanted += slow.top.len();
        hits += slow.top.iter().filter(|t| fast.contains(t)).count();
    }

    Row {
        n,
        words,
        analyze,
        build,
        link,
        links_per_article: linked.iter().map(|l| l.added as f64).sum::<f64>() / n as f64,
        two_or_more: linked.iter().filter(|l| l.added >= 2).count() as f64 * 100.0 / n as f64,
        postings_per_article: linked.iter().map(|l| l.visited as f64).sum::<f64>() / n as f64,
        all_pairs,
        all_pairs_extrapolated,
        recall: if wanted == 0 { 100.0 } else { hits as f64 * 100.0 / wanted as f64 },
        hwm_mib: status_kib("VmHWM") as f64 / 1024.0,
        rss_growth_mib,
    }
}

fn main() {
    let sizes: Vec<usize> = std::env::var("IGNY8_BENCH_ARTICLES")
        .unwrap_or_else(|_| "1000,10000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let full_all_pairs = std::env::var("IGNY8_BENCH_ALL_PAIRS").is_ok_and(|v| v == "full");
    println!("optimization bench: {} threads", threads());
    let rows: Vec<Row> = sizes.iter().map(|&n| measure(n, full_all_pairs)).collect();

    println!();
    println!("| articles | words/article | analyze s (articles/s) | index build s | link s (articles/s) | links/article | ≥ 2 links | postings read/article | all pairs s | index vs all pairs | top-10 recall | VmHWM MiB | RSS growth MiB |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        let analyze = match r.analyze {
            Some((t, score)) => {
                format!("{:.2} ({:.0}; mean score {score:.0})", t.as_secs_f64(), r.n as f64 / t.as_secs_f64())
            }
            None => "analyzer not built in yet".into(),
        };
        let total = r.build + r.link;
        println!(
            "| {} | {:.0} | {analyze} | {:.2} | {:.2} ({:.0}) | {:.2} | {:.1} % | {:.0} | {:.1}{} | {:.1}× faster | {:.1} % | {:.0} | {:.0} |",
            r.n,
            r.words,
            r.build.as_secs_f64(),
            r.link.as_secs_f64(),
            r.n as f64 / r.link.as_secs_f64(),
            r.links_per_article,
            r.two_or_more,
            r.postings_per_article,
            r.all_pairs.as_secs_f64(),
            if r.all_pairs_extrapolated { " (extrapolated)" } else { "" },
            r.all_pairs.as_secs_f64() / total.as_secs_f64(),
            r.recall,
            r.hwm_mib,
            r.rss_growth_mib,
        );
    }
    let by_size: BTreeMap<usize, &Row> = rows.iter().map(|r| (r.n, r)).collect();
    if let (Some((&small, a)), Some((&large, b))) = (by_size.first_key_value(), by_size.last_key_value()) {
        if large > small {
            let size = large as f64 / small as f64;
            let index_link = |r: &Row| (r.build + r.link).as_secs_f64();
            println!();
            println!(
                "growth {small} → {large} ({size:.0}× the articles): index + link {:.1}×, all pairs {:.1}×, postings read per article {:.2}×",
                index_link(b) / index_link(a),
                b.all_pairs.as_secs_f64() / a.all_pairs.as_secs_f64(),
                b.postings_per_article / a.postings_per_article,
            );
        }
    }
}
