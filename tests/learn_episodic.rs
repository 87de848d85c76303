//! The learning phase end to end, honest evaluation and sweep reports, on tiny models.

mod engine_support;

use candle_core::Device;
use engine_support::token_bias::{even_byte, TokenBias};
use engine_support::*;
use thinktok::engine::data::Sequence;
use thinktok::engine::episode::bias::ThoughtBias;
use thinktok::engine::episode::walk::Policy;
use thinktok::engine::episode::Placement;
use thinktok::engine::eval::placer::{evaluate_with, own_policy, place, Placer};
use thinktok::engine::learn::build_model;
use thinktok::engine::model::CausalLm;
use thinktok::engine::rng::Rng;
use thinktok::engine::run::{run_plan, RunOptions};
use thinktok::plan::*;

fn options(out: &std::path::Path) -> RunOptions {
    RunOptions::quiet(out.to_path_buf())
}

fn episodic(p: &mut RunParams) {
    p.episode.insertion = Insertion::FastForward { fallback: Fallback::BestRank, threshold: None, max_consecutive: 2 };
    p.eval.placement = EvalPlacement::Own;
}

/// The first `episodes.jsonl` line of a one-step episodic tiny run, after `edit`.
fn first_episode_line(name: &str, edit: impl FnOnce(&mut RunParams)) -> serde_json::Value {
    let out = scratch(name);
    let plan = tiny_plan_with(|p| {
        episodic(p);
        p.learn.steps = 1;
        p.eval.every = 1;
        edit(p);
    });
    run_plan(&plan, &options(&out)).unwrap();
    jsonl(&out.join(&plan.runs[0].id).join("episodes.jsonl"))[0].clone()
}

