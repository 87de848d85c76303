//! `thinktok bench model --model PATH`: no-grad forward and training-step throughput of a pretrained checkpoint
//! (every parameter trained, AdamW at the reference's settings, no clipping), each the median of timed repeats after
//! one warm-up, on random token ids. `scripts/reference-speed.py` measures the same with PyTorch and transformers.

use std::path::Path;
use std::process::ExitCode;

use candle_core::Tensor;
use serde::Serialize;

use crate::engine::learn::Trainer;
use crate::engine::rng::Rng;

use super::bench_model::{median_steps, median_time, next_token_batch, reference_learn};

#[derive(Debug, Serialize)]
struct Report {
    forward_tok_s: f64,
    train_tok_s: f64,
    forward_s: f64,
    train_s: f64,
    params: usize,
    batch: usize,
    seq: usize,
    repeats: usize,
    threads: usize,
}

pub fn run(
    path: &Path,
    json: bool,
    device: Option<&str>,
    repeats: usize,
    batch: usize,
    seq: usize,
) -> anyhow::Result<ExitCode> {
    let loaded = super::model_source::load(None, Some(path), Some(seq + 1), seq + 1, device, |_| Ok(()))?;
    let params = loaded.built.varmap.all_vars().iter().map(|v| v.elem_count()).sum();
    let dev = loaded.built.model.device().clone();
    let vocab = loaded.built.model.vocab_size();
    let mut rng = Rng::new(0);
    // Real token ids only (below the engine's special ids' block is not needed: any id of the model's is real).
    let ids: Vec<u32> = (0..batch * (seq + 1)).map(|_| rng.below(vocab - 8) as u32).collect();
    let data = Tensor::from_vec(ids, (batch, seq + 1), &dev)?;
    let tokens = data.narrow(1, 0, seq)?.contiguous()?;
    let mut trainer = Trainer::new(loaded.built, &reference_learn(batch, None))?;
    let model = trainer.built.model.as_ref();
    let (forward_s, _) = median_time(repeats, &dev, || {
        model.forward_inference(&tokens)?.logits.sum_all()?.to_scalar::<f32>()?;
        Ok(())
    })?;
    let micro = [next_token_batch(&data)?];
    let (train_s, _) = median_steps(&mut trainer, &micro, repeats, &dev)?;
    let tokens = (batch * seq) as f64;
    let r = Report {
        forward_tok_s: tokens / forward_s,
        train_tok_s: tokens / train_s,
        forward_s,
        train_s,
        params,
        batch,
        seq,
        repeats,
        threads: candle_core::utils::get_num_threads(),
    };
    if json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!("`{}` ({} parameters), {} threads, median of {}", path.display(), r.params, r.threads, r.repeats);
        println!("  forward (no grad) {batch}x{seq}: {:>8.0} tok/s  ({:.3} s)", r.forward_tok_s, r.forward_s);
        println!("  training step     {batch}x{seq}: {:>8.0} tok/s  ({:.3} s)", r.train_tok_s, r.train_s);
    }
    Ok(ExitCode::SUCCESS)
}
