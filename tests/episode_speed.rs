//! Speed probes of the episode phase's building blocks (not assertions about speed: `#[ignore]`d, run by hand
//! with `cargo test --release --test episode_speed -- --ignored --nocapture` to see where the time goes).
//! Exactness at this size (L = 256, past the 64-row query block, with truncation and compaction) is not only
//! checked here: `tests/episode.rs`'s `fast_forward_equals_naive_at_length_256_with_truncation_and_compaction`
//! checks it on every run, on a GPT small enough for CI.

use std::time::Instant;

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use thinktok::engine::episode::bias::ThoughtBias;
use thinktok::engine::episode::fast_forward::{fast_forward, score};
use thinktok::engine::episode::walk::Policy;
use thinktok::engine::episode::Placement;
use thinktok::engine::model::{CausalLm, Gpt};
use thinktok::engine::rng::Rng;
use thinktok::plan::*;

/// Process CPU seconds (user + system, all threads) from `/proc/self/stat`: steadier than wall time when other
/// processes share the cores.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<f64> = after.split_whitespace().map(|x| x.parse().unwrap_or(0.0)).collect();
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

/// Best of `n` runs, in (wall, CPU) seconds.
fn best_of(n: usize, mut f: impl FnMut()) -> f64 {
    (0..n)
        .map(|_| {
            let (t, c) = (Instant::now(), cpu_seconds());
            f();
            let (wall, cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - c);
            eprintln!("    wall {wall:.3} s  cpu {cpu:.2} s");
            cpu
        })
        .fold(f64::INFINITY, f64::min)
}

/// Prints plain-forward time against chunked teacher-forced scoring and fast-forward at several chunk widths.
#[test]
#[ignore = "a timing probe, minutes on 2 cores"]
fn chunk_width_probe() {
    let cfg = GptConfig { layers: 4, width: 256, heads: 4, context: 272, vocab_size: VOCAB_SIZE };
    let gpt = Gpt::new_seeded(&cfg, &VarMap::new(), &Device::Cpu, 0).expect("gpt");
    let mut rng = Rng::new(0);
    let seqs: Vec<Vec<u32>> = (0..16).map(|_| (0..256).map(|_| rng.below(256) as u32).collect()).collect();
    let empty: Vec<Placement> = seqs.iter().map(|x| Placement::empty(x.len())).collect();
    let flat: Vec<u32> = seqs.iter().flatten().copied().collect();
    let batch = Tensor::from_vec(flat, (16, 256), &Device::Cpu).expect("batch");
    let fwd = best_of(3, || {
        gpt.forward(&batch).expect("forward");
    });
    println!("plain forward 16x256: {fwd:.3} s");
    for chunk in [8, 16, 32, 64, 256] {
        let t = best_of(2, || {
            score(&gpt, &seqs, &empty, chunk).expect("score");
        });
        println!("teacher-forced chunk {chunk:>3}: {t:.3} s  ratio {:.2}", t / fwd);
    }
    let model = ThoughtBias::new(&gpt, 0.52).expect("bias");
    let policy = Policy { threshold: None, max_consecutive: 2, budget: 16, blocked: vec![], ..Default::default() };
    for chunk in [4, 8, 16, 32] {
        let mut work = 0;
        let mut k = 0;
        let t = best_of(2, || {
            let (r, c) = fast_forward(&model, &seqs, None, &policy, chunk).expect("ff");
            work = c.positions;
            k = r.iter().map(|r| r.placement.total()).sum::<usize>();
        });
        println!(
            "fast-forward chunk {chunk:>3}: {t:.3} s  ratio {:.2}  positions {work}  k {}",
            t / fwd,
            k as f64 / 16.0
        );
    }
}

