//! Plain-text measures the analyzer counts and others may reuse: words, sentences,
//! English syllables and the Flesch reading ease, plus case-insensitive comparison and
//! the simple English plural forms keyphrase matching allows. Everything borrows from
//! the text it reads (no allocation per word), because the analyzer runs over whole
//! sites of articles.

use std::cmp::Ordering;

/// Apostrophes that join the parts of one word (`don't`, `it’s`).
const APOSTROPHES: [char; 2] = ['\'', '\u{2019}'];

/// Characters that end a sentence when followed by white space (or the end).
const TERMINATORS: [char; 4] = ['.', '!', '?', '\u{2026}'];

/// Full-width terminators (CJK) that end a sentence with no space after them.
const FULL_WIDTH_TERMINATORS: [char; 3] = ['\u{3002}', '\u{FF01}', '\u{FF1F}'];

/// Closing quotes and brackets that stay with the sentence they close.
const CLOSERS: [char; 8] = ['"', '\'', ')', ']', '\u{201D}', '\u{2019}', '\u{00BB}', '\u{300D}'];

/// Abbreviations whose final period does not end a sentence (besides single letters
/// such as initials or the `g` of `e.g.`).
const ABBREVIATIONS: [&str; 12] = ["approx", "dr", "etc", "fig", "jr", "mr", "mrs", "ms", "no", "prof", "sr", "vs"];

/// The words of a text in order (see [`words`]).
#[derive(Debug, Clone)]
pub struct Words<'a> {
    text: &'a str,
    pos: usize,
}

/// The words of `text`: runs of Unicode letters and digits; an apostrophe between two
/// of them stays inside the word (`don't`, `it’s`), and so does a `.` or `,` between
/// two digits (`3.5`, `1,000`). Everything else (spaces, punctuation, hyphens) separates
/// words, so `dog-friendly` is two words.
pub fn words(text: &str) -> Words<'_> {
    Words { text, pos: 0 }
}

/// How many words `text` has (see [`words`]).
pub fn word_count(text: &str) -> usize {
    words(text).count()
}

fn joins_word(joiner: char, before: char, after: char) -> bool {
    (APOSTROPHES.contains(&joiner) && before.is_alphanumeric() && after.is_alphanumeric())
        || (matches!(joiner, '.' | ',') && before.is_ascii_digit() && after.is_ascii_digit())
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.text.get(self.pos..)?;
        let mut chars = rest.char_indices().peekable();
        let Some((start, first)) = chars.by_ref().find(|(_, c)| c.is_alphanumeric()) else {
            self.pos = self.text.len();
            return None;
        };
        let mut end = start + first.len_utf8();
        let mut before = first;
        while let Some(&(at, c)) = chars.peek() {
            if c.is_alphanumeric() {
                end = at + c.len_utf8();
                before = c;
                chars.next();
                continue;
            }
            let mut ahead = chars.clone();
            ahead.next();
            match ahead.peek() {
                Some(&(_, after)) if joins_word(c, before, after) => {
                    before = c;
                    chars.next();
                }
                _ => break,
            }
        }
        self.pos += end;
        rest.get(start..end)
    }
}

/// The sentences of a text in order (see [`sentences`]).
#[derive(Debug, Clone)]
pub struct Sentences<'a> {
    text: &'a str,
    pos: usize,
}

/// The sentences of `text`, trimmed, those without a word left out. A sentence ends at
/// `.`, `!`, `?` or `…` (with any closing quotes or brackets after them) followed by
/// white space or the end of the text, or at a full-width `。！？`. A period does not
/// end a sentence after a single letter (`e.g.`, `J. Smith`) or a common abbreviation
/// (`Dr.`, `vs.`), nor when the next word starts in lower case; a period inside a
/// token (`3.5`, `example.com`) never does. Block boundaries (paragraphs, headings,
/// list items) are the caller's: pass each block on its own.
pub fn sentences(text: &str) -> Sentences<'_> {
    Sentences { text, pos: 0 }
}

fn last_word(before: &str) -> &str {
    before.rsplit(|c: char| !c.is_alphanumeric()).next().unwrap_or_default()
}

fn is_abbreviation(before: &str) -> bool {
    let word = last_word(before);
    let mut letters = word.chars();
    let single_letter = matches!((letters.next(), letters.next()), (Some(c), None) if c.is_alphabetic());
    single_letter || ABBREVIATIONS.iter().any(|a| word.eq_ignore_ascii_case(a))
}

