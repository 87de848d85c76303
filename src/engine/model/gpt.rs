//! The own small GPT: learned positions, pre-LayerNorm blocks, causal self-attention, GELU-tanh MLP, untied head.
//!
//! Weight names follow GPT-2 (`wte`, `wpe`, `h.{i}.ln_1`, `h.{i}.attn.c_attn`, …, `ln_f`, `lm_head`) so that
//! checkpoints convert by name; linear weights are stored (in, out) as GPT-2's Conv1D stores them (`lm_head`
//! too: (D, V), the transpose of Hugging Face's `lm_head.weight`).

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{Init, VarBuilder, VarMap};

use super::chunk;
use super::continuous::exact_forward;
use super::init::{init_seeded, INIT_STD};
use super::ops::{self, Linear};
use super::{CausalLm, InputVectors, KvCache, ModelOutput};
use crate::plan::GptConfig;

const LN_EPS: f64 = 1e-5;

/// The variable prefix of the gated thought mix's projection (`thought_mix.weight`, (D, D)).
pub(super) const THOUGHT_MIX: &str = "thought_mix";

/// A layer norm's weight and bias.
#[derive(Debug, Clone)]
struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
}

impl LayerNorm {
    fn new(dim: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            weight: vb.get_with_hints(dim, "weight", Init::Const(1.0))?,
            bias: vb.get_with_hints(dim, "bias", Init::Const(0.0))?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        ops::layer_norm(x, &self.weight, &self.bias, LN_EPS)
    }

    fn detach(&self) -> Self {
        Self { weight: self.weight.detach(), bias: self.bias.detach() }
    }
}

fn linear(inp: usize, out: usize, bias: bool, std: f64, vb: VarBuilder) -> Result<Linear> {
    let weight = vb.get_with_hints((inp, out), "weight", Init::Randn { mean: 0.0, stdev: std })?;
    let bias = if bias { Some(vb.get_with_hints(out, "bias", Init::Const(0.0))?) } else { None };
    Ok(Linear::new(weight, bias))
}

/// One pre-LayerNorm transformer block.
#[derive(Debug, Clone)]
struct Block {
    ln_1: LayerNorm,
    c_attn: Linear,
    attn_proj: Linear,
    ln_2: LayerNorm,
    c_fc: Linear,
    mlp_proj: Linear,
}

impl Block {
    fn new(cfg: &GptConfig, vb: VarBuilder) -> Result<Self> {
        let d = cfg.width;
        let proj_std = INIT_STD / (2.0 * cfg.layers as f64).sqrt();
        let attn = vb.pp("attn");
        let mlp = vb.pp("mlp");
        Ok(Self {
            ln_1: LayerNorm::new(d, vb.pp("ln_1"))?,
            c_attn: linear(d, 3 * d, true, INIT_STD, attn.pp("c_attn"))?,
            attn_proj: linear(d, d, true, proj_std, attn.pp("c_proj"))?,
            ln_2: LayerNorm::new(d, vb.pp("ln_2"))?,
            c_fc: linear(d, 4 * d, true, INIT_STD, mlp.pp("c_fc"))?,
            mlp_proj: linear(4 * d, d, true, proj_std, mlp.pp("c_proj"))?,
        })
    }

    /// `x` (B, T, D) plus the attention and MLP branches; `attend` maps `c_attn`'s packed output (B, T, 3·D)
    /// to the attention output (B, T, D): plain causal for the full forward, cached for chunks.
    fn forward(&self, x: &Tensor, attend: impl FnOnce(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
        let qkv = self.c_attn.forward(&self.ln_1.forward(x)?)?;
        let x = (x + self.attn_proj.forward(&attend(&qkv)?)?)?;
        let h = ops::gelu(&self.c_fc.forward(&self.ln_2.forward(&x)?)?)?;
        x + self.mlp_proj.forward(&h)?
    }

    fn linears(&mut self) -> [&mut Linear; 4] {
        [&mut self.c_attn, &mut self.attn_proj, &mut self.c_fc, &mut self.mlp_proj]
    }

    fn detach(&self) -> Self {
        Self {
            ln_1: self.ln_1.detach(),
            c_attn: self.c_attn.detach(),
            attn_proj: self.attn_proj.detach(),
            ln_2: self.ln_2.detach(),
            c_fc: self.c_fc.detach(),
            mlp_proj: self.mlp_proj.detach(),
        }
    }
}

/// Every tensor of the model.
#[derive(Debug, Clone)]
struct Weights {
    wte: Tensor,
    wpe: Tensor,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    lm_head: Linear,
    /// With `mix = gated`: the projection W of a continuous thought's input `wte[thought] + h·W`.
    mix: Option<Linear>,
}

impl Weights {
    /// Views of the same storage outside the autograd graph: they see every optimiser update (candle updates
    /// variables in place), and a forward through them builds no graph and keeps no activations alive.
    fn detach(&self) -> Self {
        Self {
            wte: self.wte.detach(),
            wpe: self.wpe.detach(),
            blocks: self.blocks.iter().map(Block::detach).collect(),
            ln_f: self.ln_f.detach(),
            lm_head: self.lm_head.detach(),
            mix: self.mix.as_ref().map(Linear::detach),
        }
    }

