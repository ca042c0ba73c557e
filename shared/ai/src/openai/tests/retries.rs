//! Bounded answers, the schema in `response_format`, validation and the retries
//! after a wrong or truncated answer.

use super::*;
use crate::openai::chat::RETRY_NOTE;

/// A valid answer for each chat function, chosen by the schema name the request
/// carries.
fn valid_answer(function: &str) -> Value {
    match function {
        "name_clusters" => json!({"clusters": [
            {"index": 0, "name": "Running Shoes", "description": "Shoes to run in.", "intent": "commercial"}
        ]}),
        "generate_ideas" => json!({"ideas": [
            {"title": "Best Running Shoes", "outline": ["Why", "Picks"], "target_keyword": "running shoes",
             "secondary_keywords": [], "word_target": 1200, "content_type": "listicle"},
            {"title": "How to Choose", "outline": ["Fit"], "target_keyword": "choose running shoes",
             "secondary_keywords": ["fit"], "word_target": 900, "content_type": "how_to"}
        ]}),
        "generate_article" | "optimize_article" => json!({
            "title": "Best Running Shoes", "html": "<h1>Best Running Shoes</h1><p>Pick a pair.</p>",
            "meta_description": "Pick a pair that fits."
        }),
        "generate_image_prompts" => json!({"prompts": [
            {"prompt": "A runner at dawn", "alt_text": "Runner", "placement": "featured", "heading": "Best"}
        ]}),
        other => json!({"unknown": other}),
    }
}

/// The schema name (the AI function) a chat request carries.
fn function_of(seen: &Seen) -> String {
    seen.body["response_format"]["json_schema"]["name"].as_str().unwrap_or_default().to_string()
}

fn one_cluster() -> ClusterOut {
    ClusterOut {
        name: "Running Shoes".into(),
        pillar_keyword: "running shoes".into(),
        keywords: vec![0, 1],
        intent: "commercial".into(),
        total_volume: 4000,
        description: String::new(),
    }
}

fn article() -> ArticleOut {
    ArticleOut {
        title: "Best Running Shoes".into(),
        html: "<h1>Best Running Shoes</h1><h2>Fit</h2><p>Text.</p>".into(),
        word_count: 4,
        meta_description: "m".into(),
    }
}

#[tokio::test]
async fn every_chat_function_bounds_its_answer_and_sends_its_schema() {
    let (url, log) = serve(|_, seen| Reply::json(200, completion(&valid_answer(&function_of(seen)).to_string()))).await;
    let p = provider(&url);
    p.name_clusters(&[one_cluster()], &keywords()).await.unwrap();
    p.generate_ideas(&one_cluster(), &keywords(), 2).await.unwrap();
    p.generate_article(&idea(), 1200).await.unwrap();
    p.generate_image_prompts(&article(), 3).await.unwrap();
    p.optimize_article(&optimize_request()).await.unwrap();
    let seen = log.lock().unwrap().clone();
    let budgets: Vec<(String, u64)> =
        seen.iter().map(|s| (function_of(s), s.body["max_tokens"].as_u64().unwrap_or(0))).collect();
    let want = [
        ("name_clusters", schemas::labels_max_tokens(1)),
        ("generate_ideas", schemas::ideas_max_tokens(2)),
        ("generate_article", schemas::article_max_tokens(1200)),
        ("generate_image_prompts", schemas::prompts_max_tokens(3)),
        ("optimize_article", optimize_max_tokens(&optimize_request())),
    ];
    assert_eq!(budgets, want.map(|(f, m)| (f.to_string(), u64::from(m))).to_vec());
    for s in &seen {
        assert_chat_shape(s);
    }
    assert_eq!(
        seen[1].body["response_format"]["json_schema"]["schema"],
        schemas::ideas_schema(2),
        "the function's own schema is sent"
    );
    let stats = p.stats();
    assert_eq!((stats.calls, stats.attempts, stats.retries, stats.invalid), (5, 5, 0, 0));
}

#[test]
fn budgets_grow_with_what_is_asked_and_are_capped() {
    assert_eq!(schemas::labels_max_tokens(25) - schemas::labels_max_tokens(1), 24 * schemas::LABEL_TOKENS);
    assert_eq!(schemas::ideas_max_tokens(5) - schemas::ideas_max_tokens(1), 4 * schemas::IDEA_TOKENS);
    let article = schemas::article_max_tokens(1500);
    assert!((3_000..=4_000).contains(&article), "{article}");
    assert_eq!(schemas::article_max_tokens(u32::MAX), schemas::MAX_ARTICLE_TOKENS);
    assert_eq!(schemas::prompts_max_tokens(4) - schemas::prompts_max_tokens(1), 3 * schemas::IMAGE_PROMPT_TOKENS);
}

