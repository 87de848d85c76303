//! `thinktok bench episode`: the fast-forward and the episode phase, each timed relative to one plain forward
//! over the final augmented batch, on a random-init GPT whose thought logit is biased (see
//! [`ThoughtBias`]) so that the fast-forward places about [`TARGET_K`] thoughts per sequence.
//!
//! Every figure is the median of `repeats` interleaved runs (after warm-ups), all measured in one process; each
//! ratio is the median of per-repeat ratios. Every timed pass runs without gradients on the same detached weights:
//! the plain forward is `forward_inference`, as are the naive reference's full forwards.
//! On a CPU shared with other work the ratios of the many-small-calls paths (fast-forward, episode) inflate: the
//! work figures (`ff_work`, `episode_work`: positions computed over one forward's) are machine-independent.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use candle_core::{Device, Tensor, D};
use candle_nn::VarMap;
use serde::Serialize;

use super::bench::median;
use super::BenchSize;
use crate::engine::device::{device, parse_device};
use crate::engine::episode::bias::ThoughtBias;
use crate::engine::episode::fast_forward::{fast_forward, fast_forward_naive};
use crate::engine::episode::walk::Policy;
use crate::engine::episode::{default_chunk, run_episode, EpisodeInput, Placement};
use crate::engine::model::{CausalLm, Gpt};
use crate::engine::profile::{self, Breakdown};
use crate::engine::rng::Rng;
use crate::plan::*;

/// Thoughts per sequence the bias is calibrated for.
const TARGET_K: f64 = 8.0;
const BUDGET: usize = 16;
const ROUNDS: usize = 8;
/// Largest |Δ log-likelihood| per token between the fast-forward and the naive reference still called exact.
const LL_TOLERANCE: f32 = 1e-4;

/// The benchmark's figures, as printed with `--json`.
#[derive(Debug, Serialize)]
#[allow(non_snake_case)]
struct Report {
    /// Real (unpadded) positions of the augmented batch per second of one plain forward.
    forward_tok_s: f64,
    ff_ratio: f64,
    naive_ratio: f64,
    episode_ratio: f64,
    rounds: usize,
    /// Fast-forward == naive reference: the same placements, and every log-likelihood within [`LL_TOLERANCE`].
    exact: bool,
    /// The largest |ll_fast − ll_naive| over all real tokens.
    ll_max_diff: f32,
    k_mean: f64,
    /// The process's peak resident memory while the episode phase runs alone (peak counter reset just before;
    /// before the naive reference ever runs). Includes the model and what the allocator retains from earlier work.
    peak_mem_mb: f64,
    /// Resident memory just before that episode, so `peak_mem_mb − base_mem_mb` bounds what the episode added.
    base_mem_mb: f64,
    /// One KV cache for the B rows at full context: keys and values, every layer, f32.
    cache_mb: f64,
    B: usize,
    L: usize,
    layers: usize,
    width: usize,
    device: String,
    forward_s: f64,
    ff_s: f64,
    naive_s: f64,
    episode_s: f64,
    /// Positions computed by the fast-forward / the episode, over one forward's (padding excluded on both sides).
    ff_work: f64,
    episode_work: f64,
    /// The same fast-forward with continuous thoughts (the same weights and bias; each thought's input is the
    /// previous position's hidden state, so each thought starts a chunk): its time over one plain forward, its
    /// model calls over the discrete fast-forward's, and thoughts per sequence.
    cff_ratio: f64,
    cff_calls_ratio: f64,
    cff_k_mean: f64,
    /// Where the fast-forward's and the episode's time goes (seconds per run, mean over the repeats): model calls
    /// (cache writes and cached attention inside them), host-side statistics and decisions, cache compaction.
    ff_breakdown: Breakdown,
    episode_breakdown: Breakdown,
    chunk: usize,
    thought_bias: f32,
    repeats: usize,
}

