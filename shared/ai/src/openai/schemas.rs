//! Per AI function: the JSON Schema the answer must match, the answer's token
//! budget (`max_tokens`), the reply type it parses into, and the semantic checks a
//! schema cannot express (non-empty strings, counts as asked, indices in range,
//! an HTML body with words in it).
//!
//! Why all in one place: the schema sent to the server, the budget that bounds the
//! answer and the validation of what comes back must agree field by field; a
//! validation error is quoted back to the model on the retry, so its wording is
//! an instruction ("3 ideas were asked for, 2 given").
//!
//! Every object forbids extra keys and requires all its properties, as OpenAI's
//! strict structured outputs demand; array lengths use `minItems`/`maxItems`, which
//! OpenAI accepts and llama.cpp grammars enforce.

use serde::Deserialize;
use serde_json::{json, Value};

use super::chat::truncate_chars;
use crate::offline::text::{count_html_words, Intent};
use crate::{ArticleOut, ClusterLabel, IdeaOut, ImagePromptOut, OptimizeOut, OptimizeRequest};

/// Tokens of JSON punctuation and keys around every answer, beyond its items.
pub(super) const ANSWER_SLACK_TOKENS: u32 = 64;

/// Tokens per cluster label: the index, a 2–5 word name (~8), a one-sentence
/// description (~30), the intent and the keys (~15), with room to spare.
pub(super) const LABEL_TOKENS: u32 = 64;

/// Tokens per content idea: title (~15), four to six H2 headings (~60), target and
/// secondary keywords (~40), word target, content type and keys (~40).
pub(super) const IDEA_TOKENS: u32 = 200;

/// Tokens per word of an article answer: ~1.3 tokens per English word plus ~0.3 for
/// HTML tags and JSON string escaping (1.6), with 25 % headroom since the target
/// is "about" N words (×1.25 = 2).
pub(super) const ARTICLE_TOKENS_PER_WORD: u32 = 2;

/// Tokens of an article answer besides its body: title, `<h1>`, meta description
/// (≤ 160 characters, ~40 tokens), keys.
pub(super) const ARTICLE_OVERHEAD_TOKENS: u32 = 400;

/// Largest article answer, in tokens (OpenAI's small models answer at most 16k).
pub(super) const MAX_ARTICLE_TOKENS: u32 = 12_000;

/// Tokens per image prompt: a one-to-two sentence scene (~50), alt text (~15),
/// placement, heading (~10) and keys (~20).
pub(super) const IMAGE_PROMPT_TOKENS: u32 = 128;

/// Largest answer a rewrite may ask for, in tokens.
pub(super) const MAX_OPTIMIZE_TOKENS: u32 = 16_000;

/// The smallest word target an idea may carry: anything shorter is not an article.
pub(super) const MIN_WORD_TARGET: u32 = 100;

/// The largest word target an idea may carry.
pub(super) const MAX_WORD_TARGET: u32 = 10_000;

/// The article lengths an idea's schema offers, in words. Why a list and not a
/// range: an `enum` is the one integer constraint both OpenAI's strict schemas and
/// llama.cpp's grammars enforce (llama-cpp-python ignores `minimum`/`maximum`), so a
/// small model can no longer answer a word target of 25 and burn its retries on it.
/// Validation still accepts any target from [`MIN_WORD_TARGET`] to [`MAX_WORD_TARGET`].
pub(super) const WORD_TARGETS: [u32; 10] = [300, 500, 800, 1000, 1200, 1500, 2000, 2500, 3000, 5000];

/// Longest search-snippet description we store, as [`ArticleOut`] promises.
pub(super) const META_DESCRIPTION_MAX_CHARS: usize = 160;

/// The intents a label or cluster may carry, as stored.
const INTENTS: [&str; 4] = ["informational", "commercial", "transactional", "navigational"];

/// The content types an idea may carry, as stored.
pub(super) const CONTENT_TYPES: [&str; 7] =
    ["guide", "how_to", "listicle", "comparison", "review", "product_page", "resource_page"];

/// The image placements a prompt may carry.
const PLACEMENTS: [&str; 2] = ["featured", "in_article"];

/// `n` as a token count, saturating.
fn tokens(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// An object schema requiring every property and forbidding others.
fn object(properties: Value) -> Value {
    let required: Vec<String> = properties.as_object().map(|p| p.keys().cloned().collect()).unwrap_or_default();
    json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
}

/// A string schema.
fn string() -> Value {
    json!({"type": "string"})
}

/// A string schema allowing only `values`.
fn one_of(values: &[&str]) -> Value {
    json!({"type": "string", "enum": values})
}

/// An array schema of `items`, at least `min` long and at most `max` when given.
fn array(items: Value, min: usize, max: Option<usize>) -> Value {
    let mut schema = json!({"type": "array", "items": items, "minItems": min});
    if let Some(max) = max {
        schema["maxItems"] = json!(max);
    }
    schema
}

/// A trimmed string, or why it is refused when blank.
fn non_empty(value: &str, what: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        Err(format!("{what} is empty"))
    } else {
        Ok(value.to_string())
    }
}

