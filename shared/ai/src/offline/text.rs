//! Text helpers shared by the offline provider: normalisation, tokenisation, an
//! embedded English stop list, stemming, intent cue detection, title casing, HTML
//! escaping and word counting.
//!
//! Everything here is pure and deterministic so that clustering, idea and article
//! generation give the same output for the same input on every machine.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use rust_stemmers::{Algorithm, Stemmer};

/// A small, fast, *deterministic* hasher (the FxHash mix used by rustc).
///
/// Why: std's `RandomState` seeds differ per process, which would make any
/// iteration-order-dependent step non-reproducible; FxHash is also much faster for
/// the short string and integer keys used in clustering.
#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(buf));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    fn finish(&self) -> u64 {
        self.hash
    }
}

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

/// A `HashMap` with the deterministic [`FxHasher`]; see its docs for why.
pub type FxHashMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// 64-bit FNV-1a of a string: a stable seed for deterministic generation (article
/// wording, image colours) that never changes across Rust or crate versions.
pub fn stable_hash(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// SplitMix64: a tiny seeded generator whose sequence is fixed forever (unlike
/// `StdRng`, whose algorithm may change between `rand` releases), so generated text
/// and images stay byte-identical across upgrades.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// Starts a sequence from `seed` (usually a [`stable_hash`] of the input).
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (`0` when `n == 0`), for picking templates.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next_u64() % n as u64) as usize
    }

    /// A float in `[0, 1)`, for colours and geometry.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Lower-cases and splits text into word tokens: letters and digits are kept,
