//! `thinktok run` and `thinktok eval` end to end on a tiny plan file: results, skipping, resume, JSON figures, and
//! one clear message with exit code 1 for each kind of bad input.

mod engine_support;

use std::path::Path;
use std::process::{Command, Output};

use engine_support::*;
use thinktok::plan::*;

fn thinktok(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_thinktok")).args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Write `plan` as a RON plan file in `dir`; returns its path.
fn plan_file(dir: &Path, plan: &Plan) -> String {
    let path = dir.join("plan.ron");
    std::fs::write(&path, thinktok::plan_to_ron(plan).unwrap()).unwrap();
    path.display().to_string()
}

/// Exit code 1, one `error:` line that contains `expected`, no panic.
fn assert_invalid(out: &Output, expected: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(stderr.lines().filter(|l| l.starts_with("error: ")).count(), 1, "{stderr}");
    assert!(stderr.contains(expected), "expected `{expected}` in: {stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "{stderr}");
}

#[test]
fn run_writes_results_skips_finished_runs_and_eval_reads_the_checkpoint() {
    let dir = scratch("cli-run");
    let plan = tiny_plan();
    let file = plan_file(&dir, &plan);
    let out = dir.join("out").display().to_string();
    let first = thinktok(&["run", &file, "--out", &out, "--quiet"]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let stdout = text(&first.stdout);
    assert!(stdout.contains("| finished | 12 |"), "{stdout}");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out/results.json")).unwrap()).unwrap();
    assert_eq!(results["runs"][0]["id"], plan.runs[0].id.as_str());
    let nll = results["runs"][0]["eval"]["real_nll"].as_f64().unwrap();
    assert!(dir.join("out").join(&plan.runs[0].id).join("plan.ron").is_file());

    let second = thinktok(&["run", &file, "--out", &out, "--quiet"]);
    assert!(text(&second.stdout).contains("| skipped | 12 |"));

    let ckpt = dir.join("out").join(&plan.runs[0].id).join("final").display().to_string();
    let eval = thinktok(&["eval", "--ckpt", &ckpt, "--json"]);
    assert!(eval.status.success(), "{}", text(&eval.stderr));
    let figures: serde_json::Value = serde_json::from_str(text(&eval.stdout).trim()).unwrap();
    assert!((figures["real_nll"].as_f64().unwrap() - nll).abs() < 1e-9, "same data, same figures");
    assert!(figures["bits_per_token"].as_f64().unwrap() > 0.0);
    assert!(figures["accuracy"].as_f64().is_some());
    assert_eq!(figures["n_tokens"], 64);

    let jsonl = dir.join("lm.jsonl");
    std::fs::write(&jsonl, "{\"text\": \"1234=T\"}\n{\"text\": \"999\"}\n").unwrap();
    let data = format!("jsonl:{}", jsonl.display());
    let eval = thinktok(&["eval", "--ckpt", &ckpt, "--json", "--data", &data]);
    let figures: serde_json::Value = serde_json::from_str(text(&eval.stdout).trim()).unwrap();
    assert_eq!(figures["n_tokens"], 6 + 3);
    assert!(figures["accuracy"].is_null());
    let eval = thinktok(&["eval", "--ckpt", &ckpt, "--data", "task:multiply"]);
    assert!(eval.status.success(), "{}", text(&eval.stderr));
    assert!(text(&eval.stdout).contains("accuracy"));

    // `generate` works for the own GPT too: a batch of prompts, at most `--max-tokens` real tokens each.
    let gen = thinktok(&["generate", "--ckpt", &ckpt, "-p", "1234=", "-p", "98", "--max-tokens", "3", "--json"]);
    assert!(gen.status.success(), "{}", text(&gen.stderr));
    let lines: Vec<serde_json::Value> = text(&gen.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l["tokens"].as_u64().unwrap() <= 3 && l["prompt"].is_string()), "{lines:?}");
    assert_invalid(&thinktok(&["generate", "--ckpt", &ckpt]), "no prompt");
}

#[test]
fn eval_placement_flag_refits_the_threshold_on_training_data() {
    let dir = scratch("cli-placement");
    let plan = tiny_plan_with(|p| {
        p.episode.insertion =
            Insertion::FastForward { fallback: Fallback::BestRank, threshold: None, max_consecutive: 2 };
        p.episode.samples = 4;
        p.episode.rounds = 2;
        p.episode.thought_budget = 2;
        p.eval.placement = EvalPlacement::Own;
    });
    let out = dir.join("out");
    let run = thinktok(&["run", &plan_file(&dir, &plan), "--out", &out.display().to_string(), "--quiet"]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let ckpt = out.join(&plan.runs[0].id).join("final").display().to_string();
    let figures = |placement: &str| -> serde_json::Value {
        let eval = thinktok(&["eval", "--ckpt", &ckpt, "--json", "--placement", placement]);
        assert!(eval.status.success(), "{}", text(&eval.stderr));
        serde_json::from_str(text(&eval.stdout).trim()).unwrap()
    };
    let fitted = figures("fit_threshold:4");
    assert!(fitted["placement"].as_str().unwrap().contains("fitted on 4 training sequences"), "{fitted}");
    let none = figures("none");
    assert_eq!(none["thoughts_per_100"], 0.0);
    let own = figures("own");
    assert_eq!(own["placement"], "own (fast-forward top-1)");
    let at = figures("threshold:0.5");
    assert!(at["placement"].as_str().unwrap().contains("> 0.5"), "{at}");
    assert_invalid(&thinktok(&["eval", "--ckpt", &ckpt, "--placement", "threshold:2"]), "strictly between 0 and 1");
    assert_invalid(&thinktok(&["eval", "--ckpt", &ckpt, "--placement", "best"]), "expected `own`");
    let baseline = tiny_plan();
    let out2 = dir.join("out2");
    let run = thinktok(&["run", &plan_file(&dir, &baseline), "--out", &out2.display().to_string(), "--quiet"]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let ckpt2 = out2.join(&baseline.runs[0].id).join("final").display().to_string();
    assert_invalid(&thinktok(&["eval", "--ckpt", &ckpt2, "--placement", "fit_threshold"]), "baseline rule");
}

#[test]
fn stop_and_resume_from_the_command_line() {
    let dir = scratch("cli-resume");
    let file = plan_file(&dir, &tiny_plan());
    let out = dir.join("out").display().to_string();
    let stopped = thinktok(&["run", &file, "--out", &out, "--quiet", "--stop-after", "7"]);
    assert!(text(&stopped.stdout).contains("| stopped | 7 |"), "{}", text(&stopped.stdout));
    assert_invalid(&thinktok(&["run", &file, "--out", &out, "--quiet"]), "stopped at step 7; pass `--resume`");
    let resumed = thinktok(&["run", &file, "--out", &out, "--quiet", "--resume"]);
    assert!(text(&resumed.stdout).contains("| finished | 12 |"), "{}", text(&resumed.stderr));
}

#[test]
fn bad_input_is_one_message_and_exit_code_1() {
    let dir = scratch("cli-bad");
    let out = dir.join("out").display().to_string();
    assert_invalid(&thinktok(&["run", "no-such-plan.ron", "--out", &out]), "no-such-plan.ron");
    let missing = tiny_plan_with(|p| {
        p.data.train = DataSource::Jsonl { path: "no/such/train.jsonl".into() };
    });
    assert_invalid(&thinktok(&["run", &plan_file(&dir, &missing), "--out", &out]), "no/such/train.jsonl");
    let bad_line = dir.join("bad.jsonl");
    std::fs::write(&bad_line, "{\"prompt\": \"1=\", \"answer\": \"1\"}\n{\"prompt\": \"2=\"\n").unwrap();
    let bad = tiny_plan_with(|p| p.data.test = DataSource::Jsonl { path: bad_line.display().to_string() });
    let out2 = dir.join("out2").display().to_string();
    assert_invalid(&thinktok(&["run", &plan_file(&dir, &bad), "--out", &out2]), "line 2: bad JSON");
    assert_invalid(&thinktok(&["run", &plan_file(&dir, &tiny_plan()), "--device", "tpu"]), "unknown device `tpu`");
    // A reduced dtype on the CPU is refused before any work, naming the run and the fix.
    let bf16 = tiny_plan_with(|p| p.dtype = Precision::Bf16);
    let refused = thinktok(&["run", &plan_file(&dir, &bf16), "--out", &dir.join("out-bf16").display().to_string()]);
    assert_invalid(&refused, "dtype = bf16");
    assert!(text(&refused.stderr).contains("--device cuda:0"), "{}", text(&refused.stderr));
    assert!(!dir.join("out-bf16").exists(), "a refused run writes nothing");

    assert_invalid(&thinktok(&["eval", "--ckpt", &dir.join("nothing").display().to_string()]), "not a checkpoint");
    for bench in ["model", "episode"] {
        let usage = thinktok(&["bench", bench, "--repeats", "0"]);
        assert_eq!(usage.status.code(), Some(2), "a usage error: {}", text(&usage.stderr));
        assert!(text(&usage.stderr).contains("expected an integer ≥ 1"), "{}", text(&usage.stderr));
    }
    let good = tiny_plan();
    let out3 = dir.join("out3");
    let run = thinktok(&["run", &plan_file(&dir, &good), "--out", &out3.display().to_string(), "--quiet"]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let ckpt = out3.join(&good.runs[0].id).join("final");
    let ckpt_arg = ckpt.display().to_string();
    assert_invalid(&thinktok(&["eval", "--ckpt", &ckpt_arg, "--data", "task:sum4"]), "did you mean `sum3`");
    assert_invalid(&thinktok(&["eval", "--ckpt", &ckpt_arg, "--data", "csv:x"]), "unknown kind `csv`");
    std::fs::write(ckpt.join("model.safetensors"), b"not a safetensors file").unwrap();
    assert_invalid(&thinktok(&["eval", "--ckpt", &ckpt_arg]), "corrupt");
}

/// `debug examples` prints a built-in task's first examples as JSONL that loads back into exactly the sequences the
/// run trains on (same tokens, answer spans and groups, in order); a run or source it cannot show is one message.
#[test]
fn debug_examples_round_trip_through_jsonl() {
    let dir = scratch("cli-examples");
    let spec = dir.join("compose.think");
    let task = "task.compose(letters = 4, steps = 1..3, count = 40, seed = 3)";
    std::fs::write(
        &spec,
        format!("version = 1\nexperiment \"x\" {{\n  data {{\n    train = {task}\n    test = jsonl(\"t.jsonl\")\n  }}\n}}\n"),
    )
    .unwrap();
    let spec_arg = spec.display().to_string();
    let out = thinktok(&["debug", "examples", &spec_arg, "--count", "40"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let jsonl = dir.join("examples.jsonl");
    std::fs::write(&jsonl, &out.stdout).unwrap();
    assert_eq!(text(&out.stdout).lines().count(), 40);

    use thinktok::engine::data::{load, Role};
    let source = DataSource::Task {
        task: TaskKind::Compose { letters: 4, steps: IntRange { start: 1, end: 3 } },
        count: 40,
        seed: 3,
    };
    let generated = load(&source, Role::Train, 64).unwrap().sequences;
    let read = load(&DataSource::Jsonl { path: jsonl.display().to_string() }, Role::Train, 64).unwrap().sequences;
    assert_eq!(generated.len(), read.len());
    for (g, r) in generated.iter().zip(&read) {
        assert_eq!((&g.tokens, g.answer, g.answer_len, &g.group), (&r.tokens, r.answer, r.answer_len, &r.group));
    }
    assert!(generated.iter().any(|s| s.group.as_deref() == Some("steps=2")), "both step counts are drawn");

    assert_invalid(&thinktok(&["debug", "examples", &spec_arg, "--run", "3"]), "plans 1 run, numbered from 0");
    assert_invalid(&thinktok(&["debug", "examples", &spec_arg, "--test"]), "not a built-in task");
}