/// Model answer for `name_clusters`.
#[derive(Deserialize)]
pub(super) struct LabelsReply {
    clusters: Vec<LabelReply>,
}

/// One cluster's label as the model proposes it.
#[derive(Deserialize)]
struct LabelReply {
    index: usize,
    name: String,
    description: String,
    intent: String,
}

/// Schema of the labels of `n` clusters: one entry per cluster.
pub(super) fn labels_schema(n: usize) -> Value {
    let label = object(json!({
        "index": {"type": "integer", "enum": (0..n).collect::<Vec<usize>>()},
        "name": string(),
        "description": string(),
        "intent": one_of(&INTENTS),
    }));
    object(json!({"clusters": array(label, n, Some(n))}))
}

/// Answer budget of labelling `n` clusters.
pub(super) fn labels_max_tokens(n: usize) -> u32 {
    tokens(n).saturating_mul(LABEL_TOKENS).saturating_add(ANSWER_SLACK_TOKENS)
}

/// One label per cluster, in order, or why the answer is refused: every index from
/// 0 to `n - 1` answered exactly once, with a name, a description and a known intent.
pub(super) fn validate_labels(reply: LabelsReply, n: usize) -> Result<Vec<ClusterLabel>, String> {
    let mut labels: Vec<Option<ClusterLabel>> = vec![None; n];
    for label in reply.clusters {
        let slot = labels
            .get_mut(label.index)
            .ok_or_else(|| format!("index {} is not one of the {n} clusters (0 to {})", label.index, n.max(1) - 1))?;
        if slot.is_some() {
            return Err(format!("cluster {} is answered twice", label.index));
        }
        let intent = Intent::parse(&label.intent).ok_or_else(|| {
            format!("intent \"{}\" of cluster {} is not one of {INTENTS:?}", label.intent, label.index)
        })?;
        *slot = Some(ClusterLabel {
            name: non_empty(&label.name, &format!("the name of cluster {}", label.index))?,
            description: non_empty(&label.description, &format!("the description of cluster {}", label.index))?,
            intent: intent.as_str().to_string(),
        });
    }
    let missing: Vec<usize> = labels.iter().enumerate().filter(|(_, l)| l.is_none()).map(|(i, _)| i).collect();
    if !missing.is_empty() {
        return Err(format!("clusters {missing:?} have no entry; give one entry for each of the {n} clusters"));
    }
    Ok(labels.into_iter().flatten().collect())
}

/// Model answer for `generate_ideas`.
#[derive(Deserialize)]
pub(super) struct IdeasReply {
    ideas: Vec<IdeaReply>,
}

/// One idea as the model proposes it.
#[derive(Deserialize)]
struct IdeaReply {
    title: String,
    outline: Vec<String>,
    target_keyword: String,
    secondary_keywords: Vec<String>,
    word_target: u32,
    content_type: String,
}

/// Schema of `count` ideas.
pub(super) fn ideas_schema(count: usize) -> Value {
    let idea = object(json!({
        "title": string(),
        "outline": array(string(), 1, None),
        "target_keyword": string(),
        "secondary_keywords": array(string(), 0, None),
        "word_target": {"type": "integer", "enum": WORD_TARGETS},
        "content_type": one_of(&CONTENT_TYPES),
    }));
    object(json!({"ideas": array(idea, count, Some(count))}))
}

/// Answer budget of `count` ideas.
pub(super) fn ideas_max_tokens(count: usize) -> u32 {
    tokens(count).saturating_mul(IDEA_TOKENS).saturating_add(ANSWER_SLACK_TOKENS)
}

