use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use reqwest::header::{HeaderMap, RETRY_AFTER};

use super::chat::{strip_code_fence, TEMPERATURE};
use super::schemas::{optimize_max_tokens, MAX_OPTIMIZE_TOKENS, META_DESCRIPTION_MAX_CHARS};
use super::transport::{parse_retry_after, MAX_BACKOFF, MAX_RETRY_AFTER};
use super::*;
use crate::ClusterOptions;

mod embeddings;
mod retries;

const KEY: &str = "sk-test-secret-key-123";

/// One request as the local server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// A canned HTTP response.
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl Reply {
    fn json(status: u16, body: Value) -> Self {
        Self { status, headers: Vec::new(), body: body.to_string() }
    }
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// Starts a minimal HTTP/1.1 server on 127.0.0.1; `respond` gets the 0-based
/// request number and the parsed request. Returns the `/v1` base URL and the log.
async fn serve<F>(respond: F) -> (String, Log)
where
    F: Fn(usize, &Seen) -> Reply + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log: Log = Arc::default();
    let respond = Arc::new(respond);
    let server_log = log.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let log = server_log.clone();
            let respond = respond.clone();
            tokio::spawn(async move {
                handle(stream, log, respond).await;
            });
        }
    });
    (format!("http://{addr}/v1"), log)
}

async fn handle<F>(mut stream: TcpStream, log: Log, respond: Arc<F>)
where
    F: Fn(usize, &Seen) -> Reply + Send + Sync + 'static,
{
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        let n = stream.read(&mut chunk).await.unwrap();
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
    };
    let head = String::from_utf8(buf[..header_end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap().split(' ');
    let method = request_line.next().unwrap().to_string();
    let path = request_line.next().unwrap().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize =
        headers.iter().find(|(n, _)| n == "content-length").map(|(_, v)| v.parse().unwrap()).unwrap_or(0);
    while buf.len() < header_end + length {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "client closed mid-body");
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = serde_json::from_slice(&buf[header_end..header_end + length]).unwrap_or(Value::Null);
    let seen = Seen { method, path, headers, body };
    let number = {
        let mut log = log.lock().unwrap();
        log.push(seen.clone());
        log.len() - 1
    };
    let reply = respond(number, &seen);
    let mut out = format!(
        "HTTP/1.1 {} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (name, value) in &reply.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&reply.body);
    stream.write_all(out.as_bytes()).await.unwrap();
    stream.shutdown().await.ok();
}

fn provider(base_url: &str) -> OpenAiProvider {
    let mut config = OpenAiConfig::new(base_url, KEY);
    config.chat_model = "test-chat".into();
    config.image_model = "test-image".into();
    config.timeout = Duration::from_secs(5);
    config.max_retries = 2;
    config.base_backoff = Duration::from_millis(1);
    OpenAiProvider::new(config).unwrap()
}

/// An OpenAI-style chat completion whose message content is `content`.
fn completion(content: &str) -> Value {
    finished(content, "stop")
}

/// A chat completion of `content` that ended for `finish_reason`.
fn finished(content: &str, finish_reason: &str) -> Value {
    json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "test-chat-2025",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 120, "completion_tokens": 45, "total_tokens": 165}
    })
}

fn chat_server(content: Value) -> impl Fn(usize, &Seen) -> Reply + Send + Sync + 'static {
    let body = completion(&content.to_string());
    move |_, _| Reply::json(200, body.clone())
}

fn assert_common_shape(seen: &Seen, path: &str) {
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.path, path);
    assert_eq!(seen.header("authorization"), Some(format!("Bearer {KEY}").as_str()));
    assert!(seen.header("content-type").is_some_and(|v| v.starts_with("application/json")));
}

