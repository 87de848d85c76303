//! One optimiser step: the model, its AdamW ([`super::optim`]), the learning-rate schedule (linear warmup, then
//! cosine or constant) and global gradient-norm clipping. The loss is a per-position weighted cross-entropy over a
//! [`Batch`], so the learning phase can add its own targets and weights; the thought-token logic stays out of here.

use candle_core::{DType, Device, Tensor, D};
use candle_nn::{VarBuilder, VarMap};

use super::optim::{AdamW, AdamWParams};
use crate::engine::data::{Batch, Tokenizer};
use crate::engine::device::compute_dtype;
use crate::engine::error::invalid;
use crate::engine::model::{CausalLm, Gpt};
use crate::engine::pretrained;
use crate::plan::{LearnConfig, ModelConfig, Optimizer, RunParams, Schedule, ThoughtKind, ThoughtMix};

/// Learning rate for optimiser step `step` (0-based) of `total`: linear warmup, then the schedule.
pub fn learning_rate(optimizer: &Optimizer, step: usize, total: usize) -> f64 {
    let Optimizer::AdamW { lr, warmup, schedule, .. } = optimizer;
    if step < *warmup {
        return lr * (step + 1) as f64 / *warmup as f64;
    }
    match schedule {
        Schedule::Constant => *lr,
        Schedule::Cosine { min_lr_frac } => {
            let span = total.saturating_sub(warmup + 1).max(1) as f64;
            let progress = ((step - warmup) as f64 / span).min(1.0);
            let floor = lr * min_lr_frac;
            floor + (lr - floor) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
        }
    }
}

/// Sum over positions of `weight · −log p(target)`: `logits` (B, T, V), `targets` (B, T) u32, `weights` (B, T) f32.
/// Built from ops that all have a backward.
pub fn weighted_nll_sum(logits: &Tensor, targets: &Tensor, weights: &Tensor) -> candle_core::Result<Tensor> {
    let logp = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    // (B, T, V) -> (B, T)
    let picked = logp.gather(&targets.unsqueeze(D::Minus1)?, D::Minus1)?.squeeze(D::Minus1)?;
    (picked.neg()? * weights)?.sum_all()
}

/// A model built for a run: the model, the `VarMap` that owns its trained weights, and the tokenizer its data is
/// read with.
pub struct Built {
    pub model: Box<dyn CausalLm>,
    pub varmap: VarMap,
    pub tokenizer: Tokenizer,
}

/// A fresh model of `config` on `device`, weights drawn from `seed` (the own GPT) or loaded (a pretrained model).
pub fn build_model(config: &ModelConfig, device: &Device, seed: u64) -> anyhow::Result<Built> {
    let varmap = VarMap::new();
    let (model, tokenizer): (Box<dyn CausalLm>, _) = match config {
        ModelConfig::Gpt(cfg) => {
            let model = Gpt::new_seeded(cfg, &varmap, device, seed)
                .map_err(|e| invalid(format!("cannot build the GPT {cfg:?}: {e}")))?;
            (Box::new(model), Tokenizer::Bytes)
        }
        ModelConfig::Pretrained(cfg) => {
            let (model, tokenizer) = pretrained::load(cfg, &varmap, device)?;
            (Box::new(model), tokenizer)
        }
    };
    Ok(Built { model, varmap, tokenizer })
}

/// The model of a run: [`build_model`] of its config and seed, with continuous thoughts (and their mix) when its
/// episode says so.
pub fn build_run_model(params: &RunParams, device: &Device) -> anyhow::Result<Built> {
    let varmap = VarMap::new();
    let vb = || VarBuilder::from_varmap(&varmap, DType::F32, device);
    let (thoughts, mix) = (params.episode.thoughts, params.episode.mix);
    let compute = compute_dtype(params.dtype);
    let (model, tokenizer): (Box<dyn CausalLm>, _) = match &params.model {
        ModelConfig::Gpt(cfg) => {
            let model = Gpt::new_seeded(cfg, &varmap, device, params.seed)
                .map_err(|e| invalid(format!("cannot build the GPT {cfg:?}: {e}")))?
                .with_compute_dtype(compute);
            let model = match (thoughts, mix) {
                (ThoughtKind::Discrete, _) => model,
                (ThoughtKind::Continuous, ThoughtMix::Replace) => model.with_continuous_thoughts(true),
                (ThoughtKind::Continuous, ThoughtMix::Gated) => model.with_gated_thoughts(vb())?,
            };
            (Box::new(model), Tokenizer::Bytes)
        }
        ModelConfig::Pretrained(cfg) => {
            let (model, tokenizer) = pretrained::load(cfg, &varmap, device)?;
            let model = model.with_compute_dtype(compute);
            let model = match (thoughts, mix) {
                (ThoughtKind::Discrete, _) => model,
                (ThoughtKind::Continuous, ThoughtMix::Replace) => model.with_continuous_thoughts(true),
                (ThoughtKind::Continuous, ThoughtMix::Gated) => model.with_gated_thoughts(vb())?,
            };
            (Box::new(model), tokenizer)
        }
    };
    Ok(Built { model, varmap, tokenizer })
}

