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
use crate::engine::device::{compute_dtype, device, parse_device};
use crate::engine::learn::{Built, Trainer};
use crate::engine::model::{process_cpu_seconds, Gpt};
use crate::engine::rng::Rng;
use crate::plan::{
    DeviceSpec, GptConfig, LearnConfig, Optimizer, Precision, RealLoss, Schedule, ThoughtNorm, VOCAB_SIZE,
};

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
    dtype: &'static str,
    threads: usize,
    /// Model FLOPs per second achieved (forward: 2 per weight per position plus causal attention; a training
    /// step counts 3 forwards' worth), the same count as the dry run's estimates.
    forward_tflop_s: f64,
    train_tflop_s: f64,
    /// The device's peak used for MFU (`--peak`), TFLOP/s; MFU = achieved over it.
    peak_tflop_s: Option<f64>,
    forward_mfu: Option<f64>,
    train_mfu: Option<f64>,
}

/// Dense peaks of known GPUs, TFLOP/s: (name, f32 without TF32, bf16 and f16 dense on the tensor cores).
pub const KNOWN_PEAKS: [(&str, f64, f64); 4] =
    [("h200", 67.0, 989.0), ("h100", 67.0, 989.0), ("a100", 19.5, 312.0), ("l40s", 91.6, 362.0)];

/// `--peak`: a number of TFLOP/s, or a known GPU (whose peak depends on the dtype the benchmark runs in).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Peak {
    TflopS(f64),
    /// An index into [`KNOWN_PEAKS`].
    Known(usize),
}

impl Peak {
    /// The peak in TFLOP/s for matmuls in `dtype`.
    pub fn tflop_s(self, dtype: Precision) -> f64 {
        match self {
            Self::TflopS(v) => v,
            Self::Known(i) => match dtype {
                Precision::F32 => KNOWN_PEAKS[i].1,
                Precision::Bf16 | Precision::F16 => KNOWN_PEAKS[i].2,
            },
        }
    }
}

pub fn parse_peak(text: &str) -> Result<Peak, String> {
    if let Ok(v) = text.parse::<f64>() {
        return if v > 0.0 && v.is_finite() {
            Ok(Peak::TflopS(v))
        } else {
            Err(format!("a peak must be positive, got {v}"))
        };
    }
    let name = text.to_ascii_lowercase();
    KNOWN_PEAKS.iter().position(|(n, ..)| *n == name).map(Peak::Known).ok_or_else(|| {
        let known: Vec<&str> = KNOWN_PEAKS.iter().map(|(n, ..)| *n).collect();
        format!("`{text}` is neither a number of TFLOP/s nor a known GPU ({})", known.join(", "))
    })
}

/// `--dtype`: `f32`, `bf16` or `f16`, as a spec's `dtype` is written.
pub fn parse_dtype(text: &str) -> Result<Precision, String> {
    match text {
        "f32" => Ok(Precision::F32),
        "bf16" => Ok(Precision::Bf16),
        "f16" => Ok(Precision::F16),
        _ => Err(format!("`{text}` is not a dtype: expected `f32`, `bf16` or `f16`")),
    }
}

/// FLOPs of one forward of `b` sequences of `t` positions through the GPT `cfg`.
pub fn gpt_forward_flops(cfg: &GptConfig, b: usize, t: usize) -> f64 {
    // Every parameter but the two embedding tables multiplies each position once (the untied head included).
    let tables = ((cfg.vocab_size + cfg.context) * cfg.width) as u64;
    let weights = crate::check::estimate::gpt_parameters(cfg).saturating_sub(tables) as f64;
    let attention = 2.0 * (cfg.layers * cfg.width) as f64 * t as f64;
    (b * t) as f64 * (2.0 * weights + attention)
}

/// What `bench model` measures: where, in which dtype, how often, against which peak.
pub struct ModelBench<'a> {
    pub json: bool,
    pub device: Option<&'a str>,
    pub dtype: Precision,
    pub repeats: usize,
    pub peak: Option<Peak>,
}

pub fn run(opts: ModelBench) -> anyhow::Result<ExitCode> {
    let ModelBench { json, device: device_arg, dtype, repeats, .. } = opts;
    if repeats == 0 {
        anyhow::bail!("`--repeats` must be at least 1");
    }
    let spec = match device_arg {
        Some(text) => parse_device(text)?,
        None => DeviceSpec::Cpu,
    };
    if !dtype.is_f32() && spec == DeviceSpec::Cpu {
        anyhow::bail!(
            "`--dtype {}` needs a CUDA device (`--device cuda:0`): the CPU computes in f32 only",
            dtype.name()
        );
    }
    let peak = opts.peak.map(|p| p.tflop_s(dtype));
    let dev = device(spec)?;
    let cfg = GptConfig { layers: 6, width: 384, heads: 6, context: SEQ, vocab_size: VOCAB_SIZE };
    let mut trainer = benchmark_trainer(&cfg, &dev, None, dtype)?;
    let params = trainer.built.varmap.all_vars().iter().map(|v| v.elem_count()).sum();
    let model = trainer.built.model.as_ref();
    let mut rng = Rng::new(0);

    let tokens = random_tokens(&mut rng, FORWARD_BATCH, SEQ, &dev)?;
    let (forward_s, forward_cpu_s) = median_time(repeats, &dev, || {
        model.forward_inference(&tokens)?.logits.sum_all()?.to_scalar::<f32>()?;
        Ok(())
    })?;

    let micro = [next_token_batch(&random_tokens(&mut rng, TRAIN_BATCH, SEQ + 1, &dev)?)?];
    let (train_s, train_cpu_s) = median_steps(&mut trainer, &micro, repeats, &dev)?;
    let (train_forward_s, train_backward_s, train_adamw_s) = train_split(&mut trainer, &micro[0].0, repeats, &dev)?;
    let mut clipped = benchmark_trainer(&cfg, &dev, Some(1.0), dtype)?;
    let (train_clipped_s, _) = median_steps(&mut clipped, &micro, repeats, &dev)?;

    let forward_tflop_s = gpt_forward_flops(&cfg, FORWARD_BATCH, SEQ) / forward_s / 1e12;
    let train_tflop_s = 3.0 * gpt_forward_flops(&cfg, TRAIN_BATCH, SEQ) / train_s / 1e12;
    let report = Report {
        forward_tflop_s,
        train_tflop_s,
        peak_tflop_s: peak,
        forward_mfu: peak.map(|p| forward_tflop_s / p),
        train_mfu: peak.map(|p| train_tflop_s / p),
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
        dtype: dtype.name(),
        threads: candle_core::utils::get_num_threads(),
    };
    print_report(&report, json)?;
    Ok(ExitCode::SUCCESS)
}

