//! A manual probe, not a check: where a training step of the default model spends its time.
//! Run with `cargo test --release --test engine_profile -- --ignored --nocapture`.

mod engine_support;

use std::time::Instant;

use candle_core::Device;
use engine_support::*;
use thinktok::engine::data::{self, HostBatch, Role, Sequence};
use thinktok::engine::learn::{build_model, weighted_nll_sum, Trainer};
use thinktok::plan::*;

#[test]
#[ignore = "timing probe: prints figures, asserts nothing about speed"]
fn profile_default_training_step() {
    let mut params = tiny_params();
    params.model = ModelConfig::Gpt(GptConfig { layers: 2, width: 128, heads: 4, context: 64, vocab_size: VOCAB_SIZE });
    params.data.train = DataSource::Task { task: TaskKind::Sum3 { digits: 6 }, count: 512, seed: 0 };
    let data = data::load(&params.data.train, Role::Train, 64).unwrap();
    let seqs: Vec<&Sequence> = data.sequences[..64].iter().collect();
    let host = HostBatch::new(&seqs);
    let batch = host.to_device(&Device::Cpu).unwrap();
    let mut trainer = Trainer::new(build_model(&params.model, &Device::Cpu, 0).unwrap(), &params.learn).unwrap();
    let n = 20;
    let (mut fwd, mut bwd) = (0.0, 0.0);
    for _ in 0..n {
        let t = Instant::now();
        let logits = trainer.built.model.forward(&batch.tokens).unwrap().logits;
        let loss = weighted_nll_sum(&logits, &batch.targets, &batch.loss_weights).unwrap();
        let _ = loss.to_scalar::<f32>().unwrap();
        fwd += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let _grads = loss.backward().unwrap();
        bwd += t.elapsed().as_secs_f64();
    }
    let t = Instant::now();
    for step in 0..n {
        trainer.step(step, &[(batch.clone(), host.n_targets() as f64)]).unwrap();
    }
    let full = t.elapsed().as_secs_f64();
    let logits = trainer.built.model.forward(&batch.tokens).unwrap().logits;
    let grads = weighted_nll_sum(&logits, &batch.targets, &batch.loss_weights).unwrap().backward().unwrap();
    let grads: Vec<_> = trainer.optimizer.vars().map(|(_, v)| grads.get(v).cloned()).collect();
    let t = Instant::now();
    for _ in 0..n {
        trainer.optimizer.step(&grads, 1e-3).unwrap();
    }
    println!("AdamW step {:.1} ms", t.elapsed().as_secs_f64() / n as f64 * 1e3);
    println!(
        "per step: forward+loss {:.1} ms, backward {:.1} ms, whole step {:.1} ms",
        fwd / n as f64 * 1e3,
        bwd / n as f64 * 1e3,
        full / n as f64 * 1e3
    );
}
