//! The offline optimizer: deterministic rewrites of exactly what the analyzer flagged,
//! so the optimizer runs (and raises scores) on a laptop with no model.
//!
//! Only elements whose content is plain text (`<h1>`–`<h6>`, `<p>`, `<li>` with no
//! markup inside) are ever rewritten; everything else — links, images, lists' markup,
//! code — is copied byte for byte, so a rewrite never breaks the HTML or a link the
//! linker placed. Each rewrite answers one check id of `igny8_seo::analyze::check`
//! (duplicated here as strings: this crate depends on nothing of ours):
//!
//! | check | rewrite |
//! |---|---|
//! | keyphrase in SEO title, SEO title length, keyphrase in slug | title starts with the title-cased keyphrase, 40–60 characters (the `<h1>` follows) |
//! | meta description length, keyphrase in meta description | 120–156 characters with the keyphrase near its start |
//! | keyphrase in introduction | a short first sentence naming the keyphrase |
//! | paragraph length | paragraphs over 150 words split at the sentence nearest their middle |
//! | subheading distribution | a subheading inserted where a section runs past 250 words |
//! | keyphrase in subheadings | the keyphrase added to subheadings until about half carry it |
//! | sentence length, Flesch reading ease | sentences over 20 words split at a conjunction or comma |
//! | transition words | transition words added to sentence starts until 40 % have one |
//! | keyphrase density | "For {keyphrase}, …" sentence starts below 0.5 %, "this topic" for occurrences above 3 % |
//!
//! Checks it cannot act on (links, passive voice, text length) are left alone.

use crate::{AiError, OptimizeOut, OptimizeRequest};

use super::text;

/// The check ids the offline optimizer acts on (those of `igny8_seo::analyze::check`).
pub mod check {
    /// Keyphrase in the SEO title.
    pub const KEYPHRASE_IN_SEO_TITLE: &str = "keyphrase_in_seo_title";
    /// SEO title length.
    pub const SEO_TITLE_LENGTH: &str = "seo_title_length";
    /// Keyphrase in the slug (the slug is made from the title).
    pub const KEYPHRASE_IN_SLUG: &str = "keyphrase_in_slug";
    /// Meta description length.
    pub const META_DESCRIPTION_LENGTH: &str = "meta_description_length";
    /// Keyphrase in the meta description.
    pub const KEYPHRASE_IN_META_DESCRIPTION: &str = "keyphrase_in_meta_description";
    /// Keyphrase in the introduction.
    pub const KEYPHRASE_IN_INTRODUCTION: &str = "keyphrase_in_introduction";
    /// Keyphrase in 30–75 % of subheadings.
    pub const KEYPHRASE_IN_SUBHEADINGS: &str = "keyphrase_in_subheadings";
    /// Keyphrase density 0.5–3 %.
    pub const KEYPHRASE_DENSITY: &str = "keyphrase_density";
    /// At most 25 % of sentences over 20 words.
    pub const SENTENCE_LENGTH: &str = "sentence_length";
    /// Flesch reading ease.
    pub const FLESCH_READING_EASE: &str = "flesch_reading_ease";
    /// Paragraphs of at most 150 words.
    pub const PARAGRAPH_LENGTH: &str = "paragraph_length";
    /// At most 300 words between subheadings.
    pub const SUBHEADING_DISTRIBUTION: &str = "subheading_distribution";
    /// Transition words in 30 % of sentences.
    pub const TRANSITION_WORDS: &str = "transition_words";
}

/// Longest SEO title the rewrite makes, in characters.
pub const MAX_TITLE_CHARS: usize = 60;
/// Shortest SEO title result pages make good use of: a shorter one flagged for its
/// length is lengthened.
pub const MIN_TITLE_CHARS: usize = 40;
/// What lengthens a short title.
const TITLE_SUFFIX: &str = "A Practical Guide";
/// Shortest meta description the rewrite makes, in characters.
pub const MIN_META_CHARS: usize = 120;
/// Longest meta description the rewrite makes, in characters.
pub const MAX_META_CHARS: usize = 156;
/// A sentence longer than this many words is split.
const LONG_SENTENCE_WORDS: usize = 20;
/// A paragraph longer than this many words is split.
const LONG_PARAGRAPH_WORDS: usize = 150;
/// A section longer than this many words gets a subheading inserted.
const SECTION_WORDS: usize = 250;
/// Keyphrase density (per 100 words) the rewrite aims at when it is too low.
const TARGET_DENSITY: f64 = 1.0;
/// Keyphrase density above which occurrences are replaced.
const MAX_DENSITY: f64 = 3.0;
/// Keyphrase density the replacements bring it down to.
const REDUCED_DENSITY: f64 = 2.5;
/// Share of sentences with a transition word the rewrite aims at.
const TARGET_TRANSITIONS: f64 = 0.4;

/// Transition words put at sentence starts, in turn (all on the published English lists).
const TRANSITIONS: &[&str] = &["Also", "In addition", "Furthermore", "Moreover", "In fact"];

/// Transition words and phrases recognised at a sentence's start (so one is not added twice).
const KNOWN_TRANSITIONS: &[&str] = &[
    "also",
    "in addition",
    "furthermore",
    "moreover",
    "in fact",
    "however",
    "therefore",
    "for example",
    "for instance",
    "first",
    "second",
    "finally",
    "in short",
    "as a result",
    "because",
    "besides",
    "similarly",
    "in conclusion",
    "overall",
    "then",
    "next",
    "meanwhile",
    "indeed",
    "likewise",
    "consequently",
    "after all",
    "above all",
    "of course",
    "in other words",
    "on the other hand",
    "to sum up",
];

/// Subheadings inserted into long sections, in turn.
const EXTRA_HEADINGS: &[&str] = &["Key Points", "What to Keep in Mind", "Practical Details", "More to Consider"];

/// Sentences appended to a short meta description, in turn, until it is long enough.
const META_FILLERS: &[&str] = &[
    "Learn what matters, what to compare and how to choose with confidence.",
    "Clear steps, honest tips and answers to common questions.",
    "Read on for the details.",
];

/// Where a sentence may be split, best first: the text before the separator keeps
/// the sentence's start, the text after it (less the separator) starts a new one.
const SPLIT_POINTS: &[&str] = &["; ", ", and ", ", but ", ", so ", ", or ", ", because ", " because ", ", ", " and "];

