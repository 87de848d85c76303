//! The llama architecture, for pretrained checkpoints: RMSNorm, rotary position embeddings (RoPE), SwiGLU MLP,
//! grouped-query attention, a tied or untied head. It implements [`CausalLm`] with the per-row KV cache, so the
//! episode phase, the learning phase and evaluation run on it unchanged, continuous thoughts included.
//!
//! Every op has a backward: RMSNorm and RoPE are composed from candle ops (candle-nn's fused `rms_norm` and `rope`
//! have none, so gradients would silently stop there), attention is the project's fused op with its own backward
//! ([`ops::causal_attention`]). Grouped-query attention repeats each key/value head for its query heads before
//! attention, so the attention ops and the KV cache are the GPT's (the cache holds the repeated heads: simple, at
//! `heads / kv_heads` times the memory of a grouped cache).
//!
//! RoPE comes in two conventions: GGUF files rotate adjacent pairs (llama.cpp permutes the query and key rows when
//! converting), Hugging Face checkpoints rotate the two halves of each head. Both are here; a test checks that the
//! same model stored both ways gives the same logits.

use candle_core::{DType, Device, Module, Result, Tensor, Var, D};
use candle_nn::{Init, VarBuilder};

use super::chunk;
use super::continuous::exact_forward;
use super::gpt::THOUGHT_MIX;
use super::ops::{self, Linear};
use super::{CausalLm, InputVectors, KvCache, ModelOutput};
use crate::plan::LlamaShape;

/// How RoPE pairs the dimensions of a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeStyle {
    /// Dimension 2i with 2i + 1 (GGUF, llama.cpp).
    Interleaved,
    /// Dimension i with i + Dh/2 (Hugging Face).
    HalfSplit,
}

/// One block's weights; linear weights are (in, out).
#[derive(Debug, Clone)]
pub struct LlamaBlock {
    pub attn_norm: Tensor,
    pub q: Tensor,
    pub k: Tensor,
    pub v: Tensor,
    pub o: Tensor,
    pub ffn_norm: Tensor,
    pub gate: Tensor,
    pub up: Tensor,
    pub down: Tensor,
}

impl LlamaBlock {
    fn map(&self, f: impl Fn(&Tensor) -> Tensor) -> Self {
        Self {
            attn_norm: f(&self.attn_norm),
            q: f(&self.q),
            k: f(&self.k),
            v: f(&self.v),
            o: f(&self.o),
            ffn_norm: f(&self.ffn_norm),
            gate: f(&self.gate),
            up: f(&self.up),
            down: f(&self.down),
        }
    }
}

/// Every tensor of the model, in the engine's vocabulary order.
#[derive(Debug, Clone)]
pub struct LlamaWeights {
    /// (V, D).
    pub embed: Tensor,
    pub blocks: Vec<LlamaBlock>,
    /// The final RMSNorm's weight (D).
    pub norm: Tensor,
    /// (D, V); `None`: tied to `embed`.
    pub head: Option<Tensor>,
    /// With `mix = gated`: the projection W of a continuous thought's input `embed[thought] + h·W`.
    pub mix: Option<Tensor>,
}

impl LlamaWeights {
    fn map(&self, f: impl Fn(&Tensor) -> Tensor) -> Self {
        Self {
            embed: f(&self.embed),
            blocks: self.blocks.iter().map(|b| b.map(&f)).collect(),
            norm: f(&self.norm),
            head: self.head.as_ref().map(&f),
            mix: self.mix.as_ref().map(&f),
        }
    }
}

fn linear(x: &Tensor, w: &Tensor, compute: DType) -> Result<Tensor> {
    Linear { compute, ..Linear::new(w.clone(), None) }.forward(x)
}

fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
    x.broadcast_div(&(ms + eps)?.sqrt()?)?.broadcast_mul(weight)
}

/// A llama model with its weights in place.
#[derive(Debug, Clone)]
pub struct Llama {
    shape: LlamaShape,
    context: usize,
    vocab: usize,
    style: RopeStyle,
    /// What [`CausalLm::forward`] runs on: variables where trained, plain tensors where frozen.
    live: LlamaWeights,
    /// The same storage, detached: inference paths run on these.
    frozen: LlamaWeights,
    /// (context, Dh / 2) cosines and sines of the rotary angles.
    cos: Tensor,
    sin: Tensor,
    device: Device,
    continuous: bool,
    /// The dtype of every matmul (projections, head, attention); f32 everywhere else.
    compute: DType,
}