fn assert_chat_shape(seen: &Seen) {
    assert_common_shape(seen, "/v1/chat/completions");
    assert_eq!(seen.body["model"], "test-chat");
    let messages = seen.body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["role"], "system");
    assert_eq!(messages[1]["role"], "user");
    assert!(messages[1]["content"].as_str().unwrap().len() > 20);
    let format = &seen.body["response_format"];
    assert_eq!(format["type"], "json_schema", "{format}");
    assert_eq!(format["json_schema"]["strict"], true);
    assert!(format["json_schema"]["name"].as_str().is_some_and(|n| !n.is_empty()), "{format}");
    let schema = &format["json_schema"]["schema"];
    assert_eq!(schema["type"], "object", "{schema}");
    assert_eq!(schema["additionalProperties"], false, "{schema}");
    assert!(seen.body["max_tokens"].as_u64().is_some_and(|m| m > 0), "every request is bounded: {}", seen.body);
    assert_eq!(seen.body["temperature"], TEMPERATURE);
}

fn keywords() -> Vec<KeywordInput> {
    vec![
        KeywordInput::new("running shoes", 1000),
        KeywordInput::new("best running shoes", 3000),
        KeywordInput::new("trail running shoes", 500),
        KeywordInput::new("how to tie shoes", 800),
    ]
}

fn idea() -> IdeaOut {
    IdeaOut {
        title: "Best Running Shoes".into(),
        outline: vec!["Cushioning".into(), "Fit".into()],
        target_keyword: "best running shoes".into(),
        secondary_keywords: vec!["running shoes".into()],
        word_target: 1200,
        content_type: "listicle".into(),
    }
}

fn tiny_png() -> Vec<u8> {
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, 2, 2);
        encoder.set_color(png::ColorType::Rgb);
        let mut writer = encoder.write_header().unwrap();
        writer.write_image_data(&[0u8; 12]).unwrap();
    }
    bytes
}

#[tokio::test]
async fn the_algorithm_groups_and_the_model_only_names() {
    let expected = crate::offline::cluster::cluster_keywords(&keywords(), &ClusterOptions::default()).unwrap();
    assert!(expected.len() >= 2, "{expected:?}");
    let mut labels =
        vec![json!({"index": 0, "name": "Shoes for Running", "description": "Picking shoes.", "intent": "Commercial"})];
    for (n, cluster) in expected.iter().enumerate().skip(1) {
        labels.push(json!({"index": n, "name": format!("{} topic", cluster.pillar_keyword),
            "description": "About it.", "intent": "informational"}));
    }
    labels.reverse();
    let (url, log) = serve(chat_server(json!({ "clusters": labels }))).await;
    let (clusters, usage) = provider(&url).cluster_keywords(&keywords(), &ClusterOptions::default()).await.unwrap();
    let seen = log.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "one naming request for a small set");
    assert_chat_shape(&seen[0]);
    let prompt = seen[0].body["messages"][1]["content"].as_str().unwrap();
    assert!(prompt.contains("trail running shoes") && prompt.contains("pillar"), "{prompt}");
    // Members, pillars and volumes are the algorithm's; names come from the model.
    assert_eq!(clusters.len(), expected.len());
    for (got, want) in clusters.iter().zip(&expected) {
        assert_eq!(
            (&got.keywords, &got.pillar_keyword, got.total_volume),
            (&want.keywords, &want.pillar_keyword, want.total_volume)
        );
    }
    assert_eq!(clusters[0].name, "Shoes for Running");
    assert_eq!(clusters[0].description, "Picking shoes.");
    assert_eq!(clusters[0].intent, "commercial");
    for (got, want) in clusters.iter().zip(&expected).skip(1) {
        assert_eq!(got.name, format!("{} topic", want.pillar_keyword), "labels are matched by index, not order");
        assert_eq!(got.intent, "informational");
    }
    let schema = &seen[0].body["response_format"]["json_schema"]["schema"]["properties"]["clusters"];
    let n = expected.len() as u64;
    assert_eq!((schema["minItems"].as_u64(), schema["maxItems"].as_u64()), (Some(n), Some(n)), "{schema}");
    assert_eq!(seen[0].body["max_tokens"].as_u64(), Some(u64::from(schemas::labels_max_tokens(expected.len()))));
    assert_eq!(usage, Usage { model: "test-chat-2025".into(), tokens_in: 120, tokens_out: 45 });
}