fn jsonl(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Changing only the tokens after position `i` leaves every placement decision up to `i` unchanged: the model's
/// own policy and the causal rules decide from the prefix alone. The model wants a thought exactly after even bytes
/// ([`TokenBias`]), so its own placement does depend on the tokens (checked: changing tokens before the change point
/// changes it), and a policy that peeked at `x[s]` when deciding slot `s` would differ (the changed tail flips the
/// parity of every token after `i`).
#[test]
fn evaluation_placement_cannot_see_the_future() {
    let params = tiny_params();
    let ModelConfig::Gpt(gpt) = &params.model else { panic!("a GPT run") };
    let gpt = GptConfig { context: 32, ..gpt.clone() };
    let built = build_model(&ModelConfig::Gpt(gpt), &Device::Cpu, 3).unwrap();
    let model = TokenBias::new(built.model, 5.5, even_byte);
    let own =
        Placer::Own(Policy { threshold: None, max_consecutive: 2, budget: 6, blocked: vec![], ..Default::default() });
    let rules =
        [Insertion::Random { per_sequence: 3 }, Insertion::Interval { every: 3 }, Insertion::AnswerPause { count: 2 }];
    let base: Vec<u32> = (0..14).map(|k| (k * 37 % 97) as u32 + 30).collect();
    let seq = |tokens: Vec<u32>| Sequence { tokens, answer: Some(5), answer_len: 3, group: None };
    let a = seq(base.clone());
    let own_a = place(&model, &[&a], &own, &mut Rng::new(1)).unwrap();
    let mut checked_thoughts = 0;
    let mut prefix_matters = false;
    for i in [3usize, 6, 9] {
        let mut changed = base.clone();
        for t in changed.iter_mut().skip(i + 1) {
            // 7t + 11 has the other parity than t.
            *t = (*t * 7 + 11) % 200;
        }
        let b = seq(changed);
        let mut placers = vec![own.clone()];
        placers.extend(rules.iter().map(|r| Placer::Rule(r.clone(), 0)));
        for placer in &placers {
            let pa = place(&model, &[&a], placer, &mut Rng::new(1)).unwrap();
            let pb = place(&model, &[&b], placer, &mut Rng::new(1)).unwrap();
            // Slots 1..=i are decided before x[i+1] is seen (slot i+1 is the gap before it).
            assert_eq!(pa[0].counts[..=i + 1], pb[0].counts[..=i + 1], "{} at i = {i}", placer.describe());
            checked_thoughts += pa[0].counts[..=i + 1].iter().map(|&c| usize::from(c)).sum::<usize>();
        }
        // The other way round: flipping the parity of the prefix's tokens moves the own thoughts before i + 1.
        let flipped = seq(base.iter().enumerate().map(|(k, &t)| if k <= i { t ^ 1 } else { t }).collect());
        let own_f = place(&model, &[&flipped], &own, &mut Rng::new(1)).unwrap();
        prefix_matters |= own_f[0].counts[..=i + 1] != own_a[0].counts[..=i + 1];
    }
    assert!(checked_thoughts > 0, "the test must place some thoughts to mean anything");
    assert!(prefix_matters, "the own placement must depend on the tokens, or the check above cannot fail");
    // After each even byte one thought (none after a thought, which is no byte), up to the budget of 6.
    let expect: Vec<u16> = (0..base.len())
        .scan(0, |n, s| {
            let want = s >= 1 && even_byte(base[s - 1]) && *n < 6;
            *n += usize::from(want);
            Some(u16::from(want))
        })
        .collect();
    assert_eq!(own_a[0].counts, expect, "the model thinks exactly after even bytes");
}

/// Thoughts add positions, never real tokens: the same data scores the same number of real targets under any
/// placement, and positions per real token counts the thoughts.
#[test]
fn thoughts_are_never_counted_as_real_tokens_at_evaluation() {
    let params = tiny_params();
    let built = build_model(&params.model, &Device::Cpu, 0).unwrap();
    let ModelConfig::Gpt(gpt) = &params.model else { panic!("a GPT run") };
    let data =
        thinktok::engine::data::load(&params.data.test, thinktok::engine::data::Role::Test, gpt.context).unwrap();
    let plain = evaluate_with(built.model.as_ref(), &data, &Placer::Rule(Insertion::None, 0), None).unwrap();
    let every =
        evaluate_with(built.model.as_ref(), &data, &Placer::Rule(Insertion::Interval { every: 2 }, 0), None).unwrap();
    assert_eq!(plain.n_tokens, every.n_tokens);
    let (tp, te) = (plain.thoughts.unwrap(), every.thoughts.unwrap());
    assert_eq!((tp.thoughts_per_100, tp.positions_per_real_token), (0.0, 1.0));
    assert!(te.thoughts_per_100 > 30.0, "{te:?}");
    assert!((te.positions_per_real_token - (1.0 + te.thoughts_per_100 / 100.0)).abs() < 1e-9);
    assert_ne!(plain.real_nll, every.real_nll, "thoughts change the predictions");
}

/// A short episodic run lowers the training loss and changes how often the model places thoughts itself.
#[test]
fn short_episodic_run_lowers_training_loss_and_changes_the_thought_rate() {
    let out = scratch("episodic-run");
    let plan = tiny_plan_with(|p| {
        episodic(p);
        p.learn.steps = 30;
        p.eval.every = 30;
        // A high learning rate so that 30 steps of a width-16 model learn where to think.
        let Optimizer::AdamW { lr, .. } = &mut p.learn.optimizer;
        *lr = 2e-2;
    });
    let run = &plan.runs[0];
    let ModelConfig::Gpt(gpt) = &run.params.model else { panic!("a GPT run") };
    let test =
        thinktok::engine::data::load(&run.params.data.test, thinktok::engine::data::Role::Test, gpt.context).unwrap();
    let fresh = build_model(&run.params.model, &Device::Cpu, run.params.seed).unwrap();
    let before = evaluate_with(fresh.model.as_ref(), &test, &Placer::for_run(&run.params), None).unwrap();

    let results = run_plan(&plan, &options(&out)).unwrap();
    let after = results.runs[0].eval.clone().unwrap();
    let lines = jsonl(&out.join(&run.id).join("episodes.jsonl"));
    assert_eq!(lines.len(), 30);
    let mean = |ls: &[serde_json::Value], k: &str| ls.iter().map(|l| l[k].as_f64().unwrap()).sum::<f64>() / 5.0;
    let (first, last) = (mean(&lines[..5], "loss_real"), mean(&lines[25..], "loss_real"));
    assert!(last < first - 0.5, "training loss {first} -> {last}");
    // Each step logs its episode: proposals, kept and culled, and a growing positions count.
    assert!(lines.iter().all(|l| l["episode"] == true && l["proposed"].as_u64().unwrap() > 0));
    assert!(lines[29]["positions"].as_u64() > lines[0]["positions"].as_u64());
    let rate = |r: &thinktok::engine::eval::EvalReport| r.thoughts.as_ref().unwrap().thoughts_per_100;
    // The fresh model never ranks the thought first, so the episodes' kept thoughts come from the fallback; the
    // reinforce term teaches the model to place them itself: from none to at least half a thought per held-out
    // sequence on average (1.3 on seed 0; a reinforce weight of 0.2 instead of 1 leaves 0.2), within the budget.
    let tokens_per_sequence = test.sequences.iter().map(|s| s.tokens.len()).sum::<usize>() as f64 / 32.0;
    let per_sequence = |r: &thinktok::engine::eval::EvalReport| rate(r) / 100.0 * tokens_per_sequence;
    assert_eq!(rate(&before), 0.0, "{:?}", before.thoughts);
    assert!(per_sequence(&after) > 0.5, "{:?}", after.thoughts);
    let budget = run.params.episode.thought_budget as f64;
    assert!(per_sequence(&after) <= budget + 1e-9, "{:?}", after.thoughts);
    assert_eq!(after.thoughts.as_ref().unwrap().placement, "own (fast-forward top-1)");
}

/// A sweep over seeds and methods writes the grouped report, the rich results and the curves.
#[test]
fn sweep_report_groups_seeds_and_writes_curves() {
    let out = scratch("report");
    let mut plan = tiny_plan_with(|p| p.learn.steps = 6);
    let base = plan.runs[0].params.clone();
    plan.axes = vec!["episode.insertion".into(), "seed".into()];
    plan.runs.clear();
    for (name, insertion) in [("none()", Insertion::None), ("interval(every = 2)", Insertion::Interval { every: 2 })] {
        for seed in 0..2u64 {
            let mut p = base.clone();
            p.seed = seed;
            p.episode.insertion = insertion.clone();
            let mut run = run_of(p, &format!("insertion={name} seed={seed}"));
            run.swept.insert("episode.insertion".into(), name.into());
            run.swept.insert("seed".into(), seed.to_string());
            plan.runs.push(run);
        }
    }
    run_plan(&plan, &options(&out)).unwrap();
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("| insertion=none() | 2 |"), "{report}");
    assert!(report.contains("| insertion=interval(every = 2) | 2 |"), "{report}");
    assert!(report.contains("seed spread"), "{report}");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["runs"].as_array().unwrap().len(), 4);
    assert_eq!(results["runs"][2]["params"]["episode"]["insertion"]["Interval"]["every"], 2);
    assert!(results["runs"][0]["train_positions"].as_f64().unwrap() > 0.0);
    let threads = results["runs"][0]["threads"].as_u64().expect("the training's thread count is recorded");
    assert!(report.contains(&format!("CPU threads per run: {threads}.")), "{report}");
    let svg = std::fs::read_to_string(out.join("curves.svg")).unwrap();
    assert!(svg.contains("insertion=none()") && svg.contains("insertion=interval(every = 2)"), "{svg}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<td>insertion=none()</td>"), "{html}");
}

