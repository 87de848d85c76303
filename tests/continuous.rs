//! Continuous thoughts: the model's recurrence, the cached episode passes and the unrolled learning forward, each
//! against a deliberately naive sequential reference (every thought's input from a full forward of everything
//! before it).

mod engine_support;

use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::{VarBuilder, VarMap};
use engine_support::{scratch, tiny_plan_with};
use thinktok::engine::episode::bias::ThoughtBias;
use thinktok::engine::episode::fast_forward::{fast_forward, fast_forward_naive, score, score_naive, thought_inputs};
use thinktok::engine::episode::walk::Policy;
use thinktok::engine::episode::{run_episode, EpisodeInput, Placement};
use thinktok::engine::learn::unroll::forward_unrolled;
use thinktok::engine::model::{CausalLm, Gpt, InputVectors};
use thinktok::engine::rng::Rng;
use thinktok::engine::run::{run_plan, RunOptions};
use thinktok::plan::*;

const WIDTH: usize = 32;

const MIXES: [ThoughtMix; 2] = [ThoughtMix::Replace, ThoughtMix::Gated];

fn config() -> GptConfig {
    GptConfig { layers: 2, width: WIDTH, heads: 4, context: 48, vocab_size: VOCAB_SIZE }
}

fn model(seed: u64) -> (Gpt, VarMap) {
    model_with(seed, ThoughtMix::Replace)
}

/// A continuous-thought model; with the gated mix its projection is drawn at random (not at its zero start), so
/// the recurrence runs through it.
fn model_with(seed: u64, mix: ThoughtMix) -> (Gpt, VarMap) {
    let varmap = VarMap::new();
    let gpt = Gpt::new_seeded(&config(), &varmap, &Device::Cpu, seed).unwrap();
    let gpt = match mix {
        ThoughtMix::Replace => gpt.with_continuous_thoughts(true),
        ThoughtMix::Gated => {
            let gpt = gpt.with_gated_thoughts(VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu)).unwrap();
            let mut rng = Rng::new(seed ^ 0x6d1);
            let w: Vec<f32> = (0..WIDTH * WIDTH).map(|_| (rng.below(2001) as f32 / 1000.0 - 1.0) * 0.3).collect();
            let vars = varmap.data().lock().unwrap();
            vars["thought_mix.weight"].set(&Tensor::from_vec(w, (WIDTH, WIDTH), &Device::Cpu).unwrap()).unwrap();
            drop(vars);
            gpt
        }
    };
    (gpt, varmap)
}

fn sequences(rng: &mut Rng, n: usize, len: usize) -> Vec<Vec<u32>> {
    (0..n).map(|_| (0..len).map(|_| 30 + rng.below(60) as u32).collect()).collect()
}

/// The augmented stream's logits and hidden states computed naively: for each thought in order, a full forward of
/// the stream before it gives its input (the hidden state of the position before it); then one full forward.
/// `live`: on the trainable weights (autograd through every step); `detach`: each thought input a constant.
fn naive_sequential(model: &dyn CausalLm, stream: &[u32], live: bool, detach: bool) -> (Tensor, Tensor) {
    let dev = Device::Cpu;
    let t = stream.len();
    let mut vectors: Vec<Tensor> = vec![Tensor::zeros(WIDTH, candle_core::DType::F32, &dev).unwrap(); t];
    let run = |n: usize, vectors: &[Tensor]| {
        let tokens = Tensor::from_vec(stream[..n].to_vec(), (1, n), &dev).unwrap();
        let mask: Vec<f32> = (0..n).map(|p| f32::from(u8::from(p > 0 && stream[p] == THOUGHT_ID))).collect();
        let inputs = InputVectors {
            mask: Tensor::from_vec(mask, (1, n, 1), &dev).unwrap(),
            vectors: Tensor::stack(&vectors[..n], 0).unwrap().unsqueeze(0).unwrap(),
        };
        if live {
            model.forward_with(&tokens, &inputs).unwrap()
        } else {
            model.forward_inference_with(&tokens, &inputs).unwrap()
        }
    };
    for p in 1..t {
        if stream[p] == THOUGHT_ID {
            let out = run(p, &vectors);
            let h = out.hidden.get(0).unwrap().get(p - 1).unwrap();
            vectors[p] = if detach { h.detach() } else { h };
        }
    }
    let out = run(t, &vectors);
    (out.logits.squeeze(0).unwrap(), out.hidden.squeeze(0).unwrap())
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
}

