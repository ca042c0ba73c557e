//! Keyword embeddings through the endpoint's `/embeddings` (semantic clustering in
//! the cloud, where the Lambdas stay free of a tensor library).
//!
//! Why checked so closely: the vectors key a cache and feed a linkage that finds
//! the number of clusters by a similarity threshold, so a vector out of order, a
//! missing one or one of another dimension would silently misgroup keywords. The
//! answer is ordered by `index`, counted, its dimensions compared, and every vector
//! L2-normalised (the [`crate::Embedder`] contract: unit length).

use serde::Deserialize;
use serde_json::json;

use super::OpenAiProvider;
use crate::{AiError, Usage};

/// Most texts sent in one `/embeddings` request: well under OpenAI's 2,048-input
/// limit and small enough for a local server to answer within the timeout.
pub const EMBEDDING_BATCH: usize = 256;

/// The subset of an `/embeddings` response we use.
#[derive(Deserialize)]
struct EmbeddingsResponse {
    #[serde(default)]
    data: Vec<EmbeddingItem>,
    model: Option<String>,
    usage: Option<EmbeddingsUsage>,
}

/// One vector of the answer and the position of its input.
#[derive(Deserialize)]
struct EmbeddingItem {
    index: usize,
    embedding: Vec<f32>,
}

/// Token counts of an `/embeddings` call (no completion tokens).
#[derive(Deserialize)]
struct EmbeddingsUsage {
    prompt_tokens: Option<i64>,
}

impl OpenAiProvider {
    /// Unit-length vectors of `texts` in order, requested in chunks of
    /// [`EMBEDDING_BATCH`], with the prompt tokens of every chunk summed.
    pub(super) async fn embed_texts(&self, texts: &[String]) -> Result<(Vec<Vec<f32>>, Usage), AiError> {
        let Some(model) = self.config.embedding_model.clone() else {
            return Err(AiError::Unsupported("no embedding model is configured (IGNY8_AI_EMBEDDING_MODEL)".into()));
        };
        if let Some(n) = texts.iter().position(|t| t.trim().is_empty()) {
            return Err(AiError::InvalidInput(format!("text {n} to embed is empty")));
        }
        let mut usage = Usage { model: model.clone(), tokens_in: 0, tokens_out: 0 };
        let mut vectors: Vec<Vec<f32>> = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(EMBEDDING_BATCH) {
            self.counters.count_embedding_request();
            let raw = self.post_json(&self.embeddings_url, &json!({"model": model, "input": chunk})).await?;
            let response: EmbeddingsResponse = serde_json::from_value(raw)
                .map_err(|e| AiError::Provider(format!("embed: unexpected /embeddings response shape: {e}")))?;
            if let Some(m) = response.model.as_deref().filter(|m| !m.is_empty()) {
                m.clone_into(&mut usage.model);
            }
            usage.tokens_in += response.usage.and_then(|u| u.prompt_tokens).unwrap_or(0);
            let dimension = vectors.first().map(Vec::len);
            vectors.extend(ordered(response.data, chunk.len(), dimension)?);
        }
        Ok((vectors, usage))
    }
}

/// The chunk's vectors in input order, normalised, or a provider error when the
/// answer does not hold exactly one vector per input of one common, non-zero
/// dimension (`dimension`: the earlier chunks').
fn ordered(mut data: Vec<EmbeddingItem>, expected: usize, dimension: Option<usize>) -> Result<Vec<Vec<f32>>, AiError> {
    if data.len() != expected {
        return Err(AiError::Provider(format!("embed: {expected} texts sent, {} vectors returned", data.len())));
    }
    data.sort_by_key(|item| item.index);
    let dimension = dimension.or_else(|| data.first().map(|item| item.embedding.len())).unwrap_or(0);
    if dimension == 0 {
        return Err(AiError::Provider("embed: the vectors are empty".into()));
    }
    data.into_iter()
        .enumerate()
        .map(|(position, item)| {
            if item.index != position {
                return Err(AiError::Provider(format!(
                    "embed: vector indices are not 0 to {} (index {} where {position} was due)",
                    expected - 1,
                    item.index
                )));
            }
            if item.embedding.len() != dimension {
                return Err(AiError::Provider(format!(
                    "embed: vector {position} has {} dimensions, the others {dimension}",
                    item.embedding.len()
                )));
            }
            normalised(item.embedding)
                .ok_or_else(|| AiError::Provider(format!("embed: vector {position} has no length to normalise")))
        })
        .collect()
}

/// `v` scaled to unit length; `None` for a zero or non-finite vector.
fn normalised(mut v: Vec<f32>) -> Option<Vec<f32>> {
    let norm = v.iter().map(|x| f64::from(*x) * f64::from(*x)).sum::<f64>().sqrt();
    if !norm.is_finite() || norm == 0.0 {
        return None;
    }
    for x in &mut v {
        *x = (f64::from(*x) / norm) as f32;
    }
    Some(v)
}
