//! Both engines on hand-written articles and a synthetic site.

use super::*;
use crate::html;

fn doc(key: &str, keyphrase: &str, keywords: &[&str], topic: &str, html: &str) -> LinkDoc {
    LinkDoc {
        key: key.into(),
        url: format!("https://site.test/{key}/"),
        title: format!("The Complete Guide to {keyphrase}"),
        focus_keyphrase: keyphrase.into(),
        keywords: keywords.iter().map(|k| k.to_string()).collect(),
        topic: topic.into(),
        html: html.into(),
    }
}

fn candidate(target: &str, relevance: f64, anchors: &[&str]) -> Candidate {
    Candidate {
        target: target.into(),
        url: format!("https://site.test/{target}/"),
        relevance,
        anchors: anchors.iter().map(|a| a.to_string()).collect(),
    }
}

/// Plenty of links allowed, so the cap does not hide the rule under test.
fn generous() -> LinkOptions {
    LinkOptions { max_candidates: 10, links_per_300_words: 20 }
}

/// The output parses with no new issues, reads the same, and each added link is ours.
fn assert_well_formed(before: &str, after: &str) {
    let (b, a) = (html::parse(before), html::parse(after));
    assert_eq!(a.issues.len(), b.issues.len(), "new parse issues: {:?}", a.issues);
    assert_eq!(a.visible_text(), b.visible_text(), "text changed");
    let ours = a.links().iter().filter(|l| l.attrs.iter().any(|(n, _)| n == LINK_MARKER)).count();
    let theirs = b.links().iter().filter(|l| l.attrs.iter().any(|(n, _)| n == LINK_MARKER)).count();
    assert!(ours >= theirs);
}

/// A second pass with the same candidates changes nothing.
fn assert_idempotent(out: &Injection, key: &str, candidates: &[Candidate], options: &LinkOptions) {
    let again = inject(&out.html, key, candidates, options);
    assert!(!again.changed(), "second pass changed: {again:?}");
    assert_eq!(again.html, out.html);
}

#[test]
fn a_link_goes_on_the_first_occurrence_in_prose_and_keeps_the_rest_byte_for_byte() {
    let src = "<h1>Trail running shoes</h1>\n<p>Good trail running shoes grip.  Trail Running Shoes again.</p>";
    let candidates = [candidate("b", 5.0, &["trail running shoes"])];
    let out = inject(src, "a", &candidates, &generous());
    assert_eq!(
        out.html,
        "<h1>Trail running shoes</h1>\n<p>Good <a href=\"https://site.test/b/\" data-igny8-link=\"b\">trail running \
         shoes</a> grip.  Trail Running Shoes again.</p>"
    );
    assert_eq!(
        out.added,
        vec![PlacedLink {
            target: "b".into(),
            url: "https://site.test/b/".into(),
            anchor: "trail running shoes".into()
        }]
    );
    assert_well_formed(src, &out.html);
    assert_idempotent(&out, "a", &candidates, &generous());
}

#[test]
fn no_self_link_by_key() {
    let src = "<p>All about trail shoes and more trail shoes.</p>";
    let out = inject(src, "a", &[candidate("a", 9.0, &["trail shoes"])], &generous());
    assert!(!out.changed());
    assert_eq!(out.html, src);
}

#[test]
fn never_inside_headings_links_code_or_captions() {
    let src = "<h2>trail shoes</h2><p><a href=\"/x\">trail shoes</a> <code>trail shoes</code></p>\
               <figure><img src=\"i.png\" alt=\"trail shoes\"><figcaption>trail shoes</figcaption></figure>\
               <table><caption>trail shoes</caption></table><pre>trail shoes</pre><script>trail shoes</script>";
    let out = inject(src, "a", &[candidate("b", 1.0, &["trail shoes"])], &generous());
    assert!(!out.changed(), "{}", out.html);
    let with_prose = format!("{src}<p>Then trail shoes.</p>");
    let out = inject(&with_prose, "a", &[candidate("b", 1.0, &["trail shoes"])], &generous());
    assert_eq!(out.added.len(), 1);
    assert!(out.html.ends_with("<p>Then <a href=\"https://site.test/b/\" data-igny8-link=\"b\">trail shoes</a>.</p>"));
    assert_well_formed(&with_prose, &out.html);
}

