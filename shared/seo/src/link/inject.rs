//! The injection engine: links placed on words already in the body, by inserting
//! `<a>` tags at byte offsets of the source so everything else stays byte for byte.
//!
//! Rules, in the order they apply:
//! - the links of ours already there (the [`LINK_MARKER`] attribute) keep their place;
//!   one whose href differs from its candidate's URL now (a draft target went live)
//!   gets the new href;
//! - the cap: [`LinkOptions::links_per_300_words`] per started 300 words of visible
//!   text, our existing links counted against it;
//! - candidates in relevance order (ties by key); skipped: the article itself, a
//!   target without a URL or without anchors, a target already linked (by our marker
//!   or by a link whose href is its URL), a second candidate for a placed target;
//! - a link goes on the first occurrence of the candidate's best anchor (then the
//!   next anchor) whose words no link of ours in the article carries yet (one anchor
//!   text never points at two articles: articles of one cluster share their
//!   keyphrase, so the next one gets its next phrase), in unprotected text — never in headings, links, code, captions,
//!   scripts … ([`crate::html::PROTECTED_ELEMENTS`]) — that no link of this pass
//!   covers, matched on whole words, case-insensitively, within one text node.
//!
//! Every rule depends only on what the body holds, and what a pass adds is what the
//! next pass skips, so a second pass with the same candidates changes nothing.

use std::collections::HashSet;
use std::ops::Range;

use super::words::{self, MappedText};
use super::{Candidate, Injection, LinkOptions, PlacedLink, LINK_MARKER};
use crate::html::{self, Node};

/// Words of visible text each step of the cap covers.
const WORDS_PER_STEP: usize = 300;

/// A change to the source: `text` replaces the bytes `range` (an empty range inserts).
#[derive(Debug)]
struct Edit {
    range: Range<usize>,
    text: String,
    /// Among edits at one offset, closing tags go before opening ones.
    order: u8,
}

/// A link of ours found in the body.
struct OwnLink {
    target: String,
    href: String,
    tag: Range<usize>,
    attrs: Vec<(String, String)>,
    text: String,
}

/// An unprotected text node, its words lowercased.
struct Run {
    mapped: MappedText,
    words: Vec<(Range<usize>, String)>,
}

