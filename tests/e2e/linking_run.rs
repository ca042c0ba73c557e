//! Internal linking end to end: runs of `examples/keywords.csv` through the interpreter
//! of the real `statemachines/automation.asl.json` on the embedded wiring (offline AI),
//! and the linker service over what they wrote.
//!
//! * a run links every one of its articles after content and before image prompts:
//!   every article with two related articles (others of its cluster) gets ≥ 2 internal
//!   links, one with a single related article links to it;
//!   no self-link, no link inside a heading, an existing link, code or a caption, one
//!   link per target, hrefs at the targets' URLs, the HTML parses back with exactly
//!   the issues it had before; a second `apply` over the site and a replayed batch
//!   change nothing;
//! * `link_articles` off → the run adds no link; `links apply` on demand then links
//!   the site without changing a word of its text;
//! * a second run links only its own articles (to published ones by their live URL),
//!   and the first run's published articles that `apply` then links are marked
//!   `needs_update` (in the same write as their new body);
//! * the stage-link function's task input (tests/fixtures/events) is handled.

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use igny8_ai::KeywordInput;
use igny8_ai::OfflineProvider;
use igny8_asl::{ExecutionStatus, ExecutorOptions};
use igny8_core::automation::{handle, Function, RunSummary};
use igny8_core::domain::{
    AccountId, AutomationRun, Content, ContentId, Credentials, Idea, PublishAfterRun, RunId, RunStatus, SiteId,
    WriterTask,
};
use igny8_core::integration::NewIntegration;
use igny8_core::linking::RunLinkBatch;
use igny8_core::planner::parse_keywords_csv;
use igny8_core::ports::{Platforms, SystemClock, UuidIds};
use igny8_core::publishing::article::slugify;
use igny8_core::repo::{PublicationRepo, Records};
use igny8_core::seo::html::{parse, Node};
use igny8_core::seo::link::LINK_MARKER;
use igny8_tests::fake_platform::FakePlatform;
use igny8_wiring::embedded::LocalRuntime;
use serde_json::Value;

const KEYWORDS: &[u8] = include_bytes!("../../examples/keywords.csv");

/// The site's domain; the WordPress integration serves it from another host, so a
/// live URL and the URL a draft will have differ.
const DOMAIN: &str = "blog.example.com";
const LIVE: &str = "https://www.blog.example.com";

struct World {
    rt: LocalRuntime,
    account: AccountId,
    site: SiteId,
    _dir: tempfile::TempDir,
}

/// The keywords of the file whose line (0-based, after the header) `pick` keeps.
fn keywords(pick: impl Fn(usize) -> bool) -> Vec<KeywordInput> {
    let all = parse_keywords_csv(KEYWORDS).expect("keywords");
    all.into_iter().enumerate().filter(|(i, _)| pick(*i)).map(|(_, k)| k).collect()
}

/// A site with `waiting` keywords, a WordPress integration on the fake platform,
/// `ideas` ideas per cluster (three: every article has two related articles of its
/// own cluster) and one image per article.
async fn world(waiting: &[KeywordInput], ideas: u32, link: bool, publish: PublishAfterRun) -> World {
    let dir = tempfile::tempdir().expect("dir");
    let options = ExecutorOptions { time_scale: 0.0, ..ExecutorOptions::default() };
    let rt = LocalRuntime::open_with_platforms(
        dir.path(),
        Arc::new(OfflineProvider::with_year(2026)),
        Arc::new(SystemClock),
        Arc::new(UuidIds),
        options,
        Platforms::new().with(FakePlatform::wordpress()),
    )
    .expect("runtime");
    let (account, _) = rt.services.account_service.create_account("Acme", 10_000_000).await.expect("account");
    let site = rt.services.account_service.create_site(&account.id, "Blog", DOMAIN).await.expect("site");
    rt.importer.import(&account.id, &site.id, waiting).await.expect("import");
    let mut config = rt.automation.config(&account.id, &site.id).await.expect("config");
    config.link_articles = link;
    config.link_batch_size = 7;
    config.ideas_per_cluster = ideas;
    config.images_per_article = 1;
    config.publish = publish;
    config.publish_batch_size = 10;
    rt.automation.save_config(&account.id, config).await.expect("save config");
    let integration = NewIntegration {
        platform: "wordpress".into(),
        base_url: LIVE.into(),
        credentials: Credentials::WordpressAppPassword {
            username: "editor".into(),
            app_password: "abcd EFGH ijkl MNOP qrst UVWX".into(),
        },
        sync_enabled: true,
    };
    rt.services.integrations.create(&account.id, &site.id, integration).await.expect("integration");
    World { rt, account: account.id, site: site.id, _dir: dir }
}