#[test]
fn a_target_already_linked_by_its_url_or_our_marker_is_skipped() {
    let src = "<p>See <a href=\"https://site.test/b\">this</a>. Trail shoes, road shoes.</p>";
    let candidates = [candidate("b", 2.0, &["trail shoes"]), candidate("c", 1.0, &["road shoes"])];
    let out = inject(src, "a", &candidates, &generous());
    assert_eq!(out.added.iter().map(|l| l.target.as_str()).collect::<Vec<_>>(), vec!["c"]);
    let marked = "<p><a href=\"/old\" data-igny8-link=\"b\">x</a> trail shoes</p>";
    let mut live = candidate("b", 2.0, &["trail shoes"]);
    live.url = "/old".into();
    assert!(!inject(marked, "a", &[live], &generous()).changed());
}

#[test]
fn one_link_per_target_and_links_never_overlap() {
    let src = "<p>Trail running shoes, trail running and more trail running shoes.</p>";
    let candidates = [
        candidate("b", 3.0, &["trail running shoes"]),
        candidate("b", 2.0, &["trail running"]),
        candidate("c", 1.0, &["running shoes", "trail running"]),
    ];
    let out = inject(src, "a", &candidates, &generous());
    let placed: Vec<(&str, &str)> = out.added.iter().map(|l| (l.target.as_str(), l.anchor.as_str())).collect();
    // c's first anchor only occurs inside b's link and the later "trail running shoes"
    // (free), so it goes there: on "running shoes" of the third phrase.
    assert_eq!(placed, vec![("b", "Trail running shoes"), ("c", "running shoes")]);
    assert!(out.html.contains("more trail <a href=\"https://site.test/c/\" data-igny8-link=\"c\">running shoes</a>."));
    assert_well_formed(src, &out.html);
    assert_idempotent(&out, "a", &candidates, &generous());
}

#[test]
fn one_anchor_text_never_points_at_two_articles() {
    let src = "<p>Trail shoes here, trail shoes there, and trail running shoes.</p>";
    let candidates = [
        candidate("b", 3.0, &["trail shoes"]),
        candidate("c", 2.0, &["Trail Shoes", "trail running shoes"]),
        candidate("d", 1.0, &["trail shoes"]),
    ];
    let out = inject(src, "a", &candidates, &generous());
    let placed: Vec<(&str, &str)> = out.added.iter().map(|l| (l.target.as_str(), l.anchor.as_str())).collect();
    assert_eq!(placed, vec![("b", "Trail shoes"), ("c", "trail running shoes")]);
    assert_idempotent(&out, "a", &candidates, &generous());
}

#[test]
fn the_cap_counts_started_300_words_and_our_existing_links() {
    let filler = "word ".repeat(290);
    let src = format!("<p>alpha beta gamma delta {filler}</p><p>{filler}</p>");
    let candidates = [
        candidate("a1", 4.0, &["alpha"]),
        candidate("b1", 3.0, &["beta"]),
        candidate("g1", 2.0, &["gamma"]),
        candidate("d1", 1.0, &["delta"]),
    ];
    let one = LinkOptions { max_candidates: 10, links_per_300_words: 1 };
    // 584 words: two started steps of 300, so two links, the most relevant.
    let out = inject(&src, "x", &candidates, &one);
    assert_eq!(out.added.iter().map(|l| l.target.as_str()).collect::<Vec<_>>(), vec!["a1", "b1"]);
    assert_idempotent(&out, "x", &candidates, &one);
    let two = LinkOptions { max_candidates: 10, links_per_300_words: 2 };
    let more = inject(&out.html, "x", &candidates, &two);
    assert_eq!(more.added.iter().map(|l| l.target.as_str()).collect::<Vec<_>>(), vec!["g1", "d1"]);
    let none = LinkOptions { max_candidates: 10, links_per_300_words: 0 };
    assert!(!inject(&src, "x", &candidates, &none).changed());
}

#[test]
fn a_draft_target_that_went_live_gets_its_new_href() {
    let src = "<p>Read <a href=\"https://site.test/?p=12\" class=\"x\" data-igny8-link=\"b\">trail shoes</a> now.</p>";
    let live = [candidate("b", 1.0, &["trail shoes"])];
    let out = inject(src, "a", &live, &generous());
    assert!(out.added.is_empty());
    assert_eq!(
        out.updated,
        vec![PlacedLink { target: "b".into(), url: "https://site.test/b/".into(), anchor: "trail shoes".into() }]
    );
    assert_eq!(
        out.html,
        "<p>Read <a href=\"https://site.test/b/\" class=\"x\" data-igny8-link=\"b\">trail shoes</a> now.</p>"
    );
    assert_well_formed(src, &out.html);
    assert_idempotent(&out, "a", &live, &generous());
}