#[tokio::test]
async fn naming_nothing_makes_no_request() {
    let (url, log) = serve(chat_server(json!({"clusters": []}))).await;
    let (labels, usage) = provider(&url).name_clusters(&[], &keywords()).await.unwrap();
    assert!(labels.is_empty());
    assert_eq!((usage.tokens_in, usage.tokens_out), (0, 0));
    assert!(log.lock().unwrap().is_empty());
}

#[tokio::test]
async fn generate_ideas_happy_path() {
    let (url, log) = serve(chat_server(json!({"ideas": [
        {"title": "Best Running Shoes of 2026", "outline": ["Why", "Top picks"], "target_keyword": "best running shoes",
         "secondary_keywords": ["running shoes"], "word_target": 1500, "content_type": "listicle"},
        {"title": "Extra", "outline": [], "target_keyword": "x", "secondary_keywords": [], "word_target": 900, "content_type": "guide"}
    ]})))
    .await;
    let cluster = ClusterOut {
        name: "Running Shoes".into(),
        pillar_keyword: "best running shoes".into(),
        keywords: vec![1, 0],
        intent: "commercial".into(),
        total_volume: 4000,
        description: String::new(),
    };
    let (ideas, usage) = provider(&url).generate_ideas(&cluster, &keywords(), 1).await.unwrap();
    assert_chat_shape(&log.lock().unwrap()[0]);
    assert_eq!(ideas.len(), 1, "truncated to the requested count");
    assert_eq!(ideas[0].title, "Best Running Shoes of 2026");
    assert_eq!(ideas[0].outline, vec!["Why", "Top picks"]);
    assert_eq!(ideas[0].word_target, 1500);
    assert_eq!(ideas[0].content_type, "listicle");
    assert_eq!(usage.tokens_out, 45);
}

#[tokio::test]
async fn generate_article_counts_words_itself() {
    let (url, log) = serve(chat_server(json!({
        "title": "Best Running Shoes",
        "html": "<h1>Best Running Shoes</h1><p>Pick shoes that fit &amp; feel good.</p>",
        "meta_description": "m".repeat(300)
    })))
    .await;
    let (article, _) = provider(&url).generate_article(&idea(), 1200).await.unwrap();
    assert_chat_shape(&log.lock().unwrap()[0]);
    assert_eq!(article.title, "Best Running Shoes");
    assert_eq!(article.word_count, 9);
    assert_eq!(article.meta_description.chars().count(), 160);
}

#[tokio::test]
async fn a_small_context_caps_every_answer_and_asks_for_the_article_that_fits() {
    let (url, log) = serve(chat_server(json!({
        "title": "Best Running Shoes",
        "html": "<h1>Best Running Shoes</h1><p>Pick shoes that fit.</p>",
        "meta_description": "Shoes that fit."
    })))
    .await;
    let mut config = provider(&url).config().clone();
    config.max_answer_tokens = Some(1_000);
    let capped = OpenAiProvider::new(config).unwrap();
    capped.generate_article(&idea(), 5_000).await.unwrap();
    let seen = log.lock().unwrap()[0].clone();
    assert_eq!(seen.body["max_tokens"], 1_000);
    let prompt = seen.body["messages"][1]["content"].as_str().unwrap().to_owned();
    assert!(prompt.contains(&format!("about {} words", words_that_fit(1_000))), "{prompt}");
    assert!(!prompt.contains("5000 words"), "{prompt}");
}

#[test]
fn the_article_that_fits_leaves_room_for_the_overhead_and_is_never_shorter_than_an_article() {
    assert_eq!(words_that_fit(4_096), (4_096 - 400) / 2);
    assert_eq!(words_that_fit(100), 100);
}

#[test]
fn cluster_indices_are_limited_to_the_clusters_asked_about() {
    let schema = super::schemas::labels_schema(3);
    assert_eq!(schema["properties"]["clusters"]["items"]["properties"]["index"]["enum"], json!([0, 1, 2]));
}

fn optimize_request() -> OptimizeRequest {
    OptimizeRequest {
        title: "Shoes".into(),
        meta_description: "Short.".into(),
        html: "<h1>Shoes</h1><p>Pick shoes that fit. <a href=\"/fit\">Fit guide</a>.</p>".into(),
        focus_keyphrase: "running shoes".into(),
        language: "en".into(),
        flagged: vec!["keyphrase_in_seo_title".into(), "meta_description_length".into(), "new_check".into()],
    }
}