pub fn run(
    json: bool,
    device_arg: Option<&str>,
    size: BenchSize,
    repeats: usize,
    chunk: Option<usize>,
) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(repeats > 0, "`--repeats` must be at least 1");
    let spec = device_arg.map(parse_device).transpose()?.unwrap_or(DeviceSpec::Cpu);
    let dev = device(spec)?;
    let (layers, width, heads, b_n, l_n) = match size {
        BenchSize::Small => (4, 256, 4, 16, 256),
        BenchSize::Medium => (6, 384, 6, 32, 256),
        BenchSize::Gpt2 => (12, 768, 12, 16, 1024),
    };
    let cfg = GptConfig { layers, width, heads, context: l_n + BUDGET, vocab_size: VOCAB_SIZE };
    let varmap = VarMap::new();
    let gpt = Gpt::new_seeded(&cfg, &varmap, &dev, 0).context("building the benchmark GPT")?;
    let mut rng = Rng::new(0);
    let seqs: Vec<Vec<u32>> = (0..b_n).map(|_| (0..l_n).map(|_| rng.below(256) as u32).collect()).collect();
    let policy =
        Policy { threshold: None, max_consecutive: 2, budget: BUDGET, blocked: Vec::new(), ..Default::default() };

    let chunk = chunk.unwrap_or_else(|| default_chunk(&dev));
    let bias = calibrate(&gpt, &seqs, &policy, chunk, &dev)?;
    let model = ThoughtBias::new(&gpt, bias)?;
    let continuous_gpt = gpt.clone().with_continuous_thoughts(true);
    let continuous = ThoughtBias::new(&continuous_gpt, bias)?;
    let (cff, cff_cost) = fast_forward(&continuous, &seqs, None, &policy, chunk)?;
    let cff_k_mean = cff.iter().map(|r| r.placement.total() as f64).sum::<f64>() / b_n as f64;

    let (ff, ff_cost) = fast_forward(&model, &seqs, None, &policy, chunk)?;
    let k_mean = ff.iter().map(|r| r.placement.total() as f64).sum::<f64>() / b_n as f64;
    let placements: Vec<Placement> = ff.iter().map(|r| r.placement.clone()).collect();
    let batch = padded(&seqs, &placements, &dev)?;
    let real_positions: usize = seqs.iter().zip(&placements).map(|(x, p)| x.len() + p.total()).sum();

    let episode_cfg = EpisodeConfig {
        samples: b_n,
        rounds: ROUNDS,
        thought_budget: BUDGET,
        insertion: Insertion::FastForward { fallback: Fallback::BestRank, threshold: None, max_consecutive: 2 },
        cull: 0.5,
        cull_below_cost: false,
        gain: GainConfig::default(),
        strategy: EpisodeStrategy::Rounds,
        thoughts: ThoughtKind::Discrete,
        every: 1,
        slots: Slots::All,
        mix: ThoughtMix::Replace,
        warmup: Warmup::default(),
        proposal_size: 1,
    };
    let input = EpisodeInput { tokens: &seqs, prompt_lens: None, start: None };
    let forward = || -> anyhow::Result<()> {
        model.forward_inference(&batch)?.logits.max_keepdim(D::Minus1)?.sum_all()?.to_scalar::<f32>()?;
        Ok(())
    };
    let episode = || run_episode(&model, input, &episode_cfg, chunk, &mut Rng::new(1));
    // The episode's memory, measured first and alone: the naive reference has not run yet.
    let base_mem_mb = resident_mb("VmRSS:");
    reset_peak_memory();
    let episode_positions = episode()?.positions;
    let peak_mem_mb = resident_mb("VmHWM:");
    // Exactness, then warm-ups (the fast-forward already ran above).
    let (naive, _) = fast_forward_naive(&model, &seqs, None, &policy)?;
    let ll_max_diff = ff
        .iter()
        .zip(&naive)
        .flat_map(|(a, b)| a.ll.iter().zip(&b.ll).map(|(x, y)| (x - y).abs()))
        .fold(0f32, f32::max);
    let exact = ff.iter().zip(&naive).all(|(a, b)| a.placement == b.placement) && ll_max_diff <= LL_TOLERANCE;
    forward()?;
    // Interleaved repeats: each ratio is taken within one repeat, so a load that drifts over the run (a shared
    // CPU) biases no figure against another.
    let mut times: [Vec<f64>; 4] = Default::default();
    let mut ratios: [Vec<f64>; 4] = Default::default();
    let (mut ff_breakdown, mut episode_breakdown) = (Breakdown::default(), Breakdown::default());
    for _ in 0..repeats {
        let fwd = timed(&dev, forward)?;
        profile::reset();
        let ff = timed(&dev, || fast_forward(&model, &seqs, None, &policy, chunk).map(drop))?;
        ff_breakdown = ff_breakdown.plus(Breakdown::read());
        let naive = timed(&dev, || fast_forward_naive(&model, &seqs, None, &policy).map(drop))?;
        profile::reset();
        let ep = timed(&dev, || episode().map(drop))?;
        episode_breakdown = episode_breakdown.plus(Breakdown::read());
        let cff = timed(&dev, || fast_forward(&continuous, &seqs, None, &policy, chunk).map(drop))?;
        for (v, x) in times.iter_mut().zip([fwd, ff, naive, ep]) {
            v.push(x);
        }
        for (v, x) in ratios.iter_mut().zip([ff, naive, ep, cff]) {
            v.push(x / fwd);
        }
    }
    let [forward_s, ff_s, naive_s, episode_s] = times.map(median);
    let [ff_ratio, naive_ratio, episode_ratio, cff_ratio] = ratios.map(median);

    let report = Report {
        forward_tok_s: real_positions as f64 / forward_s,
        ff_ratio,
        naive_ratio,
        episode_ratio,
        rounds: ROUNDS,
        exact,
        ll_max_diff,
        k_mean,
        peak_mem_mb,
        base_mem_mb,
        cache_mb: (2 * layers * b_n * cfg.context * width * 4) as f64 / (1024.0 * 1024.0),
        B: b_n,
        L: l_n,
        layers,
        width,
        device: format!("{dev:?}"),
        forward_s,
        ff_s,
        naive_s,
        episode_s,
        ff_work: ff_cost.positions as f64 / real_positions as f64,
        episode_work: episode_positions as f64 / real_positions as f64,
        cff_ratio,
        cff_calls_ratio: cff_cost.calls as f64 / ff_cost.calls.max(1) as f64,
        cff_k_mean,
        ff_breakdown: ff_breakdown.scaled(repeats as f64),
        episode_breakdown: episode_breakdown.scaled(repeats as f64),
        chunk,
        thought_bias: bias,
        repeats,
    };
    print_report(&report, json)?;
    Ok(ExitCode::SUCCESS)
}

