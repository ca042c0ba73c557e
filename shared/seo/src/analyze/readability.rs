//! The readability checks: Flesch reading ease, sentence and paragraph length,
//! subheading distribution, transition words and passive voice. Sentences are those of
//! the body's prose (paragraphs, list items, captions, quotes; not headings).
//! Thresholds follow Yoast's published readability scoring table
//! (<https://github.com/Yoast/wordpress-seo/blob/trunk/packages/yoastseo/src/scoring/assessments/scoringDocumentation/SCORING%20READABILITY.md>)
//! and Flesch (1948); docs/analysis.md lists every source.

use super::{check, finding, Article, Check, CheckGroup};
use crate::analyze::rules::Lexicon;
use crate::html::BlockKind;
use crate::text;

fn readability(id: &str, score: u8, message: String) -> Check {
    finding(id, CheckGroup::Readability, score, message)
}

/// The check a readability check gives for a body without prose.
pub(super) fn no_text(id: &str) -> Check {
    readability(id, 0, "The body has no text to read: write the article first.".into())
}

/// The prose's sentences as word slices.
fn prose_sentences<'d>(a: &'d Article) -> impl Iterator<Item = &'d [&'d str]> + 'd {
    a.doc.prose().flat_map(|b| a.doc.block_sentences(b))
}

/// The Flesch reading ease of the prose (clamped to 0–100, rounded to one decimal),
/// `None` without prose.
pub(super) fn flesch(a: &Article) -> Option<f64> {
    let (mut words, mut sentences, mut syllables) = (0usize, 0usize, 0usize);
    for sentence in prose_sentences(a) {
        sentences += 1;
        words += sentence.len();
        syllables += sentence.iter().map(|w| text::syllables(w) as usize).sum::<usize>();
    }
    let score = text::flesch_reading_ease(words, sentences, syllables)?;
    Some((score.clamp(0.0, 100.0) * 10.0).round() / 10.0)
}

/// Flesch reading ease (English): ≥ 60 → 9 (plain English or easier), 50–60 → 6
/// (fairly difficult), 30–50 → 4 (difficult), < 30 → 2 (very difficult). Bands from
/// Flesch (1948), as Yoast's former "Flesch reading ease" assessment used them.
pub(super) fn flesch_reading_ease(score: Option<f64>) -> Check {
    let id = check::FLESCH_READING_EASE;
    let Some(score) = score else { return no_text(id) };
    let (points, verdict) = if score >= 60.0 {
        (9, "easy enough for most readers")
    } else if score >= 50.0 {
        (6, "fairly difficult: use shorter sentences and shorter words")
    } else if score >= 30.0 {
        (4, "difficult: use shorter sentences and shorter words")
    } else {
        (2, "very difficult: split long sentences and prefer short, common words")
    };
    readability(id, points, format!("The Flesch reading ease is {score:.1}, {verdict}."))
}

/// Sentences of more than 20 words: at most 25 % → 9, at most 30 % → 6, more → 3.
/// Source: Yoast's "Sentence length" assessment.
pub(super) fn sentence_length(a: &Article) -> Check {
    let id = check::SENTENCE_LENGTH;
    let (mut total, mut long) = (0usize, 0usize);
    for sentence in prose_sentences(a) {
        total += 1;
        long += usize::from(sentence.len() > 20);
    }
    if total == 0 {
        return no_text(id);
    }
    let percent = long * 100 / total;
    let score = if long * 100 <= 25 * total {
        9
    } else if long * 100 <= 30 * total {
        6
    } else {
        3
    };
    let message = if score == 9 {
        format!("{long} of {total} sentences ({percent} %) have more than 20 words, within the 25 % recommended.")
    } else {
        format!("{long} of {total} sentences ({percent} %) have more than 20 words, over the 25 % recommended: shorten some.")
    };
    readability(id, score, message)
}

/// Paragraph length: every paragraph at most 150 words → 9, the longest 151–200 → 6,
/// longer → 3. Source: Yoast's "Paragraph length" assessment.
pub(super) fn paragraph_length(a: &Article) -> Check {
    let id = check::PARAGRAPH_LENGTH;
    if a.doc.prose().next().is_none() {
        return no_text(id);
    }
    let lengths = a.doc.blocks.iter().filter(|b| b.kind == BlockKind::Paragraph).map(|b| b.words.len());
    let (mut long, mut longest) = (0usize, 0usize);
    for words in lengths {
        long += usize::from(words > 150);
        longest = longest.max(words);
    }
    let score = match longest {
        0..=150 => 9,
        151..=200 => 6,
        _ => 3,
    };
    let message = if score == 9 {
        "No paragraph has more than 150 words.".to_owned()
    } else {
        format!("{long} paragraph(s) have more than 150 words (the longest {longest}): split them.")
    };
    readability(id, score, message)
}