#[tokio::test]
async fn a_wrong_answer_then_a_right_one_succeeds_with_summed_usage() {
    let wrong = completion(&json!({"ideas": [{"title": "Only one"}]}).to_string());
    let right = completion(&valid_answer("generate_ideas").to_string());
    let (url, log) = serve(move |n, _| Reply::json(200, if n == 0 { wrong.clone() } else { right.clone() })).await;
    let p = provider(&url);
    let (ideas, usage) = p.generate_ideas(&one_cluster(), &keywords(), 2).await.unwrap();
    assert_eq!(ideas.len(), 2);
    assert_eq!(ideas[1].content_type, "how_to");
    assert_eq!(usage, Usage { model: "test-chat-2025".into(), tokens_in: 240, tokens_out: 90 }, "both attempts count");
    let seen = log.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    let first = seen[0].body["messages"][1]["content"].as_str().unwrap();
    let retry = seen[1].body["messages"][1]["content"].as_str().unwrap();
    assert!(!first.contains(RETRY_NOTE), "{first}");
    assert!(retry.starts_with(first), "the retry repeats the request");
    assert!(retry.contains(RETRY_NOTE) && retry.contains("missing field"), "the validation error is quoted: {retry}");
    assert_eq!(seen[1].body["max_tokens"], seen[0].body["max_tokens"]);
    let stats = p.stats();
    assert_eq!((stats.calls, stats.attempts, stats.retried_calls, stats.retries, stats.invalid), (1, 2, 1, 1, 0));
}

#[tokio::test]
async fn a_semantically_wrong_answer_is_retried_with_the_reason() {
    let one = completion(
        &json!({"ideas": [
            {"title": "Best Running Shoes", "outline": ["Why"], "target_keyword": "running shoes",
             "secondary_keywords": [], "word_target": 1200, "content_type": "listicle"}
        ]})
        .to_string(),
    );
    let right = completion(&valid_answer("generate_ideas").to_string());
    let (url, log) = serve(move |n, _| Reply::json(200, if n == 0 { one.clone() } else { right.clone() })).await;
    provider(&url).generate_ideas(&one_cluster(), &keywords(), 2).await.unwrap();
    let seen = log.lock().unwrap().clone();
    let retry = seen[1].body["messages"][1]["content"].as_str().unwrap();
    assert!(retry.contains("2 ideas were asked for, 1 given"), "{retry}");
}

#[tokio::test]
async fn an_always_wrong_answer_is_invalid_output_after_the_retries() {
    let (url, log) = serve(chat_server(json!({"clusters": [
        {"index": 3, "name": "Out of range", "description": "d", "intent": "commercial"}
    ]})))
    .await;
    let p = provider(&url);
    let err = p.name_clusters(&[one_cluster()], &keywords()).await.unwrap_err();
    let AiError::InvalidOutput(message) = err.cause() else { panic!("expected InvalidOutput, got {err:?}") };
    assert!(message.contains("name_clusters") && message.contains("index 3"), "{message}");
    assert!(message.contains("after 3 attempts"), "{message}");
    assert!(!err.is_transient(), "the item fails; the run does not retry it");
    assert_eq!(log.lock().unwrap().len(), 3, "1 + max_invalid_retries (2)");
    let stats = p.stats();
    assert_eq!((stats.calls, stats.attempts, stats.retries, stats.invalid), (1, 3, 2, 1));
    // The server's tokens of all three attempts travel with the error to the usage log.
    let spent = err.usage().expect("the failed call's usage");
    assert_eq!((spent.model.as_str(), spent.tokens_in, spent.tokens_out), ("test-chat-2025", 360, 135));
    assert_eq!(err.invalid_output(), Some(message.as_str()));
}

#[tokio::test]
async fn a_failed_call_carries_only_the_tokens_the_server_reported() {
    // Attempt 1 reports usage, attempt 2 none, attempt 3 a different count.
    let wrong = json!({"wrong": true}).to_string();
    let (one, two, three) = (completion(&wrong), completion(&wrong), completion(&wrong));
    let mut two = two;
    two.as_object_mut().unwrap().remove("usage");
    let mut three = three;
    three["usage"] = json!({"prompt_tokens": 200, "completion_tokens": 7});
    let (url, _) = serve(move |n, _| {
        Reply::json(
            200,
            match n {
                0 => one.clone(),
                1 => two.clone(),
                _ => three.clone(),
            },
        )
    })
    .await;
    let err = provider(&url).generate_article(&idea(), 500).await.unwrap_err();
    let spent = err.usage().expect("usage");
    assert_eq!((spent.tokens_in, spent.tokens_out), (320, 52), "{err:?}");
    assert!(err.invalid_output().is_some_and(|m| m.contains("generate_article")), "{err:?}");
}

