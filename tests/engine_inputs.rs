//! Bad input gives one clear invalid-input error and damages nothing: data files, JSONL lines, checkpoints, output
//! folders, unsupported plans.

mod engine_support;

use std::path::Path;

use candle_core::Device;
use engine_support::*;
use thinktok::engine::data::{self, Role};
use thinktok::engine::error::is_invalid_input;
use thinktok::engine::learn::build_model;
use thinktok::engine::learn::checkpoint;
use thinktok::engine::run::{run_plan, RunOptions};
use thinktok::plan::*;

fn options(out: &Path) -> RunOptions {
    RunOptions::quiet(out.to_path_buf())
}

/// The message of an invalid-input error (panics on success or on another kind of error).
fn invalid_message(result: anyhow::Result<impl std::fmt::Debug>) -> String {
    let err = result.expect_err("expected an error");
    assert!(is_invalid_input(&err), "not an invalid-input error: {err:#}");
    format!("{err:#}")
}

fn jsonl(dir: &Path, name: &str, text: &[u8]) -> DataSource {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    DataSource::Jsonl { path: path.display().to_string() }
}

fn text(path: &Path, split: TextSplit) -> DataSource {
    DataSource::Text { path: path.display().to_string(), split, holdout: 0.25 }
}

#[test]
fn missing_empty_binary_and_non_utf8_files_are_refused_by_name() {
    let dir = scratch("bad-files");
    let missing = DataSource::Jsonl { path: dir.join("nope.jsonl").display().to_string() };
    assert!(invalid_message(data::load(&missing, Role::Train, 16)).contains("nope.jsonl"));
    let empty = jsonl(&dir, "empty.jsonl", b"");
    assert!(invalid_message(data::load(&empty, Role::Train, 16)).contains("is empty"));
    std::fs::write(dir.join("latin1.txt"), b"caf\xe9 au lait").unwrap();
    let msg = invalid_message(data::load(&text(&dir.join("latin1.txt"), TextSplit::Train), Role::Train, 16));
    assert!(msg.contains("not UTF-8") && msg.contains("offset 3"), "{msg}");
    std::fs::write(dir.join("blob.txt"), b"ab\x00\x01").unwrap();
    let msg = invalid_message(data::load(&text(&dir.join("blob.txt"), TextSplit::Train), Role::Train, 16));
    assert!(msg.contains("binary"), "{msg}");
    let folder = dir.join("empty-folder");
    std::fs::create_dir_all(&folder).unwrap();
    assert!(invalid_message(data::load(&text(&folder, TextSplit::Train), Role::Train, 16)).contains("no `.txt`"));
}

#[test]
fn jsonl_errors_name_the_line() {
    let dir = scratch("bad-jsonl");
    let cases: [(&[u8], &str); 6] = [
        (b"{\"text\": \"ok\"}\n{\"text\": \"ok\"}\n{\"text\": oops}\n", "line 3: bad JSON"),
        (b"{\"prompt\": \"1+1=\", \"answer\": \"2\"}\n{\"prompt\": \"2+2=\"}\n", "line 2: missing field `answer`"),
        (b"{\"txt\": \"typo\"}\n", "line 1: missing field"),
        (b"{\"text\": \"\"}\n", "line 1: `text` is empty"),
        (b"{\"text\": 5}\n", "line 1: field `text` must be a string"),
        (b"{\"prompt\": \"0123456789012345\", \"answer\": \"7\"}\n", "more than the model's context of 16"),
    ];
    for (i, (content, expected)) in cases.iter().enumerate() {
        let source = jsonl(&dir, &format!("case{i}.jsonl"), content);
        let msg = invalid_message(data::load(&source, Role::Train, 16));
        assert!(msg.contains(expected), "case {i}: {msg}");
        assert!(msg.contains(&format!("case{i}.jsonl")), "case {i}: {msg}");
    }
}

#[test]
fn jsonl_reads_text_and_answer_records_and_truncates_long_text() {
    let dir = scratch("good-jsonl");
    let source = jsonl(
        &dir,
        "ok.jsonl",
        b"{\"text\": \"hello world, a long line\"}\n\n{\"prompt\": \"2*3=\", \"answer\": \"6\"}\n",
    );
    let data = data::load(&source, Role::Train, 8).unwrap();
    assert_eq!(data.sequences.len(), 2);
    assert_eq!(data.sequences[0].tokens.len(), 8);
    assert_eq!(data.sequences[1].answer, Some(4));
    assert!(data.has_answers());
}

