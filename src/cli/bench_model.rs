//! `thinktok bench model`: no-grad forward and training-step throughput of the benchmark GPT (6 layers, width
//! 384, 6 heads, vocab 260, context 256), each figure the median of timed repeats after one warm-up.
//!
//! The training step is the project's own [`Trainer::step`] (per-position weighted cross-entropy, the own AdamW,
//! the schedule), as every run trains. `train_s` runs it without gradient clipping, which is what PyTorch's
//! reference step does (`../shared/reference/torch_gpt_bench.py train`: cross-entropy, backward, `torch.optim.AdamW`,
//! no clipping), so the two compare like with like; `train_clipped_s` adds the default clip (global norm 1.0) that
//! runs use.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;
use serde::Serialize;

use crate::engine::data::{Batch, Tokenizer};
use crate::engine::device::{device, parse_device};
use crate::engine::learn::{Built, Trainer};
use crate::engine::model::{process_cpu_seconds, Gpt};
use crate::engine::rng::Rng;
use crate::plan::{DeviceSpec, GptConfig, LearnConfig, Optimizer, RealLoss, Schedule, ThoughtNorm, VOCAB_SIZE};

use super::bench::median;

const FORWARD_BATCH: usize = 32;
const TRAIN_BATCH: usize = 16;
const SEQ: usize = 256;

/// The benchmark's figures, as printed with `--json`.
#[derive(Debug, Serialize)]
struct Report {
    forward_tok_s: f64,
    train_tok_s: f64,
    forward_s: f64,
    train_s: f64,
    /// Median CPU seconds (all threads) per forward / training step: steadier than wall time on a busy machine.
    forward_cpu_s: Option<f64>,
    train_cpu_s: Option<f64>,
    /// [`Trainer::step`] with the default gradient clip (1.0), as runs train.
    train_clipped_s: f64,
    /// A separately timed unclipped step split into its parts (medians): forward with the weighted loss, backward,
    /// AdamW update.
    train_forward_s: f64,
    train_backward_s: f64,
    train_adamw_s: f64,
    layers: usize,
    width: usize,
    heads: usize,
    vocab: usize,
    context: usize,
    params: usize,
    forward_batch: usize,
    train_batch: usize,
    seq: usize,
    repeats: usize,
    device: String,
    threads: usize,
}

pub fn run(json: bool, device_arg: Option<&str>, repeats: usize) -> anyhow::Result<ExitCode> {
    if repeats == 0 {
        anyhow::bail!("`--repeats` must be at least 1");
    }
    let spec = match device_arg {
        Some(text) => parse_device(text)?,
        None => DeviceSpec::Cpu,
    };
    let dev = device(spec)?;
    let cfg = GptConfig { layers: 6, width: 384, heads: 6, context: SEQ, vocab_size: VOCAB_SIZE };
    let mut trainer = benchmark_trainer(&cfg, &dev, None)?;
    let params = trainer.built.varmap.all_vars().iter().map(|v| v.elem_count()).sum();
    let model = trainer.built.model.as_ref();
    let mut rng = Rng::new(0);

    let tokens = random_tokens(&mut rng, FORWARD_BATCH, SEQ, &dev)?;
    let (forward_s, forward_cpu_s) = median_time(repeats, &dev, || {
        model.forward_inference(&tokens)?.logits.sum_all()?.to_scalar::<f32>()?;
        Ok(())
    })?;

    let data = random_tokens(&mut rng, TRAIN_BATCH, SEQ + 1, &dev)?;
    let batch = Batch {
        tokens: data.narrow(1, 0, SEQ)?.contiguous()?,
        targets: data.narrow(1, 1, SEQ)?.contiguous()?,
        loss_weights: Tensor::ones((TRAIN_BATCH, SEQ), DType::F32, &dev)?,
    };
    let micro = [(batch, (TRAIN_BATCH * SEQ) as f64)];
    let mut step = 0;
    let (train_s, train_cpu_s) = median_time(repeats, &dev, || {
        trainer.step(step, &micro)?;
        step += 1;
        Ok(())
    })?;
    let (train_forward_s, train_backward_s, train_adamw_s) = train_split(&mut trainer, &micro[0].0, repeats, &dev)?;
    let mut clipped = benchmark_trainer(&cfg, &dev, Some(1.0))?;
    let mut step = 0;
    let (train_clipped_s, _) = median_time(repeats, &dev, || {
        clipped.step(step, &micro)?;
        step += 1;
        Ok(())
    })?;

    let report = Report {
        forward_tok_s: (FORWARD_BATCH * SEQ) as f64 / forward_s,
        train_tok_s: (TRAIN_BATCH * SEQ) as f64 / train_s,
        forward_s,
        train_s,
        forward_cpu_s,
        train_cpu_s,
        train_clipped_s,
        train_forward_s,
        train_backward_s,
        train_adamw_s,
        layers: cfg.layers,
        width: cfg.width,
        heads: cfg.heads,
        vocab: cfg.vocab_size,
        context: cfg.context,
        params,
        forward_batch: FORWARD_BATCH,
        train_batch: TRAIN_BATCH,
        seq: SEQ,
        repeats,
        device: format!("{dev:?}"),
        threads: candle_core::utils::get_num_threads(),
    };
    print_report(&report, json)?;
    Ok(ExitCode::SUCCESS)
}