impl Llama {
    /// The model of `shape` with `weights` (in the engine's vocabulary order, `vocab` rows), using `context`
    /// positions at most, RoPE paired as `style`.
    pub fn new(
        shape: &LlamaShape,
        weights: LlamaWeights,
        vocab: usize,
        context: usize,
        style: RopeStyle,
    ) -> Result<Self> {
        super::tune_allocator();
        let device = weights.embed.device().clone();
        let (d, dh) = (shape.width, shape.head_dim());
        let kv = shape.kv_heads * dh;
        let expect = |t: &Tensor, dims: &[usize], name: &str| -> Result<()> {
            if t.dims() != dims {
                candle_core::bail!("`{name}` is {:?}, expected {dims:?} for this model's shape", t.dims());
            }
            Ok(())
        };
        expect(&weights.embed, &[vocab, d], "embedding")?;
        expect(&weights.norm, &[d], "final norm")?;
        if let Some(h) = &weights.head {
            expect(h, &[d, vocab], "head")?;
        }
        if weights.blocks.len() != shape.layers {
            candle_core::bail!("{} blocks of weights for a model of {} layers", weights.blocks.len(), shape.layers);
        }
        for (i, b) in weights.blocks.iter().enumerate() {
            for (t, dims, name) in [
                (&b.attn_norm, vec![d], "attn_norm"),
                (&b.q, vec![d, d], "q"),
                (&b.k, vec![d, kv], "k"),
                (&b.v, vec![d, kv], "v"),
                (&b.o, vec![d, d], "o"),
                (&b.ffn_norm, vec![d], "ffn_norm"),
                (&b.gate, vec![d, shape.ffn], "gate"),
                (&b.up, vec![d, shape.ffn], "up"),
                (&b.down, vec![shape.ffn, d], "down"),
            ] {
                expect(t, &dims, &format!("block {i} {name}"))?;
            }
        }
        let (cos, sin) = rope_tables(context, dh, shape.rope_base, &device)?;
        let frozen = weights.map(Tensor::detach);
        Ok(Self {
            shape: shape.clone(),
            context,
            vocab,
            style,
            live: weights,
            frozen,
            cos,
            sin,
            device,
            continuous: false,
            compute: DType::F32,
        })
    }

    pub fn shape(&self) -> &LlamaShape {
        &self.shape
    }

    /// This model with its matmuls and attention computing in `compute` (see `Gpt::with_compute_dtype`).
    pub fn with_compute_dtype(mut self, compute: DType) -> Self {
        self.compute = compute;
        self
    }

    /// This model with continuous thoughts on or off.
    pub fn with_continuous_thoughts(mut self, on: bool) -> Self {
        self.continuous = on;
        self
    }

    /// This model with continuous thoughts mixed by a gate: a new (D, D) variable `thought_mix.weight` from `vb`,
    /// created at zero (see `Gpt::with_gated_thoughts`).
    pub fn with_gated_thoughts(mut self, vb: VarBuilder) -> Result<Self> {
        let d = self.shape.width;
        let w = vb.pp(THOUGHT_MIX).get_with_hints((d, d), "weight", Init::Const(0.0))?;
        self.frozen.mix = Some(w.detach());
        self.live.mix = Some(w);
        self.continuous = true;
        Ok(self)
    }

    /// Rotate `x` (B, T, heads, Dh) by the angles of `positions` (B·T).
    fn rope(&self, x: &Tensor, positions: &Tensor) -> Result<Tensor> {
        let (b, t, h, dh) = x.dims4()?;
        let half = dh / 2;
        let cos = self.cos.index_select(positions, 0)?;
        let sin = self.sin.index_select(positions, 0)?;
        match self.style {
            RopeStyle::HalfSplit => {
                let (c, s) = (cos.reshape((b, t, 1, half))?, sin.reshape((b, t, 1, half))?);
                let (x1, x2) = (x.narrow(3, 0, half)?, x.narrow(3, half, half)?);
                let r1 = (x1.broadcast_mul(&c)? - x2.broadcast_mul(&s)?)?;
                let r2 = (x2.broadcast_mul(&c)? + x1.broadcast_mul(&s)?)?;
                Tensor::cat(&[r1, r2], 3)
            }
            RopeStyle::Interleaved => {
                let (c, s) = (cos.reshape((b, t, 1, half, 1))?, sin.reshape((b, t, 1, half, 1))?);
                let x = x.reshape((b, t, h, half, 2))?;
                let (x1, x2) = (x.narrow(4, 0, 1)?, x.narrow(4, 1, 1)?);
                let r1 = (x1.broadcast_mul(&c)? - x2.broadcast_mul(&s)?)?;
                let r2 = (x2.broadcast_mul(&c)? + x1.broadcast_mul(&s)?)?;
                Tensor::cat(&[r1, r2], 4)?.reshape((b, t, h, dh))
            }
        }
    }

