//! Plain training: one run of a plan, from data to a final checkpoint, readable top to bottom in [`train_run`].
//!
//! AdamW ([`super::optim`]), linear warmup then cosine (or constant) learning rate, global gradient-norm clipping,
//! gradient accumulation over `learn.accumulate` micro-batches of `learn.batch` sequences each. The loss is a
//! per-position weighted cross-entropy over a [`Batch`], so the learning phase can add its own targets and weights.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use candle_core::{DType, Device, Tensor, D};
use candle_nn::VarMap;
use indicatif::ProgressBar;
use serde_json::json;

use super::checkpoint::{self, Meta};
use super::data::{self, Batch, Dataset, HostBatch, Role, Sampler, Sequence};
use super::error::invalid;
use super::eval::EvalReport;
use super::model::{CausalLm, Gpt};
use super::optim::{AdamW, AdamWParams};
use super::rng::Rng;
use super::thought_eval::evaluate_run;
use crate::plan::{LearnConfig, ModelConfig, Optimizer, RunPlan, Schedule};

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

/// A model built for a run: the model, the `VarMap` that owns its weights.
pub struct Built {
    pub model: Box<dyn CausalLm>,
    pub varmap: VarMap,
}

/// A fresh model of `config` on `device`, weights drawn from `seed`.
pub fn build_model(config: &ModelConfig, device: &Device, seed: u64) -> anyhow::Result<Built> {
    let ModelConfig::Gpt(cfg) = config;
    let varmap = VarMap::new();
    let model = Gpt::new_seeded(cfg, &varmap, device, seed)
        .map_err(|e| invalid(format!("cannot build the GPT {cfg:?}: {e}")))?;
    Ok(Built { model: Box::new(model), varmap })
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
            let logits = self.built.model.forward(&batch.tokens)?.logits;
            let loss = (weighted_nll_sum(&logits, &batch.targets, &batch.loss_weights)? / total_weight)?;
            // to_scalar copies to the host: once per micro-batch.
            loss_sum += f64::from(loss.to_scalar::<f32>()?);
            self.accumulate(&mut grads, &loss)?;
        }
        let (grad_norm, lr) = self.apply(step, grads)?;
        Ok(StepStats { loss: loss_sum, lr, grad_norm, tokens: total_weight.round() as usize })
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

/// How a call of [`train_run`] ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The last step is done; the final checkpoint is written.
    Finished { eval: EvalReport, steps: usize },
    /// Stopped early on request (`--stop-after`), with a checkpoint to resume from.
    Stopped { step: usize },
}

/// Knobs of one call of [`train_run`] that are not part of the plan.
pub struct TrainOptions<'a> {
    /// Continue from this checkpoint folder.
    pub resume_from: Option<&'a Path>,
    /// Stop after this many optimiser steps in total (a checkpoint is written).
    pub stop_after: Option<usize>,
    pub progress: ProgressBar,
    /// Print evaluation lines (above the progress bar).
    pub verbose: bool,
}

/// Held-out figures are reported every `eval.every` steps; training loss lines this often.
fn log_every(steps: usize) -> usize {
    (steps / 100).clamp(1, 50)
}