#[tokio::test]
async fn optimize_article_explains_the_flagged_checks_and_bounds_the_answer() {
    let (url, log) = serve(chat_server(json!({
        "title": " Running Shoes: A Guide ",
        "meta_description": "m".repeat(300),
        "html": "<h1>Running Shoes: A Guide</h1><p>Pick running shoes that fit. <a href=\"/fit\">Fit guide</a>.</p>"
    })))
    .await;
    let request = optimize_request();
    let (out, usage) = provider(&url).optimize_article(&request).await.unwrap();
    let seen = log.lock().unwrap()[0].clone();
    assert_chat_shape(&seen);
    let prompt = seen.body["messages"][1]["content"].as_str().unwrap();
    assert!(prompt.contains("\"running shoes\""), "{prompt}");
    assert!(prompt.contains("keyphrase_in_seo_title: start the title with the focus keyphrase"), "{prompt}");
    assert!(prompt.contains("meta_description_length: make the meta description 120 to 156"), "{prompt}");
    assert!(prompt.contains("- new_check\n"), "an unknown check is passed on: {prompt}");
    assert!(!prompt.contains("sentence_length"), "only flagged checks are asked for: {prompt}");
    assert!(prompt.contains(&request.html), "{prompt}");
    let max = seen.body["max_tokens"].as_u64().unwrap();
    assert_eq!(max, u64::from(optimize_max_tokens(&request)));
    assert!((256..=u64::from(MAX_OPTIMIZE_TOKENS)).contains(&max));
    assert_eq!(out.title, "Running Shoes: A Guide");
    assert_eq!(out.meta_description.chars().count(), META_DESCRIPTION_MAX_CHARS);
    assert!(out.html.contains("<a href=\"/fit\">"));
    assert_eq!(usage, Usage { model: "test-chat-2025".into(), tokens_in: 120, tokens_out: 45 });
}

#[tokio::test]
async fn optimize_article_refuses_a_wrong_or_empty_answer() {
    let (url, log) = serve(chat_server(json!({"title": "T", "html": "<p>x</p>"}))).await;
    let err = provider(&url).optimize_article(&optimize_request()).await.unwrap_err();
    assert!(matches!(err.cause(), AiError::InvalidOutput(m) if m.contains("optimize_article")), "{err:?}");
    assert!(!err.is_transient());
    assert_eq!(log.lock().unwrap().len(), 3, "asked again max_invalid_retries (2) times");
    let (url, _) = serve(chat_server(json!({"title": "T", "meta_description": "m", "html": "  "}))).await;
    let err = provider(&url).optimize_article(&optimize_request()).await.unwrap_err();
    assert!(matches!(err.cause(), AiError::InvalidOutput(m) if m.contains("besides its <h1> title")), "{err:?}");
    let (url, _) = serve(chat_server(json!({"title": " ", "meta_description": "m", "html": "<p>x</p>"}))).await;
    let err = provider(&url).optimize_article(&optimize_request()).await.unwrap_err();
    assert!(matches!(err.cause(), AiError::InvalidOutput(m) if m.contains("title is empty")), "{err:?}");
    let (url, log) = serve(chat_server(json!({}))).await;
    let mut empty = optimize_request();
    empty.html = " ".into();
    let err = provider(&url).optimize_article(&empty).await.unwrap_err();
    assert!(matches!(err, AiError::InvalidInput(_)), "{err:?}");
    assert!(log.lock().unwrap().is_empty(), "nothing is sent");
}

#[test]
fn the_rewrite_budget_grows_with_the_article_and_is_capped() {
    let mut request = optimize_request();
    let small = optimize_max_tokens(&request);
    request.html = "<p>word </p>".repeat(2_000);
    let large = optimize_max_tokens(&request);
    assert!(large > small && large > 5_000, "{small} {large}");
    request.html = "x".repeat(1_000_000);
    assert_eq!(optimize_max_tokens(&request), MAX_OPTIMIZE_TOKENS);
}

