//! Hostile inputs and faults (issue 13): hand-edited plan files and checkpoints are checked as specs are, sizes that
//! would exhaust memory are refused before any allocation, user errors never print a backtrace (even with
//! `RUST_BACKTRACE=1`), and a run killed in the middle of writing a checkpoint resumes bit-exactly.

mod engine_support;

use std::path::Path;
use std::process::{Command, Output};

use engine_support::*;
use thinktok::plan::*;

/// `thinktok ARGS` with `RUST_BACKTRACE=1` (what many Rust users have set) and optionally one more variable.
fn thinktok(args: &[&str], env: Option<(&str, &str)>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_thinktok"));
    cmd.args(args).env("RUST_BACKTRACE", "1").env_remove("RUST_LIB_BACKTRACE");
    if let Some((k, v)) = env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Exit code 1, one `error:` line, every `expected` piece in the message, no panic and no backtrace.
fn assert_refused(out: &Output, expected: &[&str]) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(stderr.lines().filter(|l| l.starts_with("error: ")).count(), 1, "{stderr}");
    for piece in expected {
        assert!(stderr.contains(piece), "expected `{piece}` in: {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("stack backtrace") && !stderr.contains("   0: "), "a backtrace: {stderr}");
}

fn default_plan_ron() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let plan = thinktok::compile_file(&root.join("specs/default.think")).unwrap();
    thinktok::plan_to_ron(&plan).unwrap()
}

/// The first hole: a hand-edited plan file bypassed every check, and ran under the original run's id.
#[test]
fn hand_edited_plan_files_are_checked_like_specs_and_their_ids_recomputed() {
    let dir = scratch("hostile-plan");
    let ron = default_plan_ron();
    assert!(ron.contains("layers: 2,") && ron.contains("heads: 4,") && ron.contains("steps: 2000,"));
    let cases: [(&str, &str, &[&str]); 4] = [
        // Out of range: the checker's own diagnostic, pointing at the key in the run's spec text.
        ("layers: 2,", "layers: 0,", &["run 1/1", "`layers` must be ≥ 1", "model.layers = 0"]),
        // A relation between keys.
        ("heads: 4,", "heads: 3,", &["E0304", "`heads` must divide `width`", "model.heads = 3"]),
        // Valid values, but no longer the parameters the id names.
        ("steps: 2000,", "steps: 3,", &["run 1/1", "the id is not the identity", "recompile it from its spec"]),
        // A field no spec can set.
        ("vocab_size: 260,", "vocab_size: 300,", &["`model.vocab_size` cannot have this value"]),
    ];
    for (i, (from, to, expected)) in cases.iter().enumerate() {
        let path = dir.join(format!("edited-{i}.ron"));
        std::fs::write(&path, ron.replace(from, to)).unwrap();
        let out = dir.join(format!("out-{i}")).display().to_string();
        let path = path.display().to_string();
        assert_refused(&thinktok(&["run", &path, "--out", &out], None), expected);
        assert_refused(&thinktok(&["check", &path], None), expected);
        assert!(!Path::new(&out).join("plan.ron").exists(), "nothing was written for case {i}");
    }
    // The same plan as JSON, edited, is refused too; unedited it is accepted.
    let plan = thinktok::compile_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/default.think")).unwrap();
    let json = serde_json::to_string_pretty(&plan).unwrap();
    let edited = dir.join("edited.json");
    std::fs::write(&edited, json.replace("\"layers\": 2", "\"layers\": 0")).unwrap();
    assert_refused(&thinktok(&["check", &edited.display().to_string()], None), &["`layers` must be ≥ 1"]);
    let fine = dir.join("fine.json");
    std::fs::write(&fine, &json).unwrap();
    let ok = thinktok(&["check", &fine.display().to_string()], None);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
}

/// Every spec of `specs/` survives its plan file: the runs read back are the runs compiled (same parameters, ids and
/// estimates), in RON and JSON, so validation never refuses a plan thinktok wrote.
#[test]
fn every_spec_round_trips_through_its_plan_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs");
    let mut runs = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "think") {
            continue;
        }
        let plan = thinktok::compile_file(&path).unwrap_or_else(|d| panic!("{}", d.render(false)));
        let ron = thinktok::plan_to_ron(&plan).unwrap();
        let json = serde_json::to_string(&plan).unwrap();
        for (text, is_json) in [(ron.as_str(), false), (json.as_str(), true)] {
            let back = thinktok::plan_file::parse_plan(&path.display().to_string(), text, is_json)
                .unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
            assert_eq!(back, plan, "{}", path.display());
        }
        for run in &plan.runs {
            let again = thinktok::compile_str("round-trip.think", &text::spec_text(&run.params))
                .unwrap_or_else(|d| panic!("{}: {}", path.display(), d.render(false)));
            assert_eq!(again.runs[0].params, run.params, "{}", path.display());
        }
        runs += plan.runs.len();
    }
    assert!(runs > 50, "only {runs} runs in specs/");
}