async fn run_to_end(w: &World) -> (RunSummary, AutomationRun) {
    let run = w.rt.automation.start(&w.account, &w.site, "manual").await.expect("start");
    let outcome = tokio::time::timeout(Duration::from_secs(900), w.rt.drive(&run.id, |_| {}))
        .await
        .expect("the run ends")
        .expect("drive");
    let summary = w.rt.automation.summary(&w.account, &run.id).await.expect("summary");
    let record = w.rt.automation.run(&w.account, &run.id).await.expect("run");
    assert_eq!(outcome.status, ExecutionStatus::Succeeded, "{summary:?}");
    assert_eq!(summary.status, RunStatus::Completed, "{record:?}");
    (summary, record)
}

async fn articles(w: &World) -> Vec<Content> {
    Records::<Content>::new(Arc::clone(&w.rt.services.store)).all(&w.site).await.expect("articles")
}

/// One link the linker inserted, as it stands in the body.
#[derive(Debug)]
struct OurLink {
    target: String,
    href: String,
    anchor: String,
    /// The elements open around it.
    inside: Vec<String>,
}

/// Elements that open no content (no end tag follows).
const VOID: [&str; 14] =
    ["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"];

/// Where a link must never be put.
const PROTECTED: [&str; 11] = ["h1", "h2", "h3", "h4", "h5", "h6", "a", "code", "pre", "figcaption", "script"];

/// The linker's links of a body, and the body with their tags taken out (their
/// anchor text left in place).
fn our_links(html: &str) -> (Vec<OurLink>, String) {
    let doc = parse(html);
    let mut open: Vec<String> = Vec::new();
    let mut links: Vec<OurLink> = Vec::new();
    let mut cut: Vec<Range<usize>> = Vec::new();
    let mut in_ours: Option<usize> = None;
    for node in &doc.nodes {
        match node {
            Node::Start { name, attrs, self_closing, span } => {
                let attr = |wanted: &str| attrs.iter().find(|(k, _)| k == wanted).map(|(_, v)| v.clone());
                if name == "a" {
                    if let Some(target) = attr(LINK_MARKER) {
                        let href = attr("href").unwrap_or_default();
                        links.push(OurLink { target, href, anchor: String::new(), inside: open.clone() });
                        cut.push(span.clone());
                        in_ours = Some(links.len() - 1);
                    }
                }
                if !self_closing && !VOID.contains(&name.as_str()) {
                    open.push(name.clone());
                }
            }
            Node::End { name, span } => {
                if name == "a" && in_ours.take().is_some() {
                    cut.push(span.clone());
                }
                if let Some(at) = open.iter().rposition(|n| n == name) {
                    open.truncate(at);
                }
            }
            Node::Text { text, .. } => {
                if let Some(i) = in_ours {
                    links[i].anchor.push_str(text);
                }
            }
            _ => {}
        }
    }
    let mut stripped = String::with_capacity(html.len());
    let mut at = 0;
    for range in cut {
        stripped.push_str(&html[at..range.start]);
        at = range.end;
    }
    stripped.push_str(&html[at..]);
    (links, stripped)
}

fn issue_codes(html: &str) -> Vec<String> {
    parse(html).issues.into_iter().map(|i| i.code).collect()
}

