//! Training: one run of a plan, from data to a final checkpoint, readable top to bottom in [`train_run`].
//!
//! Gradient accumulation over `learn.accumulate` micro-batches of `learn.batch` sequences each; each optimiser step
//! is a [`Trainer::step`] (plain runs) or an [`Episodic`](super::episodic::Episodic) step (thought runs).
//!
//! Compute is counted one way for every run, as **positions processed**: every position a model pass computes for
//! a real token or a thought, padding excluded, a forward counting 1 and a backward 2 (so a learning pass over a
//! batch counts 3 × its input positions, and the episode phase's no-gradient passes 1 × theirs). Plain runs count
//! their learning passes; runs with thoughts add the episode phase and any extra passes their `real_loss` takes.
//! `metrics.jsonl` logs the running total (`positions`) on every line.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use candle_core::Device;
use indicatif::ProgressBar;
use serde_json::json;

use super::checkpoint::{self, Meta};
use super::trainer::{build_run_model, Trainer};
use crate::engine::data::{self, Dataset, HostBatch, Role, Sampler, Sequence, Tokenizer};
use crate::engine::error::invalid;
use crate::engine::eval::{evaluate_run, evaluate_run_mapped, EvalReport};
use crate::engine::files::write_atomic;
use crate::engine::rng::Rng;
use crate::plan::{Insertion, RunParams, RunPlan};

/// How a call of [`train_run`] ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The last step is done; the final checkpoint is written.
    Finished { eval: EvalReport, steps: usize },
    /// Stopped early on request (`--stop-after`, or a signal: [`crate::engine::stop`]), with a checkpoint to resume
    /// from.
    Stopped { step: usize },
}

/// Knobs of one call of [`train_run`] that are not part of the plan.
pub struct TrainOptions<'a> {
    /// Continue from this checkpoint folder.
    pub resume_from: Option<&'a Path>,
    /// Stop after this many optimiser steps in total (a checkpoint is written).
    pub stop_after: Option<usize>,
    pub progress: ProgressBar,
    /// The sweep's bar and the steps its earlier runs account for: it follows this run's steps.
    pub sweep: Option<(ProgressBar, u64)>,
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
    // Model (and with it the tokenizer), optimiser, data order, RNG: fresh from the seed, or restored from a
    // checkpoint.
    let built = build_run_model(params, device)?;
    let context = |source| crate::engine::data::data_context(params, source);
    let train = data::load_with(&built.tokenizer, &params.data.train, Role::Train, context(&params.data.train))?;
    let test = data::load_with(&built.tokenizer, &params.data.test, Role::Test, context(&params.data.test))?;
    let mut trainer = Trainer::new(built, learn)?;
    let mut sampler = Sampler::new(train.sequences.len(), params.seed);
    let mut rng = Rng::derive(params.seed, "train");
    let (mut step, mut tokens_seen, mut positions) = (0usize, 0u64, 0u64);
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
        (step, tokens_seen, positions) = (meta.step, meta.tokens_seen, meta.positions);
    }
    let mut metrics = Metrics::open(&run_dir.join("metrics.jsonl"), step)?;
    // Plans with thoughts take the episodic learning step (`None` for `insertion = none()`).
    let mut episodic = super::episodic::Episodic::for_run(params, run_dir, step)?;
    let meta = |step, tokens_seen, positions, rng: &Rng, sampler: &Sampler, finished, eval| Meta {
        checkpoint_version: checkpoint::CHECKPOINT_VERSION,
        tokenizer: checkpoint::tokenizer_name(&params.model).to_string(),
        run: run.clone(),
        step,
        rng: rng.state(),
        sampler: sampler.state(),
        tokens_seen,
        positions,
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
                    let indices = sampler.next_batch(learn.batch);
                    // Forward + backward over each sequence's inputs (all tokens but the last).
                    positions += 3 * indices
                        .iter()
                        .map(|&i| (train.sequences[i].tokens.len() as u64).saturating_sub(1))
                        .sum::<u64>();
                    let host = host_batch(&train, &indices);
                    Ok((host.to_device(device)?, host.n_targets() as f64))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            trainer.step(step, &micro)?
        };
        if let Some(episodic) = episodic.as_ref() {
            positions = episodic.positions();
        }
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
                "tokens": tokens_seen, "tokens_per_s": tokens_per_s, "positions": positions,
                // CPU runs are bit-reproducible only at the same thread count (reduction order).
                "threads": candle_core::utils::get_num_threads(),
            }))?;
        }
        opts.progress.set_position(step as u64);
        if let Some((bar, before)) = &opts.sweep {
            bar.set_position(before + step as u64);
        }
        opts.progress.set_message(format!("loss {:.4} · {:.0} tok/s", stats.loss, tokens_per_s));

        let last = step == learn.steps;
        if step % eval_cfg.every.max(1) == 0 || last {
            let model = trainer.built.model.as_ref();
            let report = evaluate(
                model,
                &test,
                &train,
                params,
                eval_cfg.max_sequences,
                last.then_some((run_dir, &trainer.built.tokenizer)),
            )?;
            metrics.write(json!({ "step": step, "positions": positions, "eval": report }))?;
            if opts.verbose {
                opts.progress.suspend(|| eprintln!("  step {step:>6}  {}", describe(&report)));
            }
            last_eval = Some(report);
        }
        // `--stop-after`, or a signal (SIGTERM before a preemption, Ctrl-C): a checkpoint, then return.
        let stop = (opts.stop_after.is_some_and(|n| step >= n) || crate::engine::stop::requested()) && !last;
        if last {
            let report = last_eval.clone().ok_or_else(|| anyhow::anyhow!("no final evaluation"))?;
            let m = meta(step, tokens_seen, positions, &rng, &sampler, true, Some(report.clone()));
            checkpoint::save(&run_dir.join("final"), &trainer.built.varmap, Some(&trainer.optimizer), &m)?;
            return Ok(Outcome::Finished { eval: report, steps: step });
        }
        if stop || step % eval_cfg.checkpoint_every.max(1) == 0 {
            let m = meta(step, tokens_seen, positions, &rng, &sampler, false, last_eval.clone());
            checkpoint::save(&run_dir.join("checkpoint"), &trainer.built.varmap, Some(&trainer.optimizer), &m)?;
        }
        if stop {
            return Ok(Outcome::Stopped { step });
        }
    }
    // Only reached when a checkpoint already holds the last step: evaluate the restored model.
    let report = evaluate(
        trainer.built.model.as_ref(),
        &test,
        &train,
        params,
        eval_cfg.max_sequences,
        Some((run_dir, &trainer.built.tokenizer)),
    )?;
    let m = meta(step, tokens_seen, positions, &rng, &sampler, true, Some(report.clone()));
    checkpoint::save(&run_dir.join("final"), &trainer.built.varmap, Some(&trainer.optimizer), &m)?;
    Ok(Outcome::Finished { eval: report, steps: step })
}