/// A thought bias under which the fast-forward places about [`TARGET_K`] thoughts per sequence: start from the
/// quantile of (best other logit − thought logit) over the plain batch that makes `TARGET_K / L` positions
/// choose the thought, then correct it twice by the fast-forward's actual count.
fn calibrate(gpt: &Gpt, seqs: &[Vec<u32>], policy: &Policy, chunk: usize, dev: &Device) -> anyhow::Result<f32> {
    let empty: Vec<Placement> = seqs.iter().map(|x| Placement::empty(x.len())).collect();
    let logits = gpt.forward_inference(&padded(seqs, &empty, dev)?)?.logits;
    let t = THOUGHT_ID as usize;
    let v = logits.dim(D::Minus1)?;
    let others =
        Tensor::cat(&[logits.narrow(D::Minus1, 0, t)?, logits.narrow(D::Minus1, t + 1, v - t - 1)?], D::Minus1)?;
    let margin = (others.max(D::Minus1)? - logits.narrow(D::Minus1, t, 1)?.squeeze(D::Minus1)?)?;
    let mut margins = margin.flatten_all()?.to_vec1::<f32>()?;
    margins.sort_by(f32::total_cmp);
    let len = seqs.first().map_or(1, Vec::len) as f64;
    let mut q = TARGET_K / len;
    let mut bias = 0.0;
    for _ in 0..3 {
        let at = ((q * margins.len() as f64) as usize).min(margins.len() - 1);
        bias = margins[at];
        let model = ThoughtBias::new(gpt, bias)?;
        let (ff, _) = fast_forward(&model, seqs, None, policy, chunk)?;
        let k = ff.iter().map(|r| r.placement.total() as f64).sum::<f64>() / seqs.len() as f64;
        q *= TARGET_K / k.max(0.5);
    }
    Ok(bias)
}