/// The evaluation's NLL under the model's own placement equals the fast-forward's own log-likelihoods of the real
/// targets (one teacher-forced forward over the placed thoughts reproduces the walk's predictions).
#[test]
fn evaluation_nll_matches_the_fast_forward_walk() {
    use thinktok::engine::data::Dataset;
    use thinktok::engine::episode::fast_forward::fast_forward;
    let params = tiny_params();
    let built = build_model(&params.model, &Device::Cpu, 5).unwrap();
    let model = ThoughtBias::new(built.model.as_ref(), 5.0).unwrap();
    let seqs: Vec<Sequence> = (0..5u32)
        .map(|b| Sequence {
            tokens: (0..9).map(|k| 40 + (k * 13 + b * 7) % 50).collect(),
            answer: Some(6),
            answer_len: 2,
            group: None,
        })
        .collect();
    let policy = Policy { threshold: None, max_consecutive: 2, budget: 3, blocked: vec![], ..Default::default() };
    let tokens: Vec<Vec<u32>> = seqs.iter().map(|s| s.tokens.clone()).collect();
    let (walked, _) = fast_forward(&model, &tokens, None, &policy, 4).unwrap();
    let mut nll = 0f64;
    let mut n = 0;
    for (s, w) in seqs.iter().zip(&walked) {
        for i in 1..s.tokens.len() {
            if s.is_target(i) {
                nll -= f64::from(w.ll[i]);
                n += 1;
            }
        }
    }
    assert!(walked.iter().map(|w| w.placement.total()).sum::<usize>() > 0);
    let data = Dataset { name: "hand-made".into(), sequences: seqs };
    let report = evaluate_with(&model, &data, &Placer::Own(policy), None).unwrap();
    assert_eq!(report.n_tokens, n);
    assert!((report.real_nll - nll / n as f64).abs() < 1e-4, "{} vs {}", report.real_nll, nll / n as f64);
}