    /// The packed (B, T, 3·H·Dh) queries, keys and values of `h` (B, T, D): RoPE applied, key/value heads repeated
    /// for their query heads.
    fn qkv(&self, blk: &LlamaBlock, h: &Tensor, positions: &Tensor) -> Result<Tensor> {
        let (b, t, _) = h.dims3()?;
        let s = &self.shape;
        let (heads, kvh, dh) = (s.heads, s.kv_heads, s.head_dim());
        let q = self.rope(&linear(h, &blk.q, self.compute)?.reshape((b, t, heads, dh))?, positions)?;
        let k = self.rope(&linear(h, &blk.k, self.compute)?.reshape((b, t, kvh, dh))?, positions)?;
        let v = linear(h, &blk.v, self.compute)?.reshape((b, t, kvh, dh))?;
        let repeat = |x: Tensor| -> Result<Tensor> {
            if kvh == heads {
                return Ok(x);
            }
            x.unsqueeze(3)?.broadcast_as((b, t, kvh, heads / kvh, dh))?.contiguous()?.reshape((b, t, heads, dh))
        };
        let flat = |x: Tensor| x.reshape((b, t, heads * dh));
        Tensor::cat(&[flat(q)?, flat(repeat(k)?)?, flat(repeat(v)?)?], 2)
    }

    /// One block on `x` (B, T, D); `attend` maps the packed qkv to the attention output (B, T, D).
    fn block(
        &self,
        blk: &LlamaBlock,
        x: &Tensor,
        positions: &Tensor,
        attend: impl FnOnce(&Tensor) -> Result<Tensor>,
    ) -> Result<Tensor> {
        let eps = self.shape.rms_eps;
        let qkv = self.qkv(blk, &rms_norm(x, &blk.attn_norm, eps)?, positions)?;
        let x = (x + linear(&attend(&qkv)?, &blk.o, self.compute)?)?;
        let h = rms_norm(&x, &blk.ffn_norm, eps)?;
        let mlp = (linear(&h, &blk.gate, self.compute)?.silu()? * linear(&h, &blk.up, self.compute)?)?;
        x + linear(&mlp, &blk.down, self.compute)?
    }

    fn embed(&self, w: &LlamaWeights, tokens: &Tensor, inputs: Option<&InputVectors>) -> Result<Tensor> {
        let (b, t) = tokens.dims2()?;
        let d = self.shape.width;
        let tok = w.embed.index_select(&tokens.flatten_all()?, 0)?.reshape((b, t, d))?;
        Ok(match inputs {
            None => tok,
            Some(inp) => match &w.mix {
                None => (tok.broadcast_mul(&(1.0 - &inp.mask)?)? + inp.vectors.broadcast_mul(&inp.mask)?)?,
                Some(mix) => (tok + linear(&inp.vectors, mix, self.compute)?.broadcast_mul(&inp.mask)?)?,
            },
        })
    }

    fn head(&self, w: &LlamaWeights, x: &Tensor) -> Result<ModelOutput> {
        let hidden = rms_norm(x, &w.norm, self.shape.rms_eps)?;
        let logits = match &w.head {
            Some(head) => linear(&hidden, head, self.compute)?,
            None => {
                let (b, t, d) = hidden.dims3()?;
                ops::matmul_in(&hidden.reshape((b * t, d))?, &w.embed.t()?, self.compute)?
                    .reshape((b, t, self.vocab))?
            }
        };
        Ok(ModelOutput { logits, hidden })
    }

    fn check_tokens(&self, tokens: &Tensor) -> Result<(usize, usize)> {
        let (b, t) = tokens.dims2()?;
        if tokens.dtype() != DType::U32 {
            candle_core::bail!("model input must be u32 token ids, got {:?}", tokens.dtype());
        }
        Ok((b, t))
    }