/// Words between subheadings (`<h2>`–`<h6>`; the text before the first one counts as a
/// section): the longest section at most 300 words → 9, 301–350 → 6, longer → 3; no
/// subheading → 9 for at most 300 words, else 2. Source: Yoast's "Subheading
/// distribution" assessment.
pub(super) fn subheading_distribution(a: &Article) -> Check {
    let id = check::SUBHEADING_DISTRIBUTION;
    if a.doc.prose().next().is_none() {
        return no_text(id);
    }
    let mut sections = vec![0usize];
    let mut subheadings = 0usize;
    for block in a.doc.body() {
        if block.is_subheading() {
            subheadings += 1;
            sections.push(0);
        } else if let Some(current) = sections.last_mut() {
            *current += block.words.len();
        }
    }
    let total: usize = sections.iter().sum();
    if subheadings == 0 {
        return if total <= 300 {
            readability(id, 9, format!("The text has {total} words and no subheadings; short enough not to need them."))
        } else {
            readability(
                id,
                2,
                format!("The text has {total} words and no subheadings: add a subheading at least every 300 words."),
            )
        };
    }
    let longest = sections.iter().copied().max().unwrap_or_default();
    let over = sections.iter().filter(|&&w| w > 300).count();
    let score = match longest {
        0..=300 => 9,
        301..=350 => 6,
        _ => 3,
    };
    let message = if score == 9 {
        "No section runs more than 300 words without a subheading.".to_owned()
    } else {
        format!(
            "{over} section(s) run more than 300 words without a subheading (the longest {longest}): add subheadings."
        )
    };
    readability(id, score, message)
}

/// Sentences with a transition word or phrase: for texts of 200 words or more, at
/// least 30 % → 9, 20–30 % → 6, less → 3; shorter texts → 9. Source: Yoast's
/// "Transition words" assessment.
pub(super) fn transition_words(a: &Article, lexicon: &Lexicon) -> Check {
    let id = check::TRANSITION_WORDS;
    let (mut total, mut with, mut words) = (0usize, 0usize, 0usize);
    for sentence in prose_sentences(a) {
        total += 1;
        words += sentence.len();
        with += usize::from(lexicon.has_transition(sentence));
    }
    if total == 0 {
        return no_text(id);
    }
    let percent = with * 100 / total;
    if words < 200 {
        return readability(
            id,
            9,
            format!("{with} of {total} sentences use a transition word; the text is short enough."),
        );
    }
    let score = if with * 100 >= 30 * total {
        9
    } else if with * 100 >= 20 * total {
        6
    } else {
        3
    };
    let message = if score == 9 {
        format!("{with} of {total} sentences ({percent} %) use a transition word, at least the 30 % recommended.")
    } else {
        format!(
            "Only {with} of {total} sentences ({percent} %) use a transition word (however, for example, as a result …): aim for 30 %."
        )
    };
    readability(id, score, message)
}

/// Sentences in the passive voice: at most 10 % → 9, at most 15 % → 6, more → 3.
/// Source: Yoast's "Passive voice" assessment.
pub(super) fn passive_voice(a: &Article, lexicon: &Lexicon) -> Check {
    let id = check::PASSIVE_VOICE;
    let (mut total, mut passive) = (0usize, 0usize);
    for sentence in prose_sentences(a) {
        total += 1;
        passive += usize::from(lexicon.has_passive(sentence));
    }
    if total == 0 {
        return no_text(id);
    }
    let percent = passive * 100 / total;
    let score = if passive * 100 <= 10 * total {
        9
    } else if passive * 100 <= 15 * total {
        6
    } else {
        3
    };
    let message = if score == 9 {
        format!("{passive} of {total} sentences ({percent} %) are passive, within the 10 % recommended.")
    } else {
        format!(
            "{passive} of {total} sentences ({percent} %) are passive, over the 10 % recommended: say who does what."
        )
    };
    readability(id, score, message)
}