/// Prints where a chunked pass spends its time: the model's `forward_chunk` against the stats reduction.
#[test]
#[ignore = "a timing probe"]
fn chunk_call_probe() {
    use thinktok::engine::episode::stats::position_stats;
    let cfg = GptConfig { layers: 4, width: 256, heads: 4, context: 272, vocab_size: VOCAB_SIZE };
    let gpt = Gpt::new_seeded(&cfg, &VarMap::new(), &Device::Cpu, 0).expect("gpt");
    for c in [16usize, 64, 256] {
        let toks = Tensor::zeros((16, c), candle_core::DType::U32, &Device::Cpu).expect("t");
        let mut fwd = 0.0;
        let mut st = 0.0;
        let total = best_of(2, || {
            let mut cache = gpt.new_cache(16).expect("cache");
            for _ in 0..256 / c {
                let t = Instant::now();
                let out = gpt.forward_chunk(&toks, &[c; 16], &mut cache).expect("chunk");
                let _ = out.logits.flatten_all().expect("f").get(0);
                let t1 = Instant::now();
                position_stats(&out.logits, &vec![0u32; 16 * c]).expect("stats");
                fwd += (t1 - t).as_secs_f64();
                st += t1.elapsed().as_secs_f64();
            }
        });
        println!("chunk {c:>3}: {total:.3} cpu-s; wall forward_chunk {fwd:.3} s, stats {st:.3} s (2 runs)");
    }
}

/// `thinktok bench episode --json` prints one object with the fields the issue names, and fast == naive.
#[test]
#[ignore = "runs the small benchmark: about a minute on 2 cores"]
fn bench_episode_json_has_the_agreed_fields() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_thinktok"))
        .args(["bench", "episode", "--json", "--repeats", "1"])
        .output()
        .expect("run thinktok");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    for key in [
        "forward_tok_s",
        "ff_ratio",
        "naive_ratio",
        "episode_ratio",
        "rounds",
        "exact",
        "k_mean",
        "peak_mem_mb",
        "B",
        "L",
        "layers",
        "width",
        "device",
    ] {
        assert!(v.get(key).is_some(), "missing `{key}` in {v}");
    }
    assert_eq!(v["exact"], serde_json::Value::Bool(true));
    let k = v["k_mean"].as_f64().unwrap_or(0.0);
    assert!((5.0..=11.0).contains(&k), "k_mean {k} far from the calibrated 8");
}

/// Prints each round's work (positions over one forward's) and what it proposed, kept and culled.
#[test]
#[ignore = "a work probe"]
fn round_work_probe() {
    use thinktok::engine::episode::{run_episode, EpisodeInput};
    let cfg = GptConfig { layers: 1, width: 64, heads: 4, context: 272, vocab_size: VOCAB_SIZE };
    let gpt = Gpt::new_seeded(&cfg, &VarMap::new(), &Device::Cpu, 0).expect("gpt");
    let mut rng = Rng::new(0);
    let seqs: Vec<Vec<u32>> = (0..16).map(|_| (0..256).map(|_| rng.below(256) as u32).collect()).collect();
    let bias: f32 = std::env::var("BIAS").ok().and_then(|b| b.parse().ok()).unwrap_or(0.1);
    let model = ThoughtBias::new(&gpt, bias).expect("bias");
    let policy = Policy { threshold: None, max_consecutive: 2, budget: 16, blocked: vec![], ..Default::default() };
    let (ff, _) = fast_forward(&model, &seqs, None, &policy, 8).expect("ff");
    let k = ff.iter().map(|r| r.placement.total()).sum::<usize>() as f64 / 16.0;
    let ep = EpisodeConfig {
        samples: 16,
        rounds: 8,
        thought_budget: 16,
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
    let out = run_episode(&model, input, &ep, 8, &mut Rng::new(1)).expect("episode");
    println!("bias {bias}: ff k {k:.1}; total work {:.2}", out.positions as f64 / 4096.0);
    for r in &out.rounds {
        println!(
            "round {}: work {:.2} proposed {} (model {}) kept {} culled {}",
            r.round,
            r.positions as f64 / 4096.0,
            r.proposed,
            r.by_model,
            r.kept,
            r.culled
        );
    }
}
