//! The language-dependent parts of the analyzer: which words are function words (left
//! out of a keyphrase's content words), transition words, how a passive is built, and
//! whether plural forms and the Flesch formula apply. English is the first language;
//! any other site language gets the generic set, which has none of these lists, and
//! the checks that need them are left out of its analysis (docs/analysis.md says how
//! to add a language). The word lists are our own, written from ordinary English
//! grammar; they are sorted and lower case so a lookup is a binary search.

use std::cmp::Ordering;

use crate::text::{self, Stem};

/// The word lists and switches of one language.
#[derive(Debug, PartialEq, Eq)]
pub struct Lexicon {
    /// Function words, sorted.
    pub function_words: &'static [&'static str],
    /// One-word transitions, sorted.
    pub transition_words: &'static [&'static str],
    /// Multi-word transitions (words separated by one space), sorted.
    pub transition_phrases: &'static [&'static str],
    /// The first words of the multi-word transitions, sorted.
    pub transition_phrase_starts: &'static [&'static str],
    /// Auxiliaries that start a passive, sorted.
    pub passive_auxiliaries: &'static [&'static str],
    /// Irregular past participles, sorted.
    pub irregular_participles: &'static [&'static str],
    /// Words with the regular participle ending that are not participles, sorted.
    pub not_participles: &'static [&'static str],
    /// Words allowed between the auxiliary and the participle, sorted.
    pub passive_fillers: &'static [&'static str],
    /// The regular participle ending (`ed`).
    pub participle_suffix: &'static str,
    /// The adverb ending allowed between auxiliary and participle (`ly`).
    pub adverb_suffix: &'static str,
}

/// The rule set the analyzer applies to one article, chosen by the site's language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSet {
    /// The language the set is for (`en`), or `generic`.
    pub language: &'static str,
    /// Word lists, when the language has them (`None` for the generic set).
    lexicon: Option<&'static Lexicon>,
}

impl RuleSet {
    /// The rule set for a site's language: English for `en`, `en-US`, `en_GB`,
    /// `english` (any case) and for an empty language (the product's default), else
    /// the generic set (language-independent checks only).
    pub fn for_language(language: &str) -> Self {
        let tag = language.trim();
        let primary = tag.split(['-', '_']).next().unwrap_or_default();
        if tag.is_empty() || primary.eq_ignore_ascii_case("en") || tag.eq_ignore_ascii_case("english") {
            Self::english()
        } else {
            Self::generic()
        }
    }

    /// The English rule set.
    pub fn english() -> Self {
        Self { language: "en", lexicon: Some(&ENGLISH) }
    }

    /// The generic rule set: no word lists, so no plural forms, function words,
    /// transition words, passive voice or Flesch reading ease.
    pub fn generic() -> Self {
        Self { language: "generic", lexicon: None }
    }

    /// The language's word lists, if it has any.
    pub fn lexicon(&self) -> Option<&'static Lexicon> {
        self.lexicon
    }

    /// Whether the set has word lists (and so the checks that need them).
    pub fn has_word_lists(&self) -> bool {
        self.lexicon.is_some()
    }

    /// The form of `word` that keyphrase matching compares: its plural stem in English
    /// ([`text::plural_stem`]), the word itself otherwise.
    pub fn stem<'a>(&self, word: &'a str) -> Stem<'a> {
        if self.lexicon.is_some() {
            text::plural_stem(word)
        } else {
            Stem::whole(word)
        }
    }

    /// Whether `word` is a function word of the language.
    pub fn is_function_word(&self, word: &str) -> bool {
        self.lexicon.is_some_and(|l| contains(l.function_words, word))
    }
}

/// Whether a sorted, lower-case list holds `word` (in any case).
pub(crate) fn contains(list: &[&str], word: &str) -> bool {
    list.binary_search_by(|entry| text::cmp_ignore_case(entry, word).then(Ordering::Equal)).is_ok()
}

/// The first word of a phrase.
fn first_word(phrase: &str) -> &str {
    phrase.split(' ').next().unwrap_or_default()
}

impl Lexicon {
    /// Whether the sentence's words hold a transition word or phrase.
    pub fn has_transition(&self, words: &[&str]) -> bool {
        (0..words.len()).any(|at| self.transition_at(&words[at..]))
    }