/// Train `run` on `device`, writing `metrics.jsonl`, `checkpoint/` and finally `final/` into `run_dir`.
pub fn train_run(run: &RunPlan, run_dir: &Path, device: &Device, opts: TrainOptions) -> anyhow::Result<Outcome> {
    let params = &run.params;
    let (learn, eval_cfg) = (&params.learn, &params.eval);
    if learn.batch == 0 || learn.accumulate == 0 {
        return Err(invalid("`learn.batch` and `learn.accumulate` must be at least 1"));
    }

    // Data: every sequence fits the context (or the source was refused with a message).
    let context = |source| super::episodic::data_context(params, source);
    let train = data::load(&params.data.train, Role::Train, context(&params.data.train))?;
    let test = data::load(&params.data.test, Role::Test, context(&params.data.test))?;

    // Model, optimiser, data order, RNG: fresh from the seed, or restored from a checkpoint.
    let mut trainer = Trainer::new(build_model(&params.model, device, params.seed)?, learn)?;
    let mut sampler = Sampler::new(train.sequences.len(), params.seed);
    let mut rng = Rng::derive(params.seed, "train");
    let (mut step, mut tokens_seen) = (0usize, 0u64);
    if let Some(dir) = opts.resume_from {
        let (dir, meta) = checkpoint::read_meta(dir)?;
        checkpoint::load_weights(&dir, &trainer.built.varmap, device)?;
        checkpoint::load_optimizer(&dir, &mut trainer.optimizer, meta.step, device)?;
        if meta.sampler.items != train.sequences.len() {
            return Err(invalid(format!(
                "cannot resume from `{}`: it was trained on {} sequences of {}, which now has {}; the data changed",
                dir.display(),
                meta.sampler.items,
                train.name,
                train.sequences.len()
            )));
        }
        sampler = Sampler::restore(train.sequences.len(), meta.sampler);
        rng = Rng::from_state(meta.rng);
        (step, tokens_seen) = (meta.step, meta.tokens_seen);
    }
    let mut metrics = Metrics::open(&run_dir.join("metrics.jsonl"), step)?;
    // Plans with thoughts take the episodic learning step (`None` for `insertion = none()`).
    let mut episodic = super::episodic::Episodic::for_run(params, run_dir, step)?;
    let meta = |step, tokens_seen, rng: &Rng, sampler: &Sampler, finished, eval| Meta {
        checkpoint_version: checkpoint::CHECKPOINT_VERSION,
        tokenizer: checkpoint::TOKENIZER.to_string(),
        run: run.clone(),
        step,
        rng: rng.state(),
        sampler: sampler.state(),
        tokens_seen,
        finished,
        eval,
    };

    opts.progress.set_length(learn.steps as u64);
    opts.progress.set_position(step as u64);
    let started = Instant::now();
    let mut session_tokens = 0u64;
    let mut last_eval = None;
    while step < learn.steps {
        // One optimiser step over `accumulate` micro-batches.
        let stats = if let Some(episodic) = episodic.as_mut() {
            episodic.step(&mut trainer, step, &train, &mut sampler, &mut rng)?
        } else {
            let micro = (0..learn.accumulate)
                .map(|_| {
                    let host = host_batch(&train, &sampler.next_batch(learn.batch));
                    Ok((host.to_device(device)?, host.n_targets() as f64))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            trainer.step(step, &micro)?
        };
        if !stats.loss.is_finite() {
            anyhow::bail!("the training loss became {} at step {}; lower the learning rate", stats.loss, step + 1);
        }
        step += 1;
        tokens_seen += stats.tokens as u64;
        session_tokens += stats.tokens as u64;

        let elapsed = started.elapsed().as_secs_f64().max(1e-9);
        let tokens_per_s = session_tokens as f64 / elapsed;
        if step % log_every(learn.steps) == 0 || step == learn.steps {
            metrics.write(json!({
                "step": step, "loss": stats.loss, "lr": stats.lr, "grad_norm": stats.grad_norm,
                "tokens": tokens_seen, "tokens_per_s": tokens_per_s,
                // CPU runs are bit-reproducible only at the same thread count (reduction order).
                "threads": candle_core::utils::get_num_threads(),
            }))?;
        }
        opts.progress.set_position(step as u64);
        opts.progress.set_message(format!("loss {:.4} · {:.0} tok/s", stats.loss, tokens_per_s));

        let last = step == learn.steps;
        if step % eval_cfg.every.max(1) == 0 || last {
            let report =
                evaluate_run(trainer.built.model.as_ref(), &test, params, eval_cfg.max_sequences, Some(&train))?;
            metrics.write(json!({ "step": step, "eval": report }))?;
            if opts.verbose {
                opts.progress.suspend(|| eprintln!("  step {step:>6}  {}", describe(&report)));
            }
            last_eval = Some(report);
        }
        let stop = opts.stop_after.is_some_and(|n| step >= n) && !last;
        if last {
            let report = last_eval.clone().ok_or_else(|| anyhow::anyhow!("no final evaluation"))?;
            let m = meta(step, tokens_seen, &rng, &sampler, true, Some(report.clone()));
            checkpoint::save(&run_dir.join("final"), &trainer.built.varmap, Some(&trainer.optimizer), &m)?;
            return Ok(Outcome::Finished { eval: report, steps: step });
        }
        if stop || step % eval_cfg.checkpoint_every.max(1) == 0 {
            let m = meta(step, tokens_seen, &rng, &sampler, false, last_eval.clone());
            checkpoint::save(&run_dir.join("checkpoint"), &trainer.built.varmap, Some(&trainer.optimizer), &m)?;
        }
        if stop {
            return Ok(Outcome::Stopped { step });
        }
    }
    // Only reached when a checkpoint already holds the last step: evaluate the restored model.
    let report = evaluate_run(trainer.built.model.as_ref(), &test, params, eval_cfg.max_sequences, Some(&train))?;
    let m = meta(step, tokens_seen, &rng, &sampler, true, Some(report.clone()));
    checkpoint::save(&run_dir.join("final"), &trainer.built.varmap, Some(&trainer.optimizer), &m)?;
    Ok(Outcome::Finished { eval: report, steps: step })
}

/// The host batch of the sequences at `indices`.
fn host_batch(data: &Dataset, indices: &[usize]) -> HostBatch {
    let seqs: Vec<&Sequence> = indices.iter().map(|&i| &data.sequences[i]).collect();
    HostBatch::new(&seqs)
}

/// One line of held-out figures.
pub fn describe(report: &EvalReport) -> String {
    let accuracy = report.accuracy.map_or(String::new(), |a| format!("  accuracy {a:.4}"));
    let thoughts = report
        .thoughts
        .as_ref()
        .filter(|t| t.thoughts_per_100 > 0.0)
        .map_or(String::new(), |t| format!("  thoughts/100 {:.1} by {}", t.thoughts_per_100, t.placement));
    format!(
        "held-out NLL {:.4} nats ({:.4} bits/token, {} tokens){accuracy}{thoughts}",
        report.real_nll, report.bits_per_token, report.n_tokens
    )
}

/// `metrics.jsonl`: one JSON object per line; on resume, lines past the checkpoint's step are dropped first.
struct Metrics {
    file: std::fs::File,
}

impl Metrics {
    fn open(path: &Path, keep_until: usize) -> anyhow::Result<Self> {
        let kept: String = match std::fs::read_to_string(path) {
            Ok(text) if keep_until > 0 => text
                .lines()
                .filter(|line| {
                    serde_json::from_str::<serde_json::Value>(line)
                        .ok()
                        .and_then(|v| v.get("step").and_then(serde_json::Value::as_u64))
                        .is_some_and(|s| s as usize <= keep_until)
                })
                .map(|line| format!("{line}\n"))
                .collect(),
            _ => String::new(),
        };
        std::fs::write(path, kept)?;
        let file = std::fs::OpenOptions::new().append(true).open(path)?;
        Ok(Self { file })
    }

    fn write(&mut self, value: serde_json::Value) -> anyhow::Result<()> {
        writeln!(self.file, "{value}")?;
        Ok(())
    }
}
