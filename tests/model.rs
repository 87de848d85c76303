//! The GPT and its KV cache: cached chunked forward equals the full forward (ragged rows, truncation, a narrowed
//! view), the forward is causal, every parameter receives a gradient, and with a reduced `dtype` (bf16, f16) the
//! model tracks its f32 self.

use candle_core::{DType, Device, IndexOp, Tensor, D};
use candle_nn::VarMap;
use proptest::prelude::*;
use thinktok::engine::model::ops::with_composite_ops;
use thinktok::engine::model::{CausalLm, Gpt, KvCache};
use thinktok::engine::rng::Rng;
use thinktok::plan::{GptConfig, VOCAB_SIZE};

const TOL: f32 = 1e-5;

fn tiny(seed: u64) -> (Gpt, VarMap) {
    sized(seed, 24)
}

fn sized(seed: u64, context: usize) -> (Gpt, VarMap) {
    let cfg = GptConfig { layers: 2, width: 16, heads: 2, context, vocab_size: VOCAB_SIZE };
    let varmap = VarMap::new();
    let model = Gpt::new_seeded(&cfg, &varmap, &Device::Cpu, seed).unwrap();
    (model, varmap)
}

fn random_tokens(rng: &mut Rng, n: usize) -> Vec<u32> {
    (0..n).map(|_| rng.below(VOCAB_SIZE) as u32).collect()
}

