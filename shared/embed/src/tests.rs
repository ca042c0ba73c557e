//! These need the model: `scripts/models.sh` installs it (CI runs it). Without it the
//! model tests fail, saying so, rather than pass without having embedded anything.

use std::sync::OnceLock;

use super::*;

/// One embedder for all tests (the model loads once per test binary).
fn embedder() -> &'static MiniLmEmbedder {
    static EMBEDDER: OnceLock<Option<MiniLmEmbedder>> = OnceLock::new();
    match EMBEDDER.get_or_init(MiniLmEmbedder::from_env) {
        Some(embedder) => embedder,
        None => panic!("all-MiniLM-L6-v2 is not installed in {}: run scripts/models.sh", default_model_dir().display()),
    }
}

fn embed(texts: &[&str]) -> Vec<Vec<f32>> {
    let texts: Vec<String> = texts.iter().map(|text| (*text).to_owned()).collect();
    embedder().embed(&texts).expect("embeds")
}

fn norm(vector: &[f32]) -> f32 {
    vector.iter().map(|x| x * x).sum::<f32>().sqrt()
}

fn assert_close(left: &[f32], right: &[f32], tolerance: f32) {
    assert_eq!(left.len(), right.len());
    let worst = left.iter().zip(right).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(worst <= tolerance, "vectors differ by {worst} (> {tolerance})");
}

#[test]
fn matches_the_reference_vector_of_sentence_transformers() {
    let vectors = embed(&["This is an example sentence"]);
    assert_eq!(vectors.len(), 1);
    let vector = &vectors[0];
    assert_eq!(vector.len(), DIMENSIONS);
    assert_close(&vector[..5], &[0.0677, 0.0635, 0.0487, 0.0793, 0.0374], 1e-3);
    assert!((norm(vector) - 1.0).abs() < 1e-5, "unit length, got {}", norm(vector));
    assert_eq!(embedder().model(), MODEL_ID);
}

#[test]
fn a_vector_does_not_depend_on_its_batch_mates() {
    let alone = embed(&["cheap flights to paris"]);
    let long = "how do I change the billing address on my account when I have moved to another country and the card was issued there";
    let batched = embed(&[long, "cheap flights to paris", "tea"]);
    assert_close(&alone[0], &batched[1], 1e-5);
    let long_alone = embed(&[long]);
    assert_close(&long_alone[0], &batched[0], 1e-5);
    // Different texts, different vectors: the comparison above can fail.
    let cosine: f32 = batched[0].iter().zip(&batched[1]).map(|(a, b)| a * b).sum();
    assert!(cosine < 0.9, "unrelated texts too similar: {cosine}");
}

#[test]
fn keeps_the_callers_order_across_batches() {
    // More texts than one batch, of mixed lengths, so sorting by length reorders them.
    let texts: Vec<String> = (0..(BATCH * 2 + 5)).map(|i| format!("keyword {} {}", "long ".repeat(i % 7), i)).collect();
    let all = embedder().embed(&texts).expect("embeds");
    assert_eq!(all.len(), texts.len());
    for index in [0, 1, BATCH + 3, texts.len() - 1] {
        let single = embedder().embed(&texts[index..=index]).expect("embeds");
        assert_close(&single[0], &all[index], 1e-5);
    }
}

#[test]
fn a_text_over_256_tokens_is_cut_and_an_empty_one_embeds() {
    let long = "search engine optimisation ".repeat(200);
    let longer = format!("{long} and then something else entirely at the very end");
    let vectors = embed(&[&long, &longer, ""]);
    assert_eq!(vectors.len(), 3);
    for vector in &vectors {
        assert_eq!(vector.len(), DIMENSIONS);
        assert!((norm(vector) - 1.0).abs() < 1e-5);
    }
    // Past 256 tokens nothing counts: the extra words at the end change nothing.
    assert_close(&vectors[0], &vectors[1], 1e-5);
    assert!(embed(&[]).is_empty());
}

#[test]
fn locate_needs_every_file() {
    let empty = tempfile::tempdir().expect("tempdir");
    assert!(MiniLmEmbedder::locate(empty.path()).is_none());
    assert!(MiniLmEmbedder::locate(embedder().dir()).is_some());
}

#[test]
fn a_broken_model_file_is_a_provider_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = embedder().dir();
    for file in [WEIGHTS, TOKENIZER, CONFIG, POOLING] {
        let target = dir.path().join(file);
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::copy(source.join(file), &target).expect("copy");
    }
    std::fs::write(dir.path().join(WEIGHTS), b"not safetensors").expect("write");
    let broken = MiniLmEmbedder::locate(dir.path()).expect("all files present");
    for _ in 0..2 {
        match broken.embed(&["x".to_owned()]) {
            Err(AiError::Provider(message)) => {
                assert!(message.contains(WEIGHTS), "{message}");
                assert!(message.contains("embedding_model_unreadable"), "{message}");
            }
            other => panic!("expected a provider error, got {other:?}"),
        }
    }
}