/// Rewrites the flagged parts of an article; the rest is returned as it was.
pub fn optimize(request: &OptimizeRequest) -> Result<OptimizeOut, AiError> {
    if request.html.trim().is_empty() {
        return Err(AiError::InvalidInput("the article has no body to optimize".into()));
    }
    let flagged = |id: &str| request.flagged.iter().any(|f| f == id);
    let keyphrase = text::clean_phrase(&request.focus_keyphrase);
    let mut doc = Doc::parse(&request.html);
    let mut title = request.title.trim().to_owned();
    let mut meta = request.meta_description.trim().to_owned();

    if !keyphrase.is_empty()
        && (flagged(check::KEYPHRASE_IN_SEO_TITLE)
            || flagged(check::KEYPHRASE_IN_SLUG)
            || flagged(check::SEO_TITLE_LENGTH))
    {
        let rewritten = seo_title(&title, &keyphrase);
        if rewritten != title {
            doc.retitle(&title, &rewritten);
            title = rewritten;
        }
    } else if flagged(check::SEO_TITLE_LENGTH) && title.chars().count() > MAX_TITLE_CHARS {
        let rewritten = fit_title(&title, MAX_TITLE_CHARS);
        doc.retitle(&title, &rewritten);
        title = rewritten;
    }
    if flagged(check::SEO_TITLE_LENGTH) && title.chars().count() < MIN_TITLE_CHARS && !title.is_empty() {
        let separator = if title.contains(": ") { " – " } else { ": " };
        let rewritten = fit_title(&format!("{title}{separator}{TITLE_SUFFIX}"), MAX_TITLE_CHARS);
        doc.retitle(&title, &rewritten);
        title = rewritten;
    }
    if flagged(check::META_DESCRIPTION_LENGTH) || flagged(check::KEYPHRASE_IN_META_DESCRIPTION) {
        meta = meta_description(&meta, &title, &keyphrase);
    }
    if flagged(check::PARAGRAPH_LENGTH) {
        doc.split_long_paragraphs();
    }
    if flagged(check::SUBHEADING_DISTRIBUTION) {
        doc.insert_subheadings();
    }
    if !keyphrase.is_empty() && flagged(check::KEYPHRASE_IN_SUBHEADINGS) {
        doc.keyphrase_in_subheadings(&keyphrase);
    }
    if !keyphrase.is_empty() && flagged(check::KEYPHRASE_IN_INTRODUCTION) {
        doc.keyphrase_in_introduction(&keyphrase);
    }
    if flagged(check::SENTENCE_LENGTH) || flagged(check::FLESCH_READING_EASE) {
        doc.split_long_sentences();
    }
    if !keyphrase.is_empty() && flagged(check::KEYPHRASE_DENSITY) {
        doc.balance_density(&keyphrase);
    }
    if flagged(check::TRANSITION_WORDS) {
        doc.add_transitions();
    }
    Ok(OptimizeOut { title, meta_description: meta, html: doc.render() })
}

/// One piece of the body: markup copied as it was, or an element holding plain text.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    /// Anything the optimizer does not rewrite, byte for byte.
    Raw(String),
    /// `<tag …>text</tag>` with no markup inside.
    Text(TextBlock),
}

/// An element whose content is plain text.
#[derive(Debug, Clone, PartialEq)]
struct TextBlock {
    /// Lower-case tag name (`p`, `h2`, `li` …).
    tag: String,
    /// The opening tag as written (attributes kept).
    open: String,
    /// The decoded text.
    text: String,
    /// The element as written, rendered when the text was not changed.
    original: Option<String>,
}

impl TextBlock {
    /// A new element the optimizer adds.
    fn new(tag: &str, text: String) -> Self {
        Self { tag: tag.to_owned(), open: format!("<{tag}>"), text, original: None }
    }

    fn is_heading(&self) -> bool {
        matches!(self.tag.as_str(), "h2" | "h3" | "h4" | "h5" | "h6")
    }

    fn set(&mut self, text: String) {
        if text != self.text {
            self.text = text;
            self.original = None;
        }
    }

    fn render(&self, out: &mut String) {
        match &self.original {
            Some(original) => out.push_str(original),
            None => {
                out.push_str(&self.open);
                out.push_str(&text::escape_html(&self.text));
                out.push_str("</");
                out.push_str(&self.tag);
                out.push('>');
            }
        }
    }
}

/// Elements whose plain-text content may be rewritten.
const TEXT_TAGS: &[&str] = &["h1", "h2", "h3", "h4", "h5", "h6", "p", "li"];

/// The body as pieces.
#[derive(Debug, Clone, PartialEq)]
struct Doc {
    pieces: Vec<Piece>,
}

/// The lower-case name of the opening tag at the start of `s` (`<p class="x">` → `p`),
/// None for closing tags, comments and declarations.
fn opening_tag_name(s: &str) -> Option<String> {
    let rest = s.strip_prefix('<')?;
    let name: String = rest.chars().take_while(char::is_ascii_alphanumeric).collect();
    let after = rest[name.len()..].chars().next()?;
    (!name.is_empty() && (after == '>' || after.is_whitespace())).then(|| name.to_ascii_lowercase())
}

impl Doc {
    /// Splits `html` into plain-text elements and everything else.
    fn parse(html: &str) -> Self {
        let mut pieces = Vec::new();
        let mut raw_start = 0;
        let mut at = 0;
        while let Some(offset) = html[at..].find('<') {
            let start = at + offset;
            at = start + 1;
            let Some(tag) = opening_tag_name(&html[start..]).filter(|t| TEXT_TAGS.contains(&t.as_str())) else {
                continue;
            };
            let Some(open_len) = html[start..].find('>').map(|i| i + 1) else { break };
            let open = &html[start..start + open_len];
            if open.ends_with("/>") {
                continue;
            }
            let content_start = start + open_len;
            let Some(content_len) = html[content_start..].find('<') else { break };
            let close = format!("</{tag}>");
            let close_start = content_start + content_len;
            let closes =
                html.get(close_start..close_start + close.len()).is_some_and(|c| c.eq_ignore_ascii_case(&close));
            if !closes {
                continue;
            }
            let end = close_start + close.len();
            if raw_start < start {
                pieces.push(Piece::Raw(html[raw_start..start].to_owned()));
            }
            pieces.push(Piece::Text(TextBlock {
                tag,
                open: open.to_owned(),
                text: text::unescape_html(&html[content_start..close_start]),
                original: Some(html[start..end].to_owned()),
            }));
            raw_start = end;
            at = end;
        }
        if raw_start < html.len() {
            pieces.push(Piece::Raw(html[raw_start..].to_owned()));
        }
        Self { pieces }
    }