/// Held-out examples per data group that `thoughts.json` keeps.
pub const THOUGHT_EXAMPLES_PER_GROUP: usize = 6;

/// A held-out evaluation of the run's model. The final one (`final_dir`: the run folder) also writes
/// `thoughts.json` from the same placements — where the model puts its thoughts, for runs trained with a way of
/// placing them (a run without thoughts has nothing to show).
fn evaluate(
    model: &dyn crate::engine::model::CausalLm,
    test: &Dataset,
    train: &Dataset,
    params: &RunParams,
    max_sequences: Option<usize>,
    final_dir: Option<(&Path, &Tokenizer)>,
) -> anyhow::Result<EvalReport> {
    match final_dir {
        Some((dir, tok)) if params.episode.insertion != Insertion::None => {
            let per_group = THOUGHT_EXAMPLES_PER_GROUP;
            let (report, map) = evaluate_run_mapped(model, test, params, max_sequences, Some(train), per_group, tok)?;
            write_atomic(&dir.join("thoughts.json"), serde_json::to_string_pretty(&map)?)?;
            Ok(report)
        }
        _ => evaluate_run(model, test, params, max_sequences, Some(train)),
    }
}

/// The host batch of the sequences at `indices`.
fn host_batch(data: &Dataset, indices: &[usize]) -> HostBatch {
    let seqs: Vec<&Sequence> = indices.iter().map(|&i| &data.sequences[i]).collect();
    HostBatch::new(&seqs)
}

/// One line of held-out figures.
pub fn describe(report: &EvalReport) -> String {
    let accuracy = report.accuracy.map_or(String::new(), |a| format!("  accuracy {a:.4}"));
    let accuracy = match (report.constant_guess(), report.majority_accuracy) {
        (Some(share), Some(majority)) => format!(
            "{accuracy} (a constant guess: one answer for {:.0}% of the examples; majority baseline {majority:.4})",
            100.0 * share
        ),
        _ => accuracy,
    };
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