fn random_tokens(rng: &mut Rng, b: usize, t: usize, dev: &Device) -> anyhow::Result<Tensor> {
    let ids: Vec<u32> = (0..b * t).map(|_| rng.below(VOCAB_SIZE) as u32).collect();
    Ok(Tensor::from_vec(ids, (b, t), dev)?)
}

/// The benchmark GPT (seed 0), its matmuls in `dtype`, with the project's trainer: AdamW at a constant 3e-4,
/// weight decay 0.1, no warmup (the reference's settings), clipping at `clip`.
fn benchmark_trainer(cfg: &GptConfig, dev: &Device, clip: Option<f64>, dtype: Precision) -> anyhow::Result<Trainer> {
    let varmap = VarMap::new();
    let model = Gpt::new_seeded(cfg, &varmap, dev, 0)
        .context("building the benchmark GPT")?
        .with_compute_dtype(compute_dtype(dtype));
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

/// A training micro-batch from (B, T + 1) token ids: inputs the first T, targets the last T, every position
/// weighted 1; with its token count.
pub(super) fn next_token_batch(data: &Tensor) -> anyhow::Result<(Batch, f64)> {
    let (b, t1) = data.dims2()?;
    let t = t1.saturating_sub(1);
    let batch = Batch {
        tokens: data.narrow(1, 0, t)?.contiguous()?,
        targets: data.narrow(1, 1, t)?.contiguous()?,
        loss_weights: Tensor::ones((b, t), DType::F32, data.device())?,
    };
    Ok((batch, (b * t) as f64))
}

/// Median wall and CPU seconds of `trainer`'s steps on `micro` ([`median_time`]).
pub(super) fn median_steps(
    trainer: &mut Trainer,
    micro: &[(Batch, f64)],
    repeats: usize,
    dev: &Device,
) -> anyhow::Result<(f64, Option<f64>)> {
    let mut step = 0;
    median_time(repeats, dev, || {
        trainer.step(step, micro)?;
        step += 1;
        Ok(())
    })
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
        "GPT {} layers, width {}, {} heads, vocab {}, context {} ({} parameters) on {}, {}, {} threads, median of {}",
        r.layers, r.width, r.heads, r.vocab, r.context, r.params, r.device, r.dtype, r.threads, r.repeats
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
    let mfu = |m: Option<f64>| m.map(|m| format!(", MFU {:.1}%", 100.0 * m)).unwrap_or_default();
    println!(
        "  achieved: forward {:.3} TFLOP/s{}, training {:.3} TFLOP/s{}{}",
        r.forward_tflop_s,
        mfu(r.forward_mfu),
        r.train_tflop_s,
        mfu(r.train_mfu),
        r.peak_tflop_s.map(|p| format!(" (peak {p} TFLOP/s)")).unwrap_or_default()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_flops_count_weights_head_and_causal_attention() {
        // 1 layer, width 4, vocab 10, context 8: block weights 12·16 + biases (3·4 + 4 + 16 + 4) + 2 norms (16).
        let cfg = GptConfig { layers: 1, width: 4, heads: 1, context: 8, vocab_size: 10 };
        let block = 12 * 16 + (12 + 4 + 16 + 4) + 4 * 4;
        let final_norm = 2 * 4;
        let weights = (block + final_norm + 10 * 4) as f64;
        let want = (2 * 8) as f64 * (2.0 * weights + 2.0 * 4.0 * 8.0);
        assert_eq!(gpt_forward_flops(&cfg, 2, 8), want);
    }

    #[test]
    fn peaks_are_numbers_or_known_gpus() {
        assert_eq!(parse_peak("12.5").map(|p| p.tflop_s(Precision::Bf16)), Ok(12.5));
        let h200 = parse_peak("H200").unwrap();
        assert_eq!((h200.tflop_s(Precision::F32), h200.tflop_s(Precision::Bf16)), (67.0, 989.0));
        assert!(parse_peak("0").is_err());
        assert_eq!(parse_dtype("bf16"), Ok(Precision::Bf16));
        assert!(parse_dtype("fp8").unwrap_err().contains("bf16"));
        assert!(parse_peak("tpu").unwrap_err().contains("h200"));
    }
}