fn next_word_is_lowercase(after: &str) -> bool {
    after.chars().find(|c| !c.is_whitespace()).is_some_and(char::is_lowercase)
}

/// Where the sentence that starts `rest` ends (bytes, after its terminator).
fn sentence_end(rest: &str) -> usize {
    let mut chars = rest.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let full_width = FULL_WIDTH_TERMINATORS.contains(&c);
        if !full_width && !TERMINATORS.contains(&c) {
            continue;
        }
        let mut end = at + c.len_utf8();
        while let Some(&(next_at, next)) = chars.peek() {
            if TERMINATORS.contains(&next) || FULL_WIDTH_TERMINATORS.contains(&next) || CLOSERS.contains(&next) {
                end = next_at + next.len_utf8();
                chars.next();
            } else {
                break;
            }
        }
        if full_width {
            return end;
        }
        match chars.peek() {
            None => return end,
            Some(&(_, next)) if next.is_whitespace() => {
                let before = rest.get(..at).unwrap_or_default();
                let after = rest.get(end..).unwrap_or_default();
                let only_period = rest.get(at..end).is_some_and(|t| t.trim_end_matches(CLOSERS) == ".");
                if only_period && (is_abbreviation(before) || next_word_is_lowercase(after)) {
                    continue;
                }
                return end;
            }
            Some(_) => continue,
        }
    }
    rest.len()
}

impl<'a> Iterator for Sentences<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        loop {
            let rest = self.text.get(self.pos..)?;
            if rest.is_empty() {
                return None;
            }
            let end = sentence_end(rest);
            self.pos += end;
            let sentence = rest.get(..end).unwrap_or_default().trim();
            if sentence.chars().any(char::is_alphanumeric) {
                return Some(sentence);
            }
        }
    }
}

fn is_vowel(c: char) -> bool {
    matches!(
        c,
        'a' | 'e'
            | 'i'
            | 'o'
            | 'u'
            | 'à'
            | 'á'
            | 'â'
            | 'ä'
            | 'è'
            | 'é'
            | 'ê'
            | 'ë'
            | 'ì'
            | 'í'
            | 'î'
            | 'ï'
            | 'ò'
            | 'ó'
            | 'ô'
            | 'ö'
            | 'ù'
            | 'ú'
            | 'û'
            | 'ü'
    )
}

/// An estimate of an English word's syllables, for the Flesch formula: groups of
/// vowels (`y` counts as one after the first letter), less a silent final `e` (`make`,
/// but not `table`), a silent `-es` (`makes`, but not `boxes` or `pages`) and a silent
/// `-ed` (`jumped`, but not `wanted`); at least one for any word. Our own heuristic:
/// Flesch's formula only needs a good average over a text, not a dictionary.
pub fn syllables(word: &str) -> u32 {
    let mut count = 0u32;
    let mut previous_vowel = false;
    // The last three letters, newest last.
    let mut tail = ['\0'; 3];
    for (at, c) in word.chars().flat_map(char::to_lowercase).enumerate() {
        let vowel = is_vowel(c) || (c == 'y' && at > 0);
        if vowel && !previous_vowel {
            count += 1;
        }
        previous_vowel = vowel;
        tail = [tail[1], tail[2], c];
    }
    if count <= 1 {
        return 1;
    }
    let [third, second, last] = tail;
    let consonant = |c: char| c.is_alphabetic() && !is_vowel(c) && c != 'y';
    let silent = match (second, last) {
        (s, 'e') if consonant(s) => !(s == 'l' && consonant(third)),
        ('e', 's') => consonant(third) && !matches!(third, 's' | 'x' | 'z' | 'c' | 'g' | 'h'),
        ('e', 'd') => consonant(third) && !matches!(third, 't' | 'd'),
        _ => false,
    };
    count - u32::from(silent)
}

/// The Flesch reading ease of a text of `words` words in `sentences` sentences with
/// `syllables` syllables: 206.835 − 1.015 × words/sentences − 84.6 × syllables/words
/// (Flesch, "A new readability yardstick", Journal of Applied Psychology 32(3), 1948).
/// Higher is easier: 60–70 is plain English, below 30 very difficult. Not clamped
/// (very short, simple sentences score above 100); `None` without words or sentences.
pub fn flesch_reading_ease(words: usize, sentences: usize, syllables: usize) -> Option<f64> {
    if words == 0 || sentences == 0 {
        return None;
    }
    let (words, sentences, syllables) = (words as f64, sentences as f64, syllables as f64);
    Some(206.835 - 1.015 * (words / sentences) - 84.6 * (syllables / words))
}

