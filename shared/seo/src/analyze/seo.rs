//! The SEO checks: the keyphrase in the SEO title, introduction, slug, meta
//! description and subheadings, its density, the text, meta description and title
//! lengths, links, and links that compete for the keyphrase. Thresholds follow Yoast's
//! published SEO scoring table
//! (<https://github.com/Yoast/wordpress-seo/blob/trunk/packages/yoastseo/src/scoring/assessments/scoringDocumentation/SCORING%20SEO.md>);
//! docs/analysis.md lists every source.

use super::{check, finding, Article, Check, CheckGroup};
use crate::html::BlockKind;
use crate::text;

fn seo(id: &str, score: u8, message: String) -> Check {
    finding(id, CheckGroup::Seo, score, message)
}

/// The check a keyphrase check gives when no keyphrase is set.
fn no_keyphrase(id: &str) -> Check {
    seo(
        id,
        0,
        "No focus keyphrase is set: set one (the cluster's pillar keyword) so the article can be scored for it.".into(),
    )
}

/// Keyphrase in the SEO title (the post title when the SEO title is empty): 9 when the
/// title starts with it (function words such as `the` may come first), 6 when it is
/// elsewhere or only its words are there, 2 when absent. Source: Yoast's "Keyphrase in
/// SEO title" assessment (exact match at the beginning green, elsewhere orange).
pub(super) fn keyphrase_in_seo_title(a: &Article) -> Check {
    let id = check::KEYPHRASE_IN_SEO_TITLE;
    let Some(key) = a.keyphrase else { return no_keyphrase(id) };
    let title = a.seo_title();
    let words: Vec<&str> = text::words(title).collect();
    if words.is_empty() {
        return seo(
            id,
            2,
            format!("There is no SEO title: write one that starts with the keyphrase \"{}\".", key.text),
        );
    }
    match key.find_phrase(&words, a.rules) {
        Some(at) if words[..at].iter().all(|w| a.rules.is_function_word(w)) => {
            seo(id, 9, format!("The SEO title starts with the keyphrase \"{}\".", key.text))
        }
        Some(_) => seo(
            id,
            6,
            format!("The SEO title contains the keyphrase \"{}\" but not at its start: move it to the beginning.", key.text),
        ),
        None if key.all_content_in(&words, a.rules) => seo(
            id,
            6,
            format!(
                "The SEO title has the words of the keyphrase \"{}\" but not together: write the keyphrase as it is, at the start.",
                key.text
            ),
        ),
        None => seo(
            id,
            2,
            format!("The SEO title does not contain the keyphrase \"{}\": add it, at the start.", key.text),
        ),
    }
}

/// Keyphrase in the introduction (the first paragraph): 9 when one sentence has every
/// content word, 6 when the paragraph has them across sentences, 3 otherwise. Source:
/// Yoast's "Keyphrase in introduction" assessment.
pub(super) fn keyphrase_in_introduction(a: &Article) -> Check {
    let id = check::KEYPHRASE_IN_INTRODUCTION;
    let Some(key) = a.keyphrase else { return no_keyphrase(id) };
    let Some(intro) = a.doc.blocks.iter().find(|b| b.kind == BlockKind::Paragraph) else {
        return seo(
            id,
            3,
            "The body has no paragraph to introduce it: open with a paragraph that uses the keyphrase.".into(),
        );
    };
    if a.doc.block_sentences(intro).any(|s| key.all_content_in(s, a.rules)) {
        seo(id, 9, format!("The first paragraph uses the keyphrase \"{}\".", key.text))
    } else if key.all_content_in(a.doc.slice(&intro.words), a.rules) {
        seo(
            id,
            6,
            format!(
                "The first paragraph has the words of the keyphrase \"{}\" but not within one sentence: use it in one sentence.",
                key.text
            ),
        )
    } else {
        seo(
            id,
            3,
            format!(
                "The keyphrase \"{}\" is not in the first paragraph: make the topic clear from the first sentences.",
                key.text
            ),
        )
    }
}

/// Keyphrase in the slug: the slug's words (split at hyphens and other punctuation,
/// plural forms matched) hold every content word of a one- or two-word keyphrase, or
/// more than half of a longer one → 9; some → 6; none or no slug → 3. Source: Yoast's
/// "Keyphrase in slug" assessment.
pub(super) fn keyphrase_in_slug(a: &Article) -> Check {
    let id = check::KEYPHRASE_IN_SLUG;
    let Some(key) = a.keyphrase else { return no_keyphrase(id) };
    let words: Vec<&str> = text::words(&a.article.slug).collect();
    if words.is_empty() {
        return seo(id, 3, format!("There is no slug: use one made of the keyphrase \"{}\".", key.text));
    }
    let (found, wanted) = (key.content_found(&words, a.rules), key.content.len());
    let enough = if wanted <= 2 { found == wanted } else { found * 2 > wanted };
    if enough {
        seo(id, 9, format!("The slug \"{}\" contains the keyphrase \"{}\".", a.article.slug, key.text))
    } else if found > 0 {
        seo(
            id,
            6,
            format!(
                "The slug \"{}\" has {found} of the keyphrase's {wanted} words: use the whole keyphrase \"{}\".",
                a.article.slug, key.text
            ),
        )
    } else {
        seo(
            id,
            3,
            format!(
                "The slug \"{}\" does not contain the keyphrase \"{}\": put it in the slug.",
                a.article.slug, key.text
            ),
        )
    }
}

