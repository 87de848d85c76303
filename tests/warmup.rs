//! `episode.warmup`: the first steps of a `fast_forward` run are the warm-up rule's baseline steps, bit for bit,
//! and the episode phase takes over after them.

mod engine_support;

use engine_support::*;
use thinktok::engine::run::{run_plan, RunOptions};
use thinktok::plan::*;

const WARMUP: usize = 4;

/// Continuous thoughts with backprop through both pauses, as the warm-up runs of `specs/` use them.
fn continuous(p: &mut RunParams) {
    (p.episode.thoughts, p.learn.unroll, p.learn.steps) = (ThoughtKind::Continuous, 3, 8);
    (p.eval.every, p.eval.checkpoint_every) = (8, 8);
}

fn rule() -> Insertion {
    Insertion::AnswerPause { count: 2 }
}

fn warmed(p: &mut RunParams) {
    continuous(p);
    p.episode.insertion = Insertion::FastForward { fallback: Fallback::BestRank, threshold: None, max_consecutive: 2 };
    p.episode.warmup = Warmup { rule: rule(), steps: WARMUP };
    p.eval.placement = EvalPlacement::Own;
}

fn jsonl(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The weights after `WARMUP` steps (a checkpoint as if interrupted there) and the logged training losses.
fn after_warmup(name: &str, edit: impl FnOnce(&mut RunParams)) -> (Vec<u8>, Vec<f64>) {
    let out = scratch(name);
    let plan = tiny_plan_with(edit);
    let opts = RunOptions { stop_after: Some(WARMUP), ..RunOptions::quiet(out.clone()) };
    run_plan(&plan, &opts).unwrap();
    let dir = out.join(&plan.runs[0].id);
    let weights = std::fs::read(dir.join("checkpoint").join("model.safetensors")).unwrap();
    let losses = jsonl(&dir.join("metrics.jsonl")).iter().filter_map(|v| v["loss"].as_f64()).collect();
    (weights, losses)
}

#[test]
fn warmup_steps_are_the_rules_steps_bit_for_bit() {
    let (rule_weights, rule_losses) = after_warmup("warmup-rule", |p| {
        continuous(p);
        p.episode.insertion = rule();
    });
    let (warm_weights, warm_losses) = after_warmup("warmup-warmed", warmed);
    assert_eq!(rule_losses.len(), WARMUP);
    assert_eq!(warm_losses, rule_losses, "the warm-up trains as the rule does");
    assert!(warm_weights == rule_weights, "the weights after the warm-up are the rule's");
}

#[test]
fn episode_phase_takes_over_after_the_warmup() {
    let out = scratch("warmup-takeover");
    let plan = tiny_plan_with(warmed);
    run_plan(&plan, &RunOptions::quiet(out.clone())).unwrap();
    let lines = jsonl(&out.join(&plan.runs[0].id).join("episodes.jsonl"));
    assert_eq!(lines.len(), 8);
    for (i, l) in lines.iter().enumerate() {
        let warm = i < WARMUP;
        assert_eq!(l["warmup"], serde_json::json!(warm), "step {}", i + 1);
        assert_eq!(l["episode"], serde_json::json!(!warm), "step {}", i + 1);
        if warm {
            // Two pauses before every answer of the batch of 8, nothing reinforced or punished.
            assert_eq!(l["kept"], 16, "step {}", i + 1);
            assert_eq!(l["proposed"], 0);
            assert_eq!(l["loss_reinforce"], 0.0);
        } else {
            assert!(l["proposed"].as_u64().unwrap() > 0, "step {}: the episode proposes thoughts", i + 1);
        }
    }
}

#[test]
fn no_warmup_leaves_the_plan_and_the_log_as_before() {
    let p = tiny_params();
    let text = serde_json::to_string(&p).unwrap();
    assert!(!text.contains("warmup\":{"), "an off warm-up is not serialised: {text}");
    let mut on = p.clone();
    on.episode.warmup = Warmup { rule: rule(), steps: 2 };
    assert_ne!(on.identity(), p.identity());
    let back: RunParams = serde_json::from_str(&serde_json::to_string(&on).unwrap()).unwrap();
    assert_eq!(back, on);
}
