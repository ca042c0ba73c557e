//! Article writing: well-formed HTML that follows an idea's outline at the requested
//! length, composed from sentence templates filled with the idea's keywords.
//!
//! Wording is chosen by a [`SplitMix64`] seeded from the idea, so the same idea
//! always yields the same article. Length is steered globally: each section's budget
//! is the words still missing divided by the sections still to write, and a sentence
//! is only added while it brings the section closer to its budget, so the total lands
//! within a sentence or two of the target (well inside ±10%).

use crate::{AiError, ArticleOut, IdeaOut};

use super::text::{self, Intent, SplitMix64};

/// Largest article the offline writer accepts, in words.
pub const MAX_ARTICLE_WORDS: u32 = 20_000;

const GENERAL: &[&str] = &[
    "Anyone looking into {x} will quickly notice that the details matter more than the headlines.",
    "The simplest way to approach {x} is to start with what you already know and build from there.",
    "Most people who search for {x} want a clear answer they can act on today.",
    "It helps to look at {x} next to {s}, because the two are often considered together.",
    "A common mistake is to treat {x} as a one-off decision rather than an ongoing process.",
    "Budget, timing and personal goals all shape how much value you get from {x}.",
    "Experienced readers tend to judge {x} by consistency rather than by a single result.",
    "If you are new to {x}, focus on one change at a time so you can see what works.",
    "Reliable sources, honest reviews and your own notes are the best guides to {x}.",
    "Small improvements in how you handle {x} add up over weeks and months.",
    "Before making any decision about {x}, write down what success would look like for you.",
    "There is no single right answer for {x}, but there are clear patterns worth following.",
    "Many readers also ask about {s}, which connects naturally to {x}.",
    "Keep in mind that the options for {x} change over time, so revisit your choices every few months.",
    "A short checklist makes {x} far less overwhelming and much easier to repeat.",
    "The practical benefits of {x} usually show up in everyday routines first.",
    "When in doubt, choose the approach to {x} that is easiest to maintain.",
    "Clear expectations make it easier to tell whether your approach to {x} is really working.",
];

fn intent_sentences(intent: Intent) -> &'static [&'static str] {
    match intent {
        Intent::Commercial => &[
            "Price alone rarely tells the whole story when comparing {x}.",
            "Look for options in {x} with strong independent reviews and a fair return policy.",
            "The best choice of {x} depends on how often and how hard you will use it.",
            "Side-by-side comparisons of {x} reveal differences that product pages tend to hide.",
        ],
        Intent::Transactional => &[
            "Prices for {x} vary by season, so it pays to check more than one seller.",
            "Always confirm delivery times and warranty terms before you buy {x}.",
            "Discount codes and bundle offers can lower the cost of {x} noticeably.",
            "Reading the small print on returns saves trouble if your choice of {x} does not suit you.",
        ],
        Intent::Navigational => &[
            "The official channels are the safest place to manage anything related to {x}.",
            "Bookmark the pages you use most so {x} is always one click away.",
            "Support teams can resolve most questions about {x} faster than forums can.",
        ],
        Intent::Informational => &[
            "Understanding the basics of {x} makes every later step easier.",
            "Examples are often the fastest way to see {x} in practice.",
            "Learning the vocabulary around {x} helps you follow expert advice with confidence.",
        ],
    }
}

const CLOSING: &[&str] = &[
    "In short, a patient and well-informed approach to {k} pays off.",
    "Use the sections above as a checklist whenever you revisit {k}.",
    "With the right expectations, {k} can deliver lasting value.",
    "Start small, measure what changes and adjust your approach to {k} as you learn.",
    "Whatever your starting point, a clear plan makes {k} much easier to get right.",
];

const LIST_POINTS: &[&str] = &[
    "check the essentials before anything else",
    "compare at least two options side by side",
    "note what worked and what did not",
    "set a realistic budget and stick to it",
    "review your choice again after a few weeks",
    "ask people with real experience for their view",
    "keep records so progress is easy to see",
];

/// Accumulates HTML and its visible word count together.
struct Writer {
    html: String,
    words: u32,
}

impl Writer {
    fn element(&mut self, tag: &str, content: &str) {
        self.html.push('<');
        self.html.push_str(tag);
        self.html.push('>');
        self.html.push_str(&text::escape_html(content));
        self.html.push_str("</");
        self.html.push_str(tag);
        self.html.push_str(">\n");
        self.words += text::count_words(content);
    }
}