    fn full_forward(&self, w: &LlamaWeights, tokens: &Tensor, inputs: Option<&InputVectors>) -> Result<ModelOutput> {
        let (b, t) = self.check_tokens(tokens)?;
        if t == 0 || t > self.context {
            candle_core::bail!("sequence of {t} tokens: the model takes 1 to {} positions", self.context);
        }
        let positions: Vec<u32> = (0..b).flat_map(|_| 0..t as u32).collect();
        let positions = Tensor::from_vec(positions, b * t, &self.device)?;
        let mut x = self.embed(w, tokens, inputs)?;
        for blk in &w.blocks {
            x = self.block(blk, &x, &positions, |qkv| ops::causal_attention(qkv, self.shape.heads, self.compute))?;
        }
        self.head(w, &x)
    }

    fn forward_exact(&self, w: &LlamaWeights, tokens: &Tensor) -> Result<ModelOutput> {
        if !self.continuous {
            return self.full_forward(w, tokens, None);
        }
        self.check_tokens(tokens)?;
        exact_forward(tokens, self.shape.width, |inputs| self.full_forward(w, tokens, inputs))
    }
}

/// Cosines and sines of position p times the frequencies base^(−2i/Dh), (context, Dh/2) each.
fn rope_tables(context: usize, dh: usize, base: f64, device: &Device) -> Result<(Tensor, Tensor)> {
    let half = dh / 2;
    let mut cos = Vec::with_capacity(context * half);
    let mut sin = Vec::with_capacity(context * half);
    for p in 0..context {
        for i in 0..half {
            let angle = p as f64 * base.powf(-2.0 * i as f64 / dh as f64);
            cos.push(angle.cos() as f32);
            sin.push(angle.sin() as f32);
        }
    }
    Ok((Tensor::from_vec(cos, (context, half), device)?, Tensor::from_vec(sin, (context, half), device)?))
}

/// A trainable copy of `t`, registered in `varmap` under `name` (what checkpoints save and the optimiser updates).
pub fn trainable(varmap: &candle_nn::VarMap, name: &str, t: &Tensor) -> Result<Tensor> {
    let var = Var::from_tensor(t)?;
    let tensor = var.as_tensor().clone();
    let mut vars = varmap.data().lock().map_err(|_| candle_core::Error::Msg("the VarMap lock is poisoned".into()))?;
    vars.insert(name.to_string(), var);
    Ok(tensor)
}

impl CausalLm for Llama {
    fn vocab_size(&self) -> usize {
        self.vocab
    }

    fn context(&self) -> usize {
        self.context
    }

    fn device(&self) -> &Device {
        &self.device
    }

    fn forward(&self, tokens: &Tensor) -> Result<ModelOutput> {
        self.forward_exact(&self.live, tokens)
    }

    fn forward_inference(&self, tokens: &Tensor) -> Result<ModelOutput> {
        self.forward_exact(&self.frozen, tokens)
    }

    fn continuous_thoughts(&self) -> bool {
        self.continuous
    }

    fn forward_with(&self, tokens: &Tensor, inputs: &InputVectors) -> Result<ModelOutput> {
        self.full_forward(&self.live, tokens, Some(inputs))
    }

    fn forward_inference_with(&self, tokens: &Tensor, inputs: &InputVectors) -> Result<ModelOutput> {
        self.full_forward(&self.frozen, tokens, Some(inputs))
    }

    fn new_cache(&self, batch: usize) -> Result<KvCache> {
        let s = &self.shape;
        let cache = KvCache::new(s.layers, batch, s.heads, self.context, s.head_dim(), DType::F32, &self.device)?;
        Ok(if self.continuous { cache.with_hidden(s.width) } else { cache })
    }

    fn forward_chunk(&self, tokens: &Tensor, valid: &[usize], cache: &mut KvCache) -> Result<ModelOutput> {
        let (b, c) = self.check_tokens(tokens)?;
        chunk::check(b, c, valid, cache, self.shape.layers, self.context)?;
        let lens = cache.lens();
        let positions = chunk::positions(&lens, c, self.context, &self.device)?;
        let w = &self.frozen;
        let inputs = match self.continuous {
            true => chunk::thought_inputs(tokens, valid, cache, self.shape.width, &self.device)?,
            false => None,
        };
        let mut x = self.embed(w, tokens, inputs.as_ref())?;
        let heads = self.shape.heads;
        for (i, blk) in w.blocks.iter().enumerate() {
            x = self.block(blk, &x, &positions, |qkv| {
                chunk::cached_attention(qkv, heads, i, cache, &lens, valid, self.compute)
            })?;
        }
        let out = self.head(w, &x)?;
        if cache.keeps_hidden() {
            cache.write_hidden(&out.hidden.flatten_all()?.to_vec1::<f32>()?, c, valid)?;
        }
        cache.advance(valid);
        Ok(out)
    }
}