    /// Whether a transition starts at the first of `words`.
    fn transition_at(&self, words: &[&str]) -> bool {
        let Some(first) = words.first() else {
            return false;
        };
        if contains(self.transition_words, first) {
            return true;
        }
        if !contains(self.transition_phrase_starts, first) {
            return false;
        }
        let phrases = self.transition_phrases;
        let from = phrases.partition_point(|p| text::cmp_ignore_case(first_word(p), first) == Ordering::Less);
        phrases[from..].iter().take_while(|p| text::eq_ignore_case(first_word(p), first)).any(|phrase| {
            let parts = phrase.split(' ').count();
            parts <= words.len() && phrase.split(' ').zip(words).all(|(part, word)| text::eq_ignore_case(part, word))
        })
    }

    /// Whether `word` is a past participle: an irregular one, or one with the regular
    /// ending that is not in the exceptions (and has at least two letters before it).
    fn is_participle(&self, word: &str) -> bool {
        if contains(self.irregular_participles, word) {
            return true;
        }
        let suffix = self.participle_suffix;
        word.len() > suffix.len() + 1
            && word.is_char_boundary(word.len() - suffix.len())
            && word[word.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
            && !contains(self.not_participles, word)
    }

    /// Whether `word` may stand between auxiliary and participle.
    fn is_filler(&self, word: &str) -> bool {
        let suffix = self.adverb_suffix;
        contains(self.passive_fillers, word)
            || (word.len() > suffix.len() + 2
                && word.is_char_boundary(word.len() - suffix.len())
                && word[word.len() - suffix.len()..].eq_ignore_ascii_case(suffix))
    }

    /// Whether the sentence's words hold a passive: an auxiliary followed by a past
    /// participle, with at most three fillers (`not`, `often`, an `-ly` adverb …)
    /// between them (`is built`, `was not quickly made`, `got fired`).
    pub fn has_passive(&self, words: &[&str]) -> bool {
        words.iter().enumerate().any(|(at, word)| {
            contains(self.passive_auxiliaries, word)
                && words[at + 1..]
                    .iter()
                    .take(4)
                    .try_fold((), |(), next| {
                        if self.is_participle(next) {
                            Err(true)
                        } else if self.is_filler(next) {
                            Ok(())
                        } else {
                            Err(false)
                        }
                    })
                    .err()
                    .unwrap_or(false)
        })
    }
}

/// English.
static ENGLISH: Lexicon = Lexicon {
    function_words: EN_FUNCTION_WORDS,
    transition_words: EN_TRANSITION_WORDS,
    transition_phrases: EN_TRANSITION_PHRASES,
    transition_phrase_starts: EN_TRANSITION_PHRASE_STARTS,
    passive_auxiliaries: EN_PASSIVE_AUXILIARIES,
    irregular_participles: EN_IRREGULAR_PARTICIPLES,
    not_participles: EN_NOT_PARTICIPLES,
    passive_fillers: EN_PASSIVE_FILLERS,
    participle_suffix: "ed",
    adverb_suffix: "ly",
};

/// English function words (articles, prepositions, conjunctions, pronouns, auxiliaries): left out of a keyphrase's content words.
const EN_FUNCTION_WORDS: &[&str] = &[
    "a", "about", "after", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be", "been", "before", "being",
    "between", "but", "by", "can", "could", "did", "do", "does", "during", "for", "from", "her", "here", "his", "how",
    "i", "if", "in", "into", "is", "it", "its", "just", "may", "me", "might", "more", "most", "must", "my", "no",
    "nor", "not", "of", "off", "on", "onto", "or", "our", "out", "over", "per", "should", "so", "some", "than", "that",
    "the", "their", "them", "then", "there", "these", "they", "this", "those", "through", "to", "under", "up", "us",
    "versus", "very", "via", "vs", "was", "we", "were", "what", "when", "where", "which", "who", "whom", "whose",
    "why", "will", "with", "within", "without", "would", "you", "your",
];

/// English one-word transitions (conjunctive adverbs and subordinators; not `and`, `but`, `or`, `so`, which nearly every text has).
const EN_TRANSITION_WORDS: &[&str] = &[
    "accordingly",
    "additionally",
    "admittedly",
    "afterward",
    "afterwards",
    "also",
    "alternatively",
    "although",
    "altogether",
    "because",
    "besides",
    "briefly",
    "consequently",
    "conversely",
    "correspondingly",
    "despite",
    "especially",
    "eventually",
    "finally",
    "first",
    "firstly",
    "furthermore",
    "generally",
    "hence",
    "however",
    "importantly",
    "indeed",
    "initially",
    "instead",
    "lastly",
    "later",
    "likewise",
    "meanwhile",
    "moreover",
    "namely",
    "nevertheless",
    "next",
    "nonetheless",
    "notably",
    "otherwise",
    "overall",
    "particularly",
    "previously",
    "second",
    "secondly",
    "similarly",
    "specifically",
    "subsequently",
    "then",
    "thereafter",
    "therefore",
    "third",
    "thirdly",
    "though",
    "thus",
    "ultimately",
    "undoubtedly",
    "unless",
    "whereas",
    "while",
];

/// English multi-word transitions, words separated by one space.
const EN_TRANSITION_PHRASES: &[&str] = &[
    "above all",
    "after all",
    "all in all",
    "as a consequence",
    "as a matter of fact",
    "as a result",
    "as long as",
    "as soon as",
    "as well as",
    "at first",
    "at last",
    "at the same time",
    "because of",
    "by contrast",
    "by the way",
    "due to",
    "even if",
    "even though",
    "first of all",
    "for example",
    "for instance",
    "for this reason",
    "given that",
    "in addition",
    "in any case",
    "in brief",
    "in conclusion",
    "in contrast",
    "in fact",
    "in general",
    "in order to",
    "in other words",
    "in particular",
    "in short",
    "in spite of",
    "in summary",
    "in the end",
    "in the first place",
    "in the meantime",
    "last but not least",
    "not only",
    "on the contrary",
    "on the other hand",
    "on top of that",
    "provided that",
    "so that",
    "such as",
    "that is to say",
    "to begin with",
    "to sum up",
    "to summarize",
    "with this in mind",
];

/// The first words of [`EN_TRANSITION_PHRASES`], so most words are ruled out by one lookup.
const EN_TRANSITION_PHRASE_STARTS: &[&str] = &[
    "above", "after", "all", "as", "at", "because", "by", "due", "even", "first", "for", "given", "in", "last", "not",
    "on", "provided", "so", "such", "that", "to", "with",
];

/// Forms of `be` and `get` that start a passive (`is built`, `got fired`).
const EN_PASSIVE_AUXILIARIES: &[&str] = &[
    "am", "are", "aren't", "be", "been", "being", "get", "gets", "getting", "got", "gotten", "is", "isn't", "was",
    "wasn't", "were", "weren't",
];

/// Irregular English past participles (regular ones end in `-ed`).
const EN_IRREGULAR_PARTICIPLES: &[&str] = &[
    "arisen",
    "awoken",
    "beaten",
    "begun",
    "bent",
    "bitten",
    "blown",
    "bought",
    "bound",
    "bred",
    "broken",
    "brought",
    "built",
    "burnt",
    "caught",
    "chosen",
    "cut",
    "dealt",
    "done",
    "drawn",
    "driven",
    "drunk",
    "dug",
    "eaten",
    "fallen",
    "fed",
    "felt",
    "forbidden",
    "forgiven",
    "forgotten",
    "fought",
    "found",
    "frozen",
    "given",
    "ground",
    "grown",
    "held",
    "hidden",
    "hit",
    "hung",
    "hurt",
    "kept",
    "knelt",
    "known",
    "laid",
    "led",
    "left",
    "lent",
    "let",
    "lit",
    "lost",
    "made",
    "meant",
    "met",
    "mistaken",
    "paid",
    "put",
    "quit",
    "read",
    "rebuilt",
    "rewritten",
    "ridden",
    "risen",
    "rung",
    "said",
    "seen",
    "sent",
    "set",
    "sewn",
    "shaken",
    "shot",
    "shown",
    "shrunk",
    "shut",
    "sold",
    "sought",
    "spent",
    "split",
    "spoken",
    "spread",
    "stolen",
    "struck",
    "stuck",
    "stung",
    "sung",
    "sunk",
    "swept",
    "sworn",
    "swum",
    "taken",
    "taught",
    "thought",
    "thrown",
    "told",
    "torn",
    "understood",
    "undone",
    "upset",
    "withdrawn",
    "woken",
    "won",
    "worn",
    "wound",
    "woven",
    "written",
];

/// Words ending in `-ed` that are not past participles.
const EN_NOT_PARTICIPLES: &[&str] = &[
    "bed", "embed", "exceed", "feed", "heed", "hundred", "indeed", "kindred", "need", "proceed", "red", "reed", "seed",
    "shed", "shred", "sled", "speed", "steed", "succeed", "tweed", "weed",
];

/// Words that may stand between the auxiliary and the participle (`is not built`, `was often made`), besides any `-ly` adverb.
const EN_PASSIVE_FILLERS: &[&str] =
    &["already", "also", "always", "being", "just", "never", "not", "often", "still", "then"];

#[cfg(test)]
mod tests {
    use super::*;