fn stream_of(x: &[u32], counts: &[u16]) -> Vec<u32> {
    Placement { counts: counts.to_vec() }.augment(x)
}

/// The model's own full forward (its exact recurrence by iterated passes) equals the sequential reference.
#[test]
fn full_forward_computes_the_thought_recurrence_exactly() {
    for mix in MIXES {
        full_forward_exact(mix);
    }
}

fn full_forward_exact(mix: ThoughtMix) {
    let (gpt, _) = model_with(1, mix);
    let x: Vec<u32> = (0..10).map(|k| 40 + k * 3).collect();
    for counts in [vec![0, 1, 0, 0, 0, 0, 0, 0, 0, 0], vec![0, 0, 2, 0, 1, 0, 0, 3, 0, 0], vec![0; 10]] {
        let stream = stream_of(&x, &counts);
        let tokens = Tensor::from_vec(stream.clone(), (1, stream.len()), &Device::Cpu).unwrap();
        let fast = gpt.forward_inference(&tokens).unwrap().logits.squeeze(0).unwrap();
        let (naive, _) = naive_sequential(&gpt, &stream, false, false);
        assert!(max_diff(&fast, &naive) < 1e-4, "{mix:?} {counts:?}: {}", max_diff(&fast, &naive));
        // Discrete thoughts would give other predictions: the test sees the difference.
        let discrete = Gpt::new_seeded(gpt.config(), &VarMap::new(), &Device::Cpu, 1).unwrap();
        let plain = discrete.forward_inference(&tokens).unwrap().logits.squeeze(0).unwrap();
        if counts.iter().any(|&c| c > 0) {
            assert!(max_diff(&plain, &naive) > 1e-3, "continuous thoughts must change the predictions");
        }
    }
}

/// Teacher-forced scoring on the cache (thoughts start chunks, inputs from the cached hidden states) equals the
/// naive full recompute, at several chunk widths.
#[test]
fn cached_scoring_equals_the_naive_recompute() {
    let (gpt, _) = model(2);
    let mut rng = Rng::new(5);
    let seqs = sequences(&mut rng, 4, 12);
    let placements: Vec<Placement> = seqs
        .iter()
        .map(|x| {
            let mut p = Placement::empty(x.len());
            for _ in 0..4 {
                p.counts[1 + rng.below(x.len() - 1)] += 1;
            }
            p
        })
        .collect();
    let naive = score_naive(&gpt, &seqs, &placements).unwrap();
    for chunk in [1, 3, 16] {
        let (fast, _) = score(&gpt, &seqs, &placements, chunk).unwrap();
        for (f, n) in fast.iter().zip(&naive) {
            let d = f.ll.iter().zip(&n.ll).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(d < 1e-4, "chunk {chunk}: {d}");
        }
    }
    // And the naive reference itself agrees with the sequential one.
    let stream = placements[0].augment(&seqs[0]);
    let (logits, _) = naive_sequential(&gpt, &stream, false, false);
    let lp = candle_nn::ops::log_softmax(&logits, D::Minus1).unwrap().to_vec2::<f32>().unwrap();
    let last_real = stream.len() - 1;
    assert!((lp[last_real - 1][stream[last_real] as usize] - naive[0].ll[seqs[0].len() - 1]).abs() < 1e-4);
}

/// The cached fast-forward with continuous thoughts places exactly what the naive reference places, slot for slot,
/// with the same likelihoods, and places many thoughts while doing so.
#[test]
fn continuous_fast_forward_equals_the_naive_reference() {
    let mut inserted = 0;
    for seed in 0..6u64 {
        // Even seeds replace, odd seeds mix by the gate.
        let (gpt, _) = model_with(10 + seed, MIXES[seed as usize % 2]);
        let mut rng = Rng::new(seed);
        let seqs = sequences(&mut rng, 5, 14);
        let bias = 4.0 + seed as f32 * 0.5;
        let biased = ThoughtBias::new(&gpt, bias).unwrap();
        let policy = Policy { threshold: None, max_consecutive: 2, budget: 5, ..Default::default() };
        let (naive, _) = fast_forward_naive(&biased, &seqs, None, &policy).unwrap();
        for chunk in [1, 4, 8] {
            let (fast, _) = fast_forward(&biased, &seqs, None, &policy, chunk).unwrap();
            for (f, n) in fast.iter().zip(&naive) {
                assert_eq!(f.placement, n.placement, "seed {seed} chunk {chunk}");
                let d = f.ll.iter().zip(&n.ll).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
                assert!(d < 1e-4, "seed {seed} chunk {chunk}: {d}");
            }
        }
        inserted += naive.iter().map(|r| r.placement.total()).sum::<usize>();
    }
    assert!(inserted >= 40, "only {inserted} thoughts inserted over 30 sequences: the comparison means little");
}