/// The first `count` ideas, trimmed, or why the answer is refused: fewer than
/// `count`, a blank title or target keyword, no headings, a word target outside
/// [`MIN_WORD_TARGET`]..=[`MAX_WORD_TARGET`], an unknown content type.
pub(super) fn validate_ideas(reply: IdeasReply, count: usize) -> Result<Vec<IdeaOut>, String> {
    if reply.ideas.len() < count {
        return Err(format!("{count} ideas were asked for, {} given", reply.ideas.len()));
    }
    reply
        .ideas
        .into_iter()
        .take(count)
        .enumerate()
        .map(|(n, i)| {
            let outline: Vec<String> =
                i.outline.iter().map(|h| h.trim().to_string()).filter(|h| !h.is_empty()).collect();
            if outline.is_empty() {
                return Err(format!("idea {n} has no outline headings"));
            }
            if !(MIN_WORD_TARGET..=MAX_WORD_TARGET).contains(&i.word_target) {
                return Err(format!(
                    "word_target {} of idea {n} is not between {MIN_WORD_TARGET} and {MAX_WORD_TARGET}",
                    i.word_target
                ));
            }
            let content_type = i.content_type.trim().to_ascii_lowercase();
            if !CONTENT_TYPES.contains(&content_type.as_str()) {
                return Err(format!("content_type \"{}\" of idea {n} is not one of {CONTENT_TYPES:?}", i.content_type));
            }
            Ok(IdeaOut {
                title: non_empty(&i.title, &format!("the title of idea {n}"))?,
                outline,
                target_keyword: non_empty(&i.target_keyword, &format!("the target_keyword of idea {n}"))?,
                secondary_keywords: i
                    .secondary_keywords
                    .iter()
                    .map(|k| k.trim().to_string())
                    .filter(|k| !k.is_empty())
                    .collect(),
                word_target: i.word_target,
                content_type,
            })
        })
        .collect()
}

/// Model answer for `generate_article`.
#[derive(Deserialize)]
pub(super) struct ArticleReply {
    title: String,
    html: String,
    meta_description: String,
}

/// Schema of an article.
pub(super) fn article_schema() -> Value {
    object(json!({"title": string(), "html": string(), "meta_description": string()}))
}

/// The longest article, in words, whose answer fits in `max_answer_tokens` (at
/// least [`MIN_WORD_TARGET`]): a model with a small context writes the article it can
/// finish rather than one cut off and refused.
pub(super) fn words_that_fit(max_answer_tokens: u32) -> u32 {
    (max_answer_tokens.saturating_sub(ARTICLE_OVERHEAD_TOKENS) / ARTICLE_TOKENS_PER_WORD).max(MIN_WORD_TARGET)
}

/// Answer budget of an article of about `word_target` words, capped at
/// [`MAX_ARTICLE_TOKENS`].
pub(super) fn article_max_tokens(word_target: u32) -> u32 {
    word_target.saturating_mul(ARTICLE_TOKENS_PER_WORD).saturating_add(ARTICLE_OVERHEAD_TOKENS).min(MAX_ARTICLE_TOKENS)
}

/// The article with its words counted by us and its meta description cut to
/// [`META_DESCRIPTION_MAX_CHARS`], or why the answer is refused: a blank title or
/// meta description, a body approval would block ([`refuse_body`]).
pub(super) fn validate_article(reply: ArticleReply) -> Result<ArticleOut, String> {
    let word_count = count_html_words(&reply.html);
    if word_count == 0 {
        return Err("html has no visible text".into());
    }
    refuse_body(&reply.html, "write the article's body")?;
    let meta = non_empty(&reply.meta_description, "meta_description")?;
    Ok(ArticleOut {
        title: non_empty(&reply.title, "title")?,
        word_count,
        meta_description: truncate_chars(&meta, META_DESCRIPTION_MAX_CHARS),
        html: reply.html,
    })
}

/// Why a body is refused, if it is: the errors approval would block it for
/// ([`igny8_seo::body_errors`]: nothing besides the `<h1>`, unclosed or stray tags,
/// broken links), so a model's malformed HTML is asked for again instead of stored.
fn refuse_body(html: &str, empty_hint: &str) -> Result<(), String> {
    let errors = igny8_seo::body_errors(html);
    if errors.iter().any(|e| e.code == igny8_seo::validate::code::EMPTY_BODY) {
        return Err(format!("html has no text besides its <h1> title: {empty_hint}"));
    }
    if errors.is_empty() {
        return Ok(());
    }
    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    Err(format!("html is not well-formed: {}", messages.join(" ")))
}

/// Model answer for `optimize_article`.
#[derive(Deserialize)]
pub(super) struct OptimizeReply {
    title: String,
    meta_description: String,
    html: String,
}

/// Schema of a rewrite.
pub(super) fn optimize_schema() -> Value {
    object(json!({"title": string(), "meta_description": string(), "html": string()}))
}

/// The answer budget of a rewrite: the article's size in tokens (about four
/// characters each) with half again as room to grow, plus the title and meta
/// description, capped at [`MAX_OPTIMIZE_TOKENS`].
pub(super) fn optimize_max_tokens(request: &OptimizeRequest) -> u32 {
    let chars = request.html.len() + request.title.len() + request.meta_description.len();
    let tokens = chars.div_ceil(4).saturating_mul(3) / 2 + 256;
    u32::try_from(tokens).unwrap_or(MAX_OPTIMIZE_TOKENS).min(MAX_OPTIMIZE_TOKENS)
}