#[test]
fn text_split_is_disjoint_and_covers_every_chunk() {
    let dir = scratch("text-split");
    std::fs::create_dir_all(dir.join("corpus/sub")).unwrap();
    std::fs::write(dir.join("corpus/a.txt"), "the quick brown fox jumps over the lazy dog. ".repeat(20)).unwrap();
    std::fs::write(dir.join("corpus/sub/b.txt"), "pack my box with five dozen liquor jugs. ".repeat(20)).unwrap();
    std::fs::write(dir.join("corpus/ignored.md"), "not text data").unwrap();
    let load = |split| data::load(&text(&dir.join("corpus"), split), Role::Train, 16).unwrap().sequences;
    let (train, test) = (load(TextSplit::Train), load(TextSplit::Test));
    let total_tokens = 45 * 20 + 41 * 20 + 2;
    assert_eq!(train.iter().chain(&test).map(|s| s.tokens.len()).sum::<usize>(), total_tokens);
    assert!(!train.is_empty() && !test.is_empty());
    assert!(test.len() * 10 < total_tokens.div_ceil(16) * 4, "about a quarter held out");
    assert!(train.iter().all(|s| s.tokens.len() <= 16 && s.answer.is_none()));
    std::fs::write(dir.join("tiny.txt"), "x").unwrap();
    let msg = invalid_message(data::load(&text(&dir.join("tiny.txt"), TextSplit::Test), Role::Test, 16));
    assert!(msg.contains("too short"), "{msg}");
}

#[test]
fn checkpoints_of_another_shape_or_corrupt_are_refused() {
    let out = scratch("bad-ckpt");
    let plan = tiny_plan();
    run_plan(&plan, &options(&out)).unwrap();
    let final_dir = out.join(&plan.runs[0].id).join("final");
    let (_, meta) = checkpoint::read_meta(&final_dir).unwrap();
    assert!(meta.finished);
    assert_eq!(meta.step, 12);

    let wider = ModelConfig::Gpt(GptConfig { layers: 1, width: 32, heads: 2, context: 16, vocab_size: VOCAB_SIZE });
    let built = build_model(&wider, &Device::Cpu, 0).unwrap();
    let msg = invalid_message(checkpoint::load_weights(&final_dir, &built.varmap, &Device::Cpu));
    assert!(msg.contains("another model shape"), "{msg}");
    let deeper = ModelConfig::Gpt(GptConfig { layers: 2, width: 16, heads: 2, context: 16, vocab_size: VOCAB_SIZE });
    let built = build_model(&deeper, &Device::Cpu, 0).unwrap();
    let msg = invalid_message(checkpoint::load_weights(&final_dir, &built.varmap, &Device::Cpu));
    assert!(msg.contains("lacks `h.1."), "{msg}");

    let meta_text = std::fs::read_to_string(final_dir.join("meta.json")).unwrap();
    std::fs::write(final_dir.join("meta.json"), meta_text.replace("byte-260", "bpe-50k")).unwrap();
    assert!(invalid_message(checkpoint::read_meta(&final_dir)).contains("tokenizer `bpe-50k`"));
    std::fs::write(final_dir.join("meta.json"), "{ not json").unwrap();
    assert!(invalid_message(checkpoint::read_meta(&final_dir)).contains("not a thinktok checkpoint"));

    std::fs::write(final_dir.join("model.safetensors"), b"\x08\x00\x00\x00\x00\x00\x00\x00garbage!").unwrap();
    let model = ModelConfig::Gpt(GptConfig { layers: 1, width: 16, heads: 2, context: 16, vocab_size: VOCAB_SIZE });
    let built = build_model(&model, &Device::Cpu, 0).unwrap();
    let msg = invalid_message(checkpoint::load_weights(&final_dir, &built.varmap, &Device::Cpu));
    assert!(msg.contains("corrupt"), "{msg}");
    assert!(invalid_message(checkpoint::read_meta(&out.join("nothing-here"))).contains("not a checkpoint folder"));
}