/// Keyphrase in the meta description: one or two of its sentences hold every content
/// word → 9; none, more than two, or no meta description → 3. Source: Yoast's
/// "Keyphrase in meta description" assessment.
pub(super) fn keyphrase_in_meta_description(a: &Article) -> Check {
    let id = check::KEYPHRASE_IN_META_DESCRIPTION;
    let Some(key) = a.keyphrase else { return no_keyphrase(id) };
    let meta = a.article.meta_description.trim();
    if meta.is_empty() {
        return seo(
            id,
            3,
            format!(
                "There is no meta description: write one (120–156 characters) that uses the keyphrase \"{}\".",
                key.text
            ),
        );
    }
    let matching =
        text::sentences(meta).filter(|s| key.all_content_in(&text::words(s).collect::<Vec<_>>(), a.rules)).count();
    match matching {
        0 => seo(id, 3, format!("The meta description does not contain the keyphrase \"{}\": use it once.", key.text)),
        1 | 2 => seo(id, 9, format!("The meta description uses the keyphrase \"{}\".", key.text)),
        n => seo(id, 3, format!("The meta description uses the keyphrase in {n} sentences: once or twice is enough.")),
    }
}

/// Keyphrase in H2/H3 subheadings: a subheading reflects the keyphrase when it holds
/// every content word (English), or at least half of the words (languages without
/// function-word lists). 30–75 % of them reflecting it → 9 (a single subheading that
/// reflects it too); fewer or more → 3; no subheading → 9 for a text of at most 300
/// words, else 2. Source: Yoast's "Keyphrase in subheading" assessment.
pub(super) fn keyphrase_in_subheadings(a: &Article) -> Check {
    let id = check::KEYPHRASE_IN_SUBHEADINGS;
    let Some(key) = a.keyphrase else { return no_keyphrase(id) };
    let headings: Vec<_> = a
        .doc
        .blocks
        .iter()
        .filter(|b| matches!(b.kind, BlockKind::Heading(2 | 3)))
        .map(|b| a.doc.slice(&b.words))
        .collect();
    if headings.is_empty() {
        return if a.body_words <= 300 {
            seo(id, 9, "There are no H2/H3 subheadings; the text is short enough not to need them.".into())
        } else {
            seo(
                id,
                2,
                format!(
                    "The text has {} words but no H2/H3 subheadings: add some, and use the keyphrase \"{}\" in a few.",
                    a.body_words, key.text
                ),
            )
        };
    }
    let reflects = |words: &[&str]| {
        if a.rules.has_word_lists() {
            key.all_content_in(words, a.rules)
        } else {
            key.content_found(words, a.rules) * 2 >= key.content.len()
        }
    };
    let total = headings.len();
    let hits = headings.iter().filter(|h| reflects(h)).count();
    let percent = hits * 100 / total;
    if (total == 1 && hits == 1) || (hits * 100 >= 30 * total && hits * 100 <= 75 * total) {
        seo(id, 9, format!("{hits} of {total} H2/H3 subheadings ({percent} %) reflect the keyphrase \"{}\".", key.text))
    } else if hits * 100 < 30 * total {
        seo(
            id,
            3,
            format!(
                "Only {hits} of {total} H2/H3 subheadings ({percent} %) reflect the keyphrase \"{}\": use it in 30–75 % of them.",
                key.text
            ),
        )
    } else {
        seo(
            id,
            3,
            format!(
                "{hits} of {total} H2/H3 subheadings ({percent} %) reflect the keyphrase \"{}\": more than 75 % reads as over-optimised, vary some.",
                key.text
            ),
        )
    }
}

/// Keyphrase occurrences in the body (phrase matches, see
/// [`count_phrase`](super::keyphrase::Keyphrase::count_phrase)).
pub(super) fn keyphrase_count(a: &Article) -> usize {
    let Some(key) = a.keyphrase else { return 0 };
    a.doc.body().flat_map(|b| a.doc.block_sentences(b)).map(|s| key.count_phrase(s, a.rules)).sum()
}

