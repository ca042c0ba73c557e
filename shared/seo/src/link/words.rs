//! Words as both link engines see them: the same tokenizer finds a target's phrases in
//! a source's text (candidates and anchors) and the occurrence a link is placed on
//! (injection), so an anchor the candidate engine reports is one injection can find.
//! Also the simple stemmer and stop list of the index's terms, a trie that finds many
//! phrases in one pass over a text, and the map from a text node's decoded text back
//! to its bytes in the source (entities are decoded in the text, not in the source).

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;

/// Longest phrase (in words) the engines look for; longer keyphrases are still
/// terms of the index but are never anchors.
pub(crate) const MAX_PHRASE_WORDS: usize = 8;

/// Words that carry no topic: left out of the index's terms, and a title n-gram may
/// not start or end with one ("guide to", "the best").
const STOP_WORDS: &[&str] = &[
    "a", "about", "after", "all", "also", "an", "and", "any", "are", "as", "at", "be", "been", "before", "but", "by",
    "can", "do", "does", "each", "every", "for", "from", "get", "has", "have", "how", "i", "if", "in", "into", "is",
    "it", "its", "just", "more", "most", "my", "no", "not", "of", "on", "or", "our", "out", "over", "so", "than",
    "that", "the", "their", "them", "then", "there", "these", "they", "this", "to", "up", "us", "vs", "was", "we",
    "what", "when", "where", "which", "who", "why", "will", "with", "you", "your",
];

/// True for a lowercase word that carries no topic.
pub(crate) fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.binary_search(&word).is_ok()
}

/// Characters that join two letters into one word ("e-bike", "men's").
fn is_joiner(c: char) -> bool {
    matches!(c, '\'' | '\u{2019}' | '-' | '_')
}

/// Byte ranges of the words of `text`: runs of letters and digits, joined across a
/// single apostrophe, hyphen or underscore between two of them.
pub(crate) fn word_ranges(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c.is_alphanumeric() {
            if start.is_none() {
                start = Some(i);
            }
        } else if start.is_some() && is_joiner(c) && chars.peek().is_some_and(|(_, next)| next.is_alphanumeric()) {
            continue;
        } else if let Some(s) = start.take() {
            out.push(s..i);
        }
    }
    if let Some(s) = start {
        out.push(s..text.len());
    }
    out
}

/// The word in lowercase, borrowed when it already is.
pub(crate) fn lower(word: &str) -> Cow<'_, str> {
    if word.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
        Cow::Borrowed(word)
    } else {
        Cow::Owned(word.to_lowercase())
    }
}

/// A phrase's words in lowercase.
pub(crate) fn phrase_words(phrase: &str) -> Vec<String> {
    word_ranges(phrase).into_iter().map(|r| lower(&phrase[r]).into_owned()).collect()
}

/// True when only whitespace separates two words: a phrase continues across a space
/// or a line break, never across punctuation ("shoes. Running" is not "shoes running").
pub(crate) fn joined_by_space(text: &str, before: &Range<usize>, after: &Range<usize>) -> bool {
    text.get(before.end..after.start).is_some_and(|gap| gap.chars().all(char::is_whitespace))
}

/// A light English stemmer for the index's terms ("shoes"/"shoe", "trainers"/
/// "trainer", "batteries"/"battery"): plural endings only, so words of other
/// languages are at worst left as they are.
pub(crate) fn stem(word: &str) -> String {
    let n = word.len();
    if n <= 3 || !word.is_ascii() {
        return word.to_owned();
    }
    if let Some(base) = word.strip_suffix("ies") {
        if n > 4 {
            return format!("{base}y");
        }
    }
    if word.ends_with("sses") || word.ends_with("xes") || word.ends_with("ches") || word.ends_with("shes") {
        return word[..n - 2].to_owned();
    }
    if word.ends_with('s') && !word.ends_with("ss") && !word.ends_with("us") && !word.ends_with("is") {
        return word[..n - 1].to_owned();
    }
    word.to_owned()
}

/// FxHash (rustc's hasher) for the engines' maps of our own words and numbers:
/// SipHash's resistance to chosen keys buys nothing there and costs a good part of
/// a scan.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// Builds [`FxHasher`]s.
pub(crate) type FxBuild = std::hash::BuildHasherDefault<FxHasher>;

/// Phrases as sequences of word ids, found in a text in one pass: each word position
/// walks the trie as far as the text's words follow an edge.
#[derive(Debug, Clone, Default)]
pub(crate) struct PhraseTrie {
    vocabulary: HashMap<String, u32, FxBuild>,
    edges: HashMap<(u32, u32), u32, FxBuild>,
    /// Per node (0 is the root): the phrase ending there.
    terminal: Vec<Option<u32>>,
}