#[tokio::test]
async fn no_retries_configured_means_one_attempt() {
    let (url, log) = serve(chat_server(json!({"wrong": true}))).await;
    let mut config = provider(&url).config().clone();
    config.max_invalid_retries = 0;
    let err = OpenAiProvider::new(config).unwrap().generate_article(&idea(), 500).await.unwrap_err();
    assert!(matches!(err.cause(), AiError::InvalidOutput(m) if m.contains("after 1 attempts")), "{err:?}");
    assert_eq!(log.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_truncated_answer_is_invalid_not_a_transport_error() {
    // Valid JSON, but the server says it stopped at max_tokens: the text cannot be trusted.
    let cut = finished(&valid_answer("generate_article").to_string(), "length");
    let (url, log) = serve(move |_, _| Reply::json(200, cut.clone())).await;
    let p = provider(&url);
    let err = p.generate_article(&idea(), 500).await.unwrap_err();
    assert!(
        matches!(err.cause(), AiError::InvalidOutput(m) if m.contains("cut off") && m.contains("length")),
        "{err:?}"
    );
    assert!(!err.is_transient());
    let seen = log.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    let retry = seen[1].body["messages"][1]["content"].as_str().unwrap();
    assert!(retry.contains("cut off at the limit of"), "{retry}");
    let stats = p.stats();
    assert_eq!((stats.truncated, stats.invalid, stats.transport_retries), (3, 1, 0));
}

#[tokio::test]
async fn a_truncated_answer_then_a_whole_one_succeeds() {
    let cut = finished("{\"title\": \"Best", "length");
    let whole = completion(&valid_answer("generate_article").to_string());
    let (url, log) = serve(move |n, _| Reply::json(200, if n == 0 { cut.clone() } else { whole.clone() })).await;
    let (article, usage) = provider(&url).generate_article(&idea(), 500).await.unwrap();
    assert_eq!(article.title, "Best Running Shoes");
    assert_eq!((usage.tokens_in, usage.tokens_out), (240, 90));
    assert_eq!(log.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn labels_must_cover_every_cluster_once() {
    let two = [one_cluster(), one_cluster()];
    for (answer, reason) in [
        (json!([{"index": 0, "name": "A", "description": "d", "intent": "commercial"}]), "[1] have no entry"),
        (
            json!([{"index": 0, "name": "A", "description": "d", "intent": "commercial"},
                   {"index": 0, "name": "B", "description": "d", "intent": "commercial"}]),
            "answered twice",
        ),
        (
            json!([{"index": 0, "name": " ", "description": "d", "intent": "commercial"},
                   {"index": 1, "name": "B", "description": "d", "intent": "commercial"}]),
            "name of cluster 0 is empty",
        ),
        (
            json!([{"index": 0, "name": "A", "description": "d", "intent": "buying"},
                   {"index": 1, "name": "B", "description": "d", "intent": "commercial"}]),
            "intent \"buying\"",
        ),
    ] {
        let (url, _) = serve(chat_server(json!({ "clusters": answer }))).await;
        let err = provider(&url).name_clusters(&two, &keywords()).await.unwrap_err();
        assert!(matches!(err.cause(), AiError::InvalidOutput(m) if m.contains(reason)), "{reason}: {err:?}");
    }
}

#[tokio::test]
async fn idea_and_prompt_fields_are_checked() {
    let mut bad = valid_answer("generate_ideas");
    bad["ideas"][1]["word_target"] = json!(5);
    let (url, _) = serve(chat_server(bad)).await;
    let err = provider(&url).generate_ideas(&one_cluster(), &keywords(), 2).await.unwrap_err();
    assert!(matches!(err.cause(), AiError::InvalidOutput(m) if m.contains("word_target 5 of idea 1")), "{err:?}");

    let mut bad = valid_answer("generate_image_prompts");
    bad["prompts"][0]["alt_text"] = json!("");
    let (url, _) = serve(chat_server(bad)).await;
    let err = provider(&url).generate_image_prompts(&article(), 2).await.unwrap_err();
    assert!(matches!(err.cause(), AiError::InvalidOutput(m) if m.contains("alt_text of prompt 0 is empty")), "{err:?}");

    let (url, _) = serve(chat_server(json!({"prompts": []}))).await;
    let err = provider(&url).generate_image_prompts(&article(), 2).await.unwrap_err();
    assert!(matches!(err.cause(), AiError::InvalidOutput(m) if m.contains("no image prompts")), "{err:?}");
}

#[tokio::test]
async fn a_transport_failure_is_not_an_invalid_answer() {
    let (url, log) =
        serve(|_, _| Reply::json(400, json!({"error": {"message": "response_format not supported"}}))).await;
    let p = provider(&url);
    let err = p.generate_article(&idea(), 500).await.unwrap_err();
    assert!(matches!(&err, AiError::Provider(m) if m.contains("400")), "{err:?}");
    assert_eq!(log.lock().unwrap().len(), 1, "a refused request is not asked again");
    assert_eq!(p.stats().invalid, 0);
}