/// The checks every linked article passes: links only to other articles of the site,
/// once per target, at the target's URL, never in a protected element, and a body
/// that parses back with exactly the issues it had without the links.
fn assert_well_linked(article: &Content, urls: &BTreeMap<String, String>) -> Vec<OurLink> {
    let (links, stripped) = our_links(&article.html);
    let id = article.id.as_str();
    let mut targets = BTreeSet::new();
    for link in &links {
        assert_ne!(link.target, id, "{id} links to itself");
        assert!(targets.insert(link.target.clone()), "{id} links to {} twice", link.target);
        let url = urls.get(&link.target).unwrap_or_else(|| panic!("{id} links to an unknown article {}", link.target));
        assert_eq!(&link.href, url, "{id}: the href is the target's URL");
        assert!(!link.anchor.trim().is_empty(), "{id}: an empty anchor");
        let bad: Vec<&String> = link.inside.iter().filter(|e| PROTECTED.contains(&e.as_str())).collect();
        assert!(bad.is_empty(), "{id}: a link to {} inside {bad:?}", link.target);
    }
    assert_eq!(issue_codes(&article.html), issue_codes(&stripped), "{id}: linking added parse issues");
    links
}

/// Content id → its cluster, through task → idea.
async fn clusters_of(w: &World) -> BTreeMap<String, String> {
    let store = &w.rt.services.store;
    let tasks = Records::<WriterTask>::new(Arc::clone(store)).all(&w.site).await.expect("tasks");
    let ideas = Records::<Idea>::new(Arc::clone(store)).all(&w.site).await.expect("ideas");
    let idea_cluster: BTreeMap<String, String> =
        ideas.iter().map(|i| (i.id.to_string(), i.cluster_id.to_string())).collect();
    let task_cluster: BTreeMap<String, String> =
        tasks.iter().filter_map(|t| Some((t.id.to_string(), idea_cluster.get(t.idea_id.as_str())?.clone()))).collect();
    articles(w)
        .await
        .iter()
        .filter_map(|c| Some((c.id.to_string(), task_cluster.get(c.task_id.as_str())?.clone())))
        .collect()
}