/// A checkpoint's `meta.json` is a plan too: a hand-edited one is refused with the checker's message, and the
/// candle error (with its captured backtrace) it used to reach is never shown.
#[test]
fn a_hand_edited_checkpoint_is_refused_without_a_backtrace() {
    let dir = scratch("hostile-ckpt");
    let plan = tiny_plan();
    let file = dir.join("plan.ron");
    std::fs::write(&file, thinktok::plan_to_ron(&plan).unwrap()).unwrap();
    let out = dir.join("out");
    let run = thinktok(&["run", &file.display().to_string(), "--out", &out.display().to_string(), "-q"], None);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let ckpt = out.join(&plan.runs[0].id).join("final");
    let meta = std::fs::read_to_string(ckpt.join("meta.json")).unwrap();
    assert!(meta.contains("\"heads\": 2"));
    std::fs::write(ckpt.join("meta.json"), meta.replace("\"heads\": 2", "\"heads\": 3")).unwrap();
    let eval = thinktok(&["eval", "--ckpt", &ckpt.display().to_string()], None);
    assert_refused(&eval, &["meta.json", "E0304", "model.heads = 3"]);
}

/// The second hole: `width = 100000000` passed `check` and `run` died with SIGABRT allocating 104 GB.
#[test]
fn sizes_that_would_exhaust_memory_are_refused_before_allocating() {
    let dir = scratch("hostile-memory");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/default.think");
    let spec = dir.join("huge.think");
    let import = root.display().to_string();
    std::fs::write(
        &spec,
        format!("import {import:?}\nexperiment \"huge\" {{\n  model.width = 100000000\n  model.heads = 1\n}}\n"),
    )
    .unwrap();
    let spec = spec.display().to_string();
    let check = thinktok(&["check", &spec], None);
    if thinktok::engine::device::available_memory(DeviceSpec::Cpu).is_none() {
        eprintln!("skipped: this OS does not say how much memory is available");
        return;
    }
    assert!(check.status.success(), "a valid spec: {}", text(&check.stderr));
    assert!(text(&check.stderr).contains("warning: not enough memory"), "{}", text(&check.stderr));
    let out = dir.join("out").display().to_string();
    assert_refused(
        &thinktok(&["run", &spec, "--out", &out], None),
        &["run 1/1", "estimated peak", "reduce `model.width`"],
    );
    // Examples held in memory count as well: a task of 10^12 examples is refused, not generated.
    let many = dir.join("many.think");
    std::fs::write(
        &many,
        format!("import {import:?}\nexperiment \"many\" {{\n  data.train = task.sum3(count = 1000000000000)\n}}\n"),
    )
    .unwrap();
    let out = dir.join("out-many").display().to_string();
    assert_refused(&thinktok(&["run", &many.display().to_string(), "--out", &out], None), &["estimated peak"]);
}

/// The guard names exactly the runs that do not fit, with what this machine has.
#[test]
fn the_memory_guard_names_every_run_that_does_not_fit() {
    use thinktok::engine::device::{available_memory, human_bytes, memory_shortfall};
    let Some(available) = available_memory(DeviceSpec::Cpu) else { return };
    let mut plan = tiny_plan();
    let mut huge = plan.runs[0].clone();
    (plan.runs[0].estimates.peak_memory_bytes, huge.estimates.peak_memory_bytes, huge.id) =
        (1024, u64::MAX, "bb".into());
    plan.runs.push(huge);
    let message = memory_shortfall(&plan.runs, Some(DeviceSpec::Cpu)).expect("a 16 EiB run does not fit");
    assert!(message.contains("run 2/2 (`bb`)") && !message.contains("run 1/2"), "{message}");
    assert!(message.contains(&human_bytes(available)[..2]), "{message}");
    assert_eq!(memory_shortfall(&plan.runs[..1], None), None);
}

/// The model's weights and optimiser moments at the end of a run, by tensor name.
fn final_tensors(dir: &Path) -> Vec<(String, Vec<f32>)> {
    let mut out = Vec::new();
    for file in ["model.safetensors", "optimizer.safetensors"] {
        let tensors = candle_core::safetensors::load(dir.join("final").join(file), &candle_core::Device::Cpu).unwrap();
        let mut named: Vec<_> = tensors.into_iter().collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, t) in named {
            out.push((format!("{file}/{name}"), t.flatten_all().unwrap().to_vec1::<f32>().unwrap()));
        }
    }
    out
}