/// `learn.thought_norm = per_real_token` turns the reinforce / punish means over thought targets into sums per real
/// target: on the same first step (same model, batch and episode) the terms scale by kept / real and culled / real.
#[test]
fn thought_norm_per_real_token_rescales_the_thought_terms() {
    let first = |norm: ThoughtNorm, name: &str| first_episode_line(name, |p| p.learn.thought_norm = norm);
    let (mean, per_real) =
        (first(ThoughtNorm::PerThought, "norm-thought"), first(ThoughtNorm::PerRealToken, "norm-real"));
    let f = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap();
    // 8 sequences of sum3 with 4 digits: the answer and the end-of-text are the real targets, 16 in all.
    let (kept, culled) = (f(&mean, "kept"), f(&mean, "culled"));
    assert!(kept > 0.0 && culled > 0.0, "{mean}");
    assert_eq!(f(&mean, "loss_real"), f(&per_real, "loss_real"));
    assert!((f(&per_real, "loss_reinforce") - f(&mean, "loss_reinforce") * kept / 16.0).abs() < 1e-5, "{per_real}");
    assert!((f(&per_real, "loss_punish") - f(&mean, "loss_punish") * culled / 16.0).abs() < 1e-6, "{per_real}");
}

/// `episode.slots = targets` holds at evaluation too: the model's own placement puts thoughts only inside each
/// sequence's answer (its scored tokens), however much it wants them in the prompt.
#[test]
fn own_placement_with_slots_targets_stays_inside_the_answer() {
    let params = tiny_params();
    let built = build_model(&params.model, &Device::Cpu, 4).unwrap();
    let model = ThoughtBias::new(built.model.as_ref(), 8.0).unwrap();
    let mut ep = params.episode.clone();
    ep.insertion = Insertion::FastForward { fallback: Fallback::BestRank, threshold: None, max_consecutive: 2 };
    ep.thought_budget = 4;
    let seqs: Vec<Sequence> = [3usize, 5, 7]
        .iter()
        .map(|&answer| Sequence {
            tokens: (0..10).map(|k| 40 + k * 3).collect(),
            answer: Some(answer),
            answer_len: 2,
            group: None,
        })
        .collect();
    let refs: Vec<&Sequence> = seqs.iter().collect();
    let everywhere =
        place(&model, &refs, &Placer::Own(thinktok::engine::eval::placer::own_policy(&ep, None)), &mut Rng::new(0))
            .unwrap();
    assert!(everywhere.iter().all(|p| p.counts[1] > 0), "without the rule the biased model thinks at once");
    ep.slots = Slots::Targets;
    let inside =
        place(&model, &refs, &Placer::Own(thinktok::engine::eval::placer::own_policy(&ep, None)), &mut Rng::new(0))
            .unwrap();
    for (s, p) in seqs.iter().zip(&inside) {
        let answer = s.answer.unwrap();
        assert!(p.counts[..answer].iter().all(|&c| c == 0), "{:?} before the answer at {answer}", p.counts);
        assert!(p.total() > 0, "thoughts inside the answer");
    }
}