/// An episode (rounds, culling) with continuous thoughts ends with likelihoods that equal a from-scratch
/// recompute under its final placements.
#[test]
fn continuous_episode_likelihoods_equal_a_recompute() {
    let (gpt, _) = model(3);
    let biased = ThoughtBias::new(&gpt, 3.0).unwrap();
    let mut rng = Rng::new(9);
    let seqs = sequences(&mut rng, 6, 12);
    let cfg = EpisodeConfig {
        samples: 6,
        rounds: 4,
        thought_budget: 4,
        insertion: Insertion::FastForward { fallback: Fallback::BestRank, threshold: None, max_consecutive: 2 },
        cull: 0.5,
        cull_below_cost: false,
        gain: GainConfig::default(),
        strategy: EpisodeStrategy::Rounds,
        thoughts: ThoughtKind::Continuous,
        every: 1,
        slots: Slots::All,
        mix: ThoughtMix::Replace,
        warmup: Warmup::default(),
        proposal_size: 1,
    };
    let input = EpisodeInput { tokens: &seqs, prompt_lens: None, start: None };
    let out = run_episode(&biased, input, &cfg, 4, &mut Rng::new(1)).unwrap();
    let placements: Vec<Placement> = out.sequences.iter().map(|s| s.placement.clone()).collect();
    assert!(placements.iter().map(Placement::total).sum::<usize>() > 0);
    let naive = score_naive(&biased, &seqs, &placements).unwrap();
    for (s, n) in out.sequences.iter().zip(&naive) {
        let d = s.ll.iter().zip(&n.ll).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(d < 1e-4, "{d}");
    }
}

/// `mix = gated` starts exactly at discrete thoughts (its projection is zero), and learns: the projection gets a
/// gradient from a loss over a stream with thoughts, and once it is not zero the predictions leave the discrete ones.
#[test]
fn gated_mix_starts_at_discrete_thoughts_and_learns_the_recurrence() {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let gated = Gpt::new_seeded(&config(), &varmap, &Device::Cpu, 7).unwrap().with_gated_thoughts(vb).unwrap();
    let discrete = Gpt::new_seeded(&config(), &VarMap::new(), &Device::Cpu, 7).unwrap();
    let x: Vec<u32> = (0..10).map(|k| 33 + k * 7).collect();
    let stream = stream_of(&x, &[0, 0, 2, 0, 0, 1, 0, 0, 0, 0]);
    let tokens = Tensor::from_vec(stream.clone(), (1, stream.len()), &Device::Cpu).unwrap();
    let at_start = gated.forward(&tokens).unwrap().logits;
    assert_eq!(max_diff(&at_start, &discrete.forward(&tokens).unwrap().logits), 0.0, "zero projection = discrete");
    let grads = at_start.sqr().unwrap().sum_all().unwrap().backward().unwrap();
    let mix = varmap.data().lock().unwrap()["thought_mix.weight"].clone();
    let g = grads.get(&mix).expect("the projection is in the graph");
    assert!(max_diff(g, &g.zeros_like().unwrap()) > 1e-6, "the projection must receive a gradient");
    mix.set(&(g * -10.0).unwrap()).unwrap();
    let moved = gated.forward_inference(&tokens).unwrap().logits;
    assert!(max_diff(&moved, &discrete.forward(&tokens).unwrap().logits) > 1e-4, "a non-zero projection is used");
    // Without thoughts in the stream the mix changes nothing.
    let plain = Tensor::from_vec(x.clone(), (1, x.len()), &Device::Cpu).unwrap();
    assert_eq!(max_diff(&gated.forward(&plain).unwrap().logits, &discrete.forward(&plain).unwrap().logits), 0.0);
}