/// Crash safety: a run aborted while writing its second checkpoint (after the new model file is written; or after
/// the previous checkpoint was renamed away) keeps a loadable checkpoint, and `--resume` ends bit-identical to a run
/// that was never interrupted.
#[test]
fn a_run_killed_mid_checkpoint_resumes_bit_exactly() {
    let dir = scratch("hostile-fault");
    let plan = tiny_plan_with(|p| (p.learn.steps, p.eval.every, p.eval.checkpoint_every) = (10, 5, 3));
    let id = plan.runs[0].id.clone();
    let file = dir.join("plan.ron");
    std::fs::write(&file, thinktok::plan_to_ron(&plan).unwrap()).unwrap();
    let file = file.display().to_string();
    let straight = dir.join("straight");
    let run = thinktok(&["run", &file, "--out", &straight.display().to_string(), "-q"], None);
    assert!(run.status.success(), "{}", text(&run.stderr));
    for point in ["written", "renamed"] {
        let out = dir.join(format!("faulted-{point}"));
        let out_arg = out.display().to_string();
        let fault = ("THINKTOK_FAULT_CHECKPOINT", format!("2:{point}"));
        let killed = thinktok(&["run", &file, "--out", &out_arg, "-q"], Some((fault.0, &fault.1)));
        assert!(!killed.status.success() && killed.status.code().is_none(), "aborted by a signal: {killed:?}");
        assert!(text(&killed.stderr).contains("aborting mid-checkpoint"), "{}", text(&killed.stderr));
        // The first checkpoint (step 3) is still there to resume from: in place, or as `checkpoint.old`.
        let run_dir = out.join(&id);
        let kept =
            ["checkpoint", "checkpoint.old"].iter().map(|n| run_dir.join(n)).find(|d| d.join("meta.json").is_file());
        let kept = kept.unwrap_or_else(|| panic!("{point}: no loadable checkpoint in {}", run_dir.display()));
        let meta: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(kept.join("meta.json")).unwrap()).unwrap();
        assert_eq!(meta["step"], 3, "{point}");
        let resumed = thinktok(&["run", &file, "--out", &out_arg, "-q", "--resume"], None);
        assert!(resumed.status.success(), "{point}: {}", text(&resumed.stderr));
        assert_eq!(final_tensors(&run_dir), final_tensors(&straight.join(&id)), "{point}: not bit-identical");
    }
}

/// One mutation of spec text: `kind` picks what, `at` and `pick` where and with what.
fn mutate(text: &str, kind: usize, at: usize, pick: usize) -> String {
    const PIECES: [&str; 12] =
        ["{", "}", "\"", "=", "..", "-1", "1e400", "99999999999999999999", "(", "[", "\u{0}", "é"];
    let chars: Vec<char> = text.chars().collect();
    let i = at % (chars.len() + 1);
    let (head, tail): (String, String) = (chars[..i].iter().collect(), chars[i..].iter().collect());
    match kind % 4 {
        0 => format!("{head}{}{tail}", PIECES[pick % PIECES.len()]),
        1 => format!("{head}{}", tail.chars().skip(1 + pick % 12).collect::<String>()),
        2 => {
            // Swap a number for a hostile one.
            // The byte after the last non-digit (which may be several bytes long, e.g. `−`).
            let start =
                head.char_indices().rev().find(|(_, c)| !c.is_ascii_digit()).map_or(0, |(p, c)| p + c.len_utf8());
            let end = tail.find(|c: char| !c.is_ascii_digit()).unwrap_or(tail.len());
            let hostile = ["0", "18446744073709551616", "4294967297", "1000000000000"][pick % 4];
            format!("{}{hostile}{}", &head[..start], &tail[end..])
        }
        _ => format!("{head}{}", tail.lines().skip(1).collect::<Vec<_>>().join("\n")),
    }
}

/// The mutator itself copes with multi-byte characters next to a number (a spec's `−log(1 − p)` comment once
/// made it slice inside `−`).
#[test]
fn the_spec_mutator_swaps_numbers_after_multibyte_characters() {
    let text = "# −log(1 −p) −5\nx = 12";
    for at in 0..text.chars().count() + 1 {
        for pick in 0..4 {
            let _ = mutate(text, 2, at, pick);
        }
    }
    assert_eq!(mutate("a −7 b", 2, 3, 0), "a −0 b");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 48, ..Default::default() })]

    /// Mutated specs never panic the front end: `check` exits 0 or 1, and what compiles also prints, serialises and
    /// reads back as a plan file.
    #[test]
    fn mutated_specs_are_diagnosed_never_panic(spec in 0usize..64, kind in 0usize..4, at in 0usize..4000, pick in 0usize..64) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs");
        let mut specs: Vec<_> = std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "think")).collect();
        specs.sort();
        let path = &specs[spec % specs.len()];
        let mutated = mutate(&std::fs::read_to_string(path).unwrap(), kind, at, pick);
        let name = path.with_file_name("mutated.think");
        if let Ok(plan) = thinktok::compile_str(&name.display().to_string(), &mutated) {
            let _ = thinktok::print_plan(&plan, Default::default());
            let ron = thinktok::plan_to_ron(&plan).unwrap();
            let back = thinktok::plan_file::parse_plan("mutated.ron", &ron, false);
            proptest::prop_assert!(back.is_ok(), "{}\n{:?}", mutated, back.err().map(|e| e.to_string()));
        }
        let dir = scratch("hostile-mutated");
        for entry in std::fs::read_dir(&root).unwrap() {
            let p = entry.unwrap().path();
            if p.is_file() {
                std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
            }
        }
        let file = dir.join("mutated.think");
        std::fs::write(&file, &mutated).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_thinktok")).args(["check", &file.display().to_string()]).output().unwrap();
        let stderr = text(&out.stderr);
        proptest::prop_assert!(matches!(out.status.code(), Some(0 | 1)), "{:?}: {}", out.status, stderr);
        proptest::prop_assert!(!stderr.contains("panicked"), "{}", stderr);
    }
}