/// Keyphrase density (occurrences per 100 words of body): none → 2, below 0.5 % → 4,
/// 0.5–3 % → 9, and above 3 % the higher the worse: ≤ 3.5 % → 5, ≤ 4 % → 3, ≤ 5 % → 1,
/// more → 0. Source: Yoast's "Keyphrase density" assessment (0.5–3 % green).
pub(super) fn keyphrase_density(a: &Article, count: usize) -> Check {
    let id = check::KEYPHRASE_DENSITY;
    let Some(key) = a.keyphrase else { return no_keyphrase(id) };
    let words = a.body_words;
    if words == 0 {
        return seo(id, 0, format!("The body has no text to use the keyphrase \"{}\" in.", key.text));
    }
    let density = density(count, words);
    let least = words.div_ceil(200);
    let most = (words * 3 / 100).max(1);
    let (score, advice) = if count == 0 {
        (2, format!("use it at least {least} times"))
    } else if count * 200 < words {
        (4, format!("less than 0.5 %: use it at least {least} times"))
    } else if count * 100 <= words * 3 {
        (9, "within 0.5–3 %".to_owned())
    } else {
        let score = if count * 200 <= words * 7 {
            5
        } else if count * 25 <= words {
            3
        } else if count * 20 <= words {
            1
        } else {
            0
        };
        (score, format!("more than 3 % reads as keyword stuffing: use it at most {most} times"))
    };
    seo(
        id,
        score,
        format!("The keyphrase \"{}\" appears {count} times in {words} words ({density:.1} %), {advice}.", key.text),
    )
}

/// Occurrences per 100 words, rounded to two decimals.
pub(super) fn density(count: usize, words: usize) -> f64 {
    if words == 0 {
        return 0.0;
    }
    (count as f64 * 10_000.0 / words as f64).round() / 100.0
}

/// Text length: ≥ 300 words → 9, 250–299 → 6, 200–249 → 3, 100–199 → 1, fewer → 0.
/// Source: Yoast's "Text length" assessment (300 words minimum).
pub(super) fn text_length(a: &Article) -> Check {
    let words = a.body_words;
    let score = match words {
        300.. => 9,
        250..=299 => 6,
        200..=249 => 3,
        100..=199 => 1,
        _ => 0,
    };
    let message = if score == 9 {
        format!("The text has {words} words, at least the 300 recommended.")
    } else {
        format!("The text has {words} words, fewer than the 300 recommended: add content.")
    };
    seo(check::TEXT_LENGTH, score, message)
}

/// Meta description length in characters: 120–156 → 9, shorter or longer → 6, and
/// none → 1. Source: Yoast's "Meta description length" assessment (more than 120 and fewer
/// than 157 characters green).
pub(super) fn meta_description_length(a: &Article) -> Check {
    let chars = a.article.meta_description.trim().chars().count();
    let (score, message) = match chars {
        0 => (1, "There is no meta description: search engines will show text from the page instead; write one of 120–156 characters.".to_owned()),
        1..=119 => (6, format!("The meta description has {chars} characters, under 120: use the space (up to 156).")),
        120..=156 => (9, format!("The meta description has {chars} characters, within 120–156.")),
        _ => (6, format!("The meta description has {chars} characters, over 156: search results cut it off; shorten it.")),
    };
    seo(check::META_DESCRIPTION_LENGTH, score, message)
}

/// SEO title length in characters (a result page shows about 600 px, 50–60
/// characters): 40–60 → 9, 30–39 or 61–70 → 6, shorter or longer → 3, none → 1.
pub(super) fn seo_title_length(a: &Article) -> Check {
    let chars = a.seo_title().trim().chars().count();
    let (score, message) = match chars {
        0 => (1, "There is no SEO title: write one of 40–60 characters.".to_owned()),
        40..=60 => (9, format!("The SEO title has {chars} characters, within 40–60.")),
        30..=39 => (6, format!("The SEO title has {chars} characters: use the space, up to 60.")),
        61..=70 => {
            (6, format!("The SEO title has {chars} characters: results show about 60, so its end may be cut off."))
        }
        1..=29 => (3, format!("The SEO title has only {chars} characters: write 40–60.")),
        _ => (3, format!("The SEO title has {chars} characters: results cut it off after about 60; shorten it.")),
    };
    seo(check::SEO_TITLE_LENGTH, score, message)
}

/// Where a link points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LinkTarget {
    /// The article's own site (relative, or the site's host with or without `www.`).
    Internal,
    /// Another site.
    Outbound,
}

/// The host of an `http(s)://` or `//` URL, lower case, without port, user or `www.`.
fn host_of(rest: &str) -> String {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    let host = host.split(':').next().unwrap_or_default().trim_end_matches('.').to_ascii_lowercase();
    host.strip_prefix("www.").map(str::to_owned).unwrap_or(host)
}

