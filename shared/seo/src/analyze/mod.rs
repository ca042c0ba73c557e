//! The analyzer (issue 13, item 3): a deterministic score per article from rules
//! reimplemented from published thresholds (Yoast's and others' documentation; no GPL
//! code ported). Each check scores 0–9 with a message; the article's score is 0–100.
//! The rule set is chosen by the site's language ([`RuleSet::for_language`]); English
//! first, and other languages fall back to the language-independent checks.

use serde::{Deserialize, Serialize};

use crate::article::ArticleText;

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

/// The language-dependent parts of the rules (transition words, passive voice,
/// syllables); chosen per site language so other languages can follow English.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSet {
    /// The language the set is for (`en`), or `generic`.
    pub language: &'static str,
}

impl RuleSet {
    /// The rule set for a site's language: English for `en*`, else the generic set
    /// (language-independent checks only).
    pub fn for_language(language: &str) -> Self {
        let _ = language;
        todo!("rule sets")
    }
}

/// Analyzes one article.
pub fn analyze(article: &ArticleText) -> Analysis {
    let _ = article;
    todo!("analyzer")
}