/// A character as comparisons see it: lower case, with a typographic apostrophe read
/// as `'`.
fn fold(c: char) -> std::char::ToLowercase {
    if c == '\u{2019}' {
        '\''.to_lowercase()
    } else {
        c.to_lowercase()
    }
}

/// Whether two words are equal ignoring case (and apostrophe style).
pub fn eq_ignore_case(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    a.chars().flat_map(fold).eq(b.chars().flat_map(fold))
}

/// Orders two words ignoring case (and apostrophe style): binary search over a sorted,
/// lower-case word list without lowering the word first.
pub fn cmp_ignore_case(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.bytes().map(|c| c.to_ascii_lowercase()).cmp(b.bytes().map(|c| c.to_ascii_lowercase()));
    }
    a.chars().flat_map(fold).cmp(b.chars().flat_map(fold))
}

/// A word with its plural or possessive ending taken off (see [`plural_stem`]), kept as
/// a slice of the word plus a replacement ending so that comparing costs nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stem<'a> {
    /// The part of the word kept.
    pub base: &'a str,
    /// What replaces the removed ending (`y` for `-ies`), usually empty.
    pub tail: &'static str,
}

impl Stem<'_> {
    /// The word itself, nothing removed (languages without plural rules).
    pub fn whole(word: &str) -> Stem<'_> {
        Stem { base: word, tail: "" }
    }

    /// Whether this stem equals `lowered`, a stem already in lower case.
    pub fn matches(&self, lowered: &str) -> bool {
        let Some(head) = lowered.strip_suffix(self.tail) else {
            return false;
        };
        if self.base.is_ascii() {
            return self.base.eq_ignore_ascii_case(head);
        }
        self.base.chars().flat_map(fold).eq(head.chars())
    }

    /// The stem in lower case (for the few words compared many times, like a keyphrase).
    pub fn to_lowercase(&self) -> String {
        self.base.chars().flat_map(fold).chain(self.tail.chars()).collect()
    }
}

fn ends_with_ignore_ascii_case(word: &str, suffix: &str) -> bool {
    word.len() >= suffix.len() && word.as_bytes()[word.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
}

/// Removes `suffix` (ASCII) from the end of `word` when it is there, in any case.
fn strip_ascii_suffix<'a>(word: &'a str, suffix: &str) -> Option<&'a str> {
    if ends_with_ignore_ascii_case(word, suffix) {
        word.get(..word.len() - suffix.len())
    } else {
        None
    }
}

/// The simple English forms keyphrase matching treats as one word: the possessive
/// `'s` / `’s` (and the `'` of `dogs'`) is removed, then a plural ending: `-ies` →
/// `-y` (`puppies` → `puppy`), `-sses`, `-ches`, `-shes`, `-xes`, `-zes` lose `-es`
/// (`boxes` → `box`), and a final `-s` goes unless the word ends in `-ss`, `-us` or
/// `-is` or is three letters or shorter (`shoes` → `shoe`, but `bus`, `this`, `gas`
/// stay). No other endings (`-ing`, `-ed`) are removed, so `train` and `training`
/// are different words.
pub fn plural_stem(word: &str) -> Stem<'_> {
    let mut base = word;
    for possessive in ["'s", "\u{2019}s"] {
        if let Some(stripped) = strip_ascii_suffix_any(base, possessive) {
            return Stem { base: stripped, tail: "" };
        }
    }
    for apostrophe in ["'", "\u{2019}"] {
        if let Some(stripped) = base.strip_suffix(apostrophe) {
            base = stripped;
        }
    }
    let letters = base.chars().count();
    if letters > 4 {
        if let Some(stem) = strip_ascii_suffix(base, "ies") {
            return Stem { base: stem, tail: "y" };
        }
    }
    for plural in ["sses", "ches", "shes", "xes", "zes"] {
        if ends_with_ignore_ascii_case(base, plural) {
            if let Some(stem) = strip_ascii_suffix(base, "es") {
                return Stem { base: stem, tail: "" };
            }
        }
    }
    let keeps_s = ["ss", "us", "is"].iter().any(|s| ends_with_ignore_ascii_case(base, s));
    if letters > 3 && !keeps_s {
        if let Some(stem) = strip_ascii_suffix(base, "s") {
            return Stem { base: stem, tail: "" };
        }
    }
    Stem { base, tail: "" }
}