    fn render(&self) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Raw(raw) => out.push_str(raw),
                Piece::Text(block) => block.render(&mut out),
            }
        }
        out
    }

    fn blocks_mut(&mut self) -> impl Iterator<Item = &mut TextBlock> {
        self.pieces.iter_mut().filter_map(|p| match p {
            Piece::Text(b) => Some(b),
            Piece::Raw(_) => None,
        })
    }

    fn blocks(&self) -> impl Iterator<Item = &TextBlock> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Text(b) => Some(b),
            Piece::Raw(_) => None,
        })
    }

    /// The `<h1>` follows a new title when it held the old one.
    fn retitle(&mut self, old: &str, new: &str) {
        if let Some(h1) = self.blocks_mut().find(|b| b.tag == "h1") {
            if h1.text.trim() == old.trim() {
                h1.set(new.to_owned());
            }
        }
    }

    /// Splits every plain paragraph of more than [`LONG_PARAGRAPH_WORDS`] words at the
    /// sentence boundary nearest its middle, until none is that long.
    fn split_long_paragraphs(&mut self) {
        let mut i = 0;
        while i < self.pieces.len() {
            let split = match &self.pieces[i] {
                Piece::Text(b) if b.tag == "p" && words(&b.text) > LONG_PARAGRAPH_WORDS => halves(&b.text),
                _ => None,
            };
            match split {
                Some((first, second)) => {
                    if let Piece::Text(b) = &mut self.pieces[i] {
                        b.set(first);
                    }
                    self.pieces.insert(i + 1, Piece::Raw("\n".into()));
                    self.pieces.insert(i + 2, Piece::Text(TextBlock::new("p", second)));
                }
                None => i += 1,
            }
        }
    }

    /// Inserts a subheading before a paragraph when the section it is in has run past
    /// [`SECTION_WORDS`] words and enough of it remains to make a section of its own.
    fn insert_subheadings(&mut self) {
        let mut since_heading = 0usize;
        let mut next_heading = 0usize;
        let mut i = 0;
        while i < self.pieces.len() {
            let (is_heading, paragraph_words) = match &self.pieces[i] {
                Piece::Text(b) if b.tag == "h1" || b.is_heading() => (true, 0),
                Piece::Text(b) => (false, if b.tag == "p" { words(&b.text) } else { 0 }),
                Piece::Raw(raw) => (false, words(&text::html_text(raw))),
            };
            if is_heading {
                since_heading = 0;
                i += 1;
                continue;
            }
            let starts_paragraph = matches!(&self.pieces[i], Piece::Text(b) if b.tag == "p");
            let remaining = self.words_until_heading(i);
            if starts_paragraph
                && since_heading > 0
                && since_heading + paragraph_words > SECTION_WORDS
                && remaining >= 50
            {
                let heading = EXTRA_HEADINGS[next_heading % EXTRA_HEADINGS.len()];
                next_heading += 1;
                self.pieces.insert(i, Piece::Text(TextBlock::new("h2", heading.to_owned())));
                self.pieces.insert(i + 1, Piece::Raw("\n".into()));
                since_heading = 0;
                i += 2;
                continue;
            }
            since_heading += paragraph_words;
            i += 1;
        }
    }

    /// Words from piece `from` to the next heading.
    fn words_until_heading(&self, from: usize) -> usize {
        let mut n = 0;
        for piece in &self.pieces[from..] {
            match piece {
                Piece::Text(b) if b.tag == "h1" || b.is_heading() => break,
                Piece::Text(b) => n += words(&b.text),
                Piece::Raw(raw) => n += words(&text::html_text(raw)),
            }
        }
        n
    }

    /// Adds the keyphrase to subheadings without it until about half carry it; when
    /// more than 75 % carry it already, dilutes them with general subheadings instead.
    fn keyphrase_in_subheadings(&mut self, keyphrase: &str) {
        let headings: Vec<bool> =
            self.blocks().filter(|b| b.is_heading()).map(|b| reflects(&b.text, keyphrase)).collect();
        let n = headings.len();
        let have = headings.iter().filter(|h| **h).count();
        if have * 4 > n * 3 {
            self.dilute_subheadings(have, n);
            return;
        }
        let most = n * 3 / 4;
        let goal = n.div_ceil(2).max((n * 3).div_ceil(10)).min(most);
        if have >= goal {
            return;
        }
        let mut missing = goal - have;
        let label = text::title_case(keyphrase);
        for block in self.blocks_mut().filter(|b| b.is_heading()) {
            if missing == 0 {
                break;
            }
            if !contains_phrase(&block.text, keyphrase) {
                block.set(format!("{label}: {}", block.text.trim()));
                missing -= 1;
            }
        }
    }

    /// Inserts general subheadings (no keyphrase) into the longest sections, at the
    /// paragraph nearest each one's middle, until at most 75 % of the `n` subheadings
    /// (`with` of them reflecting the keyphrase) do.
    fn dilute_subheadings(&mut self, with: usize, mut n: usize) {
        let mut next_heading = 0usize;
        while with * 4 > n * 3 {
            let Some(at) = self.longest_section_middle() else { return };
            let heading = EXTRA_HEADINGS[next_heading % EXTRA_HEADINGS.len()];
            next_heading += 1;
            self.pieces.insert(at, Piece::Text(TextBlock::new("h2", heading.to_owned())));
            self.pieces.insert(at + 1, Piece::Raw("\n".into()));
            n += 1;
        }
    }

    /// The piece index of the paragraph nearest the middle of the longest section that
    /// has at least two paragraphs under a subheading (not the first paragraph).
    fn longest_section_middle(&self) -> Option<usize> {
        let mut best: Option<(usize, usize)> = None;
        let mut section: Vec<(usize, usize)> = Vec::new();
        let mut in_section = false;
        let consider = |section: &mut Vec<(usize, usize)>, best: &mut Option<(usize, usize)>| {
            if section.len() >= 2 {
                let total: usize = section.iter().map(|(_, w)| w).sum();
                let mut acc = 0;
                let mut split = section[1].0;
                for (i, (piece, words)) in section.iter().enumerate().skip(1) {
                    acc += section[i - 1].1;
                    split = *piece;
                    if acc + words / 2 >= total / 2 {
                        break;
                    }
                }
                if best.is_none_or(|(w, _)| total > w) {
                    *best = Some((total, split));
                }
            }
            section.clear();
        };
        for (i, piece) in self.pieces.iter().enumerate() {
            match piece {
                Piece::Text(b) if b.tag == "h1" || b.is_heading() => {
                    consider(&mut section, &mut best);
                    in_section = b.is_heading();
                }
                Piece::Text(b) if b.tag == "p" && in_section => section.push((i, words(&b.text))),
                _ => {}
            }
        }
        consider(&mut section, &mut best);
        best.map(|(_, at)| at)
    }

    /// Opens the introduction (the first plain paragraph) with a short sentence naming
    /// the keyphrase, unless its first sentence already does.
    fn keyphrase_in_introduction(&mut self, keyphrase: &str) {
        let Some(intro) = self.blocks_mut().find(|b| b.tag == "p") else { return };
        let sentences = sentences(&intro.text);
        if sentences.first().is_some_and(|s| contains_phrase(s, keyphrase)) {
            return;
        }
        let text = format!("This guide is about {keyphrase}. {}", intro.text.trim());
        intro.set(text);
    }

    /// Splits every sentence of more than [`LONG_SENTENCE_WORDS`] words in plain
    /// paragraphs and list items at its best split point.
    fn split_long_sentences(&mut self) {
        for block in self.blocks_mut().filter(|b| b.tag == "p" || b.tag == "li") {
            let mut changed = false;
            let mut out = Vec::new();
            for sentence in sentences(&block.text) {
                let mut pending = vec![sentence];
                while let Some(s) = pending.pop() {
                    match (words(&s) > LONG_SENTENCE_WORDS).then(|| split_sentence(&s)).flatten() {
                        Some((a, b)) => {
                            changed = true;
                            pending.push(b);
                            pending.push(a);
                        }
                        None => out.push(s),
                    }
                }
            }
            if changed {
                block.set(out.join(" "));
            }
        }
    }

    /// Brings the keyphrase's density into range: below 0.5 % short sentences without
    /// it start "For {keyphrase}, …" until it reaches [`TARGET_DENSITY`]; above 3 %
    /// occurrences after the introduction become "this topic".
    fn balance_density(&mut self, keyphrase: &str) {
        let total_words: usize = self.blocks().map(|b| words(&b.text)).sum::<usize>()
            + self
                .pieces
                .iter()
                .map(|p| match p {
                    Piece::Raw(raw) => words(&text::html_text(raw)),
                    Piece::Text(_) => 0,
                })
                .sum::<usize>();
        if total_words == 0 {
            return;
        }
        let occurrences: usize = self.blocks().map(|b| count_phrase(&b.text, keyphrase)).sum();
        let density = |n: usize| n as f64 * 100.0 / total_words as f64;
        if density(occurrences) < TARGET_DENSITY {
            let needed = (TARGET_DENSITY * total_words as f64 / 100.0).ceil() as usize - occurrences;
            self.add_keyphrase(keyphrase, needed);
        } else if density(occurrences) > MAX_DENSITY {
            let keep = (REDUCED_DENSITY * total_words as f64 / 100.0).floor() as usize;
            self.replace_keyphrase(keyphrase, occurrences.saturating_sub(keep));
        }
    }

    /// Starts up to `needed` sentences (one per paragraph, after the introduction,
    /// spread over the article) with "For {keyphrase}, ", where they stay short.
    fn add_keyphrase(&mut self, keyphrase: &str, needed: usize) {
        let added_words = words(keyphrase) + 1;
        let mut left = needed;
        let mut round = 0;
        while left > 0 && round < 4 {
            let mut progressed = false;
            for block in self.blocks_mut().filter(|b| b.tag == "p").skip(1) {
                if left == 0 {
                    break;
                }
                let mut parts = sentences(&block.text);
                let candidate = parts.iter().position(|s| {
                    !contains_phrase(s, keyphrase)
                        && !starts_with_transition(s)
                        && words(s) + added_words <= LONG_SENTENCE_WORDS
                        && !s.starts_with("For ")
                });
                let Some(i) = candidate.filter(|i| i % 4 == round % 4 || round >= 2) else { continue };
                parts[i] = format!("For {keyphrase}, {}", lower_first(&parts[i]));
                block.set(parts.join(" "));
                left -= 1;
                progressed = true;
            }
            if !progressed {
                round += 1;
            }
        }
    }

    /// Replaces up to `excess` occurrences — each with the noun phrase around it (see
    /// [`phrase_span`]) — last first, outside headings and the introduction, with
    /// "this topic".
    fn replace_keyphrase(&mut self, keyphrase: &str, excess: usize) {
        let mut left = excess;
        let (modifiers, tails) = self.phrase_parts(keyphrase);
        let blocks: Vec<&mut TextBlock> = self.blocks_mut().filter(|b| b.tag == "p" || b.tag == "li").skip(1).collect();
        for block in blocks.into_iter().rev() {
            while left > 0 {
                let Some((start, end)) = find_phrase(&block.text, keyphrase)
                    .into_iter()
                    .rev()
                    .find_map(|at| phrase_span(&block.text, at, keyphrase.len(), &modifiers, &tails))
                else {
                    break;
                };
                let mut text = block.text.clone();
                text.replace_range(start..end, "this topic");
                block.set(text);
                left -= 1;
            }
            if left == 0 {
                break;
            }
        }
    }

    /// What the title and headings put around the keyphrase, lower-cased: the words
    /// right before it ("best", "trail", "wall mounted"), the modifiers of its longer
    /// phrases, and the rest of the heading after it (" for flat feet"), their tails.
    fn phrase_parts(&self, keyphrase: &str) -> (Vec<String>, Vec<String>) {
        let (mut modifiers, mut tails): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
        for block in self.blocks().filter(|b| b.tag == "h1" || b.is_heading()) {
            for at in find_phrase(&block.text, keyphrase) {
                for word in block.text[..at].split_whitespace().rev().take(MAX_PHRASE_EXTENSION) {
                    let lower = word.to_lowercase();
                    if lower.ends_with(|c: char| !c.is_alphanumeric()) || text::is_stop_word(&lower) {
                        break;
                    }
                    if !modifiers.contains(&lower) {
                        modifiers.push(lower);
                    }
                }
                let after = &block.text[at + keyphrase.len()..];
                let tail = after.split([':', ',', '?', '!', '.', '(']).next().unwrap_or("").trim_end().to_lowercase();
                if tail.starts_with(' ')
                    && tail.split_whitespace().count() <= MAX_PHRASE_EXTENSION + 1
                    && !tails.contains(&tail)
                {
                    tails.push(tail);
                }
            }
        }
        (modifiers, tails)
    }

    /// Adds transition words to the starts of sentences that have none (never a
    /// paragraph's first), evenly spread, until [`TARGET_TRANSITIONS`] of the sentences
    /// have one; a sentence that would grow past [`LONG_SENTENCE_WORDS`] words is skipped.
    fn add_transitions(&mut self) {
        let all: Vec<String> =
            self.blocks().filter(|b| b.tag == "p" || b.tag == "li").flat_map(|b| sentences(&b.text)).collect();
        let with = all.iter().filter(|s| starts_with_transition(s) || has_transition(s)).count();
        let goal = (all.len() as f64 * TARGET_TRANSITIONS).ceil() as usize;
        if with >= goal {
            return;
        }
        let mut missing = goal - with;
        let mut next = 0usize;
        // Every other sentence first, then any that still qualify.
        for pass in 0..2 {
            for block in self.blocks_mut().filter(|b| b.tag == "p") {
                if missing == 0 {
                    return;
                }
                let mut parts = sentences(&block.text);
                let mut changed = false;
                for (i, s) in parts.iter_mut().enumerate() {
                    // A paragraph's first sentence opens a thought: no transition there.
                    if missing == 0 || i == 0 || (pass == 0 && i % 2 == 0) {
                        continue;
                    }
                    if starts_with_transition(s) || has_transition(s) || words(s) + 2 > LONG_SENTENCE_WORDS {
                        continue;
                    }
                    let word = TRANSITIONS[next % TRANSITIONS.len()];
                    next += 1;
                    *s = format!("{word}, {}", lower_first(s));
                    missing -= 1;
                    changed = true;
                }
                if changed {
                    block.set(parts.join(" "));
                }
            }
        }
    }
}