/// The rewrite, trimmed, or why it is refused: a blank title or meta description,
/// a body approval would block ([`refuse_body`]).
pub(super) fn validate_optimize(reply: OptimizeReply) -> Result<OptimizeOut, String> {
    refuse_body(&reply.html, "keep the article's body")?;
    let meta = non_empty(&reply.meta_description, "meta_description")?;
    Ok(OptimizeOut {
        title: non_empty(&reply.title, "title")?,
        meta_description: truncate_chars(&meta, META_DESCRIPTION_MAX_CHARS),
        html: reply.html,
    })
}

/// Model answer for `generate_image_prompts`.
#[derive(Deserialize)]
pub(super) struct PromptsReply {
    prompts: Vec<PromptReply>,
}

/// One image prompt as the model proposes it.
#[derive(Deserialize)]
struct PromptReply {
    prompt: String,
    alt_text: String,
    placement: String,
    heading: String,
}

/// Schema of one to `max` image prompts.
pub(super) fn prompts_schema(max: usize) -> Value {
    let prompt = object(json!({
        "prompt": string(),
        "alt_text": string(),
        "placement": one_of(&PLACEMENTS),
        "heading": string(),
    }));
    object(json!({"prompts": array(prompt, 1, Some(max))}))
}

/// Answer budget of up to `max` image prompts.
pub(super) fn prompts_max_tokens(max: usize) -> u32 {
    tokens(max).saturating_mul(IMAGE_PROMPT_TOKENS).saturating_add(ANSWER_SLACK_TOKENS)
}

/// At most `max` prompts, trimmed, or why the answer is refused: none, a blank
/// prompt or alt text, an unknown placement.
pub(super) fn validate_prompts(reply: PromptsReply, max: usize) -> Result<Vec<ImagePromptOut>, String> {
    if reply.prompts.is_empty() {
        return Err("no image prompts given".into());
    }
    reply
        .prompts
        .into_iter()
        .take(max)
        .enumerate()
        .map(|(n, p)| {
            let placement = p.placement.trim().to_ascii_lowercase();
            if !PLACEMENTS.contains(&placement.as_str()) {
                return Err(format!("placement \"{}\" of prompt {n} is not one of {PLACEMENTS:?}", p.placement));
            }
            Ok(ImagePromptOut {
                prompt: non_empty(&p.prompt, &format!("prompt {n}"))?,
                alt_text: non_empty(&p.alt_text, &format!("the alt_text of prompt {n}"))?,
                placement,
                heading: p.heading.trim().to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article(html: &str) -> ArticleReply {
        ArticleReply { title: "Electric Bikes".into(), meta_description: "All about them.".into(), html: html.into() }
    }

    #[test]
    fn an_article_that_is_only_its_title_is_refused() {
        let err = validate_article(article("<h1>Your Guide to Buying an Electric Bike</h1>")).unwrap_err();
        assert!(err.contains("besides its <h1> title"), "{err}");
        assert!(validate_article(article("  ")).unwrap_err().contains("no visible text"));
        let ok = validate_article(article("<h1>Guide</h1><p>Pick the motor first.</p>")).unwrap();
        assert_eq!(ok.word_count, 5, "the title's words still count towards the article");
    }

    #[test]
    fn the_ideas_schema_offers_only_word_targets_validation_accepts() {
        let schema = ideas_schema(2);
        let offered = &schema["properties"]["ideas"]["items"]["properties"]["word_target"]["enum"];
        assert_eq!(offered, &serde_json::json!(WORD_TARGETS));
        assert!(WORD_TARGETS.iter().all(|t| (MIN_WORD_TARGET..=MAX_WORD_TARGET).contains(t)));
    }

    #[test]
    fn an_article_with_markup_approval_would_block_is_refused() {
        let err = validate_article(article("<div class='post-header'><p>Welcome to our shop.</p></p>")).unwrap_err();
        assert!(err.starts_with("html is not well-formed: ") && err.contains("</p>") && err.contains("<div"), "{err}");
        let err = validate_article(article("<h1>Guide</h1><p>See <a href=\"#\">this</a>.</p>")).unwrap_err();
        assert!(err.contains("link"), "{err}");
        let rewrite = OptimizeReply { title: "T".into(), meta_description: "M".into(), html: "<p>ok</p></em>".into() };
        assert!(validate_optimize(rewrite).is_err());
    }
}