/// Every article's URL as a draft: the site's domain and its slug.
fn draft_urls(articles: &[Content]) -> BTreeMap<String, String> {
    articles
        .iter()
        .map(|c| (c.id.to_string(), format!("https://{DOMAIN}/{}/", slugify(&c.title, c.id.as_str()))))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_links_its_articles_to_each_other_before_image_prompts() {
    let w = world(&keywords(|_| true), 3, true, PublishAfterRun::Off).await;
    let (s, run) = run_to_end(&w).await;
    let all = articles(&w).await;
    assert!(s.articles > 20 && s.articles == all.len() as u64, "{s:?}");
    // Every article of the run was linked once, by the stage, in batches of 7.
    let p = run.linking.clone().expect("the run records its linking");
    assert_eq!((p.linked, p.remaining), (s.articles, 0), "{p:?}");
    assert!(p.batches >= s.articles.div_ceil(7), "{p:?}");
    assert_eq!((s.linked, s.links_added), (p.linked, p.links_added));
    assert!(all.iter().all(|c| c.linked_at.is_some()), "every article stamped");
    // After content, before image prompts.
    let instant = |t: &Option<String>| {
        time::OffsetDateTime::parse(t.as_deref().expect("a time"), &time::format_description::well_known::Rfc3339)
            .expect("RFC 3339")
    };
    assert!(instant(&run.stages[&4].completed_at) <= instant(&p.started_at));
    assert!(instant(&p.completed_at) <= instant(&run.stages[&5].started_at));

    let urls = draft_urls(&all);
    let cluster = clusters_of(&w).await;
    let mut per_cluster: BTreeMap<&str, u32> = BTreeMap::new();
    for c in cluster.values() {
        *per_cluster.entry(c.as_str()).or_default() += 1;
    }
    // An article's related articles are the others of its cluster (three ideas per
    // cluster, though a small cluster may give fewer): it links to at least two
    // articles when it has two related ones, and to one of them when it has one.
    let mut total = 0u64;
    let mut with_two = 0;
    for article in &all {
        let links = assert_well_linked(article, &urls);
        total += links.len() as u64;
        let id = article.id.as_str();
        let mine = cluster.get(id).map(String::as_str);
        let related = mine.and_then(|c| per_cluster.get(c)).map_or(0, |n| n - 1);
        let to_related = links.iter().filter(|l| cluster.get(&l.target).map(String::as_str) == mine).count();
        if related >= 2 {
            with_two += 1;
            assert!(links.len() >= 2, "{id} has {related} related articles but {} links: {links:?}", links.len());
        }
        if related >= 1 {
            assert!(to_related >= 1, "{id} links to none of its {related} related articles: {links:?}");
        }
    }
    assert!(with_two * 2 >= all.len(), "most articles have two related ones: {with_two} of {}", all.len());
    assert_eq!(total, p.links_added, "the run's tally is what the bodies hold");

    // Nothing left to do: a replayed batch and a second pass over the site change nothing.
    let linker = &w.rt.services.linking;
    let replay = linker.link_run_batch(&w.account, &w.site, &run.id, 50).await.expect("replay");
    assert_eq!(replay, RunLinkBatch::default());
    let again = linker.apply(&w.account, &w.site, None).await.expect("apply");
    assert_eq!((again.articles, again.changed, again.links_added), (s.articles, 0, 0), "{again:?}");
    let after: Vec<String> = articles(&w).await.into_iter().map(|c| c.html).collect();
    assert_eq!(after, all.iter().map(|c| c.html.clone()).collect::<Vec<_>>(), "a second pass changes nothing");
    igny8_tests::counters::assert_counts(&w.rt.services.store, &w.site).await;
    let lock = w.rt.services.locks.status(&w.site).await.expect("lock");
    assert!(lock.as_ref().is_none_or(|l| l.holder.is_none()), "lock released: {lock:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_site_that_does_not_link_gets_no_links_until_it_asks() {
    let w = world(&keywords(|i| i < 120), 3, false, PublishAfterRun::Off).await;
    let (s, run) = run_to_end(&w).await;
    assert!(run.linking.is_none(), "{run:?}");
    assert_eq!((s.linked, s.links_added), (0, 0));
    let before = articles(&w).await;
    assert!(before.len() > 4);
    for article in &before {
        assert!(article.linked_at.is_none());
        assert!(our_links(&article.html).0.is_empty(), "{} got links", article.id);
    }

    // On demand: suggestions write nothing, apply writes what they said.
    let linker = &w.rt.services.linking;
    let suggested = linker.suggest(&w.account, &w.site, None).await.expect("suggest");
    assert!(!suggested.is_empty());
    assert_eq!(articles(&w).await, before, "suggest writes nothing");
    let report = linker.apply(&w.account, &w.site, None).await.expect("apply");
    assert_eq!(report.articles, before.len() as u64);
    assert!(report.changed > 0 && report.links_added >= report.changed, "{report:?}");
    assert_eq!(report.marked_for_update, 0, "nothing is published");
    let applied: BTreeMap<String, Vec<(String, String)>> = report
        .details
        .iter()
        .map(|d| (d.content_id.to_string(), d.links.iter().map(|l| (l.target.to_string(), l.anchor.clone())).collect()))
        .collect();
    let proposed: BTreeMap<String, Vec<(String, String)>> = suggested
        .iter()
        .map(|d| (d.content_id.to_string(), d.links.iter().map(|l| (l.target.to_string(), l.anchor.clone())).collect()))
        .collect();
    assert_eq!(applied, proposed, "apply writes exactly the suggestions");

    let urls = draft_urls(&before);
    let original: BTreeMap<String, String> = before.iter().map(|c| (c.id.to_string(), c.html.clone())).collect();
    for article in articles(&w).await {
        let links = assert_well_linked(&article, &urls);
        let (_, stripped) = our_links(&article.html);
        assert_eq!(stripped, original[article.id.as_str()], "{}: only link tags were added", article.id);
        assert_eq!(links.len(), applied.get(article.id.as_str()).map_or(0, Vec::len));
        assert_eq!(article.linked_at.is_some(), applied.contains_key(article.id.as_str()));
    }
    let one = &before[0].id;
    let single = linker.apply(&w.account, &w.site, Some(one)).await.expect("apply one");
    assert_eq!((single.articles, single.changed), (1, 0), "a second pass changes nothing");
    let foreign = linker.apply(&w.account, &w.site, Some(&ContentId::derive("nope"))).await;
    assert_eq!(foreign.expect_err("unknown").code(), "not_found");
    let other = AccountId::derive("someone-else");
    assert_eq!(linker.suggest(&other, &w.site, None).await.expect_err("foreign").code(), "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn published_articles_are_linked_by_live_url_and_marked_when_their_links_change() {
    // The first run publishes its articles unlinked; the second, on the file's second
    // half, links its own and does not publish.
    let w = world(&keywords(|i| i < 310), 2, false, PublishAfterRun::Publish).await;
    let (first, run1) = run_to_end(&w).await;
    assert_eq!(first.published, first.articles, "{first:?}");
    let published = articles(&w).await;
    w.rt.importer.import(&w.account, &w.site, &keywords(|i| i >= 310)).await.expect("import more");
    let mut config = w.rt.automation.config(&w.account, &w.site).await.expect("config");
    config.publish = PublishAfterRun::Off;
    config.link_articles = true;
    w.rt.automation.save_config(&w.account, config).await.expect("save config");
    let (second, run2) = run_to_end(&w).await;
    assert!(second.articles > 0 && second.linked == second.articles, "{second:?}");

    let publications = PublicationRepo::new(Arc::clone(&w.rt.services.store));
    let live: BTreeMap<String, String> = publications
        .for_site(&w.site)
        .await
        .expect("publications")
        .into_iter()
        .filter_map(|p| Some((p.publication.content_id.to_string(), p.publication.remote_url?)))
        .collect();
    assert_eq!(live.len() as u64, first.articles, "one live post per first-run article");
    assert!(live.values().all(|u| u.starts_with(LIVE)), "{live:?}");
    let mut urls = draft_urls(&articles(&w).await);
    urls.extend(live.clone());
    // The second run links its own articles (a link to a first-run article carries its
    // live URL); the first run's articles are left as they were.
    for article in articles(&w).await {
        if article.run_id == run2.id {
            assert!(article.linked_at.is_some());
            assert_well_linked(&article, &urls);
        } else {
            assert_eq!(article.run_id, run1.id);
            assert!(published.contains(&article), "{}: the second run changed a first-run article", article.id);
        }
    }

    // Linking the whole site now links the published articles: each one changed is
    // marked for update, in the same write as its body.
    let report = w.rt.services.linking.apply(&w.account, &w.site, None).await.expect("apply");
    let changed_published: Vec<&str> =
        report.details.iter().map(|d| d.content_id.as_str()).filter(|id| live.contains_key(*id)).collect();
    assert!(changed_published.len() * 2 >= published.len(), "published articles gain links: {report:?}");
    for article in articles(&w).await {
        assert_well_linked(&article, &urls);
        let changed = report.details.iter().any(|d| d.content_id == article.id);
        for p in publications.for_content(&w.site, &article.id).await.expect("publications") {
            assert_eq!(p.publication.needs_update, changed, "{}: marked exactly when its links changed", article.id);
        }
    }
    assert_eq!(report.marked_for_update, changed_published.len() as u64, "one publication each: {report:?}");
    let again = w.rt.services.linking.apply(&w.account, &w.site, None).await.expect("again");
    assert_eq!((again.changed, again.marked_for_update), (0, 0), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stage_link_task_input_is_handled() {
    let w = world(&keywords(|i| i < 12), 1, true, PublishAfterRun::Off).await;
    let (_, run) = run_to_end(&w).await;
    assert_eq!(run.linking.as_ref().map(|p| p.remaining), Some(0));
    let path = format!("{}/fixtures/events/stage_link_input.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path)
        .expect("fixture")
        .replace("{{run_id}}", run.id.as_str())
        .replace("{{account_id}}", w.account.as_str())
        .replace("{{site_id}}", w.site.as_str());
    let input: Value = serde_json::from_str(&text).expect("json");
    let out = handle(&w.rt.automation, Function::StageLink, input).await.expect("handler");
    assert_eq!(out["next"], "finalize", "a finished run routes to its end: {out}");
    assert_eq!(Function::from_name("igny8-stage-link"), Some(Function::StageLink));
    let bad = handle(&w.rt.automation, Function::StageLink, serde_json::json!({"run_id": "nope"})).await;
    assert!(bad.is_err());
    let unknown = serde_json::json!({"run_id": RunId::derive("x"), "account_id": w.account, "site_id": w.site});
    assert!(handle(&w.rt.automation, Function::StageLink, unknown).await.is_err(), "an unknown run");
}
