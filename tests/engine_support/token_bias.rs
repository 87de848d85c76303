//! A test model whose wish for a thought depends on the tokens: a real GPT with a constant added to the
//! `<|thought|>` logit only at positions whose input token satisfies a predicate. Unlike
//! `thinktok::engine::episode::bias::ThoughtBias` (the same bias at every position), the placement an untrained
//! model makes with it changes when the tokens change, so tests of causality and of own placements can fail.

use candle_core::{Device, Tensor};
use thinktok::engine::model::{CausalLm, KvCache, ModelOutput};
use thinktok::plan::THOUGHT_ID;

/// `inner` with `bias` added to the thought's logit at the positions whose input token `t` has `wants(t)`, in the
/// full forward and in the cached one alike (so the fast-forward and a teacher-forced pass agree).
pub struct TokenBias {
    pub inner: Box<dyn CausalLm>,
    bias: f32,
    wants: fn(u32) -> bool,
}

/// Even bytes; the thought (257), end-of-text (256) and padding are no bytes.
pub fn even_byte(t: u32) -> bool {
    t < 256 && t % 2 == 0
}

impl TokenBias {
    pub fn new(inner: Box<dyn CausalLm>, bias: f32, wants: fn(u32) -> bool) -> Self {
        Self { inner, bias, wants }
    }

    /// Add the bias to `out.logits` (B, T, V) where `tokens` (B, T) is wanted.
    fn shift(&self, tokens: &Tensor, mut out: ModelOutput) -> candle_core::Result<ModelOutput> {
        let (b, t) = tokens.dims2()?;
        let v = self.inner.vocab_size();
        let mut offset = vec![0f32; b * t * v];
        for (i, id) in tokens.flatten_all()?.to_vec1::<u32>()?.into_iter().enumerate() {
            if (self.wants)(id) {
                offset[i * v + THOUGHT_ID as usize] = self.bias;
            }
        }
        let offset = Tensor::from_vec(offset, (b, t, v), tokens.device())?.to_dtype(out.logits.dtype())?;
        out.logits = (out.logits + offset)?;
        Ok(out)
    }
}

impl CausalLm for TokenBias {
    fn vocab_size(&self) -> usize {
        self.inner.vocab_size()
    }
    fn context(&self) -> usize {
        self.inner.context()
    }
    fn device(&self) -> &Device {
        self.inner.device()
    }
    fn forward(&self, tokens: &Tensor) -> candle_core::Result<ModelOutput> {
        self.shift(tokens, self.inner.forward(tokens)?)
    }
    fn new_cache(&self, batch: usize) -> candle_core::Result<KvCache> {
        self.inner.new_cache(batch)
    }
    fn forward_chunk(&self, tokens: &Tensor, valid: &[usize], cache: &mut KvCache) -> candle_core::Result<ModelOutput> {
        self.shift(tokens, self.inner.forward_chunk(tokens, valid, cache)?)
    }
}