#[tokio::test]
async fn generate_image_prompts_happy_path() {
    let (url, log) = serve(chat_server(json!({"prompts": [
        {"prompt": "A runner at dawn", "alt_text": "Runner", "placement": "featured", "heading": "Best Running Shoes"},
        {"prompt": "Shoe close-up", "alt_text": "Shoe", "placement": "in_article", "heading": "Fit"},
        {"prompt": "Third", "alt_text": "3", "placement": "in_article", "heading": "Other"}
    ]})))
    .await;
    let article = ArticleOut {
        title: "Best Running Shoes".into(),
        html: "<h1>Best Running Shoes</h1><h2>Fit</h2><p>Text.</p>".into(),
        word_count: 4,
        meta_description: String::new(),
    };
    let (prompts, _) = provider(&url).generate_image_prompts(&article, 2).await.unwrap();
    assert_chat_shape(&log.lock().unwrap()[0]);
    assert_eq!(prompts.len(), 2);
    assert_eq!(prompts[0].placement, "featured");
    assert_eq!(prompts[1].heading, "Fit");
}

#[tokio::test]
async fn generate_image_decodes_png() {
    let png = tiny_png();
    let encoded = base64::engine::general_purpose::STANDARD.encode(&png);
    let (url, log) = serve(move |_, _| Reply::json(200, json!({"created": 1, "data": [{"b64_json": encoded}]}))).await;
    let (image, usage) = provider(&url).generate_image("a red square", 0, 0).await.unwrap();
    let seen = log.lock().unwrap()[0].clone();
    assert_common_shape(&seen, "/v1/images/generations");
    assert_eq!(seen.body["model"], "test-image");
    assert_eq!(seen.body["prompt"], "a red square");
    assert_eq!(seen.body["size"], "1024x576");
    assert_eq!(seen.body["n"], 1);
    assert_eq!(seen.body["response_format"], "b64_json");
    assert_eq!(image.png, png);
    assert_eq!((image.width, image.height), (1024, 576));
    assert_eq!(usage.model, "test-image");
}

#[tokio::test]
async fn gpt_image_models_get_no_response_format() {
    let encoded = base64::engine::general_purpose::STANDARD.encode(tiny_png());
    let (url, log) = serve(move |_, _| {
        Reply::json(200, json!({"data": [{"b64_json": encoded}], "usage": {"input_tokens": 7, "output_tokens": 99}}))
    })
    .await;
    let mut config = provider(&url).config().clone();
    config.image_model = "gpt-image-1".into();
    let (image, usage) = OpenAiProvider::new(config).unwrap().generate_image("p", 1024, 1024).await.unwrap();
    let seen = log.lock().unwrap()[0].clone();
    assert!(seen.body.get("response_format").is_none());
    assert_eq!(seen.body["size"], "1024x1024");
    assert_eq!((image.width, image.height), (1024, 1024));
    assert_eq!((usage.tokens_in, usage.tokens_out), (7, 99));
}

#[tokio::test]
async fn non_png_image_is_a_provider_error() {
    let encoded = base64::engine::general_purpose::STANDARD.encode(b"GIF89a not a png");
    let (url, _) = serve(move |_, _| Reply::json(200, json!({"data": [{"b64_json": encoded}]}))).await;
    let err = provider(&url).generate_image("p", 64, 64).await.unwrap_err();
    assert!(matches!(&err, AiError::Provider(m) if m.contains("not a PNG")), "{err:?}");
}

#[tokio::test]
async fn retries_429_honouring_retry_after_then_succeeds() {
    let ok = completion(&json!({"title": "T", "html": "<p>one two</p>", "meta_description": "d"}).to_string());
    let (url, log) = serve(move |n, _| {
        if n < 2 {
            Reply {
                status: 429,
                headers: vec![("retry-after", "0".into())],
                body: json!({"error": {"message": "slow down"}}).to_string(),
            }
        } else {
            Reply::json(200, ok.clone())
        }
    })
    .await;
    let (article, _) = provider(&url).generate_article(&idea(), 500).await.unwrap();
    assert_eq!(article.word_count, 2);
    let seen = log.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    for s in &seen {
        assert_chat_shape(s);
    }
}