/// Words of plain text.
fn words(s: &str) -> usize {
    text::count_words(s) as usize
}

/// The sentences of plain text, each with its closing punctuation.
fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        current.push(c);
        let ends = matches!(c, '.' | '!' | '?')
            && chars.get(i + 1).is_none_or(|n| n.is_whitespace())
            && chars.get(i + 2).is_none_or(|n| n.is_uppercase() || n.is_ascii_digit() || *n == '"');
        if ends {
            let s = current.trim().to_owned();
            if !s.is_empty() {
                out.push(s);
            }
            current.clear();
        }
    }
    let rest = current.trim();
    if !rest.is_empty() {
        out.push(rest.to_owned());
    }
    out
}

/// Splits a paragraph's text in two at the sentence boundary nearest its middle.
fn halves(text: &str) -> Option<(String, String)> {
    let parts = sentences(text);
    if parts.len() < 2 {
        return None;
    }
    let total = words(text);
    let mut acc = 0;
    let mut best = (usize::MAX, 1);
    for i in 1..parts.len() {
        acc += words(&parts[i - 1]);
        let distance = acc.abs_diff(total / 2);
        if distance < best.0 {
            best = (distance, i);
        }
    }
    let (a, b) = parts.split_at(best.1);
    Some((a.join(" "), b.join(" ")))
}

