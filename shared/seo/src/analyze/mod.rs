//! The analyzer (issue 13, item 3): a deterministic score per article from rules
//! reimplemented from published thresholds (Yoast's and others' documentation; no GPL
//! code ported). Each check scores 0–9 with a message; the article's score is 0–100.
//! The rule set is chosen by the site's language ([`RuleSet::for_language`]); English
//! first, and other languages fall back to the language-independent checks.
//! docs/analysis.md lists every rule, its threshold and its source.

use serde::{Deserialize, Serialize};

use crate::article::ArticleText;
use crate::html::{self, Link};

mod doc;
mod keyphrase;
mod readability;
mod rules;
mod seo;
#[cfg(test)]
mod tests;

use doc::Doc;
use keyphrase::Keyphrase;
pub use rules::{Lexicon, RuleSet};

/// Which side of the score a check belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CheckGroup {
    /// Keyphrase, length, meta, links.
    Seo,
    /// Sentences, paragraphs, transitions, passive voice.
    Readability,
}

/// Stable ids of the checks, which the optimizer reads to know what to rewrite.
pub mod check {
    /// Keyphrase in the SEO title (9 at its start, 6 anywhere, 2 absent).
    pub const KEYPHRASE_IN_SEO_TITLE: &str = "keyphrase_in_seo_title";
    /// Keyphrase in the first paragraph.
    pub const KEYPHRASE_IN_INTRODUCTION: &str = "keyphrase_in_introduction";
    /// Keyphrase words in the slug.
    pub const KEYPHRASE_IN_SLUG: &str = "keyphrase_in_slug";
    /// Keyphrase in the meta description.
    pub const KEYPHRASE_IN_META_DESCRIPTION: &str = "keyphrase_in_meta_description";
    /// Keyphrase in 30–75 % of H2/H3 subheadings.
    pub const KEYPHRASE_IN_SUBHEADINGS: &str = "keyphrase_in_subheadings";
    /// Keyphrase density 0.5–3 % (penalised above).
    pub const KEYPHRASE_DENSITY: &str = "keyphrase_density";
    /// At least 300 words.
    pub const TEXT_LENGTH: &str = "text_length";
    /// Meta description 120–156 characters.
    pub const META_DESCRIPTION_LENGTH: &str = "meta_description_length";
    /// SEO title length (the width a result page shows).
    pub const SEO_TITLE_LENGTH: &str = "seo_title_length";
    /// At least one internal link.
    pub const INTERNAL_LINKS: &str = "internal_links";
    /// At least one outbound link.
    pub const OUTBOUND_LINKS: &str = "outbound_links";
    /// A link whose anchor is the keyphrase itself (competing for it).
    pub const KEYPHRASE_ANCHOR: &str = "keyphrase_anchor";
    /// Flesch reading ease.
    pub const FLESCH_READING_EASE: &str = "flesch_reading_ease";
    /// At most 25 % of sentences over 20 words.
    pub const SENTENCE_LENGTH: &str = "sentence_length";
    /// Paragraphs of at most 150 words.
    pub const PARAGRAPH_LENGTH: &str = "paragraph_length";
    /// At most 300 words between subheadings.
    pub const SUBHEADING_DISTRIBUTION: &str = "subheading_distribution";
    /// At least 30 % of sentences with a transition word.
    pub const TRANSITION_WORDS: &str = "transition_words";
    /// At most 10 % of sentences in the passive voice.
    pub const PASSIVE_VOICE: &str = "passive_voice";
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Check {
    /// Stable id (see [`check`]).
    pub id: String,
    /// SEO or readability.
    pub group: CheckGroup,
    /// 0 (bad) – 9 (good).
    pub score: u8,
    /// What was found and what to do, in one or two sentences.
    pub message: String,
}

impl Check {
    /// True when the optimizer should rewrite what this check looks at (score below 7).
    pub fn is_flagged(&self) -> bool {
        self.score < 7
    }
}

/// The figures the checks were computed from, shown next to them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TextStats {
    /// Words of body text.
    pub words: u32,
    /// Sentences.
    pub sentences: u32,
    /// Keyphrase occurrences in the body.
    pub keyphrase_count: u32,
    /// Keyphrase occurrences per 100 words.
    pub keyphrase_density: f64,
    /// Flesch reading ease (0–100, higher is easier).
    pub flesch_reading_ease: f64,
}