#[test]
fn interrupted_save_leaves_the_previous_checkpoint_readable() {
    let out = scratch("crash-save");
    let plan = tiny_plan();
    run_plan(&plan, &RunOptions { stop_after: Some(4), ..options(&out) }).unwrap();
    let run_dir = out.join(&plan.runs[0].id);
    // A crash after the old checkpoint was moved aside, before the new one was renamed into place.
    std::fs::rename(run_dir.join("checkpoint"), run_dir.join("checkpoint.old")).unwrap();
    std::fs::create_dir_all(run_dir.join("checkpoint.tmp")).unwrap();
    std::fs::write(run_dir.join("checkpoint.tmp/model.safetensors"), b"half-written").unwrap();
    let (found, meta) = checkpoint::read_meta(&run_dir.join("checkpoint")).unwrap();
    assert!(found.ends_with("checkpoint.old"));
    assert_eq!(meta.step, 4);
    let done = run_plan(&plan, &RunOptions { resume: true, ..options(&out) }).unwrap();
    assert_eq!((done.runs[0].status.as_str(), done.runs[0].steps), ("finished", 12));
}

#[test]
fn out_folder_of_another_plan_is_refused_and_left_intact() {
    let out = scratch("other-plan");
    run_plan(&tiny_plan(), &options(&out)).unwrap();
    let before = std::fs::read(out.join("plan.ron")).unwrap();
    let results_before = std::fs::read(out.join("results.json")).unwrap();
    let other = tiny_plan_with(|p| p.seed = 7);
    let msg = invalid_message(run_plan(&other, &options(&out)));
    assert!(msg.contains("another plan") && msg.contains("--out"), "{msg}");
    assert_eq!(std::fs::read(out.join("plan.ron")).unwrap(), before);
    assert_eq!(std::fs::read(out.join("results.json")).unwrap(), results_before);
    assert!(!out.join(&other.runs[0].id).exists());
    // The same experiment with one run more extends the folder: the finished run is reused, the new one runs.
    let mut grown = tiny_plan();
    grown.runs.extend(other.runs.clone());
    let results = run_plan(&grown, &options(&out)).unwrap();
    let status: Vec<&str> = results.runs.iter().map(|r| r.status.as_str()).collect();
    assert_eq!(status, ["skipped", "finished"]);
    // Dropping a run of the folder's plan is another plan again.
    let msg = invalid_message(run_plan(&tiny_plan(), &options(&out)));
    assert!(msg.contains("another plan") && msg.contains("extend"), "{msg}");

    // A run folder whose plan.ron differs from the run of the same id.
    let tampered = scratch("tampered-run");
    let plan = tiny_plan();
    run_plan(&plan, &options(&tampered)).unwrap();
    let run_plan_path = tampered.join(&plan.runs[0].id).join("plan.ron");
    let text = std::fs::read_to_string(&run_plan_path).unwrap();
    std::fs::write(&run_plan_path, text.replace("steps: 12", "steps: 13")).unwrap();
    let msg = invalid_message(run_plan(&plan, &options(&tampered)));
    assert!(msg.contains("different plan"), "{msg}");
}

/// Continuous thoughts are not in the engine yet (and, before the episodic phase, no thoughts at all were): such a
/// plan is refused before anything is written.
#[test]
fn plans_the_engine_cannot_run_are_refused_before_any_write() {
    let out = scratch("no-runs");
    let mut plan = tiny_plan();
    plan.runs.clear();
    let msg = invalid_message(run_plan(&plan, &options(&out)));
    assert!(msg.contains("no runs"), "{msg}");
    assert!(!out.join("plan.ron").exists());
}

/// JSONL records may carry a `group` (a string or a number) that evaluation reports by; anything else is refused by
/// line.
#[test]
fn jsonl_groups_are_read_and_bad_ones_refused_by_line() {
    let dir = scratch("jsonl-groups");
    let src = jsonl(
        &dir,
        "g.jsonl",
        b"{\"prompt\": \"1+1=\", \"answer\": \"2\", \"group\": \"easy\"}\n{\"prompt\": \"9+9=\", \"answer\": \"18\", \"group\": 3}\n{\"text\": \"plain\"}\n",
    );
    let data = data::load(&src, Role::Test, 32).unwrap();
    let groups: Vec<Option<&str>> = data.sequences.iter().map(|s| s.group.as_deref()).collect();
    assert_eq!(groups, [Some("easy"), Some("3"), None]);
    let bad = jsonl(&dir, "bad.jsonl", b"{\"text\": \"a\"}\n{\"text\": \"b\", \"group\": true}\n");
    let msg = invalid_message(data::load(&bad, Role::Test, 32));
    assert!(msg.contains("line 2") && msg.contains("`group`"), "{msg}");
}