    /// Every linear layer computes in `compute`.
    fn set_compute(&mut self, compute: DType) {
        let blocks = self.blocks.iter_mut().flat_map(Block::linears);
        for linear in blocks.chain([&mut self.lm_head]).chain(self.mix.as_mut()) {
            linear.compute = compute;
        }
    }

    /// Token plus position embeddings: `tokens` (B, T) u32, `positions` (B·T) u32 -> (B, T, D); where `inputs`
    /// sets its mask, its vectors stand in for the token embeddings (replace), or with a gated mix are projected
    /// and added to them.
    fn embed(&self, tokens: &Tensor, positions: &Tensor, inputs: Option<&InputVectors>) -> Result<Tensor> {
        let (b, t) = tokens.dims2()?;
        let d = self.wte.dim(1)?;
        let tok = self.wte.index_select(&tokens.flatten_all()?, 0)?.reshape((b, t, d))?;
        let pos = self.wpe.index_select(positions, 0)?.reshape((b, t, d))?;
        let tok = match inputs {
            None => tok,
            Some(inp) => match &self.mix {
                None => {
                    let keep = (1.0 - &inp.mask)?;
                    (tok.broadcast_mul(&keep)? + inp.vectors.broadcast_mul(&inp.mask)?)?
                }
                Some(mix) => (tok + mix.forward(&inp.vectors)?.broadcast_mul(&inp.mask)?)?,
            },
        };
        tok + pos
    }

    fn head(&self, x: &Tensor) -> Result<ModelOutput> {
        let hidden = self.ln_f.forward(x)?;
        let logits = self.lm_head.forward(&hidden)?;
        Ok(ModelOutput { logits, hidden })
    }
}

/// The own GPT. Build it with [`Gpt::new`] from a `VarBuilder` (a `VarMap` to train, safetensors to load).
#[derive(Debug, Clone)]
pub struct Gpt {
    cfg: GptConfig,
    /// The weights as created (variables when trained): [`CausalLm::forward`] runs on these.
    live: Weights,
    /// The same storage, detached: inference paths run on these.
    frozen: Weights,
    device: Device,
    /// `<|thought|>` positions take the previous position's hidden state as input (see [`super::continuous`]).
    continuous: bool,
    /// The dtype of every matmul (linear layers and attention); f32 everywhere else.
    compute: DType,
}

impl Gpt {
    /// The model with weights from `vb`; a `VarMap`-backed builder creates them (normal, std 0.02; the
    /// residual projections scaled by 1/sqrt(2·layers); layer norms 1 and 0). Also tunes the process's
    /// allocator for tensor work once ([`super::tune_allocator`]).
    pub fn new(cfg: &GptConfig, vb: VarBuilder) -> Result<Self> {
        super::tune_allocator();
        if cfg.heads == 0 || cfg.width % cfg.heads != 0 || cfg.context == 0 || cfg.vocab_size == 0 {
            candle_core::bail!(
                "invalid GPT shape: width {} must be a multiple of its {} heads, context and vocabulary positive",
                cfg.width,
                cfg.heads
            );
        }
        let (d, v) = (cfg.width, cfg.vocab_size);
        let emb = Init::Randn { mean: 0.0, stdev: INIT_STD };
        let live = Weights {
            wte: vb.pp("wte").get_with_hints((v, d), "weight", emb)?,
            wpe: vb.pp("wpe").get_with_hints((cfg.context, d), "weight", emb)?,
            blocks: (0..cfg.layers).map(|i| Block::new(cfg, vb.pp(format!("h.{i}")))).collect::<Result<Vec<_>>>()?,
            ln_f: LayerNorm::new(d, vb.pp("ln_f"))?,
            lm_head: linear(d, v, false, INIT_STD, vb.pp("lm_head"))?,
            mix: None,
        };
        let device = vb.device().clone();
        Ok(Self { cfg: cfg.clone(), frozen: live.detach(), live, device, continuous: false, compute: DType::F32 })
    }

    /// A fresh model whose weights live in `varmap` and are drawn deterministically from `seed`.
    pub fn new_seeded(cfg: &GptConfig, varmap: &VarMap, device: &Device, seed: u64) -> Result<Self> {
        let model = Self::new(cfg, VarBuilder::from_varmap(varmap, DType::F32, device))?;
        init_seeded(varmap, cfg.layers, seed)?;
        Ok(model)
    }

    pub fn config(&self) -> &GptConfig {
        &self.cfg
    }

    /// This model with its matmuls and attention computing in `compute` (`BF16` or `F16` for mixed precision on
    /// CUDA; the weights stay f32). A reduced dtype takes the composite ops, never the fused f32 CPU kernels.
    pub fn with_compute_dtype(mut self, compute: DType) -> Self {
        self.compute = compute;
        self.live.set_compute(compute);
        self.frozen.set_compute(compute);
        self
    }

