//! Training, checkpoints and resume on a tiny model: the loop learns, accumulation equals one big batch, and a run
//! stopped and resumed ends bit-identical to an uninterrupted one.

mod engine_support;

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use engine_support::*;
use thinktok::engine::data::{self, HostBatch, Role, Sequence};
use thinktok::engine::eval::placer::{evaluate_with, Placer};
use thinktok::engine::learn::{build_model, learning_rate, Trainer};
use thinktok::engine::run::{run_plan, RunOptions};
use thinktok::plan::*;

fn options(out: &Path) -> RunOptions {
    RunOptions::quiet(out.to_path_buf())
}

fn tensors(path: &Path) -> HashMap<String, Vec<f32>> {
    candle_core::safetensors::load(path, &Device::Cpu)
        .unwrap()
        .into_iter()
        .map(|(k, t)| (k, t.flatten_all().unwrap().to_vec1::<f32>().unwrap()))
        .collect()
}

#[test]
fn schedule_warms_up_then_decays_to_the_floor() {
    let opt = Optimizer::AdamW {
        lr: 1.0,
        warmup: 4,
        weight_decay: 0.0,
        beta1: 0.9,
        beta2: 0.99,
        eps: 1e-8,
        schedule: Schedule::Cosine { min_lr_frac: 0.1 },
    };
    assert_eq!(learning_rate(&opt, 0, 13), 0.25);
    assert_eq!(learning_rate(&opt, 3, 13), 1.0);
    assert_eq!(learning_rate(&opt, 4, 13), 1.0);
    assert!((learning_rate(&opt, 8, 13) - 0.55).abs() < 1e-12);
    assert!((learning_rate(&opt, 12, 13) - 0.1).abs() < 1e-12);
}

#[test]
fn accumulated_micro_batches_equal_one_big_batch() {
    let params = tiny_params();
    let data = data::load(&params.data.train, Role::Train, 16).unwrap();
    let seqs: Vec<&Sequence> = data.sequences[..8].iter().collect();
    let batch = |s: &[&Sequence]| {
        let host = HostBatch::new(s);
        (host.to_device(&Device::Cpu).unwrap(), host.n_targets() as f64)
    };
    let mut one = Trainer::new(build_model(&params.model, &Device::Cpu, 0).unwrap(), &params.learn).unwrap();
    let mut two = Trainer::new(build_model(&params.model, &Device::Cpu, 0).unwrap(), &params.learn).unwrap();
    let a = one.step(0, &[batch(&seqs)]).unwrap();
    let b = two.step(0, &[batch(&seqs[..3]), batch(&seqs[3..])]).unwrap();
    assert!((a.loss - b.loss).abs() < 1e-5, "{} vs {}", a.loss, b.loss);
    assert!((a.grad_norm - b.grad_norm).abs() < 1e-5);
    for ((name, x), (_, y)) in one.optimizer.vars().zip(two.optimizer.vars()) {
        let diff = (x.as_tensor() - y.as_tensor()).unwrap().abs().unwrap().max_all().unwrap();
        assert!(diff.to_scalar::<f32>().unwrap() < 1e-6, "{name}");
    }
}