/// `fit_threshold` picks, on the training sequences only, the candidate placement with the lowest real-token NLL
/// there (no thoughts, each τ, top-1): the choice equals a brute-force minimum over the candidates, does not
/// depend on the evaluation data, and an unfitted placer is an error, not a panic.
#[test]
fn fitted_threshold_is_the_training_minimum_and_ignores_the_evaluation_data() {
    use thinktok::engine::data::Dataset;
    use thinktok::engine::eval::placer::{evaluate_run, fit, own_policy};
    let mut params = tiny_params();
    episodic(&mut params);
    params.episode.thought_budget = 3;
    params.eval.placement = EvalPlacement::FitThreshold { sequences: 6 };
    let built = build_model(&params.model, &Device::Cpu, 5).unwrap();
    let set = |seed: u32| Dataset {
        name: format!("hand-made {seed}"),
        sequences: (0..8u32)
            .map(|b| Sequence {
                tokens: (0..9).map(|k| 40 + (k * 13 + b * 7 + seed * 11) % 50).collect(),
                answer: Some(5),
                answer_len: 3,
                group: None,
            })
            .collect(),
    };
    let (train, test_a, test_b) = (set(0), set(1), set(2));
    let mut peeking_differs = false;
    // Biases from "never wants a thought" to "always wants one": the fit must follow the training NLL each time.
    for bias in [0.0f32, 2.0, 4.0, 8.0] {
        let model = ThoughtBias::new(built.model.as_ref(), bias).unwrap();
        let ep = &params.episode;
        let mut cands = vec![(Placer::Rule(Insertion::None, 0), "none".to_string())];
        cands.extend(FIT_CANDIDATES.iter().map(|&t| (Placer::Own(own_policy(ep, Some(t))), format!("> {t})"))));
        cands.push((Placer::Own(own_policy(ep, None)), "top-1".to_string()));
        let nlls: Vec<f64> =
            cands.iter().map(|(c, _)| evaluate_with(&model, &train, c, Some(6)).unwrap().real_nll).collect();
        let best = nlls.iter().cloned().fold(f64::INFINITY, f64::min);
        let first_best = nlls.iter().position(|&n| n == best).unwrap();
        let fitted = fit(&model, Placer::for_run(&params), Some(&train)).unwrap();
        let Placer::Fitted { train_nll, .. } = &fitted else { panic!("not fitted: {}", fitted.describe()) };
        assert_eq!(*train_nll, best, "bias {bias}");
        let described = fitted.describe();
        let expect = match first_best {
            0 => "no thoughts".to_string(),
            i => cands[i].0.describe(),
        };
        assert!(described.starts_with(&expect), "bias {bias}: {described} vs {expect} ({})", cands[first_best].1);
        // The run's evaluation fits on the training data it is given, whatever it evaluates: fitting on the
        // evaluation data instead would choose by each test set's own minimum.
        for test in [&test_a, &test_b] {
            let r = evaluate_run(&model, test, &params, None, Some(&train)).unwrap();
            assert_eq!(r.thoughts.as_ref().unwrap().placement, described, "bias {bias} on {}", test.name);
            let on_test = fit(&model, Placer::for_run(&params), Some(test)).unwrap();
            peeking_differs |= on_test.describe() != described;
        }
    }
    assert!(peeking_differs, "some fit on a test set differs from the training fit, so the check above can fail");
    let unfitted = evaluate_with(built.model.as_ref(), &test_a, &Placer::for_run(&params), None);
    assert!(format!("{:#}", unfitted.unwrap_err()).contains("fitted on training data"));
    assert!(fit(built.model.as_ref(), Placer::for_run(&params), None).is_err());
}

