//! The analyzer against hand-written articles: a table of articles, each with the
//! check scores it must get, and the properties every analysis has.

use super::*;

const KEY: &str = "running shoes";

/// Ten-word sentences with no keyphrase, transition word, passive or long word.
const FILLER: [&str; 10] = [
    "Our team walks the dogs in the park every morning.",
    "The small cafe on the corner sells fresh bread daily.",
    "My neighbor grows tomatoes and beans in her back garden.",
    "We like to read short books on quiet rainy evenings.",
    "The city bus stops near the school at eight o'clock.",
    "Kids play games on the green field after their lunch.",
    "A good map helps you find the best trails nearby.",
    "She drinks warm tea with honey when it is cold.",
    "The old bridge crosses a wide river near the farm.",
    "People often visit the lake to watch the birds fly.",
];
/// Ten words, the keyphrase once.
const KEY_SENTENCE: &str = "Good running shoes make every walk feel much more fun.";
/// Ten words with a transition word.
const TRANSITION: &str = "However, the weather was nice and the roads were dry.";
/// Ten words in the passive voice.
const PASSIVE: &str = "The new path was built by the town last summer.";
/// Twenty-three words.
const LONG: &str =
    "The long walk from the north gate to the south gate of the big city park takes about two hours on foot today.";
/// Eleven long, many-syllabled words.
const HARD: &str = "Institutional administrators systematically underestimate organizational communication \
                    difficulties, particularly regarding interdepartmental coordination.";
const TITLE: &str = "Running Shoes: How to Pick a Pair That Fits You Well";
const META_128: &str = "Find running shoes that fit: our guide compares cushioning, grip and weight so your next pair \
                        feels right from the first stride.";

/// `total` sentences: `count` of `special` spread evenly, filler around them.
fn with(total: usize, special: &'static str, count: usize) -> Vec<&'static str> {
    (0..total)
        .map(|i| if (i + 1) * count / total > i * count / total { special } else { FILLER[i % FILLER.len()] })
        .collect()
}

fn filler(total: usize) -> Vec<&'static str> {
    with(total, "", 0)
}

fn p(sentences: &[&str]) -> String {
    format!("<p>{}</p>\n", sentences.join(" "))
}

/// Sentences in paragraphs of `per` sentences.
fn paragraphs(sentences: &[&str], per: usize) -> String {
    sentences.chunks(per).map(p).collect()
}

fn h2(text: &str) -> String {
    format!("<h2>{text}</h2>\n")
}

fn article(html: String) -> ArticleText {
    ArticleText {
        title: TITLE.into(),
        seo_title: TITLE.into(),
        slug: "running-shoes".into(),
        meta_description: META_128.into(),
        html: format!("<h1>{TITLE}</h1>\n{html}"),
        focus_keyphrase: KEY.into(),
        language: "en".into(),
        site_host: "example.com".into(),
    }
}

fn with_title(seo_title: &str) -> ArticleText {
    ArticleText { seo_title: seo_title.into(), ..article(p(&[KEY_SENTENCE])) }
}

fn with_slug(slug: &str) -> ArticleText {
    ArticleText { slug: slug.into(), ..article(p(&[KEY_SENTENCE])) }
}

fn with_meta(meta: &str) -> ArticleText {
    ArticleText { meta_description: meta.into(), ..article(p(&[KEY_SENTENCE])) }
}

/// Four H2 sections of 100 words, `reflecting` of whose headings hold the keyphrase.
fn sections(reflecting: usize) -> ArticleText {
    let headings = [
        "Why running shoes matter",
        "Caring for your running shoe",
        "Running shoes on a budget",
        "When to replace running shoes",
    ];
    let plain = ["Where to buy a pair", "What to avoid", "Fit and comfort", "Final thoughts"];
    let mut html = p(&[KEY_SENTENCE]);
    for at in 0..4 {
        html += &h2(if at < reflecting { headings[at] } else { plain[at] });
        html += &p(&filler(10));
    }
    article(html)
}