/// Picks sentence templates, preferring the least used so far (ties broken by the
/// seeded generator) so paragraphs do not repeat themselves.
struct Picker<'a> {
    pool: Vec<&'a str>,
    used: Vec<u32>,
}

impl<'a> Picker<'a> {
    fn new(pool: Vec<&'a str>) -> Self {
        let used = vec![0; pool.len()];
        Self { pool, used }
    }

    fn pick(&mut self, rng: &mut SplitMix64) -> &'a str {
        let min = self.used.iter().copied().min().unwrap_or(0);
        let fresh: Vec<usize> = (0..self.pool.len()).filter(|&i| self.used[i] == min).collect();
        let i = fresh.get(rng.below(fresh.len())).copied().unwrap_or(0);
        if let Some(u) = self.used.get_mut(i) {
            *u += 1;
        }
        self.pool.get(i).copied().unwrap_or("")
    }
}

/// Upper-cases the first letter of a sentence.
fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(f) => f.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Guesses the idea's intent from its content type (ideas do not carry intent).
fn intent_of(idea: &IdeaOut) -> Intent {
    match idea.content_type.as_str() {
        "listicle" | "comparison" | "review" => Intent::Commercial,
        "product_page" => Intent::Transactional,
        "resource_page" => Intent::Navigational,
        _ => Intent::Informational,
    }
}

/// Writes the article for `idea` at about `word_target` words.
pub fn generate_article(idea: &IdeaOut, word_target: u32) -> Result<ArticleOut, AiError> {
    if word_target == 0 || word_target > MAX_ARTICLE_WORDS {
        return Err(AiError::InvalidInput(format!(
            "word_target must be within 1..={MAX_ARTICLE_WORDS}, got {word_target}"
        )));
    }
    let keyword = text::clean_phrase(&idea.target_keyword);
    let title = if idea.title.trim().is_empty() { text::title_case(&keyword) } else { idea.title.trim().to_string() };
    if title.is_empty() || keyword.is_empty() {
        return Err(AiError::InvalidInput("idea needs a title or a target keyword".into()));
    }
    let secondaries: Vec<String> =
        idea.secondary_keywords.iter().map(|s| text::clean_phrase(s)).filter(|s| !s.is_empty()).collect();
    let headings: Vec<String> = idea.outline.iter().map(|h| h.trim().to_string()).filter(|h| !h.is_empty()).collect();
    let seed = text::stable_hash(&format!("{title}\u{1f}{keyword}\u{1f}{word_target}"));
    let mut c = Composer::new(keyword, secondaries, intent_of(idea), seed);
    c.w.element("h1", &title);

    // Sections: the intro (no heading) followed by one per outline heading.
    let sections: Vec<Option<&String>> = std::iter::once(None).chain(headings.iter().map(Some)).collect();
    let total_sections = sections.len();
    for (si, heading) in sections.iter().enumerate() {
        if let Some(h) = heading {
            c.w.element("h2", h);
        }
        let remaining_sections = (total_sections - si) as u32;
        let missing = word_target.saturating_sub(c.w.words);
        // Headings still to come take words too.
        let upcoming: u32 = sections[si + 1..].iter().flatten().map(|h| text::count_words(h)).sum();
        let is_last = si + 1 == total_sections && si > 0;
        // The last section ends with a closing sentence of about ten words.
        let budget =
            (missing.saturating_sub(upcoming) / remaining_sections.max(1)).saturating_sub(if is_last { 10 } else { 0 });
        c.write_section(si, heading.map(String::as_str), budget, is_last);
    }

    let html = c.w.html;
    let word_count = text::count_html_words(&html);
    let meta_description = meta_for(&title, &c.keyword, &c.secondaries);
    Ok(ArticleOut { title, html, word_count, meta_description })
}

/// The writing state of one article: its keywords, the seeded generator and
/// sentence pickers (whose call order fixes the wording) and the HTML so far.
struct Composer {
    keyword: String,
    secondaries: Vec<String>,
    rng: SplitMix64,
    picker: Picker<'static>,
    closing: Picker<'static>,
    w: Writer,
}