/// apostrophes are dropped inside words ("card's" → "cards"), everything else
/// separates tokens. Why: keyword tools deliver inconsistent casing and punctuation,
/// and clustering must treat "Running-Shoes!" and "running shoes" alike.
pub fn tokenize(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for ch in text.chars() {
        if ch.is_alphanumeric() {
            for lc in ch.to_lowercase() {
                cur.push(lc);
            }
        } else if (ch == '\'' || ch == '\u{2019}') && !cur.is_empty() {
            // joined: "don't" -> "dont"
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Embedded English stop list (function words only). Intent cue words such as
/// "best", "buy", "top" or "review" are deliberately *not* here: they carry intent.
const STOP_WORDS: &[&str] = &[
    "a",
    "able",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "are",
    "arent",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "cannot",
    "cant",
    "could",
    "couldnt",
    "did",
    "didnt",
    "do",
    "does",
    "doesnt",
    "doing",
    "dont",
    "down",
    "during",
    "each",
    "etc",
    "few",
    "for",
    "from",
    "further",
    "get",
    "got",
    "had",
    "hadnt",
    "has",
    "hasnt",
    "have",
    "havent",
    "having",
    "he",
    "hed",
    "hell",
    "her",
    "here",
    "heres",
    "hers",
    "herself",
    "hes",
    "him",
    "himself",
    "his",
    "how",
    "hows",
    "i",
    "id",
    "if",
    "ill",
    "im",
    "in",
    "into",
    "is",
    "isnt",
    "it",
    "its",
    "itself",
    "ive",
    "just",
    "lets",
    "may",
    "me",
    "might",
    "more",
    "most",
    "must",
    "mustnt",
    "my",
    "myself",
    "need",
    "no",
    "nor",
    "not",
    "of",
    "off",
    "ok",
    "okay",
    "on",
    "once",
    "only",
    "or",
    "other",
    "ought",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "please",
    "same",
    "shall",
    "shant",
    "she",
    "shed",
    "shell",
    "shes",
    "should",
    "shouldnt",
    "so",
    "some",
    "still",
    "such",
    "than",
    "that",
    "thats",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "theres",
    "these",
    "they",
    "theyd",
    "theyll",
    "theyre",
    "theyve",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "us",
    "very",
    "via",
    "want",
    "was",
    "wasnt",
    "we",
    "wed",
    "well",
    "were",
    "werent",
    "weve",
    "what",
    "whats",
    "when",
    "whens",
    "where",
    "wheres",
    "which",
    "while",
    "who",
    "whom",
    "whos",
    "why",
    "whys",
    "will",
    "with",
    "wont",
    "would",
    "wouldnt",
    "yet",
    "you",
    "youd",
    "youll",
    "your",
    "youre",
    "yours",
    "yourself",
    "yourselves",
    "youve",
];

/// True when `token` (already lower-cased) is an English function word that carries
/// no topic; such words are dropped before term weighting.
pub fn is_stop_word(token: &str) -> bool {
    STOP_WORDS.binary_search(&token).is_ok() || (token.len() == 1 && !token.chars().all(|c| c.is_ascii_digit()))
}

/// Returns the stop list sorted for binary search; checked by a unit test so the
/// embedded list can be edited freely.
#[cfg(test)]
pub(crate) fn stop_words_sorted() -> bool {
    STOP_WORDS.windows(2).all(|w| w[0] < w[1])
}

/// Caching Snowball (Porter2) English stemmer: "shoes"/"shoe", "running"/"run"
/// map to one term so keyword variants share vocabulary. The cache matters because
/// 100k keywords repeat a few thousand distinct words.
pub struct StemCache {
    stemmer: Stemmer,
    cache: FxHashMap<String, String>,
}

impl Default for StemCache {
    fn default() -> Self {
        Self::new()
    }
}

impl StemCache {
    /// A fresh English stemmer with an empty cache.
    pub fn new() -> Self {
        Self { stemmer: Stemmer::create(Algorithm::English), cache: FxHashMap::default() }
    }

    /// The stem of a lower-cased token.
    pub fn stem(&mut self, token: &str) -> &str {
        if !self.cache.contains_key(token) {
            let s = self.stemmer.stem(token).into_owned();
            self.cache.insert(token.to_string(), s);
        }
        // Just inserted above, so the lookup always hits.
        self.cache.get(token).map_or("", String::as_str)
    }
}

/// Search intent labels used on clusters and ideas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Intent {
    /// Wants to buy now: "buy", "price", "coupon", "near me".
    Transactional,
    /// Researching a purchase: "best", "review", "vs", "top".
    Commercial,
    /// Looking for a specific site or brand: "login", "website", "official".
    Navigational,
    /// Wants to learn: "how", "what", "why", "guide" (also the default).
    Informational,
}

impl Intent {
    /// The wire label stored on clusters and ideas.
    pub fn as_str(self) -> &'static str {
        match self {
            Intent::Transactional => "transactional",
            Intent::Commercial => "commercial",
            Intent::Navigational => "navigational",
            Intent::Informational => "informational",
        }
    }

    /// Parses a label from keyword data (case-insensitive); `None` when unknown.
    pub fn parse(label: &str) -> Option<Intent> {
        match label.trim().to_ascii_lowercase().as_str() {
            "transactional" => Some(Intent::Transactional),
            "commercial" => Some(Intent::Commercial),
            "navigational" => Some(Intent::Navigational),
            "informational" => Some(Intent::Informational),
            _ => None,
        }
    }

    /// All intents in precedence order (strongest commercial signal first), used to
    /// break ties deterministically.
    pub const ALL: [Intent; 4] =
        [Intent::Transactional, Intent::Commercial, Intent::Navigational, Intent::Informational];
}

const TRANSACTIONAL_CUES: &[&str] = &[
    "buy",
    "price",
    "prices",
    "pricing",
    "cheap",
    "cheapest",
    "discount",
    "discounts",
    "coupon",
    "coupons",
    "deal",
    "deals",
    "purchase",
    "sale",
    "shop",
    "order",
    "cost",
    "costs",
    "promo",
    "affordable",
];
const COMMERCIAL_CUES: &[&str] = &[
    "best",
    "review",
    "reviews",
    "vs",
    "versus",
    "top",
    "compare",
    "comparison",
    "alternative",
    "alternatives",
    "rated",
    "ranking",
];
const NAVIGATIONAL_CUES: &[&str] = &["brand", "login", "signin", "website", "official", "homepage", "portal", "site"];
const INFORMATIONAL_CUES: &[&str] = &[
    "how",
    "what",
    "why",
    "guide",
    "tutorial",
    "tips",
    "learn",
    "meaning",
    "definition",
    "examples",
    "ideas",
    "when",
    "who",
    "where",
    "explained",
];

/// Intent signalled by cue words in a keyword's tokens (before stop-word removal),
/// strongest signal first; `None` when no cue is present. Why: SEO intent is carried
/// by modifiers ("buy", "best", "login", "how"), not by the topic words.
pub fn cue_intent(tokens: &[String]) -> Option<Intent> {
    let has = |list: &[&str]| tokens.iter().any(|t| list.contains(&t.as_str()));
    let has_pair = |a: &str, b: &str| tokens.windows(2).any(|w| w[0] == a && w[1] == b);
    if has(TRANSACTIONAL_CUES) || has_pair("near", "me") {
        Some(Intent::Transactional)
    } else if has(COMMERCIAL_CUES) {
        Some(Intent::Commercial)
    } else if has(NAVIGATIONAL_CUES) || has_pair("sign", "in") || has_pair("log", "in") {
        Some(Intent::Navigational)
    } else if has(INFORMATIONAL_CUES) {
        Some(Intent::Informational)
    } else {
        None
    }
}

/// True for modifier words (intent cues and years) that should weigh less than topic
/// words when comparing keywords: "best running shoes" and "buy running shoes" are
/// one topic for content planning.
pub fn is_modifier(token: &str) -> bool {
    TRANSACTIONAL_CUES.contains(&token)
        || COMMERCIAL_CUES.contains(&token)
        || NAVIGATIONAL_CUES.contains(&token)
        || INFORMATIONAL_CUES.contains(&token)
        || (token.len() == 4 && token.starts_with("20") && token.chars().all(|c| c.is_ascii_digit()))
}

/// The topic of a keyword without its intent modifiers and dangling function words
/// ("buy espresso machine" → "espresso machine", "how to bake bread" → "bake
/// bread"), so title templates that add their own "Buy"/"Best"/"How to" do not
/// repeat them. Falls back to the cleaned keyword when nothing would remain.
pub fn topic_phrase(keyword: &str) -> String {
    let tokens = tokenize(keyword);
    let mut kept: Vec<&str> = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i].as_str();
        let next = tokens.get(i + 1).map(String::as_str);
        if t == "near" && next == Some("me") {
            i += 2;
            continue;
        }
        if !is_modifier(t) {
            kept.push(t);
        }
        i += 1;
    }
    while kept.first().is_some_and(|t| is_stop_word(t)) {
        kept.remove(0);
    }
    while kept.last().is_some_and(|t| is_stop_word(t)) {
        kept.pop();
    }
    if kept.is_empty() {
        tokens.join(" ")
    } else {
        kept.join(" ")
    }
}