/// [`strip_ascii_suffix`] for a suffix that may start with a non-ASCII apostrophe.
fn strip_ascii_suffix_any<'a>(word: &'a str, suffix: &str) -> Option<&'a str> {
    let (head, last) = suffix.split_at(suffix.len() - 1);
    let without_last = strip_ascii_suffix(word, last)?;
    without_last.strip_suffix(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_apostrophes_and_numbers_inside() {
        let found: Vec<_> = words("Don’t stop: it's 3.5 km, 1,000 dog-friendly cafés… ‘quoted’ end.").collect();
        assert_eq!(
            found,
            vec!["Don’t", "stop", "it's", "3.5", "km", "1,000", "dog", "friendly", "cafés", "quoted", "end"]
        );
        assert_eq!(word_count(""), 0);
        assert_eq!(word_count("  — … "), 0);
        assert_eq!(word_count("日本語 テキスト"), 2);
    }

    #[test]
    fn sentences_split_at_terminators_not_abbreviations() {
        let text = "Dr. Smith arrived at 3.30 p.m. today. He said \"Hello!\" Then he left… Visit example.com? \
                    Yes, e.g. this one. J. R. Tolkien wrote it.";
        let found: Vec<_> = sentences(text).collect();
        assert_eq!(
            found,
            vec![
                "Dr. Smith arrived at 3.30 p.m. today.",
                "He said \"Hello!\"",
                "Then he left…",
                "Visit example.com?",
                "Yes, e.g. this one.",
                "J. R. Tolkien wrote it.",
            ]
        );
        assert_eq!(sentences("No terminator at all").collect::<Vec<_>>(), vec!["No terminator at all"]);
        assert_eq!(sentences("今日は晴れ。明日は雨！").collect::<Vec<_>>(), vec!["今日は晴れ。", "明日は雨！"]);
        assert_eq!(sentences(" ... !! ").count(), 0);
    }

    #[test]
    fn syllables_of_common_words() {
        let cases = [
            ("the", 1),
            ("cat", 1),
            ("make", 1),
            ("makes", 1),
            ("table", 2),
            ("whole", 1),
            ("boxes", 2),
            ("pages", 2),
            ("jumped", 1),
            ("wanted", 2),
            ("played", 1),
            ("happy", 2),
            ("yes", 1),
            ("reading", 2),
            ("readability", 5),
            ("information", 4),
            ("organization", 5),
            ("2026", 1),
        ];
        for (word, expected) in cases {
            assert_eq!(syllables(word), expected, "{word}");
        }
    }

    #[test]
    fn flesch_formula() {
        // 100 words, 5 sentences, 130 syllables: 206.835 − 1.015·20 − 84.6·1.3 = 76.555.
        let score = flesch_reading_ease(100, 5, 130).unwrap_or_default();
        assert!((score - 76.555).abs() < 1e-9, "{score}");
        assert_eq!(flesch_reading_ease(0, 0, 0), None);
    }

    #[test]
    fn plural_stems() {
        let cases = [
            ("puppies", "puppy"),
            ("boxes", "box"),
            ("watches", "watch"),
            ("Shoes", "shoe"),
            ("dogs", "dog"),
            ("dog's", "dog"),
            ("dogs'", "dog"),
            ("Dog’s", "dog"),
            ("bus", "bus"),
            ("this", "this"),
            ("class", "class"),
            ("gas", "gas"),
            ("training", "training"),
            ("cafés", "café"),
        ];
        for (word, stem) in cases {
            assert!(plural_stem(word).matches(stem), "{word} → {:?}", plural_stem(word));
            assert_eq!(plural_stem(word).to_lowercase(), stem);
        }
    }

    #[test]
    fn case_insensitive_comparison() {
        assert!(eq_ignore_case("However", "however"));
        assert!(eq_ignore_case("ISN’T", "isn't"));
        assert!(eq_ignore_case("Ärger", "ärger"));
        assert_eq!(cmp_ignore_case("Also", "although"), Ordering::Less);
        assert_eq!(cmp_ignore_case("THEN", "then"), Ordering::Equal);
    }
}
