//! The language models the engine trains and runs: the own small GPT, its per-row KV cache, and the
//! [`CausalLm`] trait that the training loop and the episode phase use, so that another model can slot in later.

mod alloc;
mod cache;
#[cfg(target_arch = "x86_64")]
mod cached;
#[cfg(target_arch = "x86_64")]
mod fused;
mod gpt;
mod init;
mod kernels;
pub mod ops;
mod storage;

pub use alloc::{process_cpu_seconds, tune_allocator};
pub use cache::KvCache;
pub use gpt::Gpt;

use candle_core::{Device, Tensor};

/// What a forward pass returns.
#[derive(Debug, Clone)]
pub struct ModelOutput {
    /// (B, T, V) f32 next-token logits.
    pub logits: Tensor,
    /// (B, T, D) final hidden states, after the last layer norm (`ln_f`).
    pub hidden: Tensor,
}

/// A causal language model as the training loop and the episode phase see it.
pub trait CausalLm {
    fn vocab_size(&self) -> usize;
    /// Maximum positions the model sees at once (also the KV cache capacity).
    fn context(&self) -> usize;
    fn device(&self) -> &Device;
    /// Full causal forward of (B, T) u32 tokens. Gradient-safe: every op has a backward.
    fn forward(&self, tokens: &Tensor) -> candle_core::Result<ModelOutput>;
    /// An empty per-row KV cache for `batch` rows.
    fn new_cache(&self, batch: usize) -> candle_core::Result<KvCache>;
    /// Append a chunk: `tokens` (B, C) u32; row b's first `valid[b]` tokens are real (the rest padding, ignored),
    /// placed at positions `cache.len(b)..`; afterwards `cache.len(b) += valid[b]`. Returns logits/hidden
    /// (B, C, ·); entries past `valid[b]` are unspecified. No gradients (inference path, may use fused ops).
    fn forward_chunk(&self, tokens: &Tensor, valid: &[usize], cache: &mut KvCache) -> candle_core::Result<ModelOutput>;
}