/// Diagnostic, not a check: the held-out figures of a finished run's checkpoint (`THINKTOK_CKPT=OUT/<id>/final`)
/// under its own policy, the oracle (peeking) placement and no thoughts. Run with `--ignored --nocapture`.
#[test]
#[ignore = "diagnostic for a trained checkpoint named by THINKTOK_CKPT"]
fn diagnose_checkpoint_placements() {
    use thinktok::engine::data::{self, data_context};
    use thinktok::engine::learn::checkpoint;
    let Some(dir) = std::env::var_os("THINKTOK_CKPT") else { return };
    let (dir, meta) = checkpoint::read_meta(std::path::Path::new(&dir)).unwrap();
    let params = &meta.run.params;
    let built = build_model(&params.model, &Device::Cpu, params.seed).unwrap();
    checkpoint::load_weights(&dir, &built.varmap, &Device::Cpu).unwrap();
    let test = data::load(&params.data.test, data::Role::Test, data_context(params, &params.data.test)).unwrap();
    let n = Some(500);
    let mut oracle = params.clone();
    oracle.eval.placement = EvalPlacement::Oracle;
    for (name, placer) in [
        ("own", Placer::for_run(params)),
        ("oracle", Placer::for_run(&oracle)),
        ("none", Placer::Rule(Insertion::None, 0)),
    ] {
        let r = evaluate_with(built.model.as_ref(), &test, &placer, n).unwrap();
        println!("{name}: nll {:.4} accuracy {:?} {:?}", r.real_nll, r.accuracy, r.thoughts);
    }
    let seqs: Vec<&Sequence> = test.sequences.iter().take(6).collect();
    let own = place(built.model.as_ref(), &seqs, &Placer::for_run(params), &mut Rng::new(0)).unwrap();
    for (s, p) in seqs.iter().zip(own) {
        println!("{:?} -> {:?}", thinktok::engine::data::tokenizer::decode(&s.tokens), p.counts);
    }
}