    fn sentence(s: &str) -> Vec<&str> {
        text::words(s).collect()
    }

    #[test]
    fn lists_are_sorted_lower_case_and_unique() {
        let lists = [
            EN_FUNCTION_WORDS,
            EN_TRANSITION_WORDS,
            EN_TRANSITION_PHRASES,
            EN_TRANSITION_PHRASE_STARTS,
            EN_PASSIVE_AUXILIARIES,
            EN_IRREGULAR_PARTICIPLES,
            EN_NOT_PARTICIPLES,
            EN_PASSIVE_FILLERS,
        ];
        for list in lists {
            for pair in list.windows(2) {
                assert_eq!(text::cmp_ignore_case(pair[0], pair[1]), Ordering::Less, "{pair:?}");
                assert_ne!(first_word(pair[0]).cmp(first_word(pair[1])), Ordering::Greater, "{pair:?}");
            }
            assert!(list.iter().all(|w| w.to_lowercase() == *w), "{list:?}");
        }
    }

    #[test]
    fn phrase_starts_are_the_phrases_first_words() {
        let mut starts: Vec<&str> = EN_TRANSITION_PHRASES.iter().map(|p| first_word(p)).collect();
        starts.dedup();
        assert_eq!(starts, EN_TRANSITION_PHRASE_STARTS);
    }

