//! Mixed precision (`dtype = bf16 | f16`): the composite path that CUDA runs, with its matmuls and attention in a
//! reduced dtype, tracks the f32 model within that dtype's rounding, in values, cached chunks and gradients, and
//! the gradients reach the f32 weights. Run on the CPU, where candle's bf16 and f16 matmuls are exact products of
//! the rounded operands (so a failure here is the model's, not a kernel's).

use candle_core::{DType, Device, IndexOp, Tensor};
use candle_nn::VarMap;
use thinktok::engine::model::{CausalLm, Gpt};
use thinktok::engine::rng::Rng;
use thinktok::plan::{GptConfig, VOCAB_SIZE};

fn model(seed: u64) -> (Gpt, VarMap) {
    let cfg = GptConfig { layers: 2, width: 32, heads: 4, context: 40, vocab_size: VOCAB_SIZE };
    let varmap = VarMap::new();
    (Gpt::new_seeded(&cfg, &varmap, &Device::Cpu, seed).unwrap(), varmap)
}

fn tokens(seed: u64, b: usize, t: usize) -> Tensor {
    let mut rng = Rng::new(seed);
    let ids: Vec<u32> = (0..b * t).map(|_| rng.below(VOCAB_SIZE) as u32).collect();
    Tensor::from_vec(ids, (b, t), &Device::Cpu).unwrap()
}

fn flat(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

fn max_abs(a: &[f32]) -> f32 {
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// The relative rounding each reduced dtype may add to the logits of this small model: a few units of its
/// last place (bf16 keeps 8 significant bits, f16 11).
fn tolerance(dtype: DType) -> f32 {
    match dtype {
        DType::BF16 => 4e-2,
        _ => 6e-3,
    }
}

#[test]
fn reduced_dtypes_track_the_f32_forward() {
    let (f32_model, _vm) = model(1);
    let toks = tokens(1, 3, 30);
    let reference = flat(&f32_model.forward(&toks).unwrap().logits);
    let scale = max_abs(&reference);
    for dtype in [DType::BF16, DType::F16] {
        let reduced = f32_model.clone().with_compute_dtype(dtype);
        let out = reduced.forward(&toks).unwrap();
        assert_eq!(out.logits.dtype(), DType::F32, "{dtype:?}: the products come back as f32");
        let got = flat(&out.logits);
        let d = max_diff(&got, &reference);
        assert!(d <= tolerance(dtype) * scale, "{dtype:?}: logits differ by {d} (scale {scale})");
        // The reduced path ran: rounding the operands moves the logits.
        assert!(d > 0.0, "{dtype:?}: logits equal the f32 ones bit for bit");
    }
}

#[test]
fn reduced_dtype_cached_chunks_equal_its_full_forward() {
    let (f32_model, _vm) = model(2);
    let reduced = f32_model.with_compute_dtype(DType::BF16);
    let toks = tokens(2, 2, 24);
    let full = reduced.forward_inference(&toks).unwrap().logits;
    let scale = max_abs(&flat(&full));
    let mut cache = reduced.new_cache(2).unwrap();
    let mut start = 0;
    for len in [5, 1, 8, 10] {
        let chunk = toks.i((.., start..start + len)).unwrap().contiguous().unwrap();
        let got = reduced.forward_chunk(&chunk, &[len, len], &mut cache).unwrap().logits;
        let want = full.i((.., start..start + len)).unwrap();
        let d = max_diff(&flat(&got), &flat(&want));
        assert!(d <= tolerance(DType::BF16) * scale, "positions {start}..{}: {d} (scale {scale})", start + len);
        start += len;
    }
}

/// Gradients of the mean next-token loss, by variable name; every variable must have one, in f32.
fn grads(model: &Gpt, varmap: &VarMap, toks: &Tensor) -> Vec<(String, Vec<f32>)> {
    let logits = model.forward(toks).unwrap().logits;
    let (b, t, v) = logits.dims3().unwrap();
    let logits = logits.i((.., ..t - 1)).unwrap().reshape((b * (t - 1), v)).unwrap();
    let targets = toks.i((.., 1..)).unwrap().flatten_all().unwrap();
    let loss = candle_nn::loss::cross_entropy(&logits, &targets).unwrap();
    let grads = loss.backward().unwrap();
    let vars = varmap.data().lock().unwrap();
    let mut named: Vec<(String, Vec<f32>)> = vars
        .iter()
        .map(|(name, var)| {
            assert_eq!(var.dtype(), DType::F32, "{name}: master weights stay f32");
            let g = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("no gradient for {name}"));
            assert_eq!(g.dtype(), DType::F32, "{name}: its gradient is f32");
            (name.clone(), flat(g))
        })
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named
}

#[test]
fn reduced_dtype_gradients_reach_the_f32_weights_and_track_f32() {
    let (f32_model, varmap) = model(3);
    let toks = tokens(3, 2, 32);
    let reference = grads(&f32_model, &varmap, &toks);
    let reduced = grads(&f32_model.clone().with_compute_dtype(DType::BF16), &varmap, &toks);
    assert_eq!(reference.len(), reduced.len());
    for ((name, want), (_, got)) in reference.iter().zip(&reduced) {
        let dot: f64 = want.iter().zip(got).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum();
        let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
        let cosine = dot / (norm(want) * norm(got)).max(1e-30);
        assert!(cosine > 0.99, "{name}: bf16 and f32 gradients point apart (cosine {cosine:.4})");
    }
}