#[test]
fn entities_and_utf8_text_are_linked_as_written_and_hrefs_escaped() {
    let src = "<p>Tips &amp; tricks: caf&eacute; cr&egrave;me in Zürich, “Crème Brûlée” too.</p>";
    let mut c = candidate("b", 2.0, &["Café Crème"]);
    c.url = "https://site.test/?a=1&b=\"2\"".into();
    let candidates = [c, candidate("c", 1.0, &["crème brûlée"])];
    let out = inject(src, "a", &candidates, &generous());
    assert_eq!(
        out.html,
        "<p>Tips &amp; tricks: <a href=\"https://site.test/?a=1&amp;b=&quot;2&quot;\" data-igny8-link=\"b\">caf&eacute; \
         cr&egrave;me</a> in Zürich, “<a href=\"https://site.test/c/\" data-igny8-link=\"c\">Crème Brûlée</a>” too.</p>"
    );
    assert_eq!(out.added[0].anchor, "café crème");
    let links = html::parse(&out.html).links();
    assert_eq!(links[0].href, "https://site.test/?a=1&b=\"2\"");
    assert_well_formed(src, &out.html);
    assert_idempotent(&out, "a", &candidates, &generous());
}

#[test]
fn anchors_match_whole_words_within_one_sentence() {
    let src = "<p>Shoestring budgets. Trail. Shoes later; trail-shoes are different.</p>";
    let out = inject(src, "a", &[candidate("b", 1.0, &["shoes", "trail shoes"])], &generous());
    assert_eq!(out.added[0].anchor, "Shoes");
    assert!(out.html.contains("Trail. <a href=\"https://site.test/b/\" data-igny8-link=\"b\">Shoes</a> later"));
}

fn site() -> Vec<LinkDoc> {
    vec![
        doc(
            "shoes",
            "trail running shoes",
            &["waterproof trail shoes", "running shoes"],
            "t1",
            "<h1>Trail running shoes</h1><p>Pick trail running shoes with grip. Road running shoes differ. \
             Read about trail running socks and hydration vests.</p>",
        ),
        doc(
            "socks",
            "trail running socks",
            &["merino socks"],
            "t1",
            "<p>Socks matter as much as trail running shoes. Merino socks dry fast; waterproof trail shoes need them.</p>",
        ),
        doc(
            "vests",
            "hydration vests",
            &["running vest"],
            "t2",
            "<p>Hydration vests carry water. A running vest fits trail running socks users too.</p>",
        ),
        doc("cake", "chocolate cake", &["cocoa"], "t9", "<p>Chocolate cake with cocoa.</p>"),
    ]
}

#[test]
fn candidates_rank_shared_rare_terms_topic_and_phrases_and_list_anchors_best_first() {
    let index = LinkIndex::build(site(), &LinkOptions::default());
    let got = index.candidates("shoes", &LinkOptions::default());
    let targets: Vec<&str> = got.iter().map(|c| c.target.as_str()).collect();
    // The cake shares only the title template's words: a weak candidate, and no anchor.
    assert_eq!(targets, vec!["socks", "vests", "cake"], "{got:#?}");
    assert!(got[0].relevance > got[1].relevance && got[1].relevance > 5.0 * got[2].relevance, "{got:#?}");
    assert!(got[2].anchors.is_empty());
    // The keyphrase, then the title's n-grams, longer first.
    assert_eq!(got[0].anchors, vec!["trail running socks", "trail running", "running socks"]);
    assert_eq!(got[1].anchors, vec!["hydration vests"]);
    let socks = index.candidates("socks", &LinkOptions::default());
    assert_eq!(socks[0].target, "shoes");
    // Keyphrase first, then keywords in their order, then title n-grams.
    assert_eq!(
        socks[0].anchors,
        vec!["trail running shoes", "waterproof trail shoes", "running shoes", "trail running"]
    );
    let cake = index.candidates("cake", &LinkOptions::default());
    assert!(cake.iter().all(|c| c.anchors.is_empty() && c.relevance < got[1].relevance / 5.0), "{cake:#?}");
    assert!(index.candidates("missing", &LinkOptions::default()).is_empty());
    let one = LinkOptions { max_candidates: 1, ..LinkOptions::default() };
    assert_eq!(index.candidates("shoes", &one).len(), 1);
}