struct Case {
    name: &'static str,
    article: ArticleText,
    expect: &'static [(&'static str, u8)],
}

fn cases() -> Vec<Case> {
    use check::*;
    let link_body = |link: &str| p(&[KEY_SENTENCE, &format!("Read {link} before you buy.")]);
    vec![
        Case {
            name: "density 0.4 %",
            article: article(paragraphs(&with(50, KEY_SENTENCE, 2), 10)),
            expect: &[(KEYPHRASE_DENSITY, 4), (TEXT_LENGTH, 9)],
        },
        Case {
            name: "density 2 %",
            article: article(paragraphs(&with(50, KEY_SENTENCE, 10), 10)),
            expect: &[(KEYPHRASE_DENSITY, 9)],
        },
        Case {
            name: "density 3.5 %",
            article: article(paragraphs(&with(40, KEY_SENTENCE, 14), 10)),
            expect: &[(KEYPHRASE_DENSITY, 5)],
        },
        Case {
            name: "density 6 %",
            article: article(paragraphs(&with(50, KEY_SENTENCE, 30), 10)),
            expect: &[(KEYPHRASE_DENSITY, 0)],
        },
        Case {
            name: "keyphrase absent from the body",
            article: article(paragraphs(&filler(50), 10)),
            expect: &[(KEYPHRASE_DENSITY, 2), (KEYPHRASE_IN_INTRODUCTION, 3)],
        },
        Case {
            name: "easy text",
            article: article(paragraphs(&filler(30), 10)),
            expect: &[(FLESCH_READING_EASE, 9), (SENTENCE_LENGTH, 9)],
        },
        Case {
            name: "hard text",
            article: article(paragraphs(&[HARD; 30], 10)),
            expect: &[(FLESCH_READING_EASE, 2), (SENTENCE_LENGTH, 9), (PARAGRAPH_LENGTH, 9)],
        },
        Case {
            name: "missing meta description",
            article: with_meta(""),
            expect: &[(META_DESCRIPTION_LENGTH, 1), (KEYPHRASE_IN_META_DESCRIPTION, 3)],
        },
        Case {
            name: "128-character meta description",
            article: with_meta(META_128),
            expect: &[(META_DESCRIPTION_LENGTH, 9), (KEYPHRASE_IN_META_DESCRIPTION, 9)],
        },
        Case {
            name: "long meta description without the keyphrase",
            article: with_meta(
                "Our guide compares cushioning, grip and weight so your next pair feels right from the first stride, \
                 on roads, tracks and trails alike, in every season of the year.",
            ),
            expect: &[(META_DESCRIPTION_LENGTH, 6), (KEYPHRASE_IN_META_DESCRIPTION, 3)],
        },
        Case {
            name: "short meta description",
            article: with_meta("Running shoes, compared."),
            expect: &[(META_DESCRIPTION_LENGTH, 6), (KEYPHRASE_IN_META_DESCRIPTION, 9)],
        },
        Case {
            name: "keyphrase-only anchor",
            article: article(link_body("<a href=\"/guides/shoes\">running shoes</a>")),
            expect: &[(KEYPHRASE_ANCHOR, 2), (INTERNAL_LINKS, 9), (OUTBOUND_LINKS, 3)],
        },
        Case {
            name: "keyphrase-only anchor, singular and capitalised",
            article: article(link_body("<a href=\"https://other.org/\">Running Shoe</a>")),
            expect: &[(KEYPHRASE_ANCHOR, 2), (INTERNAL_LINKS, 3), (OUTBOUND_LINKS, 9)],
        },
        Case {
            name: "descriptive anchor",
            article: article(link_body(
                "<a href=\"https://www.example.com/trail\">our guide to trail running shoes</a>",
            )),
            expect: &[(KEYPHRASE_ANCHOR, 9), (INTERNAL_LINKS, 9)],
        },
        Case {
            name: "nofollow outbound and mixed internal links",
            article: article(
                link_body("<a href=\"https://other.org/\" rel=\"nofollow noopener\">a study</a>")
                    + &link_body("<a href=\"/a\">one guide</a> and <a href=\"/b\" rel=\"nofollow\">another</a>"),
            ),
            expect: &[(OUTBOUND_LINKS, 6), (INTERNAL_LINKS, 8), (KEYPHRASE_ANCHOR, 9)],
        },
        Case {
            name: "keyphrase at the start of the SEO title",
            article: with_title(TITLE),
            expect: &[(KEYPHRASE_IN_SEO_TITLE, 9), (SEO_TITLE_LENGTH, 9)],
        },
        Case {
            name: "keyphrase after a function word at the start of the SEO title",
            article: with_title("The Running Shoes Guide for Beginners and Experts"),
            expect: &[(KEYPHRASE_IN_SEO_TITLE, 9)],
        },
        Case {
            name: "keyphrase in the middle of the SEO title",
            article: with_title("How to Pick Running Shoes That Fit Your Feet and Budget"),
            expect: &[(KEYPHRASE_IN_SEO_TITLE, 6), (SEO_TITLE_LENGTH, 9)],
        },
        Case {
            name: "keyphrase words apart in the SEO title",
            article: with_title("Shoes for Running: A Guide for Beginners"),
            expect: &[(KEYPHRASE_IN_SEO_TITLE, 6)],
        },
        Case {
            name: "keyphrase absent from the SEO title",
            article: with_title("How to Pick a Pair of Trainers That Fits You Well"),
            expect: &[(KEYPHRASE_IN_SEO_TITLE, 2)],
        },
        Case {
            name: "short SEO title",
            article: with_title("Running Shoes"),
            expect: &[(KEYPHRASE_IN_SEO_TITLE, 9), (SEO_TITLE_LENGTH, 3)],
        },
        Case {
            name: "SEO title of 65 characters",
            article: with_title("Running Shoes: How to Pick a Pair That Fits You Well on Any Road"),
            expect: &[(SEO_TITLE_LENGTH, 6)],
        },
        Case {
            name: "empty SEO title falls back to the post title",
            article: with_title(""),
            expect: &[(KEYPHRASE_IN_SEO_TITLE, 9), (SEO_TITLE_LENGTH, 9)],
        },
        Case { name: "keyphrase slug", article: with_slug("running-shoes"), expect: &[(KEYPHRASE_IN_SLUG, 9)] },
        Case {
            name: "slug with a singular keyphrase word",
            article: with_slug("best-running-shoe"),
            expect: &[(KEYPHRASE_IN_SLUG, 9)],
        },
        Case {
            name: "slug with half the keyphrase",
            article: with_slug("shoes-guide"),
            expect: &[(KEYPHRASE_IN_SLUG, 6)],
        },
        Case {
            name: "slug without the keyphrase",
            article: with_slug("trail-guide"),
            expect: &[(KEYPHRASE_IN_SLUG, 3)],
        },
        Case { name: "no slug", article: with_slug(""), expect: &[(KEYPHRASE_IN_SLUG, 3)] },
        Case {
            name: "keyphrase in one sentence of the introduction",
            article: article(p(&[FILLER[0], KEY_SENTENCE])),
            expect: &[(KEYPHRASE_IN_INTRODUCTION, 9)],
        },
        Case {
            name: "keyphrase words across sentences of the introduction",
            article: article(p(&["Good shoes help.", "Running is fun."]) + &p(&[KEY_SENTENCE])),
            expect: &[(KEYPHRASE_IN_INTRODUCTION, 6)],
        },
        Case {
            name: "keyphrase only after the introduction",
            article: article(p(&filler(2)) + &p(&[KEY_SENTENCE])),
            expect: &[(KEYPHRASE_IN_INTRODUCTION, 3)],
        },
        Case {
            name: "content words of a longer keyphrase in the introduction",
            article: ArticleText {
                focus_keyphrase: "how to choose running shoes".into(),
                ..article(p(&["Choose shoes made for running.", FILLER[1]]))
            },
            expect: &[(KEYPHRASE_IN_INTRODUCTION, 9), (KEYPHRASE_IN_SLUG, 9)],
        },
        Case {
            name: "another form of a keyphrase word in the introduction",
            article: ArticleText {
                focus_keyphrase: "how to choose running shoes".into(),
                ..article(p(&["Choosing shoes for running.", FILLER[1]]))
            },
            expect: &[(KEYPHRASE_IN_INTRODUCTION, 3)],
        },
        Case { name: "subheadings 0 %", article: sections(0), expect: &[(KEYPHRASE_IN_SUBHEADINGS, 3)] },
        Case {
            name: "subheadings 50 %",
            article: sections(2),
            expect: &[(KEYPHRASE_IN_SUBHEADINGS, 9), (SUBHEADING_DISTRIBUTION, 9)],
        },
        Case { name: "subheadings 100 %", article: sections(4), expect: &[(KEYPHRASE_IN_SUBHEADINGS, 3)] },
        Case {
            name: "350 words without a subheading",
            article: article(paragraphs(&filler(35), 7)),
            expect: &[
                (SUBHEADING_DISTRIBUTION, 2),
                (KEYPHRASE_IN_SUBHEADINGS, 2),
                (PARAGRAPH_LENGTH, 9),
                (TEXT_LENGTH, 9),
            ],
        },
        Case {
            name: "200 words without a subheading",
            article: article(paragraphs(&filler(20), 10)),
            expect: &[(SUBHEADING_DISTRIBUTION, 9), (KEYPHRASE_IN_SUBHEADINGS, 9), (TEXT_LENGTH, 3)],
        },
        Case {
            name: "330 words after a subheading",
            article: article(p(&filler(10)) + &h2("Fit") + &paragraphs(&filler(33), 11)),
            expect: &[(SUBHEADING_DISTRIBUTION, 6)],
        },
        Case {
            name: "360 words before the first subheading",
            article: article(paragraphs(&filler(36), 12) + &h2("Fit") + &p(&filler(5))),
            expect: &[(SUBHEADING_DISTRIBUTION, 3)],
        },
        Case {
            name: "a 160-word paragraph",
            article: article(p(&filler(16)) + &p(&filler(5))),
            expect: &[(PARAGRAPH_LENGTH, 6)],
        },
        Case { name: "a 210-word paragraph", article: article(p(&filler(21))), expect: &[(PARAGRAPH_LENGTH, 3)] },
        Case {
            name: "passive voice in 10 % of sentences",
            article: article(paragraphs(&with(20, PASSIVE, 2), 10)),
            expect: &[(PASSIVE_VOICE, 9)],
        },
        Case {
            name: "passive voice in 15 % of sentences",
            article: article(paragraphs(&with(20, PASSIVE, 3), 10)),
            expect: &[(PASSIVE_VOICE, 6)],
        },
        Case {
            name: "passive voice in 20 % of sentences",
            article: article(paragraphs(&with(20, PASSIVE, 4), 10)),
            expect: &[(PASSIVE_VOICE, 3)],
        },
        Case {
            name: "transition words in 30 % of sentences",
            article: article(paragraphs(&with(30, TRANSITION, 9), 10)),
            expect: &[(TRANSITION_WORDS, 9)],
        },
        Case {
            name: "transition words in 20 % of sentences",
            article: article(paragraphs(&with(30, TRANSITION, 6), 10)),
            expect: &[(TRANSITION_WORDS, 6)],
        },
        Case {
            name: "transition words in 10 % of sentences",
            article: article(paragraphs(&with(30, TRANSITION, 3), 10)),
            expect: &[(TRANSITION_WORDS, 3)],
        },
        Case {
            name: "a short text without transition words",
            article: article(paragraphs(&filler(10), 10)),
            expect: &[(TRANSITION_WORDS, 9)],
        },
        Case {
            name: "long sentences in 25 % of sentences",
            article: article(paragraphs(&with(16, LONG, 4), 8)),
            expect: &[(SENTENCE_LENGTH, 9)],
        },
        Case {
            name: "long sentences in 30 % of sentences",
            article: article(paragraphs(&with(20, LONG, 6), 5)),
            expect: &[(SENTENCE_LENGTH, 6)],
        },
        Case {
            name: "long sentences in 40 % of sentences",
            article: article(paragraphs(&with(20, LONG, 8), 5)),
            expect: &[(SENTENCE_LENGTH, 3)],
        },
    ]
}

