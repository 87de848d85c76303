//! `thinktok bench model`: no-grad forward and training-step throughput of the benchmark GPT (6 layers, width
//! 384, 6 heads, vocab 260, context 256), each figure the median of timed repeats after one warm-up.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use candle_core::{DType, Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarMap};
use serde::Serialize;

use crate::engine::device::{device, parse_device};
use crate::engine::model::{process_cpu_seconds, CausalLm, Gpt};
use crate::engine::rng::Rng;
use crate::plan::{DeviceSpec, GptConfig, VOCAB_SIZE};

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
    /// A separately timed training step split into its parts (medians).
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
    let varmap = VarMap::new();
    let model = Gpt::new_seeded(&cfg, &varmap, &dev, 0).context("building the benchmark GPT")?;
    let params = varmap.all_vars().iter().map(|v| v.elem_count()).sum();
    let mut rng = Rng::new(0);

    let tokens = random_tokens(&mut rng, FORWARD_BATCH, SEQ, &dev)?;
    let (forward_s, forward_cpu_s) = median_time(repeats, &dev, || {
        model.forward_inference(&tokens)?.logits.sum_all()?.to_scalar::<f32>()?;
        Ok(())
    })?;

    let data = random_tokens(&mut rng, TRAIN_BATCH, SEQ + 1, &dev)?;
    let (x, y) = (data.narrow(1, 0, SEQ)?, data.narrow(1, 1, SEQ)?);
    let mut opt = AdamW::new(varmap.all_vars(), ParamsAdamW { lr: 3e-4, weight_decay: 0.1, ..Default::default() })?;
    let (train_s, train_cpu_s) = median_time(repeats, &dev, || {
        let loss = lm_loss(&model, &x, &y)?;
        opt.backward_step(&loss)?;
        loss.to_scalar::<f32>()?;
        Ok(())
    })?;
    let (train_forward_s, train_backward_s, train_adamw_s) = train_split(&model, &mut opt, &x, &y, repeats, &dev)?;

    let report = Report {
        forward_tok_s: (FORWARD_BATCH * SEQ) as f64 / forward_s,
        train_tok_s: (TRAIN_BATCH * SEQ) as f64 / train_s,
        forward_s,
        train_s,
        forward_cpu_s,
        train_cpu_s,
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

/// Mean next-token cross-entropy of `x` (B, T) against targets `y` (B, T).
fn lm_loss(model: &Gpt, x: &Tensor, y: &Tensor) -> candle_core::Result<Tensor> {
    let logits = model.forward(x)?.logits;
    let (b, t, v) = logits.dims3()?;
    candle_nn::loss::cross_entropy(&logits.reshape((b * t, v))?, &y.flatten_all()?)
}

/// Median wall and CPU seconds of `repeats` runs of `f`, after one untimed warm-up run.
fn median_time(
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

/// Median seconds of a training step's forward (with loss), backward, and AdamW update, timed separately.
fn train_split(
    model: &Gpt,
    opt: &mut AdamW,
    x: &Tensor,
    y: &Tensor,
    repeats: usize,
    dev: &Device,
) -> anyhow::Result<(f64, f64, f64)> {
    let (mut f, mut b, mut o) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..repeats {
        let t0 = Instant::now();
        let loss = lm_loss(model, x, y)?;
        loss.to_dtype(DType::F32)?.to_scalar::<f32>()?;
        let t1 = Instant::now();
        let grads = loss.backward()?;
        dev.synchronize()?;
        let t2 = Instant::now();
        opt.step(&grads)?;
        dev.synchronize()?;
        let t3 = Instant::now();
        f.push((t1 - t0).as_secs_f64());
        b.push((t2 - t1).as_secs_f64());
        o.push((t3 - t2).as_secs_f64());
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
    Ok(())
}