#[test]
fn no_candidate_at_the_articles_own_url_or_without_one() {
    let mut docs = site();
    docs[1].url = docs[0].url.clone();
    docs[2].url = " ".into();
    docs[3].url = String::new();
    let index = LinkIndex::build(docs, &LinkOptions::default());
    assert!(index.candidates("shoes", &LinkOptions::default()).is_empty());
}

/// A site of `n` articles in topics of 20: each shares its topic's words and names
/// two topic-mates' keyphrases, and all share the words "guide" and "tips", so those
/// lists grow with the site.
fn synthetic(n: usize) -> Vec<LinkDoc> {
    (0..n)
        .map(|i| {
            let topic = i / 20;
            let keyphrase = format!("topic{topic} item{i}");
            let body = format!(
                "<h2>Guide</h2><p>These tips cover topic{topic} item{i} in depth. Compare topic{topic} item{} and \
                 topic{topic} item{} before you choose. A general guide with tips.</p>",
                (topic * 20 + (i + 1) % 20).min(n - 1),
                (topic * 20 + (i + 7) % 20).min(n - 1)
            );
            LinkDoc {
                key: format!("k{i:05}"),
                url: format!("https://site.test/{i}"),
                title: format!("Topic{topic} Item{i} Guide and Tips"),
                focus_keyphrase: keyphrase,
                keywords: vec![format!("topic{topic} guide"), "tips".into()],
                topic: format!("t{topic}"),
                html: body,
            }
        })
        .collect()
}

#[test]
fn work_per_article_is_bounded_not_all_pairs() {
    let options = LinkOptions::default();
    let per_article = |n: usize| {
        let index = LinkIndex::build(synthetic(n), &options);
        let visited: usize = index.docs().iter().map(|d| index.scan(&d.key, &options).postings_visited).sum();
        visited as f64 / n as f64
    };
    let (small, large) = (per_article(500), per_article(4000));
    // Each article has about a dozen terms and phrases, each list read at most
    // MAX_POSTINGS_PER_TERM deep: bounded whatever the size; all pairs would be n - 1.
    let bound = (20 * MAX_POSTINGS_PER_TERM) as f64;
    assert!(large <= bound, "{large} postings per article");
    assert!(large < 3999.0 / 2.0, "{large} postings per article at 4,000");
    assert!(large < small * 2.0, "work per article grew from {small} to {large}");
}

#[test]
fn the_index_ranks_exactly_as_all_pairs_when_lists_fit_the_cap() {
    let options = LinkOptions { max_candidates: 8, links_per_300_words: 1 };
    let index = LinkIndex::build(synthetic(200), &options);
    for doc in index.docs() {
        let fast = index.scan(&doc.key, &options);
        let slow = index.candidates_all_pairs(&doc.key, &options);
        assert_eq!(fast.candidates, slow.candidates, "{}", doc.key);
    }
}

#[test]
fn order_is_deterministic_whatever_the_input_order() {
    let options = LinkOptions::default();
    let docs = synthetic(300);
    let mut reversed = docs.clone();
    reversed.reverse();
    let (a, b) = (LinkIndex::build(docs, &options), LinkIndex::build(reversed, &options));
    for doc in a.docs() {
        let (x, y) = (a.candidates(&doc.key, &options), b.candidates(&doc.key, &options));
        assert_eq!(x, y);
        assert!(x.windows(2).all(
            |w| w[0].relevance > w[1].relevance || (w[0].relevance == w[1].relevance && w[0].target < w[1].target)
        ));
    }
}

#[test]
fn candidates_then_inject_link_the_site_and_a_second_pass_adds_nothing() {
    let options = LinkOptions { max_candidates: 10, links_per_300_words: 3 };
    let index = LinkIndex::build(synthetic(120), &options);
    for doc in index.docs() {
        let candidates = index.candidates(&doc.key, &options);
        let out = inject(&doc.html, &doc.key, &candidates, &options);
        assert!(out.added.len() >= 2, "{}: {:?}", doc.key, out.added);
        assert!(out.added.iter().all(|l| l.target != doc.key));
        let mut targets: Vec<&str> = out.added.iter().map(|l| l.target.as_str()).collect();
        targets.sort_unstable();
        targets.dedup();
        assert_eq!(targets.len(), out.added.len());
        assert!(!out.html.contains("<h2><a"));
        assert_well_formed(&doc.html, &out.html);
        assert_idempotent(&out, &doc.key, &candidates, &options);
    }
}