/// Splits one sentence in two at the split point nearest its middle that leaves at
/// least five words on each side: "A, and B." → ("A.", "B.").
fn split_sentence(sentence: &str) -> Option<(String, String)> {
    let total = words(sentence);
    for separator in SPLIT_POINTS {
        let mut best: Option<(usize, usize)> = None;
        for (at, _) in sentence.match_indices(separator) {
            let (left, right) = (words(&sentence[..at]), words(&sentence[at + separator.len()..]));
            if left < 5 || right < 5 {
                continue;
            }
            let distance = left.abs_diff(total / 2);
            if best.is_none_or(|(d, _)| distance < d) {
                best = Some((distance, at));
            }
        }
        if let Some((_, at)) = best {
            let first = sentence[..at].trim_end_matches([',', ';', ' ']);
            let second = sentence[at + separator.len()..].trim();
            let conjunction = separator.trim_matches([',', ';', ' ']);
            // "but", "so" and "or" keep the second sentence's meaning; "and" reads on without it.
            let second = match conjunction {
                "but" | "so" | "or" | "because" => format!("{} {second}", capitalize(conjunction)),
                _ => capitalize(second),
            };
            return Some((format!("{first}."), second));
        }
    }
    None
}

/// True when the sentence opens with a known transition word or phrase.
fn starts_with_transition(sentence: &str) -> bool {
    let lower = sentence.to_lowercase();
    KNOWN_TRANSITIONS
        .iter()
        .any(|t| lower.starts_with(t) && lower[t.len()..].chars().next().is_none_or(|c| !c.is_alphanumeric()))
}

/// True when a known transition word appears anywhere in the sentence.
fn has_transition(sentence: &str) -> bool {
    let lower = format!(" {} ", text::clean_phrase(sentence));
    KNOWN_TRANSITIONS.iter().any(|t| lower.contains(&format!(" {t} ")))
}

/// Byte offsets of the keyphrase in `text`, case-insensitive and on word boundaries.
fn find_phrase(text: &str, phrase: &str) -> Vec<usize> {
    if phrase.is_empty() {
        return Vec::new();
    }
    // ASCII lower-casing keeps byte offsets; other letters compare as written.
    let hay = text.to_ascii_lowercase();
    let needle = phrase.to_ascii_lowercase();
    let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
    hay.match_indices(&needle)
        .map(|(at, _)| at)
        .filter(|&at| boundary(hay[..at].chars().next_back()) && boundary(hay[at + needle.len()..].chars().next()))
        .collect()
}

/// Longest run of other words a replaced noun phrase takes on either side.
const MAX_PHRASE_EXTENSION: usize = 3;

/// The byte span of the noun phrase around the occurrence of `len` bytes at `at`: the
/// occurrence with up to three of the `modifiers` the headings put before the
/// keyphrase ("best running shoes") and the longest of the `tails` they put after it
/// (" for flat feet"), when a function word precedes it ("about …", "to …"); None
/// when the phrase cannot be told apart (a sentence's subject, a verb before it).
fn phrase_span(text: &str, at: usize, len: usize, modifiers: &[String], tails: &[String]) -> Option<(usize, usize)> {
    let word_start = |end: usize| text[..end].trim_end().rfind(char::is_whitespace).map_or(0, |i| i + 1);
    let mut start = at;
    let mut taken = 0;
    loop {
        if start == 0 || !text[..start].ends_with(' ') {
            return None;
        }
        let prev_start = word_start(start);
        let prev = text[prev_start..start].trim();
        if prev.ends_with(|c: char| !c.is_alphanumeric()) {
            return None;
        }
        let lower = prev.to_lowercase();
        if text::is_stop_word(&lower) {
            break;
        }
        if !modifiers.contains(&lower) {
            return None;
        }
        taken += 1;
        if taken > MAX_PHRASE_EXTENSION {
            return None;
        }
        start = prev_start;
    }
    let mut end = at + len;
    let rest = text[end..].to_lowercase();
    if let Some(tail) = tails.iter().filter(|t| rest.starts_with(t.as_str())).max_by_key(|t| t.len()) {
        end += tail.len();
    }
    Some((start, end))
}

