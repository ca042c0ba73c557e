//! The BERT encoder forward pass of all-MiniLM-L6-v2 on candle-nn: embeddings, then
//! self-attention layers (post-norm, GELU), returning every token's last hidden
//! state. Written here rather than taken from candle-transformers, whose one crate
//! of ~83,000 lines (every model candle knows) took minutes to build on 2 cores for
//! these ~150 (docs/embeddings.md: build cost). Same weights names as Hugging Face's
//! `BertModel`, same arithmetic.

use candle_core::{DType, Module, Result, Tensor};
use candle_nn::{embedding, layer_norm, linear, Embedding, LayerNorm, LayerNormConfig, Linear, VarBuilder};

/// The fields of the model's config.json the forward pass needs.
#[derive(Debug, Clone, serde::Deserialize)]
pub(crate) struct Config {
    pub(crate) vocab_size: usize,
    pub(crate) hidden_size: usize,
    pub(crate) num_hidden_layers: usize,
    pub(crate) num_attention_heads: usize,
    pub(crate) intermediate_size: usize,
    pub(crate) hidden_act: String,
    pub(crate) max_position_embeddings: usize,
    pub(crate) type_vocab_size: usize,
    pub(crate) layer_norm_eps: f64,
    #[serde(default)]
    pub(crate) pad_token_id: u32,
}

struct Embeddings {
    words: Embedding,
    positions: Embedding,
    types: Embedding,
    norm: LayerNorm,
}

impl Embeddings {
    fn load(vb: VarBuilder, config: &Config) -> Result<Self> {
        Ok(Self {
            words: embedding(config.vocab_size, config.hidden_size, vb.pp("word_embeddings"))?,
            positions: embedding(config.max_position_embeddings, config.hidden_size, vb.pp("position_embeddings"))?,
            types: embedding(config.type_vocab_size, config.hidden_size, vb.pp("token_type_embeddings"))?,
            norm: norm(config, vb.pp("LayerNorm"))?,
        })
    }

    fn forward(&self, ids: &Tensor, types: &Tensor) -> Result<Tensor> {
        let width = ids.dim(1)?;
        let positions = Tensor::arange(0u32, width as u32, ids.device())?;
        let summed = self
            .words
            .forward(ids)?
            .add(&self.types.forward(types)?)?
            .broadcast_add(&self.positions.forward(&positions)?)?;
        self.norm.forward(&summed)
    }
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    out: Linear,
    out_norm: LayerNorm,
    heads: usize,
}

impl Layer {
    fn load(vb: VarBuilder, config: &Config) -> Result<Self> {
        let hidden = config.hidden_size;
        let attention = vb.pp("attention");
        Ok(Self {
            query: linear(hidden, hidden, attention.pp("self").pp("query"))?,
            key: linear(hidden, hidden, attention.pp("self").pp("key"))?,
            value: linear(hidden, hidden, attention.pp("self").pp("value"))?,
            attention_out: linear(hidden, hidden, attention.pp("output").pp("dense"))?,
            attention_norm: norm(config, attention.pp("output").pp("LayerNorm"))?,
            intermediate: linear(hidden, config.intermediate_size, vb.pp("intermediate").pp("dense"))?,
            out: linear(config.intermediate_size, hidden, vb.pp("output").pp("dense"))?,
            out_norm: norm(config, vb.pp("output").pp("LayerNorm"))?,
            heads: config.num_attention_heads,
        })
    }

    /// `bias` is 0 on real tokens and a large negative number on padding, shaped
    /// (batch, 1, 1, width): padded keys get no attention weight.
    fn forward(&self, states: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let (batch, width, hidden) = states.dims3()?;
        let head = hidden / self.heads;
        let split = |x: Tensor| -> Result<Tensor> {
            x.reshape((batch, width, self.heads, head))?.transpose(1, 2)?.contiguous()
        };
        let query = split(self.query.forward(states)?)?;
        let key = split(self.key.forward(states)?)?;
        let value = split(self.value.forward(states)?)?;
        let scores = (query.matmul(&key.t()?)? / (head as f64).sqrt())?.broadcast_add(bias)?;
        let weights = candle_nn::ops::softmax_last_dim(&scores)?;
        let context = weights.matmul(&value)?.transpose(1, 2)?.contiguous()?.reshape((batch, width, hidden))?;
        let attended = self.attention_norm.forward(&(self.attention_out.forward(&context)? + states)?)?;
        let inner = self.intermediate.forward(&attended)?.gelu_erf()?;
        self.out_norm.forward(&(self.out.forward(&inner)? + attended)?)
    }
}

/// BERT without its pooler: token ids in, last hidden states out.
pub(crate) struct Bert {
    embeddings: Embeddings,
    layers: Vec<Layer>,
}

impl Bert {
    /// Maps the weights (names as in Hugging Face's `BertModel`, without the `bert.`
    /// prefix, as this model ships them). Only the exact GELU is implemented: any
    /// other activation in the config is refused, not silently run wrong.
    pub(crate) fn load(vb: VarBuilder, config: &Config) -> Result<Self> {
        if config.hidden_act != "gelu" {
            candle_core::bail!("unsupported hidden_act {:?} (only \"gelu\")", config.hidden_act);
        }
        if config.num_attention_heads == 0 || config.hidden_size % config.num_attention_heads != 0 {
            candle_core::bail!("hidden_size is not a multiple of num_attention_heads");
        }
        let embeddings = Embeddings::load(vb.pp("embeddings"), config)?;
        let layers = (0..config.num_hidden_layers)
            .map(|index| Layer::load(vb.pp("encoder").pp("layer").pp(index), config))
            .collect::<Result<_>>()?;
        Ok(Self { embeddings, layers })
    }

    /// `ids`, `types` and `mask` are (batch, width) u32; the result is (batch,
    /// width, hidden) f32. Padding (mask 0) is never attended to, so a text's token
    /// states do not depend on how far its batch is padded.
    pub(crate) fn forward(&self, ids: &Tensor, types: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let bias = ((mask.to_dtype(DType::F32)? - 1.0)? * f64::from(f32::MAX))?.unsqueeze(1)?.unsqueeze(1)?;
        let mut states = self.embeddings.forward(ids, types)?;
        for layer in &self.layers {
            states = layer.forward(&states, &bias)?;
        }
        Ok(states)
    }
}

fn norm(config: &Config, vb: VarBuilder) -> Result<LayerNorm> {
    let settings = LayerNormConfig { eps: config.layer_norm_eps, ..LayerNormConfig::default() };
    layer_norm(config.hidden_size, settings, vb)
}