#[tokio::test]
async fn persistent_429_is_rate_limited_with_server_delay() {
    let (url, log) =
        serve(|_, _| Reply { status: 429, headers: vec![("retry-after", "0".into())], body: String::new() }).await;
    let err = provider(&url).generate_article(&idea(), 500).await.unwrap_err();
    assert_eq!(err, AiError::RateLimited { retry_after: Duration::ZERO });
    assert!(err.is_transient());
    assert_eq!(log.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn server_errors_exhaust_retries_as_unavailable() {
    let (url, log) = serve(|_, _| Reply::json(500, json!({"error": {"message": "boom"}}))).await;
    let err = provider(&url).generate_article(&idea(), 500).await.unwrap_err();
    assert!(matches!(&err, AiError::Unavailable(m) if m.contains("500") && m.contains("boom")), "{err:?}");
    assert_eq!(log.lock().unwrap().len(), 3, "max_retries (2) + 1 attempts");
}

#[tokio::test]
async fn unauthorized_is_permanent_and_hides_the_key() {
    let (url, log) = serve(|_, _| {
        Reply::json(
            401,
            json!({"error": {"message": format!("Incorrect API key provided: {KEY}."), "type": "invalid_request_error"}}),
        )
    })
    .await;
    let err = provider(&url).generate_article(&idea(), 500).await.unwrap_err();
    let AiError::Provider(message) = &err else {
        panic!("expected Provider, got {err:?}");
    };
    assert!(message.contains("401"), "{message}");
    assert!(message.contains("Incorrect API key provided"), "{message}");
    assert!(!message.contains(KEY), "{message}");
    assert!(!format!("{err} {err:?}").contains(KEY));
    assert!(!err.is_transient());
    assert_eq!(log.lock().unwrap().len(), 1, "no retry on 401");
}

#[tokio::test]
async fn bad_request_is_not_retried() {
    let (url, log) = serve(|_, _| Reply::json(400, json!({"error": {"message": "model not found"}}))).await;
    let err = provider(&url).generate_article(&idea(), 500).await.unwrap_err();
    assert!(matches!(&err, AiError::Provider(m) if m.contains("model not found")), "{err:?}");
    assert_eq!(log.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn malformed_model_json_is_invalid_output() {
    let body = completion("{\"title\": \"T\", \"html\": ");
    let (url, _) = serve(move |_, _| Reply::json(200, body.clone())).await;
    let err = provider(&url).generate_article(&idea(), 500).await.unwrap_err();
    assert!(
        matches!(err.cause(), AiError::InvalidOutput(m) if m.contains("generate_article") && m.contains("JSON")),
        "{err:?}"
    );
}

#[tokio::test]
async fn wrong_shape_is_invalid_output() {
    let (url, _) = serve(chat_server(json!({"items": []}))).await;
    let err = provider(&url)
        .generate_image_prompts(
            &ArticleOut { title: "T".into(), html: "<p>x</p>".into(), word_count: 1, meta_description: String::new() },
            3,
        )
        .await
        .unwrap_err();
    assert!(matches!(err.cause(), AiError::InvalidOutput(_)), "{err:?}");
}

#[tokio::test]
async fn a_cluster_index_outside_the_keywords_is_invalid_input() {
    let (url, log) = serve(chat_server(json!({"clusters": []}))).await;
    let cluster = ClusterOut {
        name: "X".into(),
        pillar_keyword: "running shoes".into(),
        keywords: vec![0, 4],
        intent: "informational".into(),
        total_volume: 0,
        description: String::new(),
    };
    let err = provider(&url).name_clusters(&[cluster], &keywords()).await.unwrap_err();
    assert!(matches!(&err, AiError::InvalidInput(m) if m.contains("index 4")), "{err:?}");
    assert!(log.lock().unwrap().is_empty(), "nothing is sent");
}

#[tokio::test]
async fn timeouts_are_retried_then_reported() {
    // Accepts connections but never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let held = accepted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            held.lock().unwrap().push(stream);
        }
    });
    let mut config = provider(&format!("http://{addr}/v1")).config().clone();
    config.timeout = Duration::from_millis(100);
    config.max_retries = 1;
    let err = OpenAiProvider::new(config).unwrap().generate_article(&idea(), 500).await.unwrap_err();
    assert_eq!(err, AiError::Timeout);
    assert_eq!(accepted.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn connection_refused_is_unavailable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = provider(&format!("http://{addr}/v1")).generate_article(&idea(), 500).await.unwrap_err();
    assert!(matches!(&err, AiError::Unavailable(m) if !m.contains(KEY)), "{err:?}");
}

#[test]
fn debug_hides_the_key() {
    let config = OpenAiConfig::new("https://api.example.com/v1", KEY);
    let text = format!("{config:?}");
    assert!(text.contains("api_key: \"***\""), "{text}");
    assert!(!text.contains(KEY));
    let provider = OpenAiProvider::new(config).unwrap();
    assert!(!format!("{provider:?}").contains(KEY));
}

#[test]
fn config_from_variables() {
    let vars = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string())
    };
    assert!(OpenAiConfig::from_lookup(vars(&[("IGNY8_AI_API_KEY", "k")])).is_none());
    assert!(OpenAiConfig::from_lookup(vars(&[("IGNY8_AI_BASE_URL", "http://x")])).is_none());
    assert!(OpenAiConfig::from_lookup(vars(&[("IGNY8_AI_BASE_URL", "http://x"), ("IGNY8_AI_API_KEY", " ")])).is_none());
    let config =
        OpenAiConfig::from_lookup(vars(&[("IGNY8_AI_BASE_URL", "http://x/v1"), ("IGNY8_AI_API_KEY", "k")])).unwrap();
    assert_eq!(config.chat_model, DEFAULT_CHAT_MODEL);
    assert_eq!(config.image_model, DEFAULT_IMAGE_MODEL);
    assert_eq!(config.max_answer_tokens, None);
    let capped = OpenAiConfig::from_lookup(vars(&[
        ("IGNY8_AI_BASE_URL", "http://x/v1"),
        ("IGNY8_AI_API_KEY", "k"),
        ("IGNY8_AI_MAX_ANSWER_TOKENS", "3000"),
    ]))
    .unwrap();
    assert_eq!(capped.max_answer_tokens, Some(3_000));
    let config = OpenAiConfig::from_lookup(vars(&[
        ("IGNY8_AI_BASE_URL", "http://x/v1"),
        ("IGNY8_AI_API_KEY", "k"),
        ("IGNY8_AI_MODEL", "m"),
        ("IGNY8_AI_IMAGE_MODEL", "i"),
    ]))
    .unwrap();
    assert_eq!((config.chat_model.as_str(), config.image_model.as_str()), ("m", "i"));
    assert_eq!(config.embedding_model.as_deref(), Some(DEFAULT_EMBEDDING_MODEL));
    assert_eq!(config.json_mode, JsonMode::JsonSchema);
    assert_eq!(config.timeout, DEFAULT_TIMEOUT);
    assert_eq!(config.max_invalid_retries, DEFAULT_MAX_INVALID_RETRIES);
}