/// Escapes a value for a double-quoted attribute.
fn escape_attr(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

/// A URL as compared for "already linked": trimmed, without a trailing slash.
fn same_url(a: &str, b: &str) -> bool {
    let norm = |u: &str| u.trim().trim_end_matches('/').to_owned();
    norm(a) == norm(b)
}

/// An `<a>` start tag with `href` first and the other attributes in their order.
fn start_tag(href: &str, attrs: &[(String, String)]) -> String {
    let mut tag = format!("<a href=\"{}\"", escape_attr(href));
    for (name, value) in attrs.iter().filter(|(name, _)| name != "href") {
        tag.push_str(&format!(" {name}=\"{}\"", escape_attr(value)));
    }
    tag.push('>');
    tag
}

/// The links of ours in the body, with their start tag's bytes and their text.
fn own_links(parsed: &html::Html<'_>) -> Vec<OwnLink> {
    let mut found: Vec<OwnLink> = Vec::new();
    let mut open: Option<usize> = None;
    for node in &parsed.nodes {
        match node {
            Node::Start { name, attrs, span, .. } if name == "a" => {
                open = node.attr(LINK_MARKER).map(|target| {
                    found.push(OwnLink {
                        target: target.to_owned(),
                        href: node.attr("href").unwrap_or_default().trim().to_owned(),
                        tag: span.clone(),
                        attrs: attrs.clone(),
                        text: String::new(),
                    });
                    found.len() - 1
                });
            }
            Node::End { name, .. } if name == "a" => open = None,
            Node::Text { text, .. } => {
                if let Some(link) = open.and_then(|i| found.get_mut(i)) {
                    link.text.push_str(text);
                }
            }
            _ => {}
        }
    }
    for link in &mut found {
        link.text = link.text.split_whitespace().collect::<Vec<_>>().join(" ");
    }
    found
}

/// The unprotected text nodes of the body that map back to the source.
fn unprotected_runs(parsed: &html::Html<'_>) -> Vec<Run> {
    let texts = parsed.nodes.iter().filter_map(|n| match n {
        Node::Text { text, .. } => Some(text),
        _ => None,
    });
    parsed
        .text_runs()
        .into_iter()
        .zip(texts)
        .filter(|(run, _)| !run.protected)
        .filter_map(|(run, text)| MappedText::new(parsed.source, run.span, text))
        .map(|mapped| {
            let words = words::word_ranges(&mapped.text)
                .into_iter()
                .map(|r| {
                    let word = words::lower(&mapped.text[r.clone()]).into_owned();
                    (r, word)
                })
                .collect();
            Run { mapped, words }
        })
        .collect()
}

/// The first occurrence of `phrase` (lowercase words) in the runs whose source bytes
/// overlap no range of `taken`: its source bytes and its decoded text.
fn first_free(runs: &[Run], phrase: &[String], taken: &[Range<usize>]) -> Option<(Range<usize>, String)> {
    let n = phrase.len();
    if n == 0 {
        return None;
    }
    for run in runs {
        for (start, window) in run.words.windows(n).enumerate() {
            let matches = window.iter().zip(phrase).all(|((_, w), p)| w == p)
                && window.windows(2).all(|pair| words::joined_by_space(&run.mapped.text, &pair[0].0, &pair[1].0));
            if !matches {
                continue;
            }
            let decoded = run.words[start].0.start..run.words[start + n - 1].0.end;
            let Some(raw) = run.mapped.raw_range(&decoded) else { continue };
            if taken.iter().any(|t| t.start < raw.end && raw.start < t.end) {
                continue;
            }
            return Some((raw, run.mapped.text[decoded].to_owned()));
        }
    }
    None
}

/// Injects links to `candidates` into `html` (the body of the article `self_key`);
/// see the module docs for the rules. `added` is in body order.
pub fn inject(html: &str, self_key: &str, candidates: &[Candidate], options: &LinkOptions) -> Injection {
    let parsed = html::parse(html);
    let ours = own_links(&parsed);
    let mut edits: Vec<Edit> = Vec::new();
    let mut updated = Vec::new();
    for link in &ours {
        let Some(now) = candidates.iter().find(|c| c.target == link.target && !c.url.trim().is_empty()) else {
            continue;
        };
        if link.href != now.url.trim() {
            edits.push(Edit { range: link.tag.clone(), text: start_tag(now.url.trim(), &link.attrs), order: 1 });
            updated.push(PlacedLink {
                target: link.target.clone(),
                url: now.url.trim().to_owned(),
                anchor: link.text.clone(),
            });
        }
    }

    let words: usize = parsed.blocks().iter().map(|b| b.text.split_whitespace().count()).sum();
    let cap = words.div_ceil(WORDS_PER_STEP).saturating_mul(options.links_per_300_words as usize);
    let mut budget = cap.saturating_sub(ours.len());
    let hrefs: Vec<String> = parsed.links().into_iter().map(|l| l.href).collect();
    let mut linked: HashSet<&str> = ours.iter().map(|l| l.target.as_str()).collect();
    let mut ordered: Vec<&Candidate> = candidates.iter().collect();
    ordered.sort_by(|a, b| b.relevance.total_cmp(&a.relevance).then_with(|| a.target.cmp(&b.target)));

    let runs = if budget > 0 { unprotected_runs(&parsed) } else { Vec::new() };
    let mut used_anchors: HashSet<Vec<String>> = ours.iter().map(|l| words::phrase_words(&l.text)).collect();
    let mut taken: Vec<Range<usize>> = Vec::new();
    let mut added: Vec<(usize, PlacedLink)> = Vec::new();
    for candidate in ordered {
        if budget == 0 {
            break;
        }
        let url = candidate.url.trim();
        if candidate.target == self_key
            || url.is_empty()
            || linked.contains(candidate.target.as_str())
            || hrefs.iter().any(|h| same_url(h, url))
        {
            continue;
        }
        let placed = candidate.anchors.iter().find_map(|anchor| {
            let phrase = words::phrase_words(anchor);
            if used_anchors.contains(&phrase) {
                return None;
            }
            first_free(&runs, &phrase, &taken).map(|found| (found, phrase))
        });
        let Some(((raw, anchor), phrase)) = placed else { continue };
        used_anchors.insert(phrase);
        let attrs = vec![(LINK_MARKER.to_owned(), candidate.target.clone())];
        edits.push(Edit { range: raw.start..raw.start, text: start_tag(url, &attrs), order: 1 });
        edits.push(Edit { range: raw.end..raw.end, text: "</a>".to_owned(), order: 0 });
        added.push((raw.start, PlacedLink { target: candidate.target.clone(), url: url.to_owned(), anchor }));
        taken.push(raw);
        linked.insert(candidate.target.as_str());
        budget -= 1;
    }

    if edits.is_empty() {
        return Injection { html: html.to_owned(), added: Vec::new(), updated };
    }
    edits.sort_by_key(|e| (e.range.start, e.order));
    let mut out = String::with_capacity(html.len() + edits.iter().map(|e| e.text.len()).sum::<usize>());
    let mut at = 0usize;
    for edit in &edits {
        out.push_str(html.get(at..edit.range.start).unwrap_or_default());
        out.push_str(&edit.text);
        at = edit.range.end;
    }
    out.push_str(html.get(at..).unwrap_or_default());
    added.sort_by_key(|(at, _)| *at);
    Injection { html: out, added: added.into_iter().map(|(_, link)| link).collect(), updated }
}