/// True when `text` reflects the keyphrase the way analyzers match subheadings: every
/// word of the keyphrase (a plural's `s` aside) starts some word of the text.
fn reflects(text: &str, phrase: &str) -> bool {
    let words = text::tokenize(text);
    let wanted = text::tokenize(phrase);
    !wanted.is_empty()
        && wanted.iter().all(|w| {
            let stem = w.strip_suffix('s').filter(|s| s.len() >= 3).unwrap_or(w);
            words.iter().any(|t| t.starts_with(stem))
        })
}

fn contains_phrase(text: &str, phrase: &str) -> bool {
    !find_phrase(text, phrase).is_empty()
}

fn count_phrase(text: &str, phrase: &str) -> usize {
    find_phrase(text, phrase).len()
}

/// Upper-cases the first letter.
fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(f) => f.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Lower-cases the first letter unless the first word looks like a name or acronym
/// (a capital after its first letter, or "I").
fn lower_first(s: &str) -> String {
    let first_word = s.split_whitespace().next().unwrap_or("");
    if first_word == "I" || first_word.chars().skip(1).any(char::is_uppercase) {
        return s.to_owned();
    }
    let mut chars = s.chars();
    match chars.next() {
        Some(f) => f.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The longest prefix of whole words of `s` within `max` characters, without
/// trailing separators.
fn fit_words(s: &str, max: usize) -> String {
    let mut out = String::new();
    for word in s.split_whitespace() {
        let extra = if out.is_empty() { 0 } else { 1 };
        if out.chars().count() + extra + word.chars().count() > max {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out.trim_end_matches([':', ',', ';', '-', '–', '—', '|', ' ']).to_owned()
}

/// Words a cut title must not end on.
const DANGLING: &[&str] =
    &["a", "an", "and", "as", "at", "by", "for", "in", "of", "on", "or", "the", "to", "vs", "with"];

/// A title within `max` characters: the longest run of its `:`-separated parts that
/// fits and keeps at least [`MIN_TITLE_CHARS`], else its words cut without a dangling
/// small word at the end.
fn fit_title(title: &str, max: usize) -> String {
    if title.chars().count() <= max {
        return title.to_owned();
    }
    let parts: Vec<&str> = title.split(": ").collect();
    for n in (1..parts.len()).rev() {
        let joined = parts[..n].join(": ");
        let length = joined.chars().count();
        if length <= max && length >= MIN_TITLE_CHARS.min(max) {
            return joined;
        }
    }
    let cut = fit_words(title, max);
    let mut out: Vec<&str> = cut.split_whitespace().collect();
    while out.len() > 1 && out.last().is_some_and(|w| DANGLING.contains(&w.to_lowercase().as_str())) {
        out.pop();
    }
    out.join(" ").trim_end_matches([':', ',', ';', '-', '–', '—', '|']).to_owned()
}

/// An SEO title that starts with the title-cased keyphrase and fits
/// [`MAX_TITLE_CHARS`]: the title as it is when it already does, else
/// "{Keyphrase}: {title}" cut at a word.
fn seo_title(title: &str, keyphrase: &str) -> String {
    let starts = find_phrase(title, keyphrase).first() == Some(&0);
    if starts && title.chars().count() <= MAX_TITLE_CHARS {
        return title.to_owned();
    }
    if starts {
        return fit_title(title, MAX_TITLE_CHARS);
    }
    let label = text::title_case(keyphrase);
    if title.is_empty() {
        return fit_title(&label, MAX_TITLE_CHARS);
    }
    let joined = fit_title(&format!("{label}: {title}"), MAX_TITLE_CHARS);
    if joined.chars().count() <= label.chars().count() {
        fit_title(&label, MAX_TITLE_CHARS)
    } else {
        joined
    }
}

/// A meta description of [`MIN_META_CHARS`]–[`MAX_META_CHARS`] characters that names
/// the keyphrase near its start: the current one (or the title) led by the keyphrase
/// when it lacks it, padded with general sentences, cut at a word.
fn meta_description(meta: &str, title: &str, keyphrase: &str) -> String {
    let base = if meta.trim().is_empty() { title.trim() } else { meta.trim() };
    let mut base = base.trim_end_matches(['.', ' ']).to_owned();
    if !base.ends_with(['?', '!']) {
        base.push('.');
    }
    let mut out = match find_phrase(&base, keyphrase).first() {
        _ if keyphrase.is_empty() => base,
        Some(&at) if at < 80 => base,
        _ => format!("A practical guide to {keyphrase}. {base}"),
    };
    let mut filler = 0;
    while out.chars().count() < MIN_META_CHARS {
        out.push(' ');
        out.push_str(META_FILLERS[filler % META_FILLERS.len()]);
        filler += 1;
    }
    if out.chars().count() <= MAX_META_CHARS {
        return out;
    }
    let mut cut = fit_words(&out, MAX_META_CHARS - 1).trim_end_matches(['.', '!', '?']).to_owned();
    cut.push('.');
    // A very long last word can cut it short: top it up with short words.
    let pad = ["Read", "on."];
    let mut i = 0;
    while cut.chars().count() < MIN_META_CHARS && i < 40 {
        let word = pad[i % pad.len()];
        if cut.chars().count() + 1 + word.len() > MAX_META_CHARS {
            break;
        }
        cut.push(' ');
        cut.push_str(word);
        i += 1;
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offline::article::generate_article;
    use crate::IdeaOut;

    fn request(title: &str, meta: &str, html: &str, flagged: &[&str]) -> OptimizeRequest {
        OptimizeRequest {
            title: title.into(),
            meta_description: meta.into(),
            html: html.into(),
            focus_keyphrase: "running shoes".into(),
            language: "en".into(),
            flagged: flagged.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn all_checks() -> Vec<&'static str> {
        vec![
            check::KEYPHRASE_IN_SEO_TITLE,
            check::SEO_TITLE_LENGTH,
            check::KEYPHRASE_IN_SLUG,
            check::META_DESCRIPTION_LENGTH,
            check::KEYPHRASE_IN_META_DESCRIPTION,
            check::KEYPHRASE_IN_INTRODUCTION,
            check::KEYPHRASE_IN_SUBHEADINGS,
            check::KEYPHRASE_DENSITY,
            check::SENTENCE_LENGTH,
            check::FLESCH_READING_EASE,
            check::PARAGRAPH_LENGTH,
            check::SUBHEADING_DISTRIBUTION,
            check::TRANSITION_WORDS,
        ]
    }

    /// Every opened tag is closed in order.
    fn assert_well_formed(html: &str) {
        let mut stack: Vec<String> = Vec::new();
        let mut rest = html;
        while let Some(start) = rest.find('<') {
            let end = rest[start..].find('>').unwrap() + start;
            let tag = &rest[start + 1..end];
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}> in {html}");
            } else if !tag.ends_with('/') && !tag.starts_with("img") {
                stack.push(tag.split_whitespace().next().unwrap().to_string());
            }
            rest = &rest[end + 1..];
        }
        assert!(stack.is_empty(), "unclosed tags: {stack:?}");
    }

    #[test]
    fn nothing_flagged_changes_nothing() {
        let html = "<h1>Shoes</h1>\n<p>Some text here.</p>\n";
        let out = optimize(&request("Shoes", "meta", html, &[])).unwrap();
        assert_eq!((out.title.as_str(), out.meta_description.as_str(), out.html.as_str()), ("Shoes", "meta", html));
    }

    #[test]
    fn the_title_starts_with_the_keyphrase_and_the_h1_follows() {
        let html = "<h1>Best Picks of the Year</h1>\n<p>Text.</p>\n";
        let out = optimize(&request("Best Picks of the Year", "m", html, &[check::KEYPHRASE_IN_SEO_TITLE])).unwrap();
        assert_eq!(out.title, "Running Shoes: Best Picks of the Year");
        assert!(out.html.starts_with("<h1>Running Shoes: Best Picks of the Year</h1>"), "{}", out.html);
        assert_eq!(out.meta_description, "m", "the meta description was not flagged");
        let long = "A Very Long Title About Many Things That Goes On and On Past the Limit";
        let out = optimize(&request(long, "m", "<p>x</p>", &[check::KEYPHRASE_IN_SEO_TITLE])).unwrap();
        assert!(out.title.starts_with("Running Shoes: A Very"), "{}", out.title);
        assert!(out.title.chars().count() <= MAX_TITLE_CHARS);
        let kept = optimize(&request("Running shoes for everyone", "m", "<p>x</p>", &[check::KEYPHRASE_IN_SEO_TITLE]));
        assert_eq!(kept.unwrap().title, "Running shoes for everyone");
    }

    #[test]
    fn a_short_title_flagged_for_its_length_is_lengthened() {
        let out = optimize(&request("Shoes", "m", "<h1>Shoes</h1><p>x</p>", &[check::SEO_TITLE_LENGTH])).unwrap();
        assert_eq!(out.title, "Running Shoes: Shoes – A Practical Guide");
        assert!(out.html.starts_with("<h1>Running Shoes: Shoes – A Practical Guide</h1>"));
        let meta = optimize(&request("T", "Which is right for you?", "<p>x</p>", &[check::META_DESCRIPTION_LENGTH]));
        assert!(meta
            .unwrap()
            .meta_description
            .starts_with("A practical guide to running shoes. Which is right for you? "));
    }

    #[test]
    fn long_titles_are_cut_at_a_part_or_without_a_dangling_word() {
        assert_eq!(
            fit_title("Running Shoes vs Trail Running Shoes: Which Is Right for You Today?", 60),
            "Running Shoes vs Trail Running Shoes: Which Is Right for You"
        );
        assert_eq!(
            fit_title("Running Shoes Compared in Depth: Which Is Right for You Today?", 60),
            "Running Shoes Compared in Depth: Which Is Right for You"
        );
        assert_eq!(
            fit_title("A Much Longer Guide to Running Shoes and Socks: Which One Is Right for You?", 60),
            "A Much Longer Guide to Running Shoes and Socks"
        );
        assert_eq!(
            fit_title("Running Shoes and the Many Ways to Pick the Right Pair for the Long Run", 60),
            "Running Shoes and the Many Ways to Pick the Right Pair"
        );
        assert_eq!(fit_title("Short", 60), "Short");
    }

    #[test]
    fn a_replaced_occurrence_takes_its_noun_phrase_with_it() {
        let text = "Look at best running shoes and running shoes for flat feet, or read about running shoes.";
        let spans: Vec<&str> = find_phrase(text, "running shoes")
            .into_iter()
            .filter_map(|at| {
                phrase_span(text, at, "running shoes".len(), &["best".to_owned()], &[" for flat feet".to_owned()])
            })
            .map(|(start, end)| &text[start..end])
            .collect();
        assert_eq!(spans, vec!["best running shoes", "running shoes for flat feet", "running shoes"]);
        assert_eq!(phrase_span("Running shoes wear out.", 0, 13, &[], &[]), None, "a sentence's subject is left alone");
        assert_eq!(phrase_span("to treat running shoes well", 9, 13, &[], &[]), None, "a verb is not a modifier");
    }

    #[test]
    fn the_meta_description_is_120_to_156_characters_with_the_keyphrase() {
        for meta in ["", "Short.", &"word ".repeat(60), "All about running shoes and how to choose them."] {
            let out = optimize(&request(
                "Guide",
                meta,
                "<p>x</p>",
                &[check::META_DESCRIPTION_LENGTH, check::KEYPHRASE_IN_META_DESCRIPTION],
            ))
            .unwrap();
            let n = out.meta_description.chars().count();
            assert!((MIN_META_CHARS..=MAX_META_CHARS).contains(&n), "{n}: {}", out.meta_description);
            assert!(contains_phrase(&out.meta_description, "running shoes"), "{}", out.meta_description);
        }
    }

    #[test]
    fn long_sentences_split_at_a_conjunction() {
        let long = "The first part of this sentence talks about comfort and fit in great detail, \
                    and the second part of it goes on about grip and price for a long while.";
        let html = format!("<p>{long}</p>");
        let out = optimize(&request("T", "m", &html, &[check::SENTENCE_LENGTH])).unwrap();
        assert_eq!(
            out.html,
            "<p>The first part of this sentence talks about comfort and fit in great detail. \
             The second part of it goes on about grip and price for a long while.</p>"
        );
        for s in sentences(&text::html_text(&out.html)) {
            assert!(words(&s) <= LONG_SENTENCE_WORDS, "{s}");
        }
    }

    #[test]
    fn markup_inside_an_element_is_never_touched() {
        let html = "<h1>T</h1><p>Read <a href=\"/x\">this guide</a> first, and then come back here to read the \
                    whole of the rest of this very long sentence again.</p><ul>\n<li>One point</li>\n</ul>";
        let out = optimize(&request("T", "m", html, &all_checks())).unwrap();
        assert!(out.html.contains("<p>Read <a href=\"/x\">this guide</a> first, and then"), "{}", out.html);
        assert_well_formed(&out.html);
    }

    #[test]
    fn entities_survive_a_rewrite() {
        let html = "<p>Salt &amp; pepper matter. Fit &lt;and&gt; grip matter too.</p>";
        let out = optimize(&request("T", "m", html, &[check::KEYPHRASE_IN_INTRODUCTION])).unwrap();
        assert_eq!(
            out.html,
            "<p>This guide is about running shoes. Salt &amp; pepper matter. Fit &lt;and&gt; grip matter too.</p>"
        );
    }

    #[test]
    fn the_keyphrase_reaches_the_subheadings_and_density_range() {
        let mut html = String::from("<h1>Guide</h1>\n<p>Intro sentence here.</p>\n");
        for h in ["Fit", "Grip", "Price", "Care"] {
            html.push_str(&format!("<h2>{h}</h2>\n<p>"));
            for _ in 0..6 {
                html.push_str("Good shoes last long when you look after them well. ");
            }
            html.push_str("</p>\n");
        }
        let out = optimize(&request(
            "Guide",
            "m",
            &html,
            &[check::KEYPHRASE_IN_SUBHEADINGS, check::KEYPHRASE_DENSITY, check::KEYPHRASE_IN_INTRODUCTION],
        ))
        .unwrap();
        let doc = Doc::parse(&out.html);
        let headings: Vec<&TextBlock> = doc.blocks().filter(|b| b.is_heading()).collect();
        let with = headings.iter().filter(|b| contains_phrase(&b.text, "running shoes")).count();
        assert_eq!((with, headings.len()), (2, 4), "{}", out.html);
        let visible = text::html_text(&out.html);
        let density = count_phrase(&visible, "running shoes") as f64 * 100.0 / words(&visible) as f64;
        assert!((0.5..=3.0).contains(&density), "density {density}: {}", out.html);
        assert_well_formed(&out.html);
    }

    #[test]
    fn too_many_keyphrase_subheadings_are_diluted() {
        let section = "<p>Shoes wear out over time and need care every week.</p>\n".repeat(4);
        let mut html = String::from("<h1>Guide</h1>\n<p>Intro.</p>\n");
        for h in
            ["Best Running Shoes", "Trail Running Shoes", "Running Shoe Care", "Kids' Running Shoes", "Our Verdict"]
        {
            html.push_str(&format!("<h2>{h}</h2>\n{section}"));
        }
        let out = optimize(&request("Guide", "m", &html, &[check::KEYPHRASE_IN_SUBHEADINGS])).unwrap();
        let doc = Doc::parse(&out.html);
        let headings: Vec<&TextBlock> = doc.blocks().filter(|b| b.is_heading()).collect();
        let with = headings.iter().filter(|b| reflects(&b.text, "running shoes")).count();
        assert_eq!(with, 4);
        assert!(with * 4 <= headings.len() * 3, "{}", out.html);
        assert_eq!(headings.len(), 6, "one general subheading is enough: {}", out.html);
        assert_well_formed(&out.html);
    }

    #[test]
    fn transitions_reach_forty_percent() {
        let html = format!("<p>{}</p>", "Shoes wear out over time. ".repeat(10));
        let out = optimize(&request("T", "m", &html, &[check::TRANSITION_WORDS])).unwrap();
        let all = sentences(&text::html_text(&out.html));
        let with = all.iter().filter(|s| starts_with_transition(s)).count();
        assert!(with * 10 >= all.len() * 4, "{with}/{}: {}", all.len(), out.html);
        assert!(out.html.contains("Also, shoes wear out"), "{}", out.html);
    }

    #[test]
    fn long_paragraphs_and_sections_are_broken_up() {
        let paragraph = "Shoes wear out over time and need care. ".repeat(40);
        let html = format!("<h1>T</h1>\n<h2>Care</h2>\n<p>{paragraph}</p>\n<p>{paragraph}</p>\n");
        let out =
            optimize(&request("T", "m", &html, &[check::PARAGRAPH_LENGTH, check::SUBHEADING_DISTRIBUTION])).unwrap();
        let doc = Doc::parse(&out.html);
        assert!(doc.blocks().filter(|b| b.tag == "p").all(|b| words(&b.text) <= LONG_PARAGRAPH_WORDS));
        let mut since = 0;
        for b in doc.blocks() {
            if b.is_heading() {
                since = 0;
            } else {
                since += words(&b.text);
                assert!(since <= 300, "{}", out.html);
            }
        }
        assert!(out.html.matches("<h2>").count() >= 3, "{}", out.html);
        assert_well_formed(&out.html);
    }

    #[test]
    fn offline_articles_are_rewritten_deterministically_and_stay_well_formed() {
        let idea = IdeaOut {
            title: "Best Trail Gear in 2026: Our Top Picks".into(),
            outline: vec!["How We Evaluated Trail Gear".into(), "Trail Gear".into(), "Our Verdict".into()],
            target_keyword: "trail gear".into(),
            secondary_keywords: vec!["trail gear".into()],
            word_target: 1500,
            content_type: "listicle".into(),
        };
        let article = generate_article(&idea, 1500).unwrap();
        let req = request(&article.title, &article.meta_description, &article.html, &all_checks());
        let a = optimize(&req).unwrap();
        assert_eq!(a, optimize(&req).unwrap());
        assert_well_formed(&a.html);
        assert!(a.title.starts_with("Running Shoes"));
        let visible = text::html_text(&a.html);
        let first_p = Doc::parse(&a.html).blocks().find(|b| b.tag == "p").unwrap().text.clone();
        assert!(sentences(&first_p)[0].contains("running shoes"));
        let density = count_phrase(&visible, "running shoes") as f64 * 100.0 / words(&visible) as f64;
        assert!((0.5..=3.0).contains(&density), "density {density}");
        let doc = Doc::parse(&a.html);
        let long: Vec<String> = doc
            .blocks()
            .filter(|b| b.tag == "p")
            .flat_map(|b| sentences(&b.text))
            .filter(|s| words(s) > LONG_SENTENCE_WORDS)
            .collect();
        assert!(long.is_empty(), "{long:?}");
    }

    #[test]
    fn an_empty_body_is_invalid_input() {
        assert!(matches!(optimize(&request("T", "m", "  ", &[])), Err(AiError::InvalidInput(_))));
    }
}