impl PhraseTrie {
    /// An empty trie.
    pub(crate) fn new() -> Self {
        Self { vocabulary: HashMap::default(), edges: HashMap::default(), terminal: vec![None] }
    }

    /// Adds `words` (lowercase) as the phrase `id`, unless a phrase with those words is
    /// there already; returns the id the words now stand for.
    pub(crate) fn insert(&mut self, words: &[String], id: u32) -> u32 {
        let mut node = 0u32;
        for word in words {
            let next_word = u32::try_from(self.vocabulary.len()).unwrap_or(u32::MAX);
            let word_id = *self.vocabulary.entry(word.clone()).or_insert(next_word);
            let next_node = u32::try_from(self.terminal.len()).unwrap_or(u32::MAX);
            node = *self.edges.entry((node, word_id)).or_insert_with(|| next_node);
            if node as usize == self.terminal.len() {
                self.terminal.push(None);
            }
        }
        match self.terminal.get_mut(node as usize) {
            Some(Some(existing)) => *existing,
            Some(slot) => {
                *slot = Some(id);
                id
            }
            None => id,
        }
    }

    /// Calls `found(phrase, byte range)` for every occurrence of a phrase in `text`,
    /// in text order (at one position, shorter phrases first).
    pub(crate) fn find_all(&self, text: &str, mut found: impl FnMut(u32, Range<usize>)) {
        let words = word_ranges(text);
        let ids: Vec<Option<u32>> =
            words.iter().map(|r| self.vocabulary.get(lower(&text[r.clone()]).as_ref()).copied()).collect();
        for start in 0..words.len() {
            let mut node = 0u32;
            let mut at = start;
            while let Some(Some(word_id)) = ids.get(at) {
                let Some(&next) = self.edges.get(&(node, *word_id)) else { break };
                node = next;
                if let Some(Some(phrase)) = self.terminal.get(node as usize) {
                    found(*phrase, words[start].start..words[at].end);
                }
                at += 1;
                if at - start >= MAX_PHRASE_WORDS
                    || words.get(at).is_none_or(|next| !joined_by_space(text, &words[at - 1], next))
                {
                    break;
                }
            }
        }
    }
}

/// One stretch of a text node: either copied verbatim from the source or a character
/// reference (or a CR line ending) that the tokenizer decoded.
#[derive(Debug, Clone)]
struct Piece {
    decoded: Range<usize>,
    raw: Range<usize>,
    verbatim: bool,
}

/// A text node's decoded text with the way back to its bytes in the source, so a
/// link wraps the words as written (`caf&eacute;` stays `caf&eacute;`).
#[derive(Debug, Clone)]
pub(crate) struct MappedText {
    /// The decoded text.
    pub(crate) text: String,
    pieces: Vec<Piece>,
}

impl MappedText {
    /// Maps the node whose raw bytes are `source[raw]` and whose decoded text is
    /// `decoded`; `None` when the two cannot be aligned (the node is then left alone).
    pub(crate) fn new(source: &str, raw: Range<usize>, decoded: &str) -> Option<Self> {
        let written = source.get(raw.clone())?;
        if written == decoded {
            let piece = Piece { decoded: 0..decoded.len(), raw, verbatim: true };
            return Some(Self { text: decoded.to_owned(), pieces: vec![piece] });
        }
        let mut pieces = Vec::new();
        let mut rebuilt = String::with_capacity(decoded.len());
        let mut segment_start = 0usize;
        let cuts = written.match_indices(['&', '\r']).map(|(i, _)| i).chain(std::iter::once(written.len()));
        for cut in cuts {
            if cut <= segment_start && cut != written.len() {
                continue;
            }
            let segment = &written[segment_start..cut];
            let base = raw.start + segment_start;
            if segment.starts_with(['&', '\r']) {
                let value = decode_alone(segment);
                let tail = common_suffix(segment, &value);
                let head_raw = segment.len() - tail;
                let head_decoded = value.len() - tail;
                let at = rebuilt.len();
                pieces.push(Piece { decoded: at..at + head_decoded, raw: base..base + head_raw, verbatim: false });
                pieces.push(Piece {
                    decoded: at + head_decoded..at + value.len(),
                    raw: base + head_raw..base + segment.len(),
                    verbatim: true,
                });
                rebuilt.push_str(&value);
            } else if !segment.is_empty() {
                let at = rebuilt.len();
                pieces.push(Piece { decoded: at..at + segment.len(), raw: base..base + segment.len(), verbatim: true });
                rebuilt.push_str(segment);
            }
            segment_start = cut;
        }
        (rebuilt == decoded).then_some(Self { text: rebuilt, pieces })
    }

