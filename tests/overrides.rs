//! `--set KEY=VALUE` overrides: applied after imports as the spec's own last lines, sweep axes from lists and
//! ranges, diagnostics that point into the override, and identities that follow only from resolved parameters.

use std::path::{Path, PathBuf};
use std::process::Command;

use thinktok::plan::Plan;

fn spec(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("specs").join(name)
}

fn with(name: &str, set: &[&str]) -> Plan {
    let set: Vec<String> = set.iter().map(|s| s.to_string()).collect();
    thinktok::compile_file_with(&spec(name), &set).unwrap_or_else(|d| panic!("{}", d.render(false)))
}

fn diagnostic(name: &str, set: &[&str]) -> String {
    let set: Vec<String> = set.iter().map(|s| s.to_string()).collect();
    match thinktok::compile_file_with(&spec(name), &set) {
        Ok(_) => panic!("{set:?} should not compile"),
        Err(d) => d.render(false),
    }
}

/// A setting is the spec's own last line: the run is the one a spec with that line names (same identity).
#[test]
fn a_setting_is_the_specs_own_last_line() {
    let plan = with("default.think", &["learn.steps=100", "episode.insertion=random(per_sequence = 4)"]);
    assert_eq!(plan.overrides, ["learn.steps=100", "episode.insertion=random(per_sequence = 4)"]);
    let text = std::fs::read_to_string(spec("default.think")).unwrap();
    let edited = text
        .replace("steps = 2000", "steps = 100")
        .replace("insertion = none()", "insertion = random(per_sequence = 4)");
    assert_ne!(edited, text);
    let by_hand = thinktok::compile_str(&spec("default.think").display().to_string(), &edited).unwrap();
    assert_eq!(plan.runs[0].params, by_hand.runs[0].params);
    assert_eq!(plan.runs[0].id, by_hand.runs[0].id, "identity follows from the parameters only");
    // The plan shows and records them; without overrides nothing changes in the serialised plan.
    let printed = thinktok::print_plan(&plan, Default::default());
    assert!(printed.contains("overrides: --set learn.steps=100 --set episode.insertion=random(per_sequence = 4)"));
    assert!(thinktok::plan_to_ron(&plan).unwrap().contains("overrides: ["));
    assert!(!thinktok::plan_to_ron(&with("default.think", &[])).unwrap().contains("overrides"));
}

/// Lists and ranges are sweep axes: crossed with the spec's sweep, or replacing its axis of the same key; a single
/// value for a swept key fixes it.
#[test]
fn lists_and_ranges_are_sweep_axes() {
    let plain = with("default.think", &["seed=0..3"]);
    assert_eq!((plain.axes.clone(), plain.runs.len()), (vec!["seed".to_string()], 3));
    let crossed = with("default.think", &["seed=0..2", "learn.steps=[10, 20]"]);
    assert_eq!(crossed.runs.len(), 4);
    // compare-hops: a zip of 5 rows × `seed = 0..3`.
    assert_eq!(with("compare-hops.think", &[]).runs.len(), 15);
    assert_eq!(with("compare-hops.think", &["seed=0..5"]).runs.len(), 25, "replaces the seed axis");
    let fixed = with("compare-hops.think", &["seed=7"]);
    assert_eq!(fixed.runs.len(), 5);
    assert!(fixed.runs.iter().all(|r| r.params.seed == 7));
    assert_eq!(with("compare-hops.think", &["learn.steps=[5, 6]"]).runs.len(), 30, "crossed with the sweep");
    // A range is a value where the key takes ranges (a task's hops).
    let hops = with("hops.think", &["data.train=task.hops(letters = 6, hops = 1..3, count = 100)"]);
    assert_eq!(hops.runs.len(), 1);
}

/// Diagnostics point into the override, with the checker's own codes and hints.
#[test]
fn diagnostics_point_into_the_override() {
    insta::assert_snapshot!("unknown_key", diagnostic("default.think", &["learn.steps=100", "learn.stepz=100"]));
    insta::assert_snapshot!("out_of_range", diagnostic("default.think", &["learn.steps=-5"]));
    insta::assert_snapshot!("not_an_assignment", diagnostic("default.think", &["experiment \"x\" {}"]));
    insta::assert_snapshot!("syntax", diagnostic("default.think", &["model.layers="]));
    insta::assert_snapshot!("tied_axis", diagnostic("compare-hops.think", &["model.layers=3"]));
    insta::assert_snapshot!("twice", diagnostic("default.think", &["learn.steps=1", "learn.steps=2"]));
}

/// The CLI takes `--set` on check, plan and run; a plan file refuses it.
#[test]
fn the_command_line_takes_set() {
    let bin = env!("CARGO_BIN_EXE_thinktok");
    let default = spec("default.think").display().to_string();
    let check = Command::new(bin).args(["check", &default, "--set", "seed=0..4"]).output().unwrap();
    assert!(check.status.success() && String::from_utf8_lossy(&check.stdout).contains("4 runs, 1 axis"), "{check:?}");
    let bad = Command::new(bin).args(["check", &default, "--set", "learn.stepz=1"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--> --set #1:1:7"), "{bad:?}");
    let dir = std::env::temp_dir().join(format!("thinktok-overrides-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ron = dir.join("plan.ron");
    std::fs::write(&ron, thinktok::plan_to_ron(&with("default.think", &[])).unwrap()).unwrap();
    for cmd in ["check", "plan", "run"] {
        let out = Command::new(bin).args([cmd, &ron.display().to_string(), "--set", "seed=1"]).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{cmd}: {out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("`--set` applies to specs"), "{cmd}: {out:?}");
    }
    let diff =
        Command::new(bin).args(["plan", &default, "--diff", &default, "--set", "model.layers=4"]).output().unwrap();
    let text = String::from_utf8_lossy(&diff.stdout);
    assert!(diff.status.success() && text.contains("model.layers") && text.contains('4'), "{text}");
}