fn random_tokens(rng: &mut Rng, b: usize, t: usize, dev: &Device) -> anyhow::Result<Tensor> {
    let ids: Vec<u32> = (0..b * t).map(|_| rng.below(VOCAB_SIZE) as u32).collect();
    Ok(Tensor::from_vec(ids, (b, t), dev)?)
}

/// The benchmark GPT (seed 0) with the project's trainer: AdamW at a constant 3e-4, weight decay 0.1, no warmup
/// (the reference's settings), clipping at `clip`.
fn benchmark_trainer(cfg: &GptConfig, dev: &Device, clip: Option<f64>) -> anyhow::Result<Trainer> {
    let varmap = VarMap::new();
    let model = Gpt::new_seeded(cfg, &varmap, dev, 0).context("building the benchmark GPT")?;
    Trainer::new(
        Built { model: Box::new(model), varmap, tokenizer: Tokenizer::Bytes },
        &reference_learn(TRAIN_BATCH, clip),
    )
}

/// The reference's training settings: AdamW at a constant 3e-4, weight decay 0.1, no warmup, clipping at `clip`.
pub(super) fn reference_learn(batch: usize, clip: Option<f64>) -> LearnConfig {
    LearnConfig {
        steps: 1_000_000,
        batch,
        accumulate: 1,
        unroll: 1,
        optimizer: Optimizer::AdamW {
            lr: 3e-4,
            warmup: 0,
            weight_decay: 0.1,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            schedule: Schedule::Constant,
        },
        grad_clip: clip,
        reinforce: 0.0,
        punish: 0.0,
        real_loss: RealLoss::Kept,
        thought_norm: ThoughtNorm::PerThought,
    }
}

/// Median wall and CPU seconds of `repeats` runs of `f`, after one untimed warm-up run.
pub(super) fn median_time(
    repeats: usize,
    dev: &Device,
    mut f: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<(f64, Option<f64>)> {
    f()?;
    let (mut wall, mut cpu) = (Vec::with_capacity(repeats), Vec::with_capacity(repeats));
    for _ in 0..repeats {
        let (start, cpu_start) = (Instant::now(), process_cpu_seconds());
        f()?;
        dev.synchronize()?;
        wall.push(start.elapsed().as_secs_f64());
        if let (Some(a), Some(b)) = (cpu_start, process_cpu_seconds()) {
            cpu.push(b - a);
        }
    }
    Ok((median(wall), (cpu.len() == repeats).then(|| median(cpu))))
}

/// Median seconds of an unclipped [`Trainer::step`]'s parts, timed separately: forward with the weighted loss
/// (as `step` computes it), backward into the gradient slots, and the optimiser update.
fn train_split(trainer: &mut Trainer, batch: &Batch, repeats: usize, dev: &Device) -> anyhow::Result<(f64, f64, f64)> {
    let weight = (TRAIN_BATCH * SEQ) as f64;
    let (mut f, mut b, mut o) = (Vec::new(), Vec::new(), Vec::new());
    for step in 0..repeats + 1 {
        let t0 = Instant::now();
        let loss = trainer.loss(batch, weight)?;
        loss.to_dtype(DType::F32)?.to_scalar::<f32>()?;
        let t1 = Instant::now();
        let mut grads = trainer.zero_grads();
        trainer.accumulate(&mut grads, &loss)?;
        dev.synchronize()?;
        let t2 = Instant::now();
        trainer.apply(step, grads)?;
        dev.synchronize()?;
        let t3 = Instant::now();
        // The first round is a warm-up.
        if step > 0 {
            f.push((t1 - t0).as_secs_f64());
            b.push((t2 - t1).as_secs_f64());
            o.push((t3 - t2).as_secs_f64());
        }
    }
    Ok((median(f), median(b), median(o)))
}

fn print_report(r: &Report, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(r)?);
        return Ok(());
    }
    println!(
        "GPT {} layers, width {}, {} heads, vocab {}, context {} ({} parameters) on {}, {} threads, median of {}",
        r.layers, r.width, r.heads, r.vocab, r.context, r.params, r.device, r.threads, r.repeats
    );
    let cpu = |s: Option<f64>| s.map(|s| format!(", {s:.3} CPU s")).unwrap_or_default();
    println!(
        "  forward (no grad) {}x{}: {:>8.0} tok/s  ({:.3} s{})",
        r.forward_batch,
        r.seq,
        r.forward_tok_s,
        r.forward_s,
        cpu(r.forward_cpu_s)
    );
    println!(
        "  training step     {}x{}: {:>8.0} tok/s  ({:.3} s{}; split: forward {:.3} + backward {:.3} + AdamW {:.3})",
        r.train_batch,
        r.seq,
        r.train_tok_s,
        r.train_s,
        cpu(r.train_cpu_s),
        r.train_forward_s,
        r.train_backward_s,
        r.train_adamw_s
    );
    println!("  training step, clipped at 1.0 (as runs train): {:.3} s", r.train_clipped_s);
    Ok(())
}