/// With `learn.real_loss = own` the real tokens are learned under the model's own placement, not the kept one: a
/// fresh model that places no thought itself sees its first step's real-token loss equal plain training's on the
/// same batch, while the kept placement (which holds thoughts) gives a different one. `own_and_plain` averages the
/// own placement's loss with the loss without thoughts (equal here) in one more pass over the batch, `kept_and_plain`
/// the kept placement's with it. A model that
/// does place thoughts itself: `real_loss_own_is_the_loss_under_the_models_own_placement`.
#[test]
fn real_loss_on_own_placement_ignores_the_kept_thoughts() {
    let first_line = |real_loss: RealLoss, name: &str| {
        let line = first_episode_line(name, |p| p.learn.real_loss = real_loss);
        assert!(line["kept"].as_u64().unwrap() > 0, "the episode keeps thoughts");
        line
    };
    let first_real = |real_loss: RealLoss, name: &str| first_line(real_loss, name)["loss_real"].as_f64().unwrap();
    let plain = {
        let out = scratch("real-loss-plain");
        let plan = tiny_plan_with(|p| {
            p.learn.steps = 2;
            p.eval.every = 2;
        });
        run_plan(&plan, &options(&out)).unwrap();
        let lines = jsonl(&out.join(&plan.runs[0].id).join("metrics.jsonl"));
        lines[0]["loss"].as_f64().unwrap()
    };
    let (own, kept) = (first_real(RealLoss::Own, "real-loss-own"), first_real(RealLoss::Kept, "real-loss-kept"));
    assert!((own - plain).abs() < 1e-5, "own {own} vs plain {plain}");
    assert!((kept - plain).abs() > 1e-4, "kept {kept} vs plain {plain}");
    let own_line = first_line(RealLoss::Own, "real-loss-own2");
    let both = first_line(RealLoss::OwnAndPlain, "real-loss-both");
    assert!((both["loss_real"].as_f64().unwrap() - plain).abs() < 1e-5, "{both} vs plain {plain}");
    // One more forward + backward over 8 sequences of 7 real tokens (6 input positions each), counted as 3 ×.
    let extra = both["positions"].as_u64().unwrap() - own_line["positions"].as_u64().unwrap();
    assert_eq!(extra, 3 * 8 * 6);
    // `plain`: the real tokens only without thoughts, the thought targets still from the kept placement.
    let kept_line = first_line(RealLoss::Kept, "real-loss-kept2");
    let plain_only = first_line(RealLoss::Plain, "real-loss-plain-only");
    assert!((plain_only["loss_real"].as_f64().unwrap() - plain).abs() < 1e-5, "{plain_only} vs plain {plain}");
    assert_eq!(plain_only["loss_reinforce"], kept_line["loss_reinforce"]);
    let extra = plain_only["positions"].as_u64().unwrap() - kept_line["positions"].as_u64().unwrap();
    assert_eq!(extra, 3 * 8 * 6);
    // `kept_and_plain`: the mean of the kept placement's loss and the plain one, in one more plain pass.
    let kept_plain = first_line(RealLoss::KeptAndPlain, "real-loss-kept-plain");
    let mean = (kept + plain) / 2.0;
    assert!((kept_plain["loss_real"].as_f64().unwrap() - mean).abs() < 1e-5, "{kept_plain} vs ({kept} + {plain}) / 2");
    assert_eq!(kept_plain["loss_reinforce"], kept_line["loss_reinforce"]);
    let extra = kept_plain["positions"].as_u64().unwrap() - kept_line["positions"].as_u64().unwrap();
    assert_eq!(extra, 3 * 8 * 6);
    // Between episodes (`every = 2`, step 2) `plain` trains without thoughts: no fast-forward, one plain pass.
    let out = scratch("real-loss-plain-between");
    let plan = tiny_plan_with(|p| {
        episodic(p);
        (p.learn.steps, p.eval.every, p.episode.every) = (2, 2, 2);
        p.learn.real_loss = RealLoss::Plain;
    });
    run_plan(&plan, &options(&out)).unwrap();
    let lines = jsonl(&out.join(&plan.runs[0].id).join("episodes.jsonl"));
    assert_eq!((lines[1]["episode"].as_bool(), lines[1]["episode_positions"].as_u64()), (Some(false), Some(0)));
    let step2 = lines[1]["positions"].as_u64().unwrap() - lines[0]["positions"].as_u64().unwrap();
    assert_eq!(step2, 3 * 8 * 6, "one forward + backward over the plain batch");
}

/// The mean NLL of the real targets of `seqs` under `placements`, one unpadded forward per sequence: every target the
/// data scores weighs 1 (a mean over the batch's real targets, as the learning step's), thoughts never count.
fn real_nll_under(model: &dyn CausalLm, seqs: &[&Sequence], placements: &[Placement]) -> f64 {
    let (mut sum, mut n) = (0f64, 0usize);
    for (s, p) in seqs.iter().zip(placements) {
        let stream = p.augment(&s.tokens);
        let x = candle_core::Tensor::from_vec(stream.clone(), (1, stream.len()), &Device::Cpu).unwrap();
        let logits = model.forward(&x).unwrap().logits;
        let logp = candle_nn::ops::log_softmax(&logits, candle_core::D::Minus1).unwrap();
        let logp = logp.squeeze(0).unwrap().to_vec2::<f32>().unwrap();
        let mut real = 0;
        for q in 1..stream.len() {
            if stream[q] == THOUGHT_ID {
                continue;
            }
            real += 1;
            if s.is_target(real) {
                sum -= f64::from(logp[q - 1][stream[q] as usize]);
                n += 1;
            }
        }
    }
    sum / n as f64
}

