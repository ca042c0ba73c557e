//! What counts as the focus keyphrase in a piece of text (docs/analysis.md, "What
//! counts as the keyphrase"). Words compare case-insensitively after the rule set's
//! stemming (English: plural and possessive forms, [`crate::text::plural_stem`]).
//! A *phrase* match is every keyphrase word, in order, one after the other, inside one
//! sentence; a *content* match is every content word (the keyphrase without function
//! words such as `for`, `the`, `how`) anywhere in the text looked at, in any order.

use crate::analyze::RuleSet;
use crate::text;

/// A focus keyphrase ready to match.
#[derive(Debug, Clone)]
pub(crate) struct Keyphrase {
    /// As set, trimmed.
    pub text: String,
    /// Every word's stem, lower case.
    pub words: Vec<String>,
    /// The content words' stems (every word when all are function words).
    pub content: Vec<String>,
}

impl Keyphrase {
    /// The keyphrase, or `None` when it has no word.
    pub fn new(raw: &str, rules: &RuleSet) -> Option<Self> {
        let all: Vec<&str> = text::words(raw).collect();
        if all.is_empty() {
            return None;
        }
        let stem = |w: &&str| rules.stem(w).to_lowercase();
        let content: Vec<String> = all.iter().filter(|w| !rules.is_function_word(w)).map(stem).collect();
        let words: Vec<String> = all.iter().map(stem).collect();
        let content = if content.is_empty() { words.clone() } else { content };
        Some(Self { text: raw.trim().to_owned(), words, content })
    }

    /// Whether the whole phrase starts at `words[at]`.
    fn phrase_at(&self, words: &[&str], at: usize, rules: &RuleSet) -> bool {
        words.len().saturating_sub(at) >= self.words.len()
            && self.words.iter().zip(&words[at..]).all(|(key, word)| rules.stem(word).matches(key))
    }

    /// Non-overlapping phrase matches in one sentence's words.
    pub fn count_phrase(&self, words: &[&str], rules: &RuleSet) -> usize {
        let (mut count, mut at) = (0, 0);
        while at + self.words.len() <= words.len() {
            if self.phrase_at(words, at, rules) {
                count += 1;
                at += self.words.len();
            } else {
                at += 1;
            }
        }
        count
    }

    /// Where the first phrase match starts.
    pub fn find_phrase(&self, words: &[&str], rules: &RuleSet) -> Option<usize> {
        (0..words.len()).find(|&at| self.phrase_at(words, at, rules))
    }

    /// How many of the content words appear among `words`.
    pub fn content_found(&self, words: &[&str], rules: &RuleSet) -> usize {
        self.content.iter().filter(|key| words.iter().any(|w| rules.stem(w).matches(key))).count()
    }

    /// Whether every content word appears among `words`.
    pub fn all_content_in(&self, words: &[&str], rules: &RuleSet) -> bool {
        self.content_found(words, rules) == self.content.len()
    }

    /// Whether a link's anchor text is the keyphrase itself: its content words are
    /// the keyphrase's content words, in order, with nothing else (`potato chips` for
    /// the keyphrase `potato chips` is; `crispy potato chips` and `potato` are not).
    pub fn is_anchor(&self, anchor: &[&str], rules: &RuleSet) -> bool {
        let mut content = anchor.iter().filter(|w| !rules.is_function_word(w));
        let mut keys = self.content.iter();
        loop {
            match (content.next(), keys.next()) {
                (None, None) => return true,
                (Some(word), Some(key)) if rules.stem(word).matches(key) => {}
                _ => return false,
            }
        }
    }
}