/// An article's analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Analysis {
    /// 0–100: the checks' scores over their maximum.
    pub score: u8,
    /// The rule set's language (`en`, or `generic` when the site's has none yet).
    pub language: String,
    /// Every check, SEO first, in a fixed order.
    pub checks: Vec<Check>,
    /// The figures behind them.
    pub stats: TextStats,
}

impl Analysis {
    /// The checks the optimizer should act on.
    pub fn flagged(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.is_flagged())
    }
}

/// One article as the checks read it.
pub(crate) struct Article<'a> {
    /// The fields as given.
    pub article: &'a ArticleText,
    /// The language's rules.
    pub rules: &'a RuleSet,
    /// The body's words, sentences and blocks.
    pub doc: &'a Doc<'a>,
    /// The body's links.
    pub links: &'a [Link],
    /// The focus keyphrase, when it has a word.
    pub keyphrase: Option<&'a Keyphrase>,
    /// Words of the body without the post title.
    pub body_words: usize,
}

impl Article<'_> {
    /// The SEO title, or the post title when the SEO title is empty.
    pub fn seo_title(&self) -> &str {
        if self.article.seo_title.trim().is_empty() {
            &self.article.title
        } else {
            &self.article.seo_title
        }
    }
}

/// A check's result.
pub(crate) fn finding(id: &str, group: CheckGroup, score: u8, message: String) -> Check {
    Check { id: id.to_owned(), group, score: score.min(9), message }
}

/// Analyzes one article with the rule set of its language ([`RuleSet::for_language`]).
pub fn analyze(article: &ArticleText) -> Analysis {
    analyze_with(article, &RuleSet::for_language(&article.language))
}

/// Analyzes one article with a given rule set: the body is parsed once, and every
/// check of the set is produced in a fixed order (SEO first). The generic set leaves
/// out Flesch reading ease, transition words and passive voice, which need a
/// language's word lists and syllable rules.
pub fn analyze_with(article: &ArticleText, rules: &RuleSet) -> Analysis {
    let html = html::parse(&article.html);
    let blocks = html.blocks();
    let links = html.links();
    let doc = Doc::read(&blocks);
    let keyphrase = Keyphrase::new(&article.focus_keyphrase, rules);
    let a = Article {
        article,
        rules,
        doc: &doc,
        links: &links,
        keyphrase: keyphrase.as_ref(),
        body_words: doc.body_words(),
    };
    let keyphrase_count = seo::keyphrase_count(&a);
    let flesch = rules.has_word_lists().then(|| readability::flesch(&a)).flatten();
    let mut checks = vec![
        seo::keyphrase_in_seo_title(&a),
        seo::keyphrase_in_introduction(&a),
        seo::keyphrase_in_slug(&a),
        seo::keyphrase_in_meta_description(&a),
        seo::keyphrase_in_subheadings(&a),
        seo::keyphrase_density(&a, keyphrase_count),
        seo::text_length(&a),
        seo::meta_description_length(&a),
        seo::seo_title_length(&a),
        seo::links(&a, seo::LinkTarget::Internal),
        seo::links(&a, seo::LinkTarget::Outbound),
        seo::keyphrase_anchor(&a),
    ];
    if let Some(lexicon) = rules.lexicon() {
        checks.push(readability::flesch_reading_ease(flesch));
        checks.push(readability::sentence_length(&a));
        checks.push(readability::paragraph_length(&a));
        checks.push(readability::subheading_distribution(&a));
        checks.push(readability::transition_words(&a, lexicon));
        checks.push(readability::passive_voice(&a, lexicon));
    } else {
        checks.push(readability::sentence_length(&a));
        checks.push(readability::paragraph_length(&a));
        checks.push(readability::subheading_distribution(&a));
    }
    let stats = TextStats {
        words: saturate(a.body_words),
        sentences: saturate(doc.prose().map(|b| b.sentences.len()).sum()),
        keyphrase_count: saturate(keyphrase_count),
        keyphrase_density: seo::density(keyphrase_count, a.body_words),
        flesch_reading_ease: flesch.unwrap_or_default(),
    };
    Analysis { score: overall(&checks), language: rules.language.to_owned(), checks, stats }
}

fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// round(100 × Σ scores / (9 × checks)), rounding halves up; 0 without checks.
fn overall(checks: &[Check]) -> u8 {
    let sum: usize = checks.iter().map(|c| usize::from(c.score)).sum();
    let most = 9 * checks.len();
    if most == 0 {
        return 0;
    }
    u8::try_from((200 * sum + most) / (2 * most)).unwrap_or(100)
}
