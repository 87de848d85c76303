//! Compute is counted one way: every run logs `positions` in `metrics.jsonl` (padding excluded, forward 1,
//! backward 2), and the plan's estimate of it (`train_positions_per_step`) matches what short runs log.

mod engine_support;

use engine_support::*;
use thinktok::check::estimate::estimate;
use thinktok::engine::run::{run_plan, RunOptions};
use thinktok::plan::*;

const STEPS: usize = 6;

/// `positions` of the last `metrics.jsonl` line of a tiny run of `STEPS` steps after `edit`, and its estimate.
fn logged_and_estimated(name: &str, edit: impl FnOnce(&mut RunParams)) -> (f64, f64) {
    let out = scratch(name);
    let plan = tiny_plan_with(|p| {
        (p.learn.steps, p.eval.every) = (STEPS, STEPS);
        edit(p);
    });
    let opts = RunOptions::quiet(out.clone());
    run_plan(&plan, &opts).unwrap();
    let text = std::fs::read_to_string(out.join(&plan.runs[0].id).join("metrics.jsonl")).unwrap();
    let last: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v.get("loss").is_some())
        .collect();
    let logged = last.last().unwrap()["positions"].as_f64().unwrap();
    let estimated = estimate(&plan.runs[0].params).train_positions_per_step * STEPS as f64;
    (logged, estimated)
}

fn fast_forward(p: &mut RunParams) {
    p.episode.insertion = Insertion::FastForward { fallback: Fallback::BestRank, threshold: None, max_consecutive: 2 };
}

/// Plain runs and fixed rules: every sequence's inputs (real tokens, plus the rule's pauses, minus the last token)
/// times three, with nothing estimated, so the estimate is exact.
#[test]
fn plain_and_rule_runs_log_exactly_three_passes_over_their_inputs() {
    // sum3 with 4 digits: `dddd=a` plus end of text, 7 tokens, 6 inputs; batch 8.
    let (logged, estimated) = logged_and_estimated("count-plain", |_| {});
    assert_eq!(logged, (STEPS * 3 * 8 * 6) as f64);
    assert_eq!(estimated, logged);
    let (logged, estimated) =
        logged_and_estimated("count-random", |p| p.episode.insertion = Insertion::Random { per_sequence: 2 });
    assert_eq!(logged, (STEPS * 3 * 8 * 8) as f64);
    assert_eq!(estimated, logged);
}

/// Runs with an episode phase: the estimate models the engine's passes (a teacher-forced pass, then half a pass per
/// round; the own fast-forward between episodes; extra passes of `real_loss`) over every batch sequence, with the
/// budget's thoughts in each. It must land within 30% of what the run logs (the thoughts actually placed and where
/// the proposals fall vary; the padding-free count itself is exact).
#[test]
fn episode_runs_log_what_the_plan_estimates() {
    type Edit = Box<dyn Fn(&mut RunParams)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("count-rounds", Box::new(fast_forward)),
        (
            "count-rounds-batch",
            Box::new(|p: &mut RunParams| {
                fast_forward(p);
                // The episode runs over all 16 sequences, in groups of 4, and is most of the compute: an estimate
                // that counted one group only would be far low.
                (p.learn.batch, p.episode.samples, p.episode.rounds, p.episode.thought_budget) = (16, 4, 6, 4);
            }),
        ),
        (
            "count-own-and-plain",
            Box::new(|p: &mut RunParams| {
                fast_forward(p);
                p.episode.every = 2;
                p.learn.real_loss = RealLoss::OwnAndPlain;
            }),
        ),
        (
            "count-kept-and-plain",
            Box::new(|p: &mut RunParams| {
                fast_forward(p);
                p.learn.real_loss = RealLoss::KeptAndPlain;
            }),
        ),
        (
            "count-leave-one-out",
            Box::new(|p: &mut RunParams| {
                fast_forward(p);
                p.episode.strategy = EpisodeStrategy::LeaveOneOut;
            }),
        ),
        (
            "count-warmup",
            Box::new(|p: &mut RunParams| {
                fast_forward(p);
                // Half the run placed by the rule (no episode), half by the episode phase.
                p.episode.warmup = Warmup { rule: Insertion::AnswerPause { count: 2 }, steps: STEPS / 2 };
            }),
        ),
        ("count-dit", Box::new(|p: &mut RunParams| p.episode.insertion = Insertion::Dit { count: 2 })),
    ];
    for (name, edit) in cases {
        let (logged, estimated) = logged_and_estimated(name, |p| edit(p));
        let ratio = estimated / logged;
        println!("{name}: estimated {estimated} logged {logged} ratio {ratio:.3}");
        assert!((0.7..=1.3).contains(&ratio), "{name}: estimated {estimated} vs logged {logged} (ratio {ratio:.3})");
    }
}
