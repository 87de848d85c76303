//! Evaluation against naive references: accuracy equals token-by-token greedy decoding, and batched (padded) NLL
//! equals one-sequence-at-a-time NLL.

mod engine_support;

use candle_core::{Device, Tensor, D};
use engine_support::*;
use thinktok::engine::data;
use thinktok::engine::data::{Dataset, Role};
use thinktok::engine::eval::evaluate;
use thinktok::engine::eval::placer::{evaluate_with, Placer};
use thinktok::engine::learn::build_model;
use thinktok::engine::learn::checkpoint;
use thinktok::engine::model::CausalLm;
use thinktok::engine::run::{run_plan, RunOptions};
use thinktok::plan::*;

/// Greedy decoding the slow way: feed the prompt, append the argmax, repeat for the answer's length.
fn greedy_answer_is_right(model: &dyn CausalLm, tokens: &[u32], answer: usize, len: usize) -> bool {
    let mut context = tokens[..answer].to_vec();
    for _ in 0..len {
        let input = Tensor::from_slice(&context, (1, context.len()), &Device::Cpu).unwrap();
        let logits = model.forward(&input).unwrap().logits;
        let last = logits.narrow(1, context.len() - 1, 1).unwrap().flatten_all().unwrap();
        context.push(last.argmax(D::Minus1).unwrap().to_scalar::<u32>().unwrap());
    }
    context[answer..] == tokens[answer..answer + len]
}

#[test]
fn accuracy_equals_greedy_decoding_and_padding_changes_nothing() {
    let out = scratch("eval-parity");
    let task = TaskKind::Addition { terms: 2, digits: 1 };
    let plan = tiny_plan_with(|p| {
        p.data.train = DataSource::Task { task: task.clone(), count: 256, seed: 0 };
        p.data.test = DataSource::Task { task: task.clone(), count: 48, seed: 1 };
        p.learn.steps = 60;
        p.eval.every = 60;
        let Optimizer::AdamW { lr, .. } = &mut p.learn.optimizer;
        *lr = 1e-2;
    });
    run_plan(&plan, &RunOptions::quiet(out.clone())).unwrap();
    let ckpt = out.join(&plan.runs[0].id).join("final");
    let built = build_model(&plan.runs[0].params.model, &Device::Cpu, 0).unwrap();
    checkpoint::load_weights(&ckpt, &built.varmap, &Device::Cpu).unwrap();
    let model = built.model.as_ref();
    let test = data::load(&plan.runs[0].params.data.test, Role::Test, 16).unwrap();
    let whole = evaluate(model, &test, None).unwrap();

    let (mut right, mut nll_sum, mut tokens) = (0usize, 0f64, 0usize);
    for seq in &test.sequences {
        let one = Dataset { name: "one".into(), sequences: vec![seq.clone()] };
        let report = evaluate(model, &one, None).unwrap();
        let greedy = greedy_answer_is_right(model, &seq.tokens, seq.answer.unwrap(), seq.answer_len);
        assert_eq!(report.accuracy, Some(if greedy { 1.0 } else { 0.0 }), "{:?}", seq.tokens);
        right += usize::from(greedy);
        nll_sum += report.real_nll * report.n_tokens as f64;
        tokens += report.n_tokens;
    }
    assert_eq!(whole.accuracy, Some(right as f64 / 48.0));
    assert_eq!(whole.n_tokens, tokens);
    assert!((whole.real_nll - nll_sum / tokens as f64).abs() < 1e-5);
    // Both outcomes occur, so the comparison above tested something.
    assert!(right > 0 && right < 48, "{right} of 48 right");
    // The runs' own evaluation path (thought-aware, here with no thoughts) gives the same figures.
    let placed = evaluate_with(model, &test, &Placer::Rule(Insertion::None, 0), None).unwrap();
    assert_eq!(placed.accuracy, whole.accuracy);
    assert_eq!(placed.n_tokens, whole.n_tokens);
    assert!((placed.real_nll - whole.real_nll).abs() < 1e-5, "{} vs {}", placed.real_nll, whole.real_nll);
    assert_eq!(placed.thoughts.map(|t| t.thoughts_per_100), Some(0.0));
}

/// Figures per group of the data equal the figures of evaluating each group alone, with and without thoughts;
/// thoughts per example count each group's own thoughts.
#[test]
fn per_group_figures_equal_each_group_evaluated_alone() {
    let params = tiny_params();
    let built = build_model(&params.model, &Device::Cpu, 2).unwrap();
    let model = built.model.as_ref();
    let mut test = data::load(&params.data.test, Role::Test, 16).unwrap();
    // Two groups of different sizes, interleaved, so batching mixes them.
    for (i, seq) in test.sequences.iter_mut().enumerate() {
        seq.group = Some(if i % 3 == 0 { "hard".into() } else { "easy".into() });
    }
    let placers = [Placer::Rule(Insertion::None, 0), Placer::Rule(Insertion::Interval { every: 2 }, 0)];
    for placer in &placers {
        let whole = evaluate_with(model, &test, placer, None).unwrap();
        assert_eq!(whole.groups.keys().collect::<Vec<_>>(), ["easy", "hard"]);
        for (name, figures) in &whole.groups {
            let alone = Dataset {
                name: name.clone(),
                sequences: test.sequences.iter().filter(|s| s.group.as_deref() == Some(name)).cloned().collect(),
            };
            let report = evaluate_with(model, &alone, placer, None).unwrap();
            assert_eq!(figures.n_sequences, report.n_sequences);
            assert!((figures.real_nll - report.real_nll).abs() < 1e-5, "{name}: {figures:?} vs {report:?}");
            assert_eq!(figures.accuracy, report.accuracy);
            let thoughts = report.thoughts.unwrap();
            assert!((figures.thoughts_per_example.unwrap() - thoughts.thoughts_per_example).abs() < 1e-9);
            assert!((figures.thoughts_per_100.unwrap() - thoughts.thoughts_per_100).abs() < 1e-9);
        }
        assert_eq!(whole.groups.values().map(|g| g.n_sequences).sum::<usize>(), whole.n_sequences);
    }
    // The plain evaluation reports the same groups.
    let plain = evaluate(model, &test, None).unwrap();
    let placed = evaluate_with(model, &test, &placers[0], None).unwrap();
    for (name, g) in &plain.groups {
        assert!((g.real_nll - placed.groups[name].real_nll).abs() < 1e-5);
        assert_eq!(g.accuracy, placed.groups[name].accuracy);
    }
}