/// A batch of two augmented rows with thought chains, its (B, T) inputs, and the warm start for it.
fn unroll_batch(gpt: &Gpt) -> (Vec<Vec<u32>>, Tensor, Tensor, usize) {
    let x0: Vec<u32> = (0..9).map(|k| 35 + k * 5).collect();
    let x1: Vec<u32> = (0..9).map(|k| 90 - k * 4).collect();
    let p0 = Placement { counts: vec![0, 0, 2, 0, 0, 1, 0, 0, 0] };
    let p1 = Placement { counts: vec![0, 1, 0, 0, 0, 0, 0, 2, 0] };
    let streams = vec![p0.augment(&x0), p1.augment(&x1)];
    let (warm, t, _) = thought_inputs(gpt, &[x0, x1], &[p0, p1], WIDTH, 4).unwrap();
    let flat: Vec<u32> = streams.iter().flat_map(|s| s[..t].iter().copied()).collect();
    let inputs = Tensor::from_vec(flat, (2, t), &Device::Cpu).unwrap();
    let warm = Tensor::from_vec(warm, (2, t, WIDTH), &Device::Cpu).unwrap();
    (streams, inputs, warm, t)
}

/// A fixed random weighting of the logits: the scalar the gradient tests differentiate.
fn weights(t: usize) -> Vec<Tensor> {
    let mut rng = Rng::new(77);
    (0..2)
        .map(|_| {
            let w: Vec<f32> = (0..t * VOCAB_SIZE).map(|_| rng.below(1000) as f32 / 1000.0 - 0.5).collect();
            Tensor::from_vec(w, (t, VOCAB_SIZE), &Device::Cpu).unwrap()
        })
        .collect()
}

fn grads_of(loss: &Tensor, varmap: &VarMap) -> Vec<Tensor> {
    let store = loss.backward().unwrap();
    let mut vars: Vec<(String, Var)> =
        varmap.data().lock().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars.iter().map(|(_, v)| store.get(v).cloned().unwrap_or_else(|| v.zeros_like().unwrap())).collect()
}

fn grad_diff(a: &[Tensor], b: &[Tensor]) -> f32 {
    a.iter().zip(b).map(|(x, y)| max_diff(x, y)).fold(0f32, f32::max)
}

/// The unrolled learning forward: (a) its values equal the naive sequential forward at every depth D (the warm
/// start is exact); (b) at D = k + 1 (k = 3 thoughts per row here) its gradient equals autograd through the naive
/// sequential computation, while D = k misses part of it; (c) at D = 1 it equals the gradient with every thought
/// input detached.
#[test]
fn unrolled_learning_forward_matches_the_sequential_computation() {
    for mix in MIXES {
        unrolled_matches_sequential(mix);
    }
}

fn unrolled_matches_sequential(mix: ThoughtMix) {
    let (gpt, varmap) = model_with(4, mix);
    let (streams, inputs, warm, t) = unroll_batch(&gpt);
    let w = weights(t);
    let naive_loss = |detach: bool| {
        let mut total = Tensor::zeros((), candle_core::DType::F32, &Device::Cpu).unwrap();
        for (b, s) in streams.iter().enumerate() {
            let (logits, _) = naive_sequential(&gpt, &s[..t], true, detach);
            total = (total + (logits * &w[b]).unwrap().sum_all().unwrap()).unwrap();
        }
        total
    };
    let unrolled_loss = |d: usize| {
        let logits = forward_unrolled(&gpt, &inputs, d, Some(&warm)).unwrap().logits;
        let mut total = Tensor::zeros((), candle_core::DType::F32, &Device::Cpu).unwrap();
        for (b, wb) in w.iter().enumerate() {
            total = (total + (logits.get(b).unwrap() * wb).unwrap().sum_all().unwrap()).unwrap();
        }
        (total, logits)
    };
    // (a) values
    for d in 1..=5 {
        let (_, logits) = unrolled_loss(d);
        for (b, s) in streams.iter().enumerate() {
            let (naive, _) = naive_sequential(&gpt, &s[..t], false, false);
            assert!(max_diff(&logits.get(b).unwrap(), &naive) < 1e-4, "{mix:?}: D = {d}, row {b}");
        }
    }
    // (b) full backprop at D = k + 1 = 4
    let full = grads_of(&naive_loss(false), &varmap);
    let at = |d: usize| grads_of(&unrolled_loss(d).0, &varmap);
    let scale = full.iter().map(|g| max_diff(g, &g.zeros_like().unwrap())).fold(0f32, f32::max);
    assert!(grad_diff(&at(4), &full) < 1e-4 * scale.max(1.0), "{mix:?}: D = 4: {}", grad_diff(&at(4), &full));
    assert!(grad_diff(&at(5), &full) < 1e-4 * scale.max(1.0), "D = 5");
    assert!(grad_diff(&at(3), &full) > 1e-3 * scale, "D = 3 should miss the deepest chain's gradient");
    // (c) D = 1: thought inputs are constants
    let detached = grads_of(&naive_loss(true), &varmap);
    assert!(grad_diff(&at(1), &detached) < 1e-4 * scale.max(1.0), "D = 1: {}", grad_diff(&at(1), &detached));
    assert!(grad_diff(&detached, &full) > 1e-3 * scale, "detaching must change the gradient");
}