/// Logits (T, V) of one row by a full forward.
fn full_logits(model: &Gpt, seq: &[u32]) -> Vec<Vec<f32>> {
    let t = Tensor::new(seq, &Device::Cpu).unwrap().unsqueeze(0).unwrap();
    model.forward(&t).unwrap().logits.i(0).unwrap().to_vec2().unwrap()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Feed `seqs[b][from[b]..]` into `cache` in chunks whose per-row sizes come from `rng`; returns the logits of
/// every fed position per row.
fn feed_chunks(model: &Gpt, cache: &mut KvCache, seqs: &[Vec<u32>], rng: &mut Rng) -> Vec<Vec<Vec<f32>>> {
    feed_chunks_up_to(model, cache, seqs, rng, 7)
}

/// As [`feed_chunks`], with chunks of at most `max_chunk` tokens per row.
fn feed_chunks_up_to(
    model: &Gpt,
    cache: &mut KvCache,
    seqs: &[Vec<u32>],
    rng: &mut Rng,
    max_chunk: usize,
) -> Vec<Vec<Vec<f32>>> {
    let b = seqs.len();
    let mut out = vec![Vec::new(); b];
    loop {
        let rest: Vec<usize> = (0..b).map(|r| seqs[r].len() - cache.len(r)).collect();
        if rest.iter().all(|&n| n == 0) {
            return out;
        }
        let valid: Vec<usize> =
            rest.iter().map(|&n| if n == 0 { 0 } else { 1 + rng.below(n.min(max_chunk)) }).collect();
        let c = *valid.iter().max().unwrap();
        let mut toks = Vec::with_capacity(b * c);
        for r in 0..b {
            let at = cache.len(r);
            for i in 0..c {
                toks.push(if i < valid[r] { seqs[r][at + i] } else { 255 });
            }
        }
        let toks = Tensor::from_vec(toks, (b, c), &Device::Cpu).unwrap();
        let logits: Vec<Vec<Vec<f32>>> = model.forward_chunk(&toks, &valid, cache).unwrap().logits.to_vec3().unwrap();
        for r in 0..b {
            out[r].extend(logits[r][..valid[r]].iter().cloned());
        }
    }
}

fn assert_matches_full(model: &Gpt, seq: &[u32], from: usize, got: &[Vec<f32>]) {
    let want = full_logits(model, seq);
    assert_eq!(got.len(), seq.len() - from);
    for (i, g) in got.iter().enumerate() {
        let d = max_diff(g, &want[from + i]);
        assert!(d < TOL, "position {}: max diff {d}", from + i);
    }
}

fn check_ragged(seed: u64, lens: &[usize]) {
    check_ragged_sized(seed, lens, 24, 7);
}

fn check_ragged_sized(seed: u64, lens: &[usize], context: usize, max_chunk: usize) {
    let (model, _vm) = sized(seed, context);
    let mut rng = Rng::new(seed);
    let seqs: Vec<Vec<u32>> = lens.iter().map(|&n| random_tokens(&mut rng, n)).collect();
    let mut cache = model.new_cache(seqs.len()).unwrap();
    let got = feed_chunks_up_to(&model, &mut cache, &seqs, &mut rng, max_chunk);
    for (r, seq) in seqs.iter().enumerate() {
        assert_eq!(cache.len(r), seq.len());
        assert_matches_full(&model, seq, 0, &got[r]);
    }
}

#[test]
fn chunked_forward_of_ragged_rows_equals_full_forward() {
    check_ragged(1, &[24, 5, 17, 1]);
}

/// Chunks longer than the attention kernels' query block (64), and rows longer than several blocks.
#[test]
fn long_chunks_over_long_rows_equal_full_forward() {
    check_ragged_sized(11, &[150, 3, 97, 64], 150, 90);
}

/// The composite path (what CUDA runs) against the kernels' path, chunked and full.
#[test]
fn composite_ops_path_matches_kernel_path() {
    with_composite_ops(|| check_ragged_sized(12, &[40, 7, 70], 80, 30));
    let (model, _vm) = sized(13, 80);
    let seq = random_tokens(&mut Rng::new(13), 75);
    let fast = full_logits(&model, &seq);
    let slow = with_composite_ops(|| full_logits(&model, &seq));
    for (i, (f, s)) in fast.iter().zip(&slow).enumerate() {
        assert!(max_diff(f, s) < TOL, "position {i}: {}", max_diff(f, s));
    }
}

#[test]
fn inference_forward_equals_forward() {
    let (model, _vm) = tiny(14);
    let toks = Tensor::from_vec(random_tokens(&mut Rng::new(14), 3 * 20), (3, 20), &Device::Cpu).unwrap();
    let a = model.forward(&toks).unwrap();
    let b = model.forward_inference(&toks).unwrap();
    let diff = (a.logits - b.logits).unwrap().abs().unwrap().max_all().unwrap();
    assert_eq!(diff.to_scalar::<f32>().unwrap(), 0.0);
    let diff = (a.hidden - b.hidden).unwrap().abs().unwrap().max_all().unwrap();
    assert_eq!(diff.to_scalar::<f32>().unwrap(), 0.0);
}

#[test]
fn truncate_then_recompute_equals_full_forward() {
    let (model, _vm) = tiny(2);
    let mut rng = Rng::new(2);
    let seqs: Vec<Vec<u32>> = [20, 13, 9].iter().map(|&n| random_tokens(&mut rng, n)).collect();
    let mut cache = model.new_cache(3).unwrap();
    feed_chunks(&model, &mut cache, &seqs, &mut rng);
    // Cut each row back, change the suffix (as a thought insertion would), and recompute from the cut.
    let cuts = [4, 13, 0];
    let mut changed = seqs.clone();
    for (r, &cut) in cuts.iter().enumerate() {
        cache.truncate(r, cut).unwrap();
        for tok in changed[r][cut..].iter_mut() {
            *tok = (*tok + 1) % VOCAB_SIZE as u32;
        }
    }
    let got = feed_chunks(&model, &mut cache, &changed, &mut rng);
    for r in 0..3 {
        assert_matches_full(&model, &changed[r], cuts[r], &got[r]);
    }
    assert!(cache.truncate(0, 21).is_err(), "cannot grow by truncation");
}

/// A narrowed view runs chunks on its rows only (in its order), leaves the other rows as they were, and the rows
/// continue after the view is reset as if fed in one batch: on the kernels' path and on the composite path.
#[test]
fn a_narrowed_view_feeds_its_rows_only() {
    for composite in [false, true] {
        let run = || {
            let (model, _vm) = tiny(6);
            let mut rng = Rng::new(6);
            let seqs: Vec<Vec<u32>> = [12, 9, 14, 10].iter().map(|&n| random_tokens(&mut rng, n)).collect();
            let mut cache = model.new_cache(4).unwrap();
            let halves: Vec<Vec<u32>> = seqs.iter().map(|s| s[..s.len() / 2].to_vec()).collect();
            feed_chunks(&model, &mut cache, &halves, &mut rng);
            // Rows 3 and 1 (in that order) run to their ends; rows 0 and 2 stay at their halves.
            cache.set_view(&[3, 1]).unwrap();
            let picked = vec![seqs[3].clone(), seqs[1].clone()];
            let got = feed_chunks(&model, &mut cache, &picked, &mut rng);
            for (r, seq) in picked.iter().enumerate() {
                assert_matches_full(&model, seq, seq.len() / 2, &got[r]);
            }
            cache.reset_view();
            assert_eq!(cache.lens(), vec![6, 9, 7, 10]);
            let got = feed_chunks(&model, &mut cache, &seqs, &mut rng);
            for r in [0, 2] {
                assert_matches_full(&model, &seqs[r], seqs[r].len() / 2, &got[r]);
            }
            assert!(cache.set_view(&[1, 1]).is_err(), "a row twice");
            assert!(cache.set_view(&[4]).is_err(), "a row out of range");
        };
        if composite {
            with_composite_ops(run);
        } else {
            run();
        }
    }
}

#[test]
fn chunk_past_the_context_is_an_error_and_writes_nothing() {
    let (model, _vm) = tiny(4);
    let mut cache = model.new_cache(1).unwrap();
    let toks = Tensor::zeros((1, 25), DType::U32, &Device::Cpu).unwrap();
    let err = model.forward_chunk(&toks, &[25], &mut cache).unwrap_err();
    assert!(err.to_string().contains("exceed the context"), "{err}");
    assert_eq!(cache.lens(), &[0]);
}

#[test]
fn forward_is_causal() {
    let (model, _vm) = tiny(5);
    let mut rng = Rng::new(5);
    let seq = random_tokens(&mut rng, 16);
    let base = full_logits(&model, &seq);
    for j in [0, 7, 15] {
        let mut changed = seq.clone();
        changed[j] = (changed[j] + 1) % VOCAB_SIZE as u32;
        let got = full_logits(&model, &changed);
        for i in 0..16 {
            let d = max_diff(&got[i], &base[i]);
            if i < j {
                assert!(d == 0.0, "changing token {j} moved logits at {i} by {d}");
            } else if i == j {
                assert!(d > 1e-6, "changing token {j} did not move its own logits");
            }
        }
    }
}

/// Gradients of the mean next-token loss for every variable, by name.
fn lm_grads(model: &Gpt, varmap: &VarMap, toks: &Tensor) -> Vec<(String, Vec<f32>)> {
    let out = model.forward(toks).unwrap();
    let (b, t, v) = out.logits.dims3().unwrap();
    let logits = out.logits.i((.., ..t - 1)).unwrap().reshape((b * (t - 1), v)).unwrap();
    let targets = toks.i((.., 1..)).unwrap().flatten_all().unwrap();
    let loss = candle_nn::loss::cross_entropy(&logits, &targets).unwrap();
    let grads = loss.backward().unwrap();
    let vars = varmap.data().lock().unwrap();
    let mut named: Vec<(String, Vec<f32>)> = vars
        .iter()
        .map(|(name, var)| {
            let g = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("no gradient for {name}"));
            assert_eq!((var.dtype(), g.dtype()), (DType::F32, DType::F32), "{name}: f32 weights, f32 gradients");
            (name.clone(), g.flatten_all().unwrap().to_vec1::<f32>().unwrap())
        })
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named
}