/// Training learns the task's format: a fresh model is near uniform over 260 tokens (ln 260 ≈ 5.56 nats per scored
/// token), the trained one puts nearly all its mass on `T` or `F` at the answer and on end-of-text after it, and its
/// held-out NLL comes within 0.05 nats of the best format-only predictor (the answer at the training data's class
/// frequencies, a certain end-of-text: ln 2 / 2 on balanced classes). sum3 itself is beyond a width-16 model in 80
/// steps (held-out accuracy 0.5–0.56 over seeds 0–5), so the format is what the loop can show it learns. A bound like
/// `real_nll < 1.5` passes a model that gives 40 % of the answer's mass to tokens that are never an answer.
#[test]
fn training_lowers_the_held_out_loss() {
    let out = scratch("learns");
    let plan = tiny_plan_with(|p| {
        p.learn.steps = 80;
        p.eval.every = 80;
        let Optimizer::AdamW { lr, .. } = &mut p.learn.optimizer;
        *lr = 1e-2;
    });
    let params = &plan.runs[0].params;
    let (train, test) = (
        data::load(&params.data.train, Role::Train, 16).unwrap(),
        data::load(&params.data.test, Role::Test, 16).unwrap(),
    );
    let fresh = evaluate_with(
        build_model(&params.model, &Device::Cpu, params.seed).unwrap().model.as_ref(),
        &test,
        &Placer::Rule(Insertion::None, 0),
        None,
    )
    .unwrap();
    assert!((fresh.real_nll - (VOCAB_SIZE as f64).ln()).abs() < 0.5, "{fresh:?}");
    let results = run_plan(&plan, &options(&out)).unwrap();
    let eval = results.runs[0].eval.clone().unwrap();
    assert_eq!(eval.n_tokens, 32 * 2, "answer and end-of-text per sequence");
    // The best predictor that knows only the format: each class at its training frequency, then end-of-text.
    let answer = |s: &Sequence| s.tokens[s.answer.unwrap()];
    let freq = |t: u32| train.sequences.iter().filter(|s| answer(s) == t).count() as f64 / train.sequences.len() as f64;
    let floor = test.sequences.iter().map(|s| -freq(answer(s)).ln()).sum::<f64>() / eval.n_tokens as f64;
    assert!((floor - std::f64::consts::LN_2 / 2.0).abs() < 0.01, "balanced classes: {floor}");
    assert!(eval.real_nll < floor + 0.05, "{eval:?} vs the format-only {floor}");
    let (letter, eot) = format_mass(params, &out.join(&plan.runs[0].id).join("final"), &test);
    assert!(letter > 0.95 && eot > 0.95, "mass on T or F {letter}, on end-of-text {eot}");
    assert!((eval.bits_per_token - eval.real_nll / std::f64::consts::LN_2).abs() < 1e-12);
    assert!(eval.accuracy.is_some());
    let metrics = std::fs::read_to_string(out.join(&plan.runs[0].id).join("metrics.jsonl")).unwrap();
    assert!(metrics.lines().count() >= 80);
    assert!(out.join(&plan.runs[0].id).join("final/model.safetensors").is_file());
    assert!(out.join("results.json").is_file());
}

#[test]
fn stopped_and_resumed_run_ends_bit_identical() {
    let plan = tiny_plan();
    let id = &plan.runs[0].id;
    let straight = scratch("straight");
    run_plan(&plan, &options(&straight)).unwrap();

    let resumed = scratch("resumed");
    let stopped = run_plan(&plan, &RunOptions { stop_after: Some(5), ..options(&resumed) }).unwrap();
    assert_eq!((stopped.runs[0].status.as_str(), stopped.runs[0].steps), ("stopped", 5));
    // Without --resume an interrupted run is refused, not silently restarted.
    let err = run_plan(&plan, &options(&resumed)).unwrap_err();
    assert!(format!("{err:#}").contains("--resume"), "{err:#}");
    // The stopped invocation saved its wall time; pretend it took 1000 s: the run's total must count it.
    let wall = resumed.join(id).join("wall_s.txt");
    let first: f64 = std::fs::read_to_string(&wall).unwrap().parse().unwrap();
    assert_eq!(first, stopped.runs[0].wall_s);
    std::fs::write(&wall, "1000").unwrap();
    let done = run_plan(&plan, &RunOptions { resume: true, ..options(&resumed) }).unwrap();
    assert_eq!((done.runs[0].status.as_str(), done.runs[0].steps), ("finished", 12));
    assert!(
        done.runs[0].wall_s > 1000.0,
        "the resumed run's wall time {} leaves out the first part",
        done.runs[0].wall_s
    );

    for file in ["model.safetensors", "optimizer.safetensors"] {
        let a = tensors(&straight.join(id).join("final").join(file));
        let b = tensors(&resumed.join(id).join("final").join(file));
        assert_eq!(a.len(), b.len());
        for (name, values) in &a {
            assert_eq!(values, &b[name], "{file}: {name} differs");
        }
    }
    let metrics = |dir: &Path| std::fs::read_to_string(dir.join(id).join("metrics.jsonl")).unwrap();
    let strip = |text: String| -> Vec<String> {
        text.lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                v.as_object_mut().unwrap().remove("tokens_per_s");
                v.to_string()
            })
            .collect()
    };
    assert_eq!(strip(metrics(&straight)), strip(metrics(&resumed)));

    // A finished run is skipped; --force reruns it.
    let again = run_plan(&plan, &options(&resumed)).unwrap();
    assert_eq!(again.runs[0].status, "skipped");
    assert_eq!(again.runs[0].eval, done.runs[0].eval);
    let forced = run_plan(&plan, &RunOptions { force: true, ..options(&resumed) }).unwrap();
    assert_eq!(forced.runs[0].status, "finished");
    assert_eq!(forced.runs[0].eval, done.runs[0].eval);
}