    #[test]
    fn languages() {
        for english in ["en", "en-US", "EN_gb", "English", "", " en "] {
            assert_eq!(RuleSet::for_language(english).language, "en", "{english}");
        }
        for other in ["de", "fr-FR", "eng", "nl"] {
            let rules = RuleSet::for_language(other);
            assert_eq!(rules.language, "generic", "{other}");
            assert!(!rules.has_word_lists());
            assert_eq!(rules.stem("Dogs").base, "Dogs");
        }
    }

    #[test]
    fn transitions_single_and_multi_word() {
        let en = &ENGLISH;
        assert!(en.has_transition(&sentence("However, the dog slept.")));
        assert!(en.has_transition(&sentence("The dog slept, for example, all day.")));
        assert!(en.has_transition(&sentence("It rained. On the other hand it was warm.")));
        assert!(!en.has_transition(&sentence("On the table lies a dog.")));
        assert!(!en.has_transition(&sentence("The dog and the cat slept.")));
        assert!(!en.has_transition(&sentence("")));
    }

    #[test]
    fn passive_voice() {
        let en = &ENGLISH;
        for passive in [
            "The house was built in 1900.",
            "Mistakes were made.",
            "The post is not often updated.",
            "It was quickly written.",
            "He got fired.",
            "The results aren’t shown here.",
        ] {
            assert!(en.has_passive(&sentence(passive)), "{passive}");
        }
        for active in [
            "The team built the house.",
            "The car is red.",
            "We need more speed.",
            "She is running fast.",
            "It is a dog that barked.",
        ] {
            assert!(!en.has_passive(&sentence(active)), "{active}");
        }
    }
}