/// Every parameter receives a non-zero gradient, on the kernels' path and on the composite path (what CUDA
/// runs), and the two paths' gradients agree.
#[test]
fn every_parameter_receives_a_gradient() {
    let (model, varmap) = sized(6, 80);
    let toks = Tensor::from_vec(random_tokens(&mut Rng::new(6), 2 * 70), (2, 70), &Device::Cpu).unwrap();
    let fast = lm_grads(&model, &varmap, &toks);
    let slow = with_composite_ops(|| lm_grads(&model, &varmap, &toks));
    assert_eq!(fast.len(), 4 + 2 * 12 + 1, "variables: {:?}", fast.iter().map(|v| &v.0).collect::<Vec<_>>());
    for ((name, f), (_, s)) in fast.iter().zip(&slow) {
        let norm: f32 = f.iter().map(|v| v * v).sum();
        assert!(norm > 0.0 && norm.is_finite(), "gradient of {name} has norm {norm}");
        let scale = s.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
        let d = max_diff(f, s);
        assert!(d <= 1e-3 * scale, "{name}: kernels and composite gradients differ by {d} (scale {scale})");
    }
}

#[test]
fn seeded_init_is_deterministic_and_gpt2_named() {
    let (a, va) = tiny(7);
    let (_b, vb) = tiny(7);
    let names: Vec<String> = {
        let mut n: Vec<String> = va.data().lock().unwrap().keys().cloned().collect();
        n.sort();
        n
    };
    for want in
        ["wte.weight", "wpe.weight", "h.1.attn.c_attn.weight", "h.0.mlp.c_proj.bias", "ln_f.weight", "lm_head.weight"]
    {
        assert!(names.iter().any(|n| n == want), "missing {want} in {names:?}");
    }
    let (da, db) = (va.data().lock().unwrap(), vb.data().lock().unwrap());
    for n in &names {
        let diff = (da[n].as_tensor() - db[n].as_tensor()).unwrap().abs().unwrap();
        assert_eq!(diff.max_all().unwrap().to_scalar::<f32>().unwrap(), 0.0, "{n}");
    }
    let std = da["h.0.attn.c_attn.weight"].as_tensor().sqr().unwrap().mean_all().unwrap();
    let std = std.to_scalar::<f32>().unwrap().sqrt();
    assert!((std - 0.02).abs() < 0.003, "init std {std}");
    let _ = a.forward(&Tensor::zeros((1, 3), DType::U32, &Device::Cpu).unwrap()).unwrap().logits.max(D::Minus1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    #[test]
    fn chunked_forward_matches_full_forward(seed in 0u64..1000, lens in prop::collection::vec(1usize..=24, 1..5)) {
        check_ragged(seed, &lens);
    }
}

// Mixed precision (`dtype = bf16 | f16`): the composite path CUDA runs, with its matmuls and attention in a reduced
// dtype, tracks the f32 model within that dtype's rounding. Run on the CPU, where candle's bf16 and f16 matmuls are
// exact products of the rounded operands, so a failure here is the model's, not a kernel's.

fn flat(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

fn max_abs(a: &[f32]) -> f32 {
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}

/// The relative rounding a reduced dtype may add to this small model's logits: a few units of its last place
/// (bf16 keeps 8 significant bits, f16 11).
fn tolerance(dtype: DType) -> f32 {
    match dtype {
        DType::BF16 => 4e-2,
        _ => 6e-3,
    }
}

#[test]
fn reduced_dtypes_track_the_f32_forward() {
    let (f32_model, _vm) = sized(1, 40);
    let toks = Tensor::from_vec(random_tokens(&mut Rng::new(1), 3 * 30), (3, 30), &Device::Cpu).unwrap();
    let reference = flat(&f32_model.forward(&toks).unwrap().logits);
    let scale = max_abs(&reference);
    for dtype in [DType::BF16, DType::F16] {
        let out = f32_model.clone().with_compute_dtype(dtype).forward(&toks).unwrap();
        assert_eq!(out.logits.dtype(), DType::F32, "{dtype:?}: the products come back as f32");
        let d = max_diff(&flat(&out.logits), &reference);
        assert!(d <= tolerance(dtype) * scale, "{dtype:?}: logits differ by {d} (scale {scale})");
        // The reduced path ran: rounding the operands moves the logits.
        assert!(d > 0.0, "{dtype:?}: logits equal the f32 ones bit for bit");
    }
}

#[test]
fn reduced_dtype_cached_chunks_equal_its_full_forward() {
    let reduced = sized(2, 40).0.with_compute_dtype(DType::BF16);
    let toks = Tensor::from_vec(random_tokens(&mut Rng::new(2), 2 * 24), (2, 24), &Device::Cpu).unwrap();
    let full = reduced.forward_inference(&toks).unwrap().logits;
    let scale = max_abs(&flat(&full));
    let mut cache = reduced.new_cache(2).unwrap();
    let mut start = 0;
    for len in [5, 1, 8, 10] {
        let chunk = toks.i((.., start..start + len)).unwrap().contiguous().unwrap();
        let got = reduced.forward_chunk(&chunk, &[len, len], &mut cache).unwrap().logits;
        let d = max_diff(&flat(&got), &flat(&full.i((.., start..start + len)).unwrap()));
        assert!(d <= tolerance(DType::BF16) * scale, "positions {start}..{}: {d} (scale {scale})", start + len);
        start += len;
    }
}

#[test]
fn reduced_dtype_gradients_reach_the_f32_weights_and_track_f32() {
    let (f32_model, varmap) = sized(3, 40);
    let toks = Tensor::from_vec(random_tokens(&mut Rng::new(3), 2 * 32), (2, 32), &Device::Cpu).unwrap();
    let reference = lm_grads(&f32_model, &varmap, &toks);
    let reduced = lm_grads(&f32_model.clone().with_compute_dtype(DType::BF16), &varmap, &toks);
    assert_eq!(reference.len(), reduced.len());
    for ((name, want), (_, got)) in reference.iter().zip(&reduced) {
        let dot: f64 = want.iter().zip(got).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum();
        let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
        let cosine = dot / (norm(want) * norm(got)).max(1e-30);
        assert!(cosine > 0.99, "{name}: bf16 and f32 gradients point apart (cosine {cosine:.4})");
    }
}