#[test]
fn gradient_reaches_every_parameter_through_the_training_loss() {
    let params = tiny_params();
    let data = data::load(&params.data.train, Role::Train, 16).unwrap();
    let seqs: Vec<&Sequence> = data.sequences[..4].iter().collect();
    // Text targets reach every position (an answer-only loss would still reach every weight, but less directly).
    let text: Vec<Sequence> = seqs.iter().map(|s| Sequence::text(s.tokens.clone())).collect();
    let refs: Vec<&Sequence> = text.iter().collect();
    let host = HostBatch::new(&refs);
    let batch = host.to_device(&Device::Cpu).unwrap();
    let built = build_model(&params.model, &Device::Cpu, 0).unwrap();
    let logits = built.model.forward(&batch.tokens).unwrap().logits;
    let loss = thinktok::engine::learn::weighted_nll_sum(&logits, &batch.targets, &batch.loss_weights).unwrap();
    let grads = loss.backward().unwrap();
    let vars = built.varmap.data().lock().unwrap();
    assert!(!vars.is_empty());
    for (name, var) in vars.iter() {
        let g: &Tensor = grads.get(var).unwrap_or_else(|| panic!("no gradient for {name}"));
        let norm = g.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(norm > 0.0, "zero gradient for {name}");
    }
}

#[test]
fn text_and_jsonl_sources_train_end_to_end() {
    let dir = scratch("text-train");
    std::fs::write(dir.join("corpus.txt"), "the cat sat on the mat. ".repeat(40)).unwrap();
    std::fs::write(
        dir.join("test.jsonl"),
        "{\"text\": \"the cat sat\"}\n{\"prompt\": \"the \", \"answer\": \"cat\"}\n",
    )
    .unwrap();
    let corpus = dir.join("corpus.txt").display().to_string();
    let plan = tiny_plan_with(|p| {
        p.data.train = DataSource::Text { path: corpus.clone(), split: TextSplit::Train, holdout: 0.2 };
        p.data.test = DataSource::Text { path: corpus.clone(), split: TextSplit::Test, holdout: 0.2 };
    });
    let results = run_plan(&plan, &options(&dir.join("out"))).unwrap();
    let eval = results.runs[0].eval.clone().unwrap();
    assert_eq!(eval.accuracy, None, "plain text has no answers");
    assert!(eval.n_tokens > 0 && eval.real_nll.is_finite());

    let plan = tiny_plan_with(|p| {
        p.data.train = DataSource::Text { path: corpus.clone(), split: TextSplit::Train, holdout: 0.2 };
        p.data.test = DataSource::Jsonl { path: dir.join("test.jsonl").display().to_string() };
    });
    let results = run_plan(&plan, &options(&dir.join("out2"))).unwrap();
    let eval = results.runs[0].eval.clone().unwrap();
    // "the cat sat" + end-of-text: 11 targets; the answer "cat" + end-of-text: 4.
    assert_eq!(eval.n_tokens, 11 + 4);
    assert!(eval.accuracy.is_some());
}

/// Mean probabilities the model at `dir` gives, over `data`, to "T or F" at the answer and to end-of-text after it.
fn format_mass(params: &RunParams, dir: &Path, data: &data::Dataset) -> (f64, f64) {
    let built = build_model(&params.model, &Device::Cpu, params.seed).unwrap();
    thinktok::engine::learn::checkpoint::load_weights(dir, &built.varmap, &Device::Cpu).unwrap();
    let (mut letter, mut eot) = (0f64, 0f64);
    for s in &data.sequences {
        let n = s.tokens.len();
        let x = Tensor::from_vec(s.tokens.clone(), (1, n), &Device::Cpu).unwrap();
        let logits = built.model.forward(&x).unwrap().logits;
        let p = candle_nn::ops::softmax(&logits, candle_core::D::Minus1)
            .unwrap()
            .squeeze(0)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let a = s.answer.unwrap();
        letter += f64::from(p[a - 1][b'T' as usize] + p[a - 1][b'F' as usize]);
        eot += f64::from(p[a][EOT_ID as usize]);
    }
    let k = data.sequences.len() as f64;
    (letter / k, eot / k)
}