/// `learn.real_loss = own` and `own_and_plain` on a model that places thoughts itself: a fresh model that thinks
/// after even bytes ([`TokenBias`]) takes one episodic step, and the real-token loss it logs is the NLL of the real
/// targets under its own fast-forward placement (computed here with one plain forward per sequence), or the mean of
/// that and the NLL without thoughts, not the loss under the episode's kept placement nor without thoughts.
#[test]
fn real_loss_own_is_the_loss_under_the_models_own_placement() {
    use thinktok::engine::data::{data_context, load, Role, Sampler};
    use thinktok::engine::episode::default_chunk;
    use thinktok::engine::episode::fast_forward::fast_forward;
    use thinktok::engine::learn::episodic::Episodic;
    use thinktok::engine::learn::{Built, Trainer};
    let mut params = tiny_params();
    episodic(&mut params);
    let train = load(&params.data.train, Role::Train, data_context(&params, &params.data.train)).unwrap();
    // One step of a fresh trainer with `real_loss`: its `loss_real`, and what this test expects for `own` and without
    // thoughts on the same batch, computed on the same model before the step.
    let step = |real_loss: RealLoss| {
        let mut p = params.clone();
        p.learn.real_loss = real_loss;
        let built = build_model(&p.model, &Device::Cpu, p.seed).unwrap();
        let model: Box<dyn CausalLm> = Box::new(TokenBias::new(built.model, 5.5, even_byte));
        let mut trainer =
            Trainer::new(Built { model, varmap: built.varmap, tokenizer: built.tokenizer }, &p.learn).unwrap();
        let mut sampler = Sampler::new(train.sequences.len(), p.seed);
        let seqs: Vec<&Sequence> =
            sampler.clone().next_batch(p.learn.batch).into_iter().map(|i| &train.sequences[i]).collect();
        let model = trainer.built.model.as_ref();
        let tokens: Vec<Vec<u32>> = seqs.iter().map(|s| s.tokens.clone()).collect();
        let policy = own_policy(&p.episode, None).for_rows(seqs.iter().map(|s| s.answer));
        let own: Vec<Placement> = fast_forward(model, &tokens, None, &policy, default_chunk(model.device()))
            .unwrap()
            .0
            .into_iter()
            .map(|s| s.placement)
            .collect();
        // The model thinks after each even byte (no thought after a thought), up to the budget.
        for (s, pl) in seqs.iter().zip(&own) {
            let mut left = p.episode.thought_budget;
            let expect: Vec<u16> = (0..s.tokens.len())
                .map(|k| {
                    let want = k >= 1 && even_byte(s.tokens[k - 1]) && left > 0;
                    left -= usize::from(want);
                    u16::from(want)
                })
                .collect();
            assert_eq!(pl.counts, expect, "{:?}", s.tokens);
        }
        assert!(own.iter().map(Placement::total).sum::<usize>() >= seqs.len(), "the model places thoughts itself");
        let empty: Vec<Placement> = seqs.iter().map(|s| Placement::empty(s.tokens.len())).collect();
        let (on_own, plain) = (real_nll_under(model, &seqs, &own), real_nll_under(model, &seqs, &empty));
        let out = scratch(&format!("own-placed-{real_loss:?}"));
        let mut ep = Episodic::for_run(&p, &out, 0).unwrap().unwrap();
        ep.step(&mut trainer, 0, &train, &mut sampler, &mut Rng::derive(p.seed, "train")).unwrap();
        let line = jsonl(&out.join("episodes.jsonl"))[0].clone();
        assert!(line["kept"].as_u64().unwrap() > 0, "the episode keeps thoughts: {line}");
        (line["loss_real"].as_f64().unwrap(), on_own, plain)
    };
    let (own, on_own, plain) = step(RealLoss::Own);
    assert!((on_own - plain).abs() > 1e-3, "the own thoughts change the loss: {on_own} vs {plain}");
    assert!((own - on_own).abs() < 1e-4, "own {own} vs the own placement's {on_own} (plain {plain})");
    let (kept, ..) = step(RealLoss::Kept);
    assert!((kept - on_own).abs() > 1e-3, "the kept placement is another one: {kept} vs {on_own}");
    let (both, ..) = step(RealLoss::OwnAndPlain);
    let mean = (on_own + plain) / 2.0;
    assert!((both - mean).abs() < 1e-4, "own_and_plain {both} vs ({on_own} + {plain}) / 2");
}