impl Composer {
    /// A composer whose sentence pool is the general templates plus the intent's.
    fn new(keyword: String, secondaries: Vec<String>, intent: Intent, seed: u64) -> Self {
        let mut pool: Vec<&'static str> = GENERAL.to_vec();
        pool.extend_from_slice(intent_sentences(intent));
        Self {
            keyword,
            secondaries,
            rng: SplitMix64::new(seed),
            picker: Picker::new(pool),
            closing: Picker::new(CLOSING.to_vec()),
            w: Writer { html: String::new(), words: 0 },
        }
    }

    /// Section topic: the secondary keyword a heading was built from, else the target.
    fn topic_for(&self, heading: &str) -> String {
        self.secondaries
            .iter()
            .find(|s| text::title_case(s) == heading)
            .cloned()
            .unwrap_or_else(|| self.keyword.clone())
    }

    /// A secondary keyword other than `topic` for the `{s}` slot, drawn with the
    /// seeded generator (the target keyword when there is none).
    fn other_for(&mut self, topic: &str) -> String {
        let candidates: Vec<&String> = self.secondaries.iter().filter(|s| s.as_str() != topic).collect();
        match candidates.get(self.rng.below(candidates.len())) {
            Some(s) => (*s).clone(),
            None => self.keyword.clone(),
        }
    }

    /// Writes section `si` (its heading is already written) within `budget` words:
    /// the intro sentence for the first section, sentences up to the budget, a
    /// closing sentence for the last, and a bulleted list in every second keyword
    /// section that has room for one.
    fn write_section(&mut self, si: usize, heading: Option<&str>, budget: u32, is_last: bool) {
        let topic = heading.map(|h| self.topic_for(h)).unwrap_or_else(|| self.keyword.clone());
        let mut paragraph: Vec<String> = Vec::new();
        if si == 0 {
            paragraph.push(self.intro());
        }
        let with_list = heading.is_some() && !is_last && si % 2 == 1 && budget >= 60;
        let list_words_estimate = if with_list { 30 } else { 0 };
        self.write_sentences(&topic, &mut paragraph, budget, list_words_estimate, is_last);
        if is_last {
            let closing = self.closing.pick(&mut self.rng);
            paragraph.push(capitalize(&closing.replace("{k}", &self.keyword)));
        }
        if !paragraph.is_empty() {
            self.w.element("p", &paragraph.join(" "));
        }
        if with_list {
            self.write_list(&topic);
        }
    }

    /// The article's opening sentences, naming the first two secondary keywords.
    fn intro(&self) -> String {
        let keyword = &self.keyword;
        let mut intro = format!(
            "This article covers {keyword} in practical terms, from the basics to the details that matter most."
        );
        if self.secondaries.len() >= 2 {
            intro.push_str(&format!(" Along the way it looks at {} and {}.", self.secondaries[0], self.secondaries[1]));
        }
        intro
    }

    /// Adds sentences about `topic` to `paragraph` while each brings the section
    /// (plus `reserved` words for a list) closer to `budget`, always at least one;
    /// every four sentences become a `<p>`. The last section opens with a closing
    /// template.
    fn write_sentences(&mut self, topic: &str, paragraph: &mut Vec<String>, budget: u32, reserved: u32, is_last: bool) {
        // Words already in the section: the intro, if this is the first one.
        let mut section_words: u32 = paragraph.iter().map(|s| text::count_words(s)).sum();
        loop {
            let template = if is_last && paragraph.is_empty() {
                self.closing.pick(&mut self.rng)
            } else {
                self.picker.pick(&mut self.rng)
            };
            let other = self.other_for(topic);
            let sentence =
                capitalize(&template.replace("{x}", topic).replace("{s}", &other).replace("{k}", &self.keyword));
            let n = text::count_words(&sentence);
            if section_words > 0 && section_words + reserved + n / 2 > budget {
                break;
            }
            section_words += n;
            paragraph.push(sentence);
            if paragraph.len() >= 4 {
                self.w.element("p", &paragraph.join(" "));
                paragraph.clear();
            }
        }
    }

    /// A short bulleted list of generic points about `topic`, starting at a seeded
    /// offset so lists differ between sections.
    fn write_list(&mut self, topic: &str) {
        self.w.element("p", &format!("Keep these points about {topic} in mind:"));
        self.w.html.push_str("<ul>\n");
        let start = self.rng.below(LIST_POINTS.len());
        for j in 0..3 {
            let point = LIST_POINTS[(start + j * 2) % LIST_POINTS.len()];
            self.w.element("li", &capitalize(point));
        }
        self.w.html.push_str("</ul>\n");
    }
}