    /// Where the decoded bytes `range` lie in the source, when both ends fall on the
    /// edge of a decoded reference or inside verbatim text.
    pub(crate) fn raw_range(&self, range: &Range<usize>) -> Option<Range<usize>> {
        Some(self.raw_offset(range.start)?..self.raw_offset(range.end)?)
    }

    fn raw_offset(&self, offset: usize) -> Option<usize> {
        self.pieces.iter().find_map(|p| {
            if p.verbatim && p.decoded.start <= offset && offset <= p.decoded.end {
                Some(p.raw.start + (offset - p.decoded.start))
            } else if offset == p.decoded.start {
                Some(p.raw.start)
            } else if offset == p.decoded.end {
                Some(p.raw.end)
            } else {
                None
            }
        })
    }
}

/// Decodes a stretch of character data on its own, as the tokenizer decodes it in
/// the document (same entity table, same rules for a missing `;`).
fn decode_alone(segment: &str) -> String {
    let mut out = String::new();
    for token in html5gum::Tokenizer::new(segment).flatten() {
        if let html5gum::Token::String(text) = token {
            out.push_str(&String::from_utf8_lossy(&text));
        }
    }
    out
}

/// Bytes at the end of `a` equal to the end of `b`, whole characters only, never the
/// first character of `a` (the reference's `&` or the CR itself).
fn common_suffix(a: &str, b: &str) -> usize {
    let mut len = 0;
    let (mut ai, mut bi) = (a.char_indices().rev(), b.chars().rev());
    while let (Some((i, ca)), Some(cb)) = (ai.next(), bi.next()) {
        if ca != cb || i == 0 {
            break;
        }
        len += ca.len_utf8();
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_are_sorted_for_binary_search() {
        assert!(STOP_WORDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn words_join_across_apostrophes_and_hyphens_only_between_letters() {
        let text = "Men's e-bike -- café, 2027 'quoted'";
        let words: Vec<&str> = word_ranges(text).into_iter().map(|r| &text[r]).collect();
        assert_eq!(words, vec!["Men's", "e-bike", "café", "2027", "quoted"]);
    }

    #[test]
    fn plural_endings_stem_to_one_term() {
        for (word, want) in
            [("shoes", "shoe"), ("batteries", "battery"), ("boxes", "box"), ("glass", "glass"), ("bus", "bus")]
        {
            assert_eq!(stem(word), want, "{word}");
        }
    }

    #[test]
    fn the_trie_finds_phrases_within_a_sentence_only() {
        let mut trie = PhraseTrie::new();
        trie.insert(&phrase_words("running shoes"), 0);
        trie.insert(&phrase_words("running"), 1);
        assert_eq!(trie.insert(&phrase_words("Running  Shoes"), 7), 0);
        let text = "Running\n shoes help. Running. Shoes too.";
        let mut hits = Vec::new();
        trie.find_all(text, |p, r| hits.push((p, &text[r])));
        assert_eq!(hits, vec![(1, "Running"), (0, "Running\n shoes"), (1, "Running")]);
    }

    #[test]
    fn decoded_text_maps_back_to_the_references_as_written() {
        let source = "<p>caf&eacute; cr&egrave;me &amp; tea&notit; x\r\ny</p>";
        let html = crate::html::parse(source);
        let (text, span) = html
            .nodes
            .iter()
            .find_map(|n| match n {
                crate::html::Node::Text { text, span } => Some((text.clone(), span.clone())),
                _ => None,
            })
            .unwrap();
        let mapped = MappedText::new(source, span, &text).unwrap();
        assert_eq!(mapped.text, "café crème & tea¬it; x\ny");
        let at = |needle: &str| {
            let start = mapped.text.find(needle).unwrap();
            mapped.raw_range(&(start..start + needle.len())).map(|r| &source[r])
        };
        assert_eq!(at("café crème"), Some("caf&eacute; cr&egrave;me"));
        assert_eq!(at("tea"), Some("tea"));
        assert_eq!(at("x\ny"), Some("x\r\ny"));
        assert_eq!(at("af"), Some("af"));
        // Inside a reference that decodes to two characters there is no source byte.
        let mapped = MappedText::new("a&NotEqualTilde;b", 0..17, "a\u{2242}\u{338}b").unwrap();
        assert_eq!(mapped.raw_range(&(1..4)), None);
        assert_eq!(mapped.raw_range(&(0..1)), Some(0..1));
    }
}