#[test]
fn hand_written_articles_get_their_expected_scores() {
    let mut failures = Vec::new();
    for case in cases() {
        let analysis = analyze(&case.article);
        for &(id, expected) in case.expect {
            match analysis.checks.iter().find(|c| c.id == id) {
                Some(found) if found.score == expected => {}
                Some(found) => failures.push(format!(
                    "{}: {id} scored {} (expected {expected}): {}",
                    case.name, found.score, found.message
                )),
                None => failures.push(format!("{}: no {id} check", case.name)),
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn stats_are_the_figures_behind_the_checks() {
    let analysis = analyze(&article(paragraphs(&with(50, KEY_SENTENCE, 2), 10)));
    assert_eq!(analysis.stats.words, 500);
    assert_eq!(analysis.stats.sentences, 50);
    assert_eq!(analysis.stats.keyphrase_count, 2);
    assert_eq!(analysis.stats.keyphrase_density, 0.4);
    assert!(analysis.stats.flesch_reading_ease >= 60.0, "{:?}", analysis.stats);
    let hard = analyze(&article(paragraphs(&[HARD; 30], 10)));
    assert!(hard.stats.flesch_reading_ease < 30.0, "{:?}", hard.stats);
}

#[test]
fn every_check_is_produced_in_a_fixed_order_and_the_score_is_their_mean() {
    use check::*;
    let analysis = analyze(&sections(2));
    let ids: Vec<&str> = analysis.checks.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![
            KEYPHRASE_IN_SEO_TITLE,
            KEYPHRASE_IN_INTRODUCTION,
            KEYPHRASE_IN_SLUG,
            KEYPHRASE_IN_META_DESCRIPTION,
            KEYPHRASE_IN_SUBHEADINGS,
            KEYPHRASE_DENSITY,
            TEXT_LENGTH,
            META_DESCRIPTION_LENGTH,
            SEO_TITLE_LENGTH,
            INTERNAL_LINKS,
            OUTBOUND_LINKS,
            KEYPHRASE_ANCHOR,
            FLESCH_READING_EASE,
            SENTENCE_LENGTH,
            PARAGRAPH_LENGTH,
            SUBHEADING_DISTRIBUTION,
            TRANSITION_WORDS,
            PASSIVE_VOICE,
        ]
    );
    assert_eq!(analysis.language, "en");
    let sum: u32 = analysis.checks.iter().map(|c| u32::from(c.score)).sum();
    let expected = (100.0 * f64::from(sum) / (9.0 * analysis.checks.len() as f64)).round();
    assert_eq!(f64::from(analysis.score), expected);
    assert!(analysis.checks.iter().all(|c| c.score <= 9 && !c.message.is_empty()));
    let seo_checks = analysis.checks.iter().take_while(|c| c.group == CheckGroup::Seo).count();
    assert_eq!(seo_checks, 12);
    assert!(analysis.flagged().all(|c| c.score < 7));
}

#[test]
fn the_same_article_gives_the_same_analysis() {
    let a =
        article(paragraphs(&with(40, TRANSITION, 9), 10) + &h2("Why running shoes matter") + &p(&with(10, PASSIVE, 2)));
    let first = analyze(&a);
    let second = analyze(&a.clone());
    assert_eq!(first, second);
    assert_eq!(format!("{first:?}"), format!("{second:?}"));
}

#[test]
fn a_non_english_site_gets_the_generic_set() {
    let text = "<h1>Laufschuhe kaufen</h1><p>Gute Laufschuhe machen jeden Lauf leichter. Wir testen viele Modelle.</p>";
    let a = ArticleText {
        title: "Laufschuhe kaufen: so finden Sie das passende Paar".into(),
        seo_title: String::new(),
        slug: "laufschuhe-kaufen".into(),
        meta_description: "Laufschuhe im Test.".into(),
        html: text.into(),
        focus_keyphrase: "Laufschuhe".into(),
        language: "de-DE".into(),
        site_host: "example.de".into(),
    };
    let analysis = analyze(&a);
    assert_eq!(analysis.language, "generic");
    let ids: Vec<&str> = analysis.checks.iter().map(|c| c.id.as_str()).collect();
    for left_out in [check::FLESCH_READING_EASE, check::TRANSITION_WORDS, check::PASSIVE_VOICE] {
        assert!(!ids.contains(&left_out), "{left_out} in {ids:?}");
    }
    assert_eq!(ids.len(), 15);
    assert_eq!(analysis.stats.flesch_reading_ease, 0.0);
    let score = |id: &str| analysis.checks.iter().find(|c| c.id == id).map(|c| c.score);
    assert_eq!(score(check::KEYPHRASE_IN_SEO_TITLE), Some(9));
    assert_eq!(score(check::KEYPHRASE_IN_INTRODUCTION), Some(9));
    assert_eq!(score(check::KEYPHRASE_IN_SLUG), Some(9));
    assert_eq!(analysis.stats.keyphrase_count, 1);
}

#[test]
fn no_keyphrase_fails_the_keyphrase_checks_and_nothing_else() {
    let a = ArticleText { focus_keyphrase: " ".into(), ..sections(2) };
    let analysis = analyze(&a);
    use check::*;
    for check in &analysis.checks {
        let keyphrase_check = [
            KEYPHRASE_IN_SEO_TITLE,
            KEYPHRASE_IN_INTRODUCTION,
            KEYPHRASE_IN_SLUG,
            KEYPHRASE_IN_META_DESCRIPTION,
            KEYPHRASE_IN_SUBHEADINGS,
            KEYPHRASE_DENSITY,
            KEYPHRASE_ANCHOR,
        ]
        .contains(&check.id.as_str());
        if keyphrase_check {
            assert_eq!(check.score, 0, "{check:?}");
        }
    }
    assert_eq!(analysis.stats.keyphrase_count, 0);
}

#[test]
fn empty_and_broken_articles_are_scored_without_panicking() {
    let empty = analyze(&ArticleText::default());
    assert_eq!(empty.language, "en");
    assert_eq!(empty.checks.len(), 18);
    assert!(empty.score < 20, "{empty:?}");
    let readability: Vec<_> = empty.checks.iter().filter(|c| c.group == CheckGroup::Readability).collect();
    assert!(readability.iter().all(|c| c.score == 0), "{readability:?}");
    for html in [
        "<p>text <a href=\"x",
        "<script>running shoes</script>",
        "</p></div><<>>&amp;&#xFFFFFF;",
        "<h2></h2><p> . . . </p>",
    ] {
        let analysis = analyze(&ArticleText { html: html.into(), ..article(String::new()) });
        assert_eq!(analysis.checks.len(), 18, "{html}");
    }
    let scripted =
        analyze(&ArticleText { html: "<script>running shoes running shoes</script>".into(), ..article(String::new()) });
    assert_eq!(scripted.stats.words, 0);
}