/// The site's host as [`host_of`] gives it, whether given as `example.com` or a URL.
pub(super) fn site_host(site: &str) -> String {
    let site = site.trim();
    let rest = site.split_once("://").map_or(site, |(_, rest)| rest);
    host_of(rest.trim_start_matches('/'))
}

/// Where `href` points, or `None` for what is not a page link (a same-page `#anchor`,
/// `mailto:`, `tel:`, `javascript:` and other schemes).
pub(super) fn link_target(href: &str, site: &str) -> Option<LinkTarget> {
    let href = href.trim();
    if href.is_empty() || href.starts_with('#') {
        return None;
    }
    let rest = if let Some(rest) = href.strip_prefix("//") {
        rest
    } else {
        let scheme_end = href.find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')));
        match scheme_end {
            Some(at) if at > 0 && href[at..].starts_with(':') => {
                let scheme = &href[..at];
                if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
                    return None;
                }
                href[at + 1..].trim_start_matches('/')
            }
            _ => return Some(LinkTarget::Internal),
        }
    };
    let host = host_of(rest);
    if !site.is_empty() && host == site {
        Some(LinkTarget::Internal)
    } else {
        Some(LinkTarget::Outbound)
    }
}

/// Internal or outbound links: none → 3, only `rel="nofollow"` ones → 6, followed and
/// nofollowed → 8, all followed → 9. Source: Yoast's "Internal links" and "Outbound
/// links" assessments.
pub(super) fn links(a: &Article, target: LinkTarget) -> Check {
    let (id, what) = match target {
        LinkTarget::Internal => (check::INTERNAL_LINKS, "internal"),
        LinkTarget::Outbound => (check::OUTBOUND_LINKS, "outbound"),
    };
    let site = site_host(&a.article.site_host);
    let (mut followed, mut nofollowed) = (0usize, 0usize);
    for link in a.links {
        if link_target(&link.href, &site) != Some(target) {
            continue;
        }
        let nofollow = link.attrs.iter().any(|(name, value)| {
            name == "rel" && value.split_ascii_whitespace().any(|r| r.eq_ignore_ascii_case("nofollow"))
        });
        if nofollow {
            nofollowed += 1;
        } else {
            followed += 1;
        }
    }
    let (score, message) = match (followed, nofollowed) {
        (0, 0) => (3, format!("The article has no {what} links: add some.")),
        (0, n) => (6, format!("All {n} {what} links are nofollow: add some normal ones.")),
        (f, n) if n > 0 => (8, format!("The article has {f} followed and {n} nofollow {what} links.")),
        (f, _) => (9, format!("The article has {f} {what} links.")),
    };
    seo(id, score, message)
}

/// Links whose anchor text is the keyphrase itself
/// ([`is_anchor`](super::keyphrase::Keyphrase::is_anchor)) compete
/// with the article for it: any → 2, none → 9. Source: Yoast's "Link focus keyphrase"
/// (competing links) assessment.
pub(super) fn keyphrase_anchor(a: &Article) -> Check {
    let id = check::KEYPHRASE_ANCHOR;
    let Some(key) = a.keyphrase else { return no_keyphrase(id) };
    let competing =
        a.links.iter().filter(|link| key.is_anchor(&text::words(&link.text).collect::<Vec<_>>(), a.rules)).count();
    if competing == 0 {
        seo(id, 9, format!("No link uses the keyphrase \"{}\" as its anchor text.", key.text))
    } else {
        seo(
            id,
            2,
            format!(
                "{competing} link(s) use the keyphrase \"{}\" itself as anchor text, competing with this article for it: reword the anchor.",
                key.text
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_targets() {
        let site = site_host("https://www.Example.com/");
        assert_eq!(site, "example.com");
        let cases = [
            ("/guides/shoes", Some(LinkTarget::Internal)),
            ("shoes.html", Some(LinkTarget::Internal)),
            ("?page=2", Some(LinkTarget::Internal)),
            ("https://example.com/a", Some(LinkTarget::Internal)),
            ("HTTP://www.example.com:8080/a", Some(LinkTarget::Internal)),
            ("//example.com/a", Some(LinkTarget::Internal)),
            ("https://other.org/a", Some(LinkTarget::Outbound)),
            ("https://example.com.evil.org/", Some(LinkTarget::Outbound)),
            ("https://user@example.com/", Some(LinkTarget::Internal)),
            ("#top", None),
            ("mailto:a@example.com", None),
            ("javascript:void(0)", None),
            ("tel:+123", None),
            ("", None),
        ];
        for (href, expected) in cases {
            assert_eq!(link_target(href, &site), expected, "{href}");
        }
        assert_eq!(link_target("https://example.com/", ""), Some(LinkTarget::Outbound));
    }
}
