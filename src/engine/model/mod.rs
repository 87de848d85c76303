//! The language models the engine trains and runs: the own small GPT, its per-row KV cache, and the
//! [`CausalLm`] trait that the training loop and the episode phase use, so that another model can slot in later.

mod alloc;
mod cache;
#[cfg(target_arch = "x86_64")]
mod cached;
mod chunk;
mod continuous;
#[cfg(target_arch = "x86_64")]
mod fused;
mod gpt;
mod init;
mod kernels;
mod llama;
pub mod ops;
mod storage;

pub use alloc::{process_cpu_seconds, tune_allocator};
pub use cache::KvCache;
pub use continuous::{previous_positions, unrolled_inputs};
pub use gpt::Gpt;
pub use llama::{trainable, Llama, LlamaBlock, LlamaWeights, RopeStyle};

use candle_core::{Device, Tensor};

/// What a forward pass returns.
#[derive(Debug, Clone)]
pub struct ModelOutput {
    /// (B, T, V) f32 next-token logits.
    pub logits: Tensor,
    /// (B, T, D) final hidden states, after the last layer norm (`ln_f`).
    pub hidden: Tensor,
}

/// Vectors that stand in for the token embeddings at some positions: the inputs of continuous thoughts. The
/// position embedding is still added.
#[derive(Debug, Clone)]
pub struct InputVectors {
    /// (B, T, 1) f32: 1 where a position's input is taken from `vectors`, 0 where from its token.
    pub mask: Tensor,
    /// (B, T, D) f32; rows where `mask` is 0 are ignored (and receive no gradient).
    pub vectors: Tensor,
}

/// A causal language model as the training loop and the episode phase see it.
pub trait CausalLm {
    fn vocab_size(&self) -> usize;
    /// Maximum positions the model sees at once (also the KV cache capacity).
    fn context(&self) -> usize;
    fn device(&self) -> &Device;
    /// Full causal forward of (B, T) u32 tokens. Gradient-safe: every op has a backward.
    fn forward(&self, tokens: &Tensor) -> candle_core::Result<ModelOutput>;
    /// The same values as [`CausalLm::forward`] without gradients: no autograd graph, activations freed as soon as
    /// they are used (evaluation, the naive references, benchmarks). Defaults to `forward`.
    fn forward_inference(&self, tokens: &Tensor) -> candle_core::Result<ModelOutput> {
        self.forward(tokens)
    }
    /// An empty per-row KV cache for `batch` rows.
    fn new_cache(&self, batch: usize) -> candle_core::Result<KvCache>;
    /// Append a chunk: `tokens` (B, C) u32; row b's first `valid[b]` tokens are real (the rest padding, ignored),
    /// placed at positions `cache.len(b)..`; afterwards `cache.len(b) += valid[b]`. Returns logits/hidden
    /// (B, C, ·); entries past `valid[b]` are unspecified. No gradients (inference path, may use fused ops).
    fn forward_chunk(&self, tokens: &Tensor, valid: &[usize], cache: &mut KvCache) -> candle_core::Result<ModelOutput>;
    /// Whether `<|thought|>` positions take the previous position's final hidden state as input (continuous
    /// thoughts) instead of the thought's embedding. Such a model's [`CausalLm::forward`] computes that recurrence
    /// exactly, and its [`CausalLm::forward_chunk`] takes a thought only as a chunk's first position of a row, its
    /// input read from the cache ([`KvCache::hidden`]): callers cut chunks before every later thought.
    fn continuous_thoughts(&self) -> bool {
        false
    }
    /// A full forward with `inputs` standing in for the token embeddings where its mask is set (gradients flow
    /// into `inputs.vectors`). Models without continuous thoughts refuse it.
    fn forward_with(&self, tokens: &Tensor, inputs: &InputVectors) -> candle_core::Result<ModelOutput> {
        let _ = (tokens, inputs);
        candle_core::bail!("this model does not take input vectors (continuous thoughts)")
    }
    /// [`CausalLm::forward_with`] without gradients.
    fn forward_inference_with(&self, tokens: &Tensor, inputs: &InputVectors) -> candle_core::Result<ModelOutput> {
        self.forward_with(tokens, inputs)
    }
}
