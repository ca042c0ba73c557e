//! Internal linking (issue 13, item 5): the candidate engine finds, for each article,
//! other articles of the site that share keywords, cluster topic or phrases, ranked by
//! relevance, through an inverted index over the site's content (never all pairs);
//! the injection engine links anchor text already in the body, never inside headings,
//! existing links, code or captions, no self-links, one link per target, at most
//! [`LinkOptions::links_per_300_words`] per 300 words, and a second pass changes nothing.
//!
//! `index.rs` holds the candidate engine, `inject.rs` the injection engine (their module
//! docs give the rules); both find phrases with the same word tokenizer, so an anchor
//! the candidate engine reports is one the injection engine can place. docs/linking.md
//! describes both.

use serde::{Deserialize, Serialize};

mod index;
mod inject;
mod words;

#[cfg(test)]
mod tests;

pub use index::{CandidateScan, LinkIndex, MAX_POSTINGS_PER_TERM, TOPIC_BONUS};
pub use inject::inject;

/// The attribute that marks a link this engine inserted, holding the target's key:
/// how a later pass knows its own links (to keep one per target and to update the
/// href when a draft target goes live).
pub const LINK_MARKER: &str = "data-igny8-link";

/// One article of the site as the linker sees it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LinkDoc {
    /// Stable key (the content id).
    pub key: String,
    /// Where a link to it points: the live URL when published, else the site URL it
    /// will have.
    pub url: String,
    /// Its title.
    pub title: String,
    /// Its focus keyphrase (the cluster's pillar).
    pub focus_keyphrase: String,
    /// Its other keywords (the cluster's members, the idea's secondary keywords).
    pub keywords: Vec<String>,
    /// Its topic (the cluster id): articles of one topic are related.
    pub topic: String,
    /// Its body HTML.
    pub html: String,
}

/// Tuning of both engines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkOptions {
    /// Most candidates kept per article.
    pub max_candidates: usize,
    /// Links allowed per started 300 words of body text.
    pub links_per_300_words: u32,
}

impl Default for LinkOptions {
    fn default() -> Self {
        Self { max_candidates: 10, links_per_300_words: 1 }
    }
}

/// A related article and the phrases of the source's text that can carry a link to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Candidate {
    /// The target's key.
    pub target: String,
    /// The target's URL.
    pub url: String,
    /// Relevance (higher first); the ranking key.
    pub relevance: f64,
    /// Phrases of the target (keyphrase first, then keywords) found in the source's
    /// unprotected text, best first.
    pub anchors: Vec<String>,
}

/// A link the injection engine placed (or would place).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlacedLink {
    /// The target's key.
    pub target: String,
    /// The href written.
    pub url: String,
    /// The anchor text, as it reads in the body.
    pub anchor: String,
}

/// One article's injection result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Injection {
    /// The body after the pass (the input unchanged when nothing was added or updated).
    pub html: String,
    /// Links added in this pass.
    pub added: Vec<PlacedLink>,
    /// Links of ours whose href changed (their target went live).
    pub updated: Vec<PlacedLink>,
}

impl Injection {
    /// True when the body changed.
    pub fn changed(&self) -> bool {
        !self.added.is_empty() || !self.updated.is_empty()
    }
}
