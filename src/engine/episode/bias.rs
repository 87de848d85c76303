//! A wrapper that adds a constant to the thought's logit, so that an untrained model places thoughts (tests,
//! the benchmark) without touching its weights.

use candle_core::{Device, Tensor};

use crate::engine::model::{CausalLm, InputVectors, KvCache, ModelOutput};
use crate::plan::THOUGHT_ID;

/// `inner` with `bias` added to the `<|thought|>` logit at every position.
pub struct ThoughtBias<'a> {
    inner: &'a dyn CausalLm,
    /// (V,): zero except `bias` at `THOUGHT_ID`.
    offset: Tensor,
}

impl<'a> ThoughtBias<'a> {
    pub fn new(inner: &'a dyn CausalLm, bias: f32) -> candle_core::Result<Self> {
        let v = inner.vocab_size();
        let mut row = vec![0f32; v];
        if let Some(t) = row.get_mut(THOUGHT_ID as usize) {
            *t = bias;
        }
        Ok(Self { inner, offset: Tensor::from_vec(row, v, inner.device())? })
    }

    fn shift(&self, mut out: ModelOutput) -> candle_core::Result<ModelOutput> {
        out.logits = out.logits.broadcast_add(&self.offset)?;
        Ok(out)
    }
}

impl CausalLm for ThoughtBias<'_> {
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
        self.shift(self.inner.forward(tokens)?)
    }
    fn forward_inference(&self, tokens: &Tensor) -> candle_core::Result<ModelOutput> {
        self.shift(self.inner.forward_inference(tokens)?)
    }
    fn continuous_thoughts(&self) -> bool {
        self.inner.continuous_thoughts()
    }
    fn forward_with(&self, tokens: &Tensor, inputs: &InputVectors) -> candle_core::Result<ModelOutput> {
        self.shift(self.inner.forward_with(tokens, inputs)?)
    }
    fn forward_inference_with(&self, tokens: &Tensor, inputs: &InputVectors) -> candle_core::Result<ModelOutput> {
        self.shift(self.inner.forward_inference_with(tokens, inputs)?)
    }
    fn new_cache(&self, batch: usize) -> candle_core::Result<KvCache> {
        self.inner.new_cache(batch)
    }
    fn forward_chunk(&self, tokens: &Tensor, valid: &[usize], cache: &mut KvCache) -> candle_core::Result<ModelOutput> {
        self.shift(self.inner.forward_chunk(tokens, valid, cache)?)
    }
}