#[test]
fn config_reads_the_embedding_model_json_mode_and_timeout() {
    let base: [(&str, &str); 2] = [("IGNY8_AI_BASE_URL", "http://127.0.0.1:8080/v1"), ("IGNY8_AI_API_KEY", "local")];
    let read = |extra: &[(&'static str, &'static str)]| {
        let pairs: Vec<(&str, &str)> = base.iter().chain(extra).copied().collect();
        OpenAiConfig::from_lookup(|name| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string())).unwrap()
    };
    let config = read(&[
        ("IGNY8_AI_EMBEDDING_MODEL", " nomic-embed "),
        ("IGNY8_AI_JSON_MODE", "JSON_OBJECT_SCHEMA"),
        ("IGNY8_AI_TIMEOUT_SECS", "600"),
        ("IGNY8_AI_IMAGE_MODEL", "offline"),
    ]);
    assert_eq!(config.embedding_model.as_deref(), Some("nomic-embed"));
    assert_eq!(config.json_mode, JsonMode::JsonObjectSchema);
    assert_eq!(config.timeout, Duration::from_secs(600));
    assert!(config.renders_images_offline());
    for off in ["", " ", "none", "NONE"] {
        let config = read(&[("IGNY8_AI_EMBEDDING_MODEL", off)]);
        assert_eq!(config.embedding_model, None, "{off:?} switches embeddings off");
        assert_eq!(OpenAiProvider::new(config).unwrap().embedding_model(), None);
    }
    assert_eq!(read(&[("IGNY8_AI_JSON_MODE", "json_object")]).json_mode, JsonMode::JsonObject);
    // Unreadable values keep the defaults (and are logged).
    let config = read(&[("IGNY8_AI_JSON_MODE", "yaml"), ("IGNY8_AI_TIMEOUT_SECS", "0")]);
    assert_eq!((config.json_mode, config.timeout), (JsonMode::JsonSchema, DEFAULT_TIMEOUT));
    assert_eq!(read(&[("IGNY8_AI_TIMEOUT_SECS", "soon")]).timeout, DEFAULT_TIMEOUT);
    for mode in [JsonMode::JsonSchema, JsonMode::JsonObjectSchema, JsonMode::JsonObject] {
        assert_eq!(JsonMode::parse(mode.as_str()), Some(mode));
    }
}