/// Words kept lower-case inside a title ("Guide to the Best Shoes").
const SMALL_WORDS: &[&str] =
    &["a", "an", "and", "as", "at", "but", "by", "for", "in", "of", "on", "or", "the", "to", "vs", "with"];

/// Title-cases a phrase (first letter of each word upper-case, small words lower
/// except at the start). Why: outline headings and names are built from raw keywords.
pub fn title_case(text: &str) -> String {
    let mut out = Vec::new();
    for (i, word) in text.split_whitespace().enumerate() {
        let lower = word.to_lowercase();
        if i > 0 && SMALL_WORDS.contains(&lower.as_str()) {
            out.push(lower);
        } else {
            let mut chars = lower.chars();
            let capped = match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect(),
                None => String::new(),
            };
            out.push(capped);
        }
    }
    out.join(" ")
}

/// Collapses whitespace and strips punctuation around a keyword for display while
/// keeping its words intact ("  Best   running shoes? " → "best running shoes").
pub fn clean_phrase(text: &str) -> String {
    tokenize(text).join(" ")
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Undoes [`escape_html`] (only the five entities it produces).
pub fn unescape_html(text: &str) -> String {
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'").replace("&amp;", "&")
}

/// The visible text of an HTML fragment: tags removed (each tag acts as a word
/// break) and entities decoded.
pub fn html_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for ch in html.chars() {
        match ch {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    unescape_html(&out)
}

/// Number of words in plain text: whitespace-separated tokens holding at least one
/// letter or digit (so a stray "—" or ":" is not a word).
pub fn count_words(text: &str) -> u32 {
    let n = text.split_whitespace().filter(|w| w.chars().any(char::is_alphanumeric)).count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Number of words in the text content of an HTML fragment; this is the figure
/// billed "per 100 words", so it must count what a reader sees, not markup.
pub fn count_html_words(html: &str) -> u32 {
    count_words(&html_text(html))
}

/// Estimated LLM tokens for some text (≈ 1.3 tokens per English word), so offline
/// usage logs and credit tallies look like a real provider's.
pub fn estimate_tokens(text: &str) -> i64 {
    (f64::from(count_words(text)) * 1.3).ceil() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_list_is_sorted_for_binary_search() {
        assert!(stop_words_sorted());
        assert!(is_stop_word("the"));
        assert!(!is_stop_word("best"));
        assert!(!is_stop_word("7"));
    }

    #[test]
    fn tokenize_normalises_case_and_punctuation() {
        assert_eq!(tokenize("Running-Shoes! for Men's"), vec!["running", "shoes", "for", "mens"]);
        assert_eq!(tokenize("  "), Vec::<String>::new());
    }

    #[test]
    fn stems_merge_variants() {
        let mut s = StemCache::new();
        let a = s.stem("shoes").to_string();
        assert_eq!(a, s.stem("shoe"));
        let r = s.stem("running").to_string();
        assert_eq!(r, s.stem("run"));
    }

    #[test]
    fn cues_and_titles() {
        let t = |s: &str| tokenize(s);
        assert_eq!(cue_intent(&t("buy running shoes")), Some(Intent::Transactional));
        assert_eq!(cue_intent(&t("pizza near me")), Some(Intent::Transactional));
        assert_eq!(cue_intent(&t("best running shoes")), Some(Intent::Commercial));
        assert_eq!(cue_intent(&t("nike login")), Some(Intent::Navigational));
        assert_eq!(cue_intent(&t("how to bake bread")), Some(Intent::Informational));
        assert_eq!(cue_intent(&t("running shoes")), None);
        assert_eq!(title_case("guide to the best running shoes"), "Guide to the Best Running Shoes");
    }

    #[test]
    fn html_word_counting_ignores_markup_and_entities() {
        assert_eq!(count_html_words("<h1>Hello &amp; world</h1><p>two words</p>"), 4);
        assert_eq!(escape_html("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
        assert_eq!(unescape_html(&escape_html("x & <y>")), "x & <y>");
        assert_eq!(estimate_tokens("one two three four five six seven eight nine ten"), 13);
    }

    #[test]
    fn generators_are_stable() {
        assert_eq!(stable_hash(""), 0xcbf2_9ce4_8422_2325);
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        assert_eq!(a.next_u64(), b.next_u64());
        assert!(a.unit() < 1.0);
    }
}