/// The augmented batch (B, T_max), padded at the end.
fn padded(seqs: &[Vec<u32>], placements: &[Placement], dev: &Device) -> anyhow::Result<Tensor> {
    let rows: Vec<Vec<u32>> = seqs.iter().zip(placements).map(|(x, p)| p.augment(x)).collect();
    let t = rows.iter().map(Vec::len).max().unwrap_or(1);
    let flat: Vec<u32> = rows
        .iter()
        .flat_map(|r| r.iter().copied().chain(std::iter::repeat(PAD_ID)).take(t).collect::<Vec<_>>())
        .collect();
    Ok(Tensor::from_vec(flat, (rows.len(), t), dev)?)
}

/// Seconds one run of `f` takes, the device synchronised.
fn timed(dev: &Device, f: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<f64> {
    dev.synchronize()?;
    let start = Instant::now();
    f()?;
    dev.synchronize()?;
    Ok(start.elapsed().as_secs_f64())
}

/// A field of `/proc/self/status` in MiB (`VmRSS:` resident now, `VmHWM:` peak since the last reset); 0 where
/// unknown. Host memory only.
fn resident_mb(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn print_report(r: &Report, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(r)?);
        return Ok(());
    }
    println!(
        "episode bench: GPT {} layers, width {}; B={} L={} on {}; k_mean {:.1} thoughts/seq (bias {:.3}); chunk {}; median of {}",
        r.layers, r.width, r.B, r.L, r.device, r.k_mean, r.thought_bias, r.chunk, r.repeats
    );
    println!("  plain forward      {:>8.3} s  {:>9.0} tok/s", r.forward_s, r.forward_tok_s);
    println!(
        "  fast-forward       {:>8.3} s  ratio {:>5.2}  (work {:.2}; target ≤ 1.3)",
        r.ff_s, r.ff_ratio, r.ff_work
    );
    println!("  naive reference    {:>8.3} s  ratio {:>5.2}", r.naive_s, r.naive_ratio);
    println!(
        "  continuous f-f                ratio {:>5.2}  ({:.1} thoughts/seq; {:.2}× the discrete fast-forward's calls: \
         each thought starts a chunk)",
        r.cff_ratio, r.cff_k_mean, r.cff_calls_ratio
    );
    println!(
        "  episode, {} rounds {:>8.3} s  ratio {:>5.2}  (work {:.2}; target ≤ {:.1})",
        r.rounds,
        r.episode_s,
        r.episode_ratio,
        r.episode_work,
        0.6 * r.rounds as f64 + 1.0
    );
    for (name, b, total) in [("fast-forward", &r.ff_breakdown, r.ff_s), ("episode", &r.episode_breakdown, r.episode_s)]
    {
        println!(
            "  {name} time: model calls {:.3} s ({} calls; cache writes {:.3} s, cached attention {:.3} s), \
             statistics {:.3} s, decisions {:.3} s, compaction {:.3} s, other {:.3} s",
            b.model_s,
            b.model_calls,
            b.cache_write_s,
            b.attention_s,
            b.stats_s,
            b.decide_s,
            b.compact_s,
            (total - b.model_s - b.stats_s - b.decide_s - b.compact_s).max(0.0)
        );
    }
    println!(
        "  exact (fast == naive: placements, ll within {LL_TOLERANCE:e}): {} (max |Δll| {:.1e})",
        r.exact, r.ll_max_diff
    );
    println!(
        "  memory during the episode: peak {:.0} MiB (from {:.0} MiB before it; one KV cache {:.0} MiB)",
        r.peak_mem_mb, r.base_mem_mb, r.cache_mb
    );
    Ok(())
}

/// Reset the kernel's peak-resident counter (`VmHWM`) to the current size (Linux: write 5 to `clear_refs`); a
/// no-op where that is not possible, and then `peak_mem_mb` is the process's peak so far.
fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
