//! `/embeddings`: chunks, order by `index`, unit length, checked counts and
//! dimensions, usage from `usage.prompt_tokens`.

use super::*;

/// An edit of an `/embeddings` answer before it is sent.
type Tamper = fn(&mut Value);

/// An `/embeddings` server: each input text `t` is embedded as `[len(t), 1, 0]`
/// (so order is checkable), listed in reverse index order, with one prompt token
/// per input; `tamper` may edit the answer before it is sent.
fn embedding_server(tamper: Tamper) -> impl Fn(usize, &Seen) -> Reply + Send + Sync + 'static {
    move |_, seen| {
        let inputs = seen.body["input"].as_array().cloned().unwrap_or_default();
        let mut data: Vec<Value> = inputs
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let len = t.as_str().map_or(0, str::len) as f64;
                json!({"object": "embedding", "index": i, "embedding": [len, 1.0, 0.0]})
            })
            .collect();
        data.reverse();
        let mut body = json!({
            "object": "list", "data": data, "model": "embed-2025",
            "usage": {"prompt_tokens": inputs.len(), "total_tokens": inputs.len()}
        });
        tamper(&mut body);
        Reply::json(200, body)
    }
}

fn texts(n: usize) -> Vec<String> {
    (0..n).map(|i| "k".repeat(i % 7 + 1)).collect()
}

#[tokio::test]
async fn embeds_in_chunks_in_order_and_normalised() {
    let (url, log) = serve(embedding_server(|_| {})).await;
    let p = provider(&url);
    assert_eq!(p.embedding_model().as_deref(), Some(DEFAULT_EMBEDDING_MODEL));
    let input = texts(EMBEDDING_BATCH + 44);
    let (vectors, usage) = p.embed(&input).await.unwrap();
    let seen = log.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{} texts in chunks of {EMBEDDING_BATCH}", input.len());
    assert_common_shape(&seen[0], "/v1/embeddings");
    assert_eq!(seen[0].body["model"], DEFAULT_EMBEDDING_MODEL);
    assert_eq!(seen[0].body["input"].as_array().map(Vec::len), Some(EMBEDDING_BATCH));
    assert_eq!(seen[1].body["input"].as_array().map(Vec::len), Some(44));
    assert_eq!(seen[1].body["input"][0], input[EMBEDDING_BATCH]);
    assert_eq!(vectors.len(), input.len());
    for (text, v) in input.iter().zip(&vectors) {
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{norm}");
        let len = text.len() as f32;
        let want = [len / (len * len + 1.0).sqrt(), 1.0 / (len * len + 1.0).sqrt(), 0.0];
        for (got, want) in v.iter().zip(want) {
            assert!((got - want).abs() < 1e-5, "{text}: {v:?}");
        }
    }
    assert_eq!(usage, Usage { model: "embed-2025".into(), tokens_in: input.len() as i64, tokens_out: 0 });
    assert_eq!(p.stats().embedding_requests, 2);
}

#[tokio::test]
async fn a_wrong_count_index_or_dimension_is_an_error() {
    let cases: [(Tamper, &str); 5] = [
        (|b| drop(b["data"].as_array_mut().map(Vec::pop)), "3 texts sent, 2 vectors returned"),
        (|b| b["data"][0]["index"] = json!(7), "indices are not 0 to 2"),
        (|b| b["data"][1]["embedding"] = json!([1.0, 2.0]), "has 2 dimensions"),
        (|b| b["data"][2]["embedding"] = json!([0.0, 0.0, 0.0]), "no length"),
        (|b| b["data"] = json!("nope"), "unexpected /embeddings response shape"),
    ];
    for (tamper, want) in cases {
        let (url, _) = serve(embedding_server(tamper)).await;
        let err = provider(&url).embed(&texts(3)).await.unwrap_err();
        assert!(matches!(&err, AiError::Provider(m) if m.contains(want)), "{want}: {err:?}");
        assert!(!err.is_transient());
    }
}

#[tokio::test]
async fn embedding_outages_are_retried() {
    let ok = embedding_server(|_| {});
    let (url, log) =
        serve(
            move |n, seen| {
                if n == 0 {
                    Reply::json(503, json!({"error": {"message": "loading model"}}))
                } else {
                    ok(n, seen)
                }
            },
        )
        .await;
    let (vectors, _) = provider(&url).embed(&texts(2)).await.unwrap();
    assert_eq!(vectors.len(), 2);
    assert_eq!(log.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn no_embedding_model_is_unsupported_and_empty_text_is_refused() {
    let (url, log) = serve(embedding_server(|_| {})).await;
    let mut config = provider(&url).config().clone();
    config.embedding_model = None;
    let err = OpenAiProvider::new(config).unwrap().embed(&texts(2)).await.unwrap_err();
    assert!(matches!(err, AiError::Unsupported(_)), "{err:?}");
    let err = provider(&url).embed(&["a".into(), " ".into()]).await.unwrap_err();
    assert!(matches!(&err, AiError::InvalidInput(m) if m.contains("text 1")), "{err:?}");
    let (none, _) = provider(&url).embed(&[]).await.unwrap();
    assert!(none.is_empty());
    assert!(log.lock().unwrap().is_empty(), "nothing is sent");
}
