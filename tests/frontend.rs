//! The front end's corpus tests: every spec in `specs/` snapshots its printed plan and its RON plan, every spec in
//! `specs/invalid/` snapshots its diagnostic. Adding a spec file adds a test, with no code change.

use std::path::Path;

use thinktok::plan::Plan;
use thinktok::print::PrintOptions;

/// The path relative to the crate root, so diagnostics and snapshots do not depend on the checkout's location.
fn relative(path: &Path) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    path.strip_prefix(root).unwrap_or(path).display().to_string()
}

fn compile(path: &Path) -> Result<Plan, thinktok::diagnostic::Diagnostics> {
    let text = std::fs::read_to_string(path).unwrap();
    thinktok::compile_str(&relative(path), &text)
}

#[test]
fn valid_specs_plan_snapshots() {
    insta::glob!("../specs", "*.think", |path| {
        let mut plan = match compile(path) {
            Ok(plan) => plan,
            Err(d) => panic!("{} should be valid:\n{d}", relative(path)),
        };
        let text = thinktok::print_plan(&plan, PrintOptions { mask_volatile: true });
        insta::assert_snapshot!("plan", text);
        thinktok::mask_volatile(&mut plan);
        insta::assert_snapshot!("ron", thinktok::plan_to_ron(&plan).unwrap());
    });
}

#[test]
fn invalid_specs_diagnostic_snapshots() {
    insta::glob!("../specs/invalid", "*.think", |path| {
        match compile(path) {
            Ok(_) => panic!("{} should be invalid", relative(path)),
            Err(d) => {
                assert!(!d.is_empty());
                insta::assert_snapshot!("diagnostic", d.render(false));
            }
        }
    });
}

#[test]
fn invalid_corpus_is_large_enough() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/invalid");
    let n = std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "think"))
        .count();
    assert!(n >= 30, "only {n} invalid specs");
}

#[test]
fn default_spec_is_plain_training_on_sum3() {
    let plan = thinktok::compile_str("specs/default.think", thinktok::DEFAULT_SPEC).unwrap();
    assert_eq!(plan.runs.len(), 1);
    let p = &plan.runs[0].params;
    assert_eq!(p.episode.insertion, thinktok::plan::Insertion::None);
    assert_eq!(p.learn.steps, 2000);
    assert_eq!(p.learn.batch, 128);
    assert_eq!(p.eval.every, 500);
    let thinktok::plan::ModelConfig::Gpt(g) = &p.model else { panic!("a GPT run") };
    assert_eq!((g.layers, g.width, g.heads, g.context), (2, 128, 4, 64));
    use thinktok::plan::{DataSource, TaskKind};
    assert_eq!(p.data.train, DataSource::Task { task: TaskKind::Sum3 { digits: 6 }, count: 20000, seed: 0 });
    assert_eq!(p.data.test, DataSource::Task { task: TaskKind::Sum3 { digits: 6 }, count: 2000, seed: 1 });
}

#[test]
fn design_example_means_what_it_says() {
    let plan = thinktok::compile_file(Path::new("specs/sum3-episodic.think")).unwrap();
    assert_eq!(plan.experiment, "sum3-episodic");
    assert_eq!(plan.axes, ["episode.cull", "episode.insertion", "seed"]);
    assert_eq!(plan.runs.len(), 3 * 4 * 3);
    let first = &plan.runs[0].params;
    assert_eq!(first.episode.cull, 0.25);
    assert_eq!(first.episode.gain.window, Some(16));
    assert_eq!(first.learn.steps, 2000);
    let last = &plan.runs[35];
    assert_eq!(last.label, "cull=0.75 insertion=none() seed=2");
    assert_eq!(last.params.episode.insertion, thinktok::plan::Insertion::None);
    assert_eq!(last.params.seed, 2);
}

#[test]
fn no_episode_block_means_no_thoughts() {
    let text = r#"experiment "x" { data { train = task.sum3() test = task.sum3(seed = 1) } }"#;
    let plan = thinktok::compile_str("x.think", text).unwrap();
    assert_eq!(plan.runs[0].params.episode.insertion, thinktok::plan::Insertion::None);
    let with = r#"experiment "x" { data { train = task.sum3() test = task.sum3(seed = 1) } episode { } }"#;
    let plan = thinktok::compile_str("x.think", with).unwrap();
    assert!(matches!(plan.runs[0].params.episode.insertion, thinktok::plan::Insertion::FastForward { .. }));
}