/// Search snippet of at most 160 characters, cut at a word boundary.
fn meta_for(title: &str, keyword: &str, secondaries: &[String]) -> String {
    let mut meta = format!("{title}. A practical look at {keyword}");
    match secondaries {
        [a, b, ..] => meta.push_str(&format!(", including {a} and {b}.")),
        [a] => meta.push_str(&format!(", including {a}.")),
        [] => meta.push('.'),
    }
    if meta.chars().count() <= 160 {
        return meta;
    }
    let mut out = String::new();
    for word in meta.split_whitespace() {
        if out.chars().count() + word.chars().count() + 1 > 156 {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out.push_str("...");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idea() -> IdeaOut {
        IdeaOut {
            title: "Best Running Shoes in 2026: Our Top Picks".into(),
            outline: vec![
                "How We Evaluated Running Shoes".into(),
                "Best Running Shoes".into(),
                "Trail Running Shoes".into(),
                "Running Shoes for Flat Feet".into(),
                "Our Verdict".into(),
            ],
            target_keyword: "running shoes".into(),
            secondary_keywords: vec![
                "best running shoes".into(),
                "trail running shoes".into(),
                "running shoes for flat feet".into(),
            ],
            word_target: 1100,
            content_type: "listicle".into(),
        }
    }

    /// Minimal well-formedness check: every opened tag is closed in order.
    fn assert_well_formed(html: &str) {
        let mut stack: Vec<String> = Vec::new();
        let mut rest = html;
        while let Some(start) = rest.find('<') {
            let end = rest[start..].find('>').unwrap() + start;
            let tag = &rest[start + 1..end];
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
            } else {
                let name = tag.split_whitespace().next().unwrap().to_string();
                stack.push(name);
            }
            rest = &rest[end + 1..];
        }
        assert!(stack.is_empty(), "unclosed tags: {stack:?}");
    }

    #[test]
    fn article_is_well_formed_and_on_length() {
        for target in [300u32, 800, 1100, 2500] {
            let a = generate_article(&idea(), target).unwrap();
            assert_well_formed(&a.html);
            assert!(a.html.starts_with("<h1>Best Running Shoes in 2026: Our Top Picks</h1>"));
            assert_eq!(a.html.matches("<h2>").count(), 5);
            if target >= 800 {
                assert!(a.html.contains("<ul>") && a.html.contains("<li>"));
            }
            assert_eq!(a.word_count, text::count_html_words(&a.html));
            let lo = f64::from(target) * 0.9;
            let hi = f64::from(target) * 1.1;
            let wc = f64::from(a.word_count);
            assert!(wc >= lo && wc <= hi, "target {target}, got {}", a.word_count);
            assert!(a.meta_description.chars().count() <= 160);
            assert!(!a.html.to_lowercase().contains("lorem"));
        }
    }

    #[test]
    fn length_holds_across_targets_and_outline_sizes() {
        let mut short = idea();
        short.outline.truncate(2);
        let mut none = idea();
        none.outline.clear();
        for i in [idea(), short, none] {
            for target in (300..=4000).step_by(50) {
                let a = generate_article(&i, target).unwrap();
                let diff = (f64::from(a.word_count) - f64::from(target)).abs();
                assert!(diff <= f64::from(target) * 0.1, "target {target}, got {}", a.word_count);
                assert_well_formed(&a.html);
            }
        }
    }

    #[test]
    fn article_is_deterministic_and_escapes() {
        let mut i = idea();
        i.title = "Salt & <Pepper> Guide".into();
        let a = generate_article(&i, 900).unwrap();
        let b = generate_article(&i, 900).unwrap();
        assert_eq!(a, b);
        assert!(a.html.contains("Salt &amp; &lt;Pepper&gt; Guide"));
        assert_well_formed(&a.html);
    }

    #[test]
    fn invalid_targets_are_rejected() {
        assert!(matches!(generate_article(&idea(), 0), Err(AiError::InvalidInput(_))));
        let mut empty = idea();
        empty.title.clear();
        empty.target_keyword.clear();
        assert!(matches!(generate_article(&empty, 500), Err(AiError::InvalidInput(_))));
    }
}