#[tokio::test]
async fn the_json_mode_shapes_response_format() {
    for (mode, want) in [
        (JsonMode::JsonObjectSchema, json!({"type": "json_object", "schema": schemas::article_schema()})),
        (JsonMode::JsonObject, json!({"type": "json_object"})),
    ] {
        let (url, log) =
            serve(chat_server(json!({"title": "T", "html": "<p>one two</p>", "meta_description": "d"}))).await;
        let mut config = provider(&url).config().clone();
        config.json_mode = mode;
        OpenAiProvider::new(config).unwrap().generate_article(&idea(), 300).await.unwrap();
        let seen = log.lock().unwrap()[0].clone();
        assert_eq!(seen.body["response_format"], want, "{mode:?}");
        assert_eq!(seen.body["max_tokens"].as_u64(), Some(u64::from(schemas::article_max_tokens(300))));
    }
}

#[tokio::test]
async fn the_offline_image_model_renders_without_a_request() {
    let (url, log) = serve(|_, _| Reply::json(404, json!({"error": {"message": "no image endpoint"}}))).await;
    let mut config = provider(&url).config().clone();
    config.image_model = OFFLINE_IMAGE_MODEL.into();
    let (image, usage) = OpenAiProvider::new(config).unwrap().generate_image("a red square", 64, 36).await.unwrap();
    assert!(log.lock().unwrap().is_empty(), "no request to a chat-only server");
    assert!(image.png.starts_with(&PNG_SIGNATURE));
    assert_eq!((image.width, image.height), (64, 36));
    assert!(usage.model.starts_with("offline-"), "{usage:?}");
    let err = provider(&url).generate_image("a red square", 64, 36).await.unwrap_err();
    assert!(
        matches!(&err, AiError::Provider(m) if m.contains("404")),
        "any other image model asks the endpoint: {err:?}"
    );
}

#[test]
fn retry_after_is_parsed_and_capped() {
    let mut headers = HeaderMap::new();
    assert_eq!(parse_retry_after(&headers), None);
    headers.insert(RETRY_AFTER, "2".parse().unwrap());
    assert_eq!(parse_retry_after(&headers), Some(Duration::from_secs(2)));
    headers.insert(RETRY_AFTER, "3600".parse().unwrap());
    assert_eq!(parse_retry_after(&headers), Some(MAX_RETRY_AFTER));
    headers.insert(RETRY_AFTER, "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
    assert_eq!(parse_retry_after(&headers), None);
}

#[test]
fn backoff_doubles_and_is_capped() {
    let p = provider("http://127.0.0.1:1/v1");
    assert_eq!(p.backoff(0), Duration::from_millis(1));
    assert_eq!(p.backoff(3), Duration::from_millis(8));
    assert_eq!(p.backoff(40), MAX_BACKOFF);
}

#[test]
fn code_fences_are_tolerated() {
    assert_eq!(strip_code_fence("```json\n{\"a\":1}\n```"), "{\"a\":1}");
    assert_eq!(strip_code_fence(" {\"a\":1} "), "{\"a\":1}");
}
