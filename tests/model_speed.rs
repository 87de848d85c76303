//! Timings of the model's inference paths, for profiling (not a test of speed: nothing here asserts a time).
//! `#[ignore]`d because it takes tens of seconds: run with
//! `cargo test --release --test model_speed -- --ignored --nocapture`.

use std::time::Instant;

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use thinktok::engine::model::{process_cpu_seconds, CausalLm, Gpt};
use thinktok::engine::rng::Rng;
use thinktok::plan::{GptConfig, VOCAB_SIZE};

/// Wall and CPU seconds of `f`, median of 3 after a warm-up.
fn time(mut f: impl FnMut()) -> (f64, f64) {
    f();
    let mut runs: Vec<(f64, f64)> = (0..3)
        .map(|_| {
            let (t, c) = (Instant::now(), process_cpu_seconds().unwrap_or(0.0));
            f();
            (t.elapsed().as_secs_f64(), process_cpu_seconds().unwrap_or(0.0) - c)
        })
        .collect();
    runs.sort_by(|a, b| a.1.total_cmp(&b.1));
    runs[1]
}

/// The episode bench's small size: a full no-grad forward against the same tokens fed in chunks.
#[test]
#[ignore]
fn chunked_forward_cost_against_full_forward() {
    let cfg = GptConfig { layers: 4, width: 256, heads: 4, context: 256, vocab_size: VOCAB_SIZE };
    let model = Gpt::new_seeded(&cfg, &VarMap::new(), &Device::Cpu, 0).unwrap();
    let (b, l) = (16, 256);
    let mut rng = Rng::new(0);
    let ids: Vec<u32> = (0..b * l).map(|_| rng.below(VOCAB_SIZE) as u32).collect();
    let tokens = Tensor::from_vec(ids, (b, l), &Device::Cpu).unwrap();
    let full = time(|| {
        model.forward_inference(&tokens).unwrap();
    });
    println!("full forward {b}x{l}: {:.3} s wall, {:.3} CPU s", full.0, full.1);
    // THINKTOK_CHUNKS=8,32 picks the chunk widths (for profiling one of them).
    let chunks: Vec<usize> = std::env::var("THINKTOK_CHUNKS")
        .ok()
        .map(|v| v.split(',').filter_map(|c| c.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 8, 32, 128]);
    for chunk in chunks {
        let t = time(|| {
            let mut cache = model.new_cache(b).unwrap();
            for at in (0..l).step_by(chunk) {
                let c = chunk.min(l - at);
                model.forward_chunk(&tokens.narrow(1, at, c).unwrap(), &vec![c; b], &mut cache).unwrap();
            }
        });
        println!(
            "chunks of {chunk:>3}: {:.3} s wall, {:.3} CPU s = {:.2}x the full forward (CPU)",
            t.0,
            t.1,
            t.1 / full.1
        );
    }
}
