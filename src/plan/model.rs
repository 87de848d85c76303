//! The model a run trains: the own GPT (sizes from the spec) or a pretrained checkpoint (sizes read from its own
//! configuration when the spec is checked, so the plan shows them and the estimates use them).

use serde::{Deserialize, Serialize};

/// The rows a pretrained vocabulary gains for the engine's special tokens: `<|thought|>`, padding and one reserved
/// id (end of text is the model's own end-of-text token, moved to the engine's id).
pub const SPECIAL_TOKENS: usize = 3;

/// The model to train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ModelConfig {
    /// The own small GPT (learned positions, pre-LayerNorm, causal attention, GELU MLP).
    Gpt(GptConfig),
    /// A pretrained llama-architecture checkpoint (GGUF or Hugging Face), fine-tuned.
    Pretrained(PretrainedConfig),
}

impl ModelConfig {
    /// Maximum positions (real tokens plus thoughts) the run uses at once.
    pub fn context(&self) -> usize {
        match self {
            ModelConfig::Gpt(g) => g.context,
            ModelConfig::Pretrained(p) => p.context,
        }
    }

    /// Token ids the model embeds and predicts (with the engine's special tokens).
    pub fn vocab_size(&self) -> usize {
        match self {
            ModelConfig::Gpt(g) => g.vocab_size,
            ModelConfig::Pretrained(p) => p.vocab_size,
        }
    }

    /// Transformer blocks.
    pub fn layers(&self) -> usize {
        match self {
            ModelConfig::Gpt(g) => g.layers,
            ModelConfig::Pretrained(p) => p.shape.layers,
        }
    }

    /// Width of the residual stream.
    pub fn width(&self) -> usize {
        match self {
            ModelConfig::Gpt(g) => g.width,
            ModelConfig::Pretrained(p) => p.shape.width,
        }
    }

    /// Attention (query) heads; the KV cache keeps this many heads per layer.
    pub fn heads(&self) -> usize {
        match self {
            ModelConfig::Gpt(g) => g.heads,
            ModelConfig::Pretrained(p) => p.shape.heads,
        }
    }
}

/// Sizes of the own GPT.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GptConfig {
    pub layers: usize,
    pub width: usize,
    pub heads: usize,
    /// Maximum positions (real tokens plus thoughts) the model sees at once.
    pub context: usize,
    pub vocab_size: usize,
}

/// A pretrained checkpoint and how much of it is trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PretrainedConfig {
    /// As written in the spec: a `.gguf` file, or a Hugging Face folder (`config.json`, `model.safetensors`,
    /// `tokenizer.json`), relative to the working directory.
    pub path: String,
    pub format: CheckpointFormat,
    /// What the checkpoint's own configuration says.
    pub shape: LlamaShape,
    /// Positions the run uses at once (real tokens plus thoughts), at most `shape.max_context`.
    pub context: usize,
    pub train: TrainPart,
    /// `shape.vocab` plus [`SPECIAL_TOKENS`].
    pub vocab_size: usize,
}

/// The two checkpoint layouts thinktok reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckpointFormat {
    /// One GGUF file (weights dequantised to f32; the tokenizer built from its embedded vocabulary).
    Gguf,
    /// A folder with `config.json`, `model.safetensors` (memory-mapped) and `tokenizer.json`.
    HuggingFace,
}

/// A llama model's shape as its checkpoint states it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlamaShape {
    pub layers: usize,
    pub width: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (grouped-query attention when fewer than `heads`).
    pub kv_heads: usize,
    /// Hidden width of the SwiGLU MLP.
    pub ffn: usize,
    /// The checkpoint's own vocabulary.
    pub vocab: usize,
    /// The longest context it was trained for.
    pub max_context: usize,
    pub rope_base: f64,
    pub rms_eps: f64,
    /// Whether the output head shares the token embedding.
    pub tied: bool,
    /// The stored tensor types, e.g. `F32, Q4_1, Q8_0` (all are dequantised to f32 for training).
    pub weights: String,
}

impl LlamaShape {
    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.width / self.heads.max(1)
    }

    /// Parameters of the checkpoint with the engine's [`SPECIAL_TOKENS`] rows added.
    pub fn parameters(&self) -> u64 {
        self.table_parameters() + self.layers as u64 * self.block_parameters() + self.width as u64
    }

    /// Parameters of one block: query, output, key and value projections, the SwiGLU MLP, two norms.
    pub fn block_parameters(&self) -> u64 {
        let d = self.width as u64;
        let kv = (self.kv_heads * self.head_dim()) as u64;
        d * d * 2 + 2 * d * kv + 3 * d * self.ffn as u64 + 2 * d
    }

    /// Parameters of the token embedding and an untied head, with the [`SPECIAL_TOKENS`] rows (the final norm's
    /// are in [`LlamaShape::parameters`] only).
    pub fn table_parameters(&self) -> u64 {
        let (d, v) = (self.width as u64, (self.vocab + SPECIAL_TOKENS) as u64);
        v * d * if self.tied { 1 } else { 2 }
    }
}

/// Which parameters a fine-tune trains; the rest stay as loaded (no gradients, no optimiser state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TrainPart {
    /// Every parameter.
    All,
    /// The token embedding (and with it a tied head and the thought token's row), the last `layers` blocks and the
    /// final norm.
    Last { layers: usize },
}