    /// This model with continuous thoughts on or off (the weights are the same; only thought inputs change).
    pub fn with_continuous_thoughts(mut self, on: bool) -> Self {
        self.continuous = on;
        self
    }

    /// This model with continuous thoughts mixed by a gate (`mix = gated`): a thought's input is its embedding plus
    /// `h·W`, W a new (D, D) variable `thought_mix.weight` from `vb` (the model's root builder), created at zero so
    /// the model starts exactly as with discrete thoughts.
    pub fn with_gated_thoughts(mut self, vb: VarBuilder) -> Result<Self> {
        let d = self.cfg.width;
        let weight = vb.pp(THOUGHT_MIX).get_with_hints((d, d), "weight", Init::Const(0.0))?;
        let mix = Linear { compute: self.compute, ..Linear::new(weight, None) };
        self.frozen.mix = Some(mix.detach());
        self.live.mix = Some(mix);
        self.continuous = true;
        Ok(self)
    }

    /// A full forward: one pass, or with continuous thoughts the exact recurrence (see [`super::continuous`]).
    fn forward_exact(&self, w: &Weights, tokens: &Tensor) -> Result<ModelOutput> {
        if !self.continuous {
            return self.full_forward(w, tokens, None);
        }
        self.check_tokens(tokens)?;
        exact_forward(tokens, self.cfg.width, |inputs| self.full_forward(w, tokens, inputs))
    }

    fn full_forward(&self, w: &Weights, tokens: &Tensor, inputs: Option<&InputVectors>) -> Result<ModelOutput> {
        let (b, t) = self.check_tokens(tokens)?;
        if t == 0 || t > self.cfg.context {
            candle_core::bail!("sequence of {t} tokens: the model takes 1 to {} positions", self.cfg.context);
        }
        if let Some(inp) = inputs {
            let (vb, vt, vd) = inp.vectors.dims3()?;
            if (vb, vt, vd) != (b, t, self.cfg.width) || inp.mask.dims3()? != (b, t, 1) {
                candle_core::bail!(
                    "input vectors {:?} and mask {:?} for tokens ({b}, {t}): expected ({b}, {t}, {}) and ({b}, {t}, 1)",
                    inp.vectors.dims(),
                    inp.mask.dims(),
                    self.cfg.width
                );
            }
        }
        let positions: Vec<u32> = (0..b).flat_map(|_| 0..t as u32).collect();
        let positions = Tensor::from_vec(positions, b * t, &self.device)?;
        let mut x = w.embed(tokens, &positions, inputs)?;
        for block in &w.blocks {
            x = block.forward(&x, |qkv| ops::causal_attention(qkv, self.cfg.heads, self.compute))?;
        }
        w.head(&x)
    }

    fn check_tokens(&self, tokens: &Tensor) -> Result<(usize, usize)> {
        let (b, t) = tokens.dims2()?;
        if tokens.dtype() != DType::U32 {
            candle_core::bail!("model input must be u32 token ids, got {:?}", tokens.dtype());
        }
        Ok((b, t))
    }
}

impl CausalLm for Gpt {
    fn vocab_size(&self) -> usize {
        self.cfg.vocab_size
    }

    fn context(&self) -> usize {
        self.cfg.context
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
        let cache = KvCache::new(
            self.cfg.layers,
            batch,
            self.cfg.heads,
            self.cfg.context,
            self.cfg.width / self.cfg.heads,
            DType::F32,
            &self.device,
        )?;
        Ok(if self.continuous { cache.with_hidden(self.cfg.width) } else { cache })
    }

    fn forward_chunk(&self, tokens: &Tensor, valid: &[usize], cache: &mut KvCache) -> Result<ModelOutput> {
        let (b, c) = self.check_tokens(tokens)?;
        chunk::check(b, c, valid, cache, self.cfg.layers, self.cfg.context)?;
        let lens = cache.lens();
        let positions = chunk::positions(&lens, c, self.cfg.context, &self.device)?;
        let w = &self.frozen;
        let inputs = match self.continuous {
            true => chunk::thought_inputs(tokens, valid, cache, self.cfg.width, &self.device)?,
            false => None,
        };
        let mut x = w.embed(tokens, &positions, inputs.as_ref())?;
        for (i, block) in w.blocks.iter().enumerate() {
            x = block.forward(&x, |qkv| {
                chunk::cached_attention(qkv, self.cfg.heads, i, cache, &lens, valid, self.compute)
            })?;
        }
        let out = w.head(&x)?;
        if cache.keeps_hidden() {
            // to_vec1 copies to the host: once per chunk, only with continuous thoughts.
            cache.write_hidden(&out.hidden.flatten_all()?.to_vec1::<f32>()?, c, valid)?;
        }
        cache.advance(valid);
        Ok(out)
    }
}