/// What one optimiser step did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    /// Mean loss per weighted target position.
    pub loss: f64,
    pub lr: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Real target tokens in the step.
    pub tokens: usize,
}

/// The model, its optimiser and the learning parameters: one [`Trainer::step`] per optimiser step.
pub struct Trainer {
    pub built: Built,
    pub optimizer: AdamW,
    learn: LearnConfig,
}

impl Trainer {
    pub fn new(built: Built, learn: &LearnConfig) -> anyhow::Result<Self> {
        let Optimizer::AdamW { weight_decay, beta1, beta2, eps, .. } = learn.optimizer;
        let params = AdamWParams { beta1, beta2, eps, weight_decay };
        let optimizer = AdamW::new(&built.varmap, params)?;
        Ok(Self { built, optimizer, learn: learn.clone() })
    }

    /// One optimiser step (`step` is 0-based) over `micro` batches: their gradients summed, then clipped, then AdamW.
    /// The loss is normalised by the weight of all micro-batches together, so accumulation equals one big batch.
    pub fn step(&mut self, step: usize, micro: &[(Batch, f64)]) -> anyhow::Result<StepStats> {
        let total_weight: f64 = micro.iter().map(|(_, w)| w).sum::<f64>().max(1e-12);
        let mut grads = self.zero_grads();
        let mut loss_sum = 0f64;
        for (batch, _) in micro {
            let loss = self.loss(batch, total_weight)?;
            // to_scalar copies to the host: once per micro-batch.
            loss_sum += f64::from(loss.to_scalar::<f32>()?);
            self.accumulate(&mut grads, &loss)?;
        }
        let (grad_norm, lr) = self.apply(step, grads)?;
        Ok(StepStats { loss: loss_sum, lr, grad_norm, tokens: total_weight.round() as usize })
    }

    /// The forward pass and loss of one micro-batch: its weighted NLL sum over `total_weight` (gradient-safe).
    pub fn loss(&self, batch: &Batch, total_weight: f64) -> candle_core::Result<Tensor> {
        let logits = self.built.model.forward(&batch.tokens)?.logits;
        weighted_nll_sum(&logits, &batch.targets, &batch.loss_weights)? / total_weight
    }

    /// Empty gradient slots, one per trained variable (in [`AdamW::vars`] order).
    pub fn zero_grads(&self) -> Vec<Option<Tensor>> {
        vec![None; self.optimizer.vars().count()]
    }

    /// Backpropagate `loss` and add its gradients into `grads` (from [`Trainer::zero_grads`]).
    pub fn accumulate(&self, grads: &mut [Option<Tensor>], loss: &Tensor) -> candle_core::Result<()> {
        let store = loss.backward()?;
        for ((_, var), acc) in self.optimizer.vars().zip(grads.iter_mut()) {
            if let Some(g) = store.get(var) {
                *acc = Some(match acc.take() {
                    Some(prev) => (prev + g)?,
                    None => g.clone(),
                });
            }
        }
        Ok(())
    }

    /// Clip `grads` to `learn.grad_clip` and take AdamW step `step` (0-based) at the scheduled learning rate.
    /// Returns the gradient norm before clipping and the learning rate.
    pub fn apply(&mut self, step: usize, mut grads: Vec<Option<Tensor>>) -> candle_core::Result<(f64, f64)> {
        let grad_norm = global_norm(&grads)?;
        if let Some(clip) = self.learn.grad_clip {
            if grad_norm > clip {
                let scale = clip / (grad_norm + 1e-6);
                for g in grads.iter_mut().flatten() {
                    *g = (&*g * scale)?;
                }
            }
        }
        let lr = learning_rate(&self.learn.optimizer, step, self.learn.steps);
        self.optimizer.step(&grads, lr)?;
        Ok((grad_norm, lr))
    }
}

/// The L2 norm of all gradients together.
pub fn global_norm(grads: &[Option<Tensor>]) -> candle_core::Result<f64> {
    let mut sum = 0f64;
    for g in grads.iter().flatten() {
        if g.device().is_cpu() {
            // On the CPU one pass over the values beats two allocating tensor ops.
            let values: Vec<f32> = g.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
            sum += values.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>();
        } else {
            sum += f64::from(g.sqr()?.sum_all()?.to_dtype(DType::F32)?.to_scalar::<f32>()?);
        }
    }
    Ok(sum.sqrt())
}