fn final_tensors(dir: &std::path::Path, file: &str) -> Vec<(String, Vec<f32>)> {
    let mut v: Vec<(String, Vec<f32>)> = candle_core::safetensors::load(dir.join("final").join(file), &Device::Cpu)
        .unwrap()
        .into_iter()
        .map(|(k, t)| (k, t.flatten_all().unwrap().to_vec1::<f32>().unwrap()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// A continuous episodic run end to end: it trains with `unroll = 2`, places its own thoughts at evaluation, logs
/// the unrolled passes' compute, and a stopped and resumed run ends bit-identical to an uninterrupted one.
#[test]
fn continuous_episodic_run_trains_evaluates_and_resumes_bit_identically() {
    for mix in MIXES {
        episodic_run_resumes(mix);
    }
}

fn episodic_run_resumes(mix: ThoughtMix) {
    let plan = tiny_plan_with(|p| {
        p.episode.mix = mix;
        p.episode.insertion =
            Insertion::FastForward { fallback: Fallback::BestRank, threshold: None, max_consecutive: 2 };
        p.episode.thoughts = ThoughtKind::Continuous;
        p.learn.unroll = 2;
        p.eval.placement = EvalPlacement::Own;
        (p.learn.steps, p.eval.every, p.eval.checkpoint_every) = (6, 3, 2);
    });
    let id = &plan.runs[0].id;
    let opts = |out: &std::path::Path| RunOptions::quiet(out.to_path_buf());
    let straight = scratch(&format!("continuous-straight-{mix:?}"));
    let done = run_plan(&plan, &opts(&straight)).unwrap();
    let eval = done.runs[0].eval.clone().unwrap();
    assert!(eval.real_nll.is_finite() && eval.thoughts.is_some(), "{eval:?}");
    let episodes = std::fs::read_to_string(straight.join(id).join("episodes.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(episodes.lines().next().unwrap()).unwrap();
    assert!(first["kept"].as_u64().unwrap() > 0, "the episode keeps thoughts: {first}");
    // The learning phase is two forward + backward passes (`unroll = 2`) over 8 sequences of 6 inputs plus the
    // kept thoughts; the episode phase's positions include the warm start.
    let learn_once = 3 * (8 * 6 + first["kept"].as_u64().unwrap());
    assert_eq!(first["positions"].as_u64().unwrap(), first["episode_positions"].as_u64().unwrap() + 2 * learn_once);

    let resumed = scratch(&format!("continuous-resumed-{mix:?}"));
    run_plan(&plan, &RunOptions { stop_after: Some(3), ..opts(&resumed) }).unwrap();
    let again = run_plan(&plan, &RunOptions { resume: true, ..opts(&resumed) }).unwrap();
    assert_eq!(again.runs[0].eval, done.runs[0].eval);
    for file in ["model.safetensors", "optimizer.safetensors"] {
        assert_eq!(final_tensors(&straight.join(id), file), final_tensors(&resumed.join(id), file), "{file}");
    }
    // The gated mix's projection is saved, and training moved it off zero.
    let tensors = final_tensors(&straight.join(id), "model.safetensors");
    let projection = tensors.iter().find(|(name, _)| name == "thought_mix.weight");
    match mix {
        ThoughtMix::Replace => assert!(projection.is_none()),
        ThoughtMix::Gated => assert!(projection.expect("saved").1.iter().any(|&w| w != 0.0), "the projection learned"),
    }
}
