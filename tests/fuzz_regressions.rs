//! Regression tests from fuzzing hostile inputs (issue 13; the cargo-fuzz targets are in `fuzz/`). Each test feeds
//! an input a fuzz target (or a probe written while fuzzing) found, or a hostile input of the kind each target
//! explores, and asserts an error is returned, never a panic, abort or stack overflow.
//!
//! Targets: `spec` (spec text → compile, print, RON), `plan_file` (RON / JSON plan → parse and validate), `data`
//! (JSONL and text loaders) and `checkpoint` (`meta.json` + `model.safetensors` → what `thinktok eval --ckpt` does).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use thinktok::engine::data::{jsonl, text, SamplerState};
use thinktok::engine::learn::{build_run_model, checkpoint};
use thinktok::plan::{ModelConfig, Plan, TextSplit};

/// A spec named as a file of `specs/`, so `import "default.think"` resolves.
const SPEC_NAME: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/specs/fuzz-regression.think");

/// A fresh scratch folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("thinktok-fuzz-regressions-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What the `spec` target does with one input: compile; on success print, write RON and read it back.
fn spec_target(text: &str) -> Result<Plan, String> {
    let plan = thinktok::compile_str(SPEC_NAME, text).map_err(|d| d.render(false))?;
    let _ = thinktok::print_plan(&plan, Default::default());
    let ron = thinktok::plan_to_ron(&plan).map_err(|e| e.to_string())?;
    if plan.runs.len() <= 4 {
        thinktok::plan_file::parse_plan("fuzz.ron", &ron, false).map_err(|e| format!("{e:#}"))?;
    }
    Ok(plan)
}

/// The built-in default spec with `extra` lines in its experiment block.
fn default_with(extra: &str) -> String {
    format!("import \"default.think\"\n\nexperiment \"default\" {{\n  {extra}\n}}\n")
}

// ---------------------------------------------------------------------------------------------------------------
// spec

/// Found while fuzzing (after syntax error recovery landed): recovery blanks broken lines byte for byte, so a
/// later error's span, computed on the patched text, could end inside a multibyte character of the original
/// (`end byte index 399 is not a char boundary; it is inside '�'`) and the diagnostic panicked. Locations are now
/// moved back to char boundaries (src/diagnostic.rs, `Sources::locate`).
#[test]
fn recovered_spans_inside_multibyte_characters_do_not_panic() {
    // The fuzzer's input, as the target sees it (lossy UTF-8).
    let text = concat!(
        "# The method against the baselines, trained identically; each is evaluated by its own placement poli",
        "cy.\nimport \"sum3-episodic.think\"\n\nexperiment \"sum3-\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
        "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0baselines\" {\n}\n\nsweep {n = [\n      fast_for",
        "ward(),\n      none(),\n      random(per_sequence = 8),\n      interval(every = 4),\n      answer_pa",
        "use(count = 4),\n      dit(H# Invalid; call.\nexperiment \"bad\"\u{fffd}{\n  seed = 1\n\n  model gpt",
        " {\n    layers = 2\n    width = 128\n    heaHHHHHHHHHHHHHHHHH\u{fffd}\u{fffd}\u{fffd}(HHHHHHHHH4),\n",
        "    ]\n    eval.placement = [own, rule,, rule, rule, rule, rule]\n  }\n  seed = 0..3\nds = 4\n    co",
        "ntext = 64\n  }\n}\n\n  data {\n    l = 0.5\n  }\n\n  learn {\n    steps = 200\n    batch = 32\n    ",
        "optimizer = adamw(lr = 2e-3, warmup = 10)\n  }\n\u{fffd}\n"
    );
    assert!(spec_target(text).is_err());
    // The same shape with the non-ASCII characters where a blanked line's error lands.
    for filler in ["é", "\u{fffd}", "日本"] {
        let text = format!("experiment \"x\" {{\n  seed {filler}{filler} = 1\n  learn {{ steps = {filler},, }}\n}}\n");
        assert!(spec_target(&text).is_err(), "{text}");
    }
}

/// Found while fuzzing: a few thousand nested lists, calls or blocks (a 10–60 KB spec) overflowed the stack in
/// the AST converter (src/syntax/mod.rs recurses once per level; pest's parser too) and aborted the process
/// (`thinktok check` printed "thread 'main' has overflowed its stack" at 5,000 levels). Fixed by a nesting limit
/// checked before parsing (src/syntax/depth.rs): a syntax error at the first bracket too deep.
#[test]
fn deep_nesting_is_a_syntax_error_not_a_stack_overflow() {
    let n = 20_000;
    let cases = [
        ("lists", format!("version = 1\nsweep {{\n  seed = {}{}\n}}\n", "[".repeat(n), "]".repeat(n))),
        ("calls", format!("version = 1\nexperiment \"x\" {{\n  seed = {}{}\n}}\n", "f(".repeat(n), ")".repeat(n))),
        ("blocks", format!("version = 1\n{}{}\n", "a {".repeat(n), "}".repeat(n))),
        ("block args", format!("version = 1\nb({}) {{ }}\n", "x = [".repeat(n))),
        ("unclosed", format!("version = 1\nexperiment \"x\" {{\n  seed = {}\n", "[".repeat(n))),
    ];
    for (what, text) in cases {
        let err = thinktok::compile_str(SPEC_NAME, &text).expect_err(what);
        let shown = err.render(false);
        assert!(shown.contains("nesting deeper than"), "{what}: {shown}");
        // The first stage alone, too.
        assert!(thinktok::parse_spec("deep.think", &text).is_err(), "{what}");
    }
    // Nesting within the limit still parses (and is checked as usual).
    let text = format!("version = 1\nsweep {{\n  seed = {}0{}\n}}\n", "[".repeat(40), "]".repeat(40));
    assert!(thinktok::parse_spec("deep.think", &text).is_ok());
    // Brackets inside strings and comments do not count.
    let text = format!("version = 1\n# {}\nexperiment \"{}\" {{\n  seed = 0\n}}\n", "[".repeat(n), "{".repeat(1000));
    assert!(thinktok::parse_spec("deep.think", &text).is_ok());
}

/// Found while fuzzing: a sweep axis range was materialised before anything counted the runs, so
/// `seed = 0..1000000000` tried to allocate ~96 GB and aborted, and `sample(count = 100000000000)` likewise. Now
/// E0410: ranges, sample counts and products are counted before any point is built.
#[test]
fn huge_sweeps_are_refused_before_allocating() {
    for sweep in [
        "sweep {\n  seed = 0..1000000000\n}\n",
        "sweep {\n  sample(count = 100000000000) { learn.optimizer.lr = log_uniform(1e-4, 1e-2) }\n}\n",
        "sweep {\n  seed = 0..4000000000\n  learn.steps = 1..4000000000\n}\n",
    ] {
        let text = format!("{}\n{sweep}", default_with(""));
        assert!(spec_target(&text).is_err(), "{sweep}");
    }
}

/// Hostile values the `spec` target mutated into (every integer key at i64::MAX, at 2^32, huge task arguments):
/// each is a diagnostic or a plan that prints, writes and reads back, never an overflow (the fuzz build has
/// overflow checks on).
#[test]
fn extreme_values_compile_print_and_round_trip_or_are_refused() {
    let max = i64::MAX;
    let settings = [
        format!("model.width = {max}"),
        format!("model.layers = {max}"),
        format!("model.context = {max}"),
        format!("model.heads = {max}"),
        format!("learn.steps = {max}"),
        format!("learn.batch = {max}"),
        format!("learn.accumulate = {max}"),
        format!("learn.unroll = {max}"),
        format!("episode.samples = {max}"),
        format!("episode.rounds = {max}"),
        format!("episode.thought_budget = {max}"),
        format!("eval.every = {max}"),
        format!("seed = {max}"),
        format!("seed = -{max}"),
        format!("data.train = task.sum3(digits = {max}, count = {max})"),
        format!("data.train = task.addition(terms = {max}, digits = {max}, count = 5)"),
        format!("learn.optimizer = adamw(lr = 1e308, warmup = {max})"),
        "model.width = 4294967296".into(),
        "model.context = 4294967296".into(),
        "learn.batch = 4294967296".into(),
        "data.train = task.sum3(digits = 4294967296, count = 50)".into(),
        "episode.cull = 1e400".into(),
        "learn.steps = 99999999999999999999999".into(),
    ];
    for setting in settings {
        let _ = spec_target(&default_with(&setting));
    }
}

// ---------------------------------------------------------------------------------------------------------------
// plan_file

fn default_plan() -> Plan {
    thinktok::compile_str(SPEC_NAME, &default_with("")).unwrap()
}

/// Hand-edited and truncated plan files (the `plan_file` target's seeds, cut and edited): every one an error.
#[test]
fn broken_plan_files_are_errors() {
    let plan = default_plan();
    let ron = thinktok::plan_to_ron(&plan).unwrap();
    let json = serde_json::to_string_pretty(&plan).unwrap();
    assert!(thinktok::plan_file::parse_plan("fuzz.ron", &ron, false).is_ok());
    assert!(thinktok::plan_file::parse_plan("fuzz.json", &json, true).is_ok());
    let max = u64::MAX.to_string();
    let edits: Vec<(&str, String)> = vec![
        ("layers: 2,", "layers: 0,".into()),
        ("heads: 4,", "heads: 3,".into()),
        ("width: 128,", format!("width: {max},")),
        ("context: 64,", format!("context: {max},")),
        ("steps: 2000,", format!("steps: {max},")),
        ("batch: 128,", "batch: 0,".into()),
        ("vocab_size: 260,", "vocab_size: 0,".into()),
        ("format_version: 1,", "format_version: 4294967295,".into()),
        ("lr: 0.002,", "lr: inf,".into()),
        ("lr: 0.002,", "lr: NaN,".into()),
        ("cull: 0.5,", "cull: -1e308,".into()),
    ];
    for (from, to) in &edits {
        assert!(ron.contains(from), "{from}");
        let edited = ron.replacen(from, to, 1);
        assert!(thinktok::plan_file::parse_plan("fuzz.ron", &edited, false).is_err(), "{to}");
    }
    for cut in (0..ron.len()).step_by(97) {
        if let Some(text) = ron.get(..cut) {
            assert!(thinktok::plan_file::parse_plan("fuzz.ron", text, false).is_err());
        }
    }
    for cut in (0..json.len()).step_by(89) {
        assert!(thinktok::plan_file::parse_plan("fuzz.json", &json[..cut], true).is_err());
    }
    let deep_json = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_ron = format!("{}{}", "(".repeat(100_000), ")".repeat(100_000));
    for text in ["", "Plan()", "Plan(runs: [])", "{}", "{\"runs\": []}", &deep_json, &deep_ron] {
        assert!(thinktok::plan_file::parse_plan("fuzz.ron", text, false).is_err(), "{text:.40}");
        assert!(thinktok::plan_file::parse_plan("fuzz.json", text, true).is_err(), "{text:.40}");
    }
}

// ---------------------------------------------------------------------------------------------------------------
// data

/// What the `data` target does with one input: write it, then load it as JSONL and as text.
fn data_target(dir: &Path, bytes: &[u8]) -> (bool, bool) {
    let (jsonl_path, text_path) = (dir.join("in.jsonl"), dir.join("in.txt"));
    std::fs::write(&jsonl_path, bytes).unwrap();
    std::fs::write(&text_path, bytes).unwrap();
    let j = jsonl::load(&thinktok::engine::data::Tokenizer::Bytes, jsonl_path.to_str().unwrap(), 64);
    if let Ok(sequences) = &j {
        assert!(sequences.iter().all(|s| s.tokens.len() <= 64));
    }
    let t =
        text::load(&thinktok::engine::data::Tokenizer::Bytes, text_path.to_str().unwrap(), TextSplit::Train, 0.1, 64);
    let _ =
        text::load(&thinktok::engine::data::Tokenizer::Bytes, text_path.to_str().unwrap(), TextSplit::Test, 0.1, 64);
    (j.is_ok(), t.is_ok())
}

/// Data files the `data` target explored: binary, broken UTF-8, odd JSON; each loads or is an error.
#[test]
fn hostile_data_files_load_or_are_errors() {
    let dir = scratch("data");
    let deep = format!("{{\"text\": {}{}}}\n", "[".repeat(10_000), "]".repeat(10_000));
    let long_prompt = format!("{{\"prompt\": \"{}\", \"answer\": \"1\"}}\n", "9".repeat(100));
    let cases: Vec<(&str, Vec<u8>, Option<bool>)> = vec![
        ("empty", b"".to_vec(), Some(false)),
        ("NUL", b"{\"text\": \"a\"}\n\0".to_vec(), Some(false)),
        ("not UTF-8", b"{\"text\": \"\xff\xfe\"}\n".to_vec(), Some(false)),
        ("BOM", b"\xef\xbb\xbf{\"text\": \"ab\"}\n".to_vec(), None),
        ("lone surrogate", b"{\"text\": \"\\ud800\"}\n".to_vec(), Some(false)),
        ("empty text", b"{\"text\": \"\"}\n".to_vec(), None),
        ("empty prompt", b"{\"prompt\": \"\", \"answer\": \"1\"}\n".to_vec(), Some(false)),
        ("prompt too long", long_prompt.into_bytes(), Some(false)),
        ("group object", b"{\"text\": \"ab\", \"group\": {}}\n".to_vec(), Some(false)),
        ("group huge number", b"{\"text\": \"ab\", \"group\": 1e999}\n".to_vec(), None),
        ("deep JSON", deep.into_bytes(), Some(false)),
        ("only blank lines", b"\n \n\t\n".to_vec(), Some(false)),
        ("CR line ends", b"{\"text\": \"ab\"}\r\n{\"prompt\": \"1+1=\", \"answer\": \"2\"}\r\n".to_vec(), Some(true)),
        ("one byte", b"a".to_vec(), Some(false)),
    ];
    for (what, bytes, jsonl_ok) in cases {
        let (j, _) = data_target(&dir, &bytes);
        if let Some(want) = jsonl_ok {
            assert_eq!(j, want, "{what}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------------------------
// checkpoint

/// A real (untrained) checkpoint of a tiny run: `meta.json` and `model.safetensors` as `checkpoint::save` writes
/// them, and the run's meta.
fn tiny_checkpoint(dir: &Path, extra: &str) -> checkpoint::Meta {
    let text = default_with(&format!(
        "model.width = 16\n  model.heads = 2\n  model.layers = 1\n  model.context = 32\n  \
         data.train = task.sum3(digits = 6, count = 50)\n  learn.steps = 2\n  {extra}"
    ));
    let plan = thinktok::compile_str(SPEC_NAME, &text).map_err(|d| d.render(false)).unwrap();
    let run = plan.runs.into_iter().next().unwrap();
    let built = build_run_model(&run.params, &Device::Cpu).unwrap();
    let meta = checkpoint::Meta {
        checkpoint_version: checkpoint::CHECKPOINT_VERSION,
        tokenizer: checkpoint::TOKENIZER.into(),
        run,
        step: 2,
        rng: 7,
        sampler: SamplerState { items: 50, epoch_rng: 1, epoch: 0, cursor: 8 },
        tokens_seen: 64,
        positions: 192,
        finished: true,
        eval: None,
    };
    checkpoint::save(dir, &built.varmap, None, &meta).unwrap();
    meta
}

/// What the `checkpoint` target does with a folder (as `thinktok eval --ckpt`): read the meta, validate its run,
/// build the model of a small valid run and load the weights. `Ok` only when the weights loaded.
fn checkpoint_target(dir: &Path) -> Result<(), String> {
    let (found, meta) = checkpoint::read_meta(dir).map_err(|e| format!("{e:#}"))?;
    let estimates = thinktok::plan_file::validate_run("fuzz/meta.json", "its run", &meta.run)
        .map_err(|problems| problems.join("\n"))?;
    if estimates.peak_memory_bytes >= 256 << 20 {
        return Err("too big to build here".into());
    }
    let built = build_run_model(&meta.run.params, &Device::Cpu).map_err(|e| format!("{e:#}"))?;
    checkpoint::load_weights(&found, &built.varmap, &Device::Cpu).map_err(|e| format!("{e:#}"))
}

/// A safetensors file: 8 bytes of header length, the JSON header, the data.
fn safetensors(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// Truncated, forged and mistyped `model.safetensors` files next to a valid `meta.json`: each is an error.
#[test]
fn hostile_model_files_are_errors() {
    for (name, extra) in
        [("plain", ""), ("gated", "episode.insertion = fast_forward()\n  episode.thoughts = continuous(mix = gated)")]
    {
        let dir = scratch(&format!("ckpt-{name}"));
        tiny_checkpoint(&dir, extra);
        assert_eq!(checkpoint_target(&dir), Ok(()), "{name}: the untouched checkpoint loads");
        let model_path = dir.join(checkpoint::MODEL_FILE);
        let good = std::fs::read(&model_path).unwrap();
        let tensors: HashMap<String, Tensor> = candle_core::safetensors::load(&model_path, &Device::Cpu).unwrap();
        let (first, first_tensor) = tensors.iter().min_by_key(|(k, _)| k.as_str()).unwrap();
        let dims = first_tensor.dims().to_vec();
        let numel: usize = dims.iter().product();

        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        for cut in [0, 1, 7, 8, 9, 100, good.len() / 2, good.len() - 1] {
            files.push((format!("truncated at {cut}"), good[..cut].to_vec()));
        }
        let mut flipped = good.clone();
        flipped[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        files.push(("header length u64::MAX".into(), flipped));
        let mut flipped = good.clone();
        flipped[..8].copy_from_slice(&((good.len() as u64) - 7).to_le_bytes());
        files.push(("header length past the data".into(), flipped));
        files.push(("not JSON".into(), safetensors("{{{{", &[])));
        files.push(("empty header".into(), safetensors("{}", &[])));
        files.push(("only metadata".into(), safetensors("{\"__metadata__\": {\"a\": \"b\"}}", &[])));
        let huge = format!(
            "{{\"{first}\": {{\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296], \"data_offsets\": [0, 16]}}}}"
        );
        files.push(("shape product past usize".into(), safetensors(&huge, &[0; 16])));
        let over = format!(
            "{{\"{first}\": {{\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 18446744073709551615]}}}}"
        );
        files.push(("offsets past the end".into(), safetensors(&over, &[0; 4])));
        let backwards = format!("{{\"{first}\": {{\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 0]}}}}");
        files.push(("offsets backwards".into(), safetensors(&backwards, &[0; 4])));
        // One tensor of the right name and shape in other dtypes, or of a wrong shape: the others are missing.
        for (dtype, size) in [("F64", 8), ("F16", 2), ("BF16", 2), ("I64", 8), ("U8", 1), ("U32", 4), ("BOOL", 1)] {
            let header = format!(
                "{{\"{first}\": {{\"dtype\": \"{dtype}\", \"shape\": {dims:?}, \"data_offsets\": [0, {}]}}}}",
                numel * size
            );
            files.push((format!("one {dtype} tensor"), safetensors(&header, &vec![0x3f; numel * size])));
        }
        // Every tensor, the first of another shape.
        let mut wrong: HashMap<String, Tensor> = tensors.clone();
        wrong.insert(first.clone(), Tensor::zeros(numel + 1, DType::F32, &Device::Cpu).unwrap());
        let wrong_path = dir.join("wrong.safetensors");
        candle_core::safetensors::save(&wrong, &wrong_path).unwrap();
        files.push(("a tensor of another shape".into(), std::fs::read(&wrong_path).unwrap()));
        // Every tensor and one more.
        let mut extra_tensor = tensors.clone();
        extra_tensor.insert("h.99.attn.c_attn.weight".into(), Tensor::zeros(4, DType::F32, &Device::Cpu).unwrap());
        candle_core::safetensors::save(&extra_tensor, &wrong_path).unwrap();
        files.push(("one tensor too many".into(), std::fs::read(&wrong_path).unwrap()));

        for (what, bytes) in files {
            std::fs::write(&model_path, &bytes).unwrap();
            assert!(checkpoint_target(&dir).is_err(), "{name}: {what}");
        }
        std::fs::remove_file(&model_path).unwrap();
        assert!(checkpoint_target(&dir).is_err(), "{name}: no model file");
        // The same weights in F64 (what another tool may write): converted on load, not refused.
        let f64s: HashMap<String, Tensor> =
            tensors.iter().map(|(k, t)| (k.clone(), t.to_dtype(DType::F64).unwrap())).collect();
        candle_core::safetensors::save(&f64s, &model_path).unwrap();
        assert_eq!(checkpoint_target(&dir), Ok(()), "{name}: F64 weights");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Hand-edited `meta.json` files: `heads: 3` (with the id recomputed, so the checker itself must refuse it),
/// `layers: 0`, other versions and tokenizers, truncations. Each is an error before any model is built; a model
/// of such parameters, built directly, is an error too rather than a panic.
#[test]
fn hostile_meta_files_are_errors() {
    let dir = scratch("ckpt-meta");
    let meta = tiny_checkpoint(&dir, "");
    let meta_path = dir.join(checkpoint::META_FILE);
    let good = std::fs::read_to_string(&meta_path).unwrap();
    assert_eq!(checkpoint_target(&dir), Ok(()));

    let edited = |f: &dyn Fn(&mut checkpoint::Meta)| {
        let mut m = meta.clone();
        f(&mut m);
        m.run.id = m.run.params.identity();
        m
    };
    let set_model = |f: fn(&mut thinktok::plan::GptConfig)| {
        edited(&|m: &mut checkpoint::Meta| {
            if let ModelConfig::Gpt(cfg) = &mut m.run.params.model {
                f(cfg);
            }
        })
    };
    let metas = [
        ("heads 3", set_model(|c| c.heads = 3)),
        ("heads 0", set_model(|c| c.heads = 0)),
        ("layers 0", set_model(|c| c.layers = 0)),
        ("width 0", set_model(|c| c.width = 0)),
        ("context 0", set_model(|c| c.context = 0)),
        ("vocab 0", set_model(|c| c.vocab_size = 0)),
        ("width usize::MAX", set_model(|c| c.width = usize::MAX as _)),
    ];
    for (what, m) in &metas {
        std::fs::write(&meta_path, serde_json::to_string_pretty(m).unwrap()).unwrap();
        assert!(checkpoint_target(&dir).is_err(), "{what}");
    }
    // Small broken models built directly (as a caller skipping validation would): an error or a model, no panic.
    for (_, m) in &metas[..6] {
        if let Ok(built) = build_run_model(&m.run.params, &Device::Cpu) {
            let _ = checkpoint::load_weights(&dir, &built.varmap, &Device::Cpu);
        }
    }
    let texts = [
        good.replacen("\"checkpoint_version\": 1", "\"checkpoint_version\": 4294967296", 1),
        good.replacen("\"tokenizer\": \"byte-260\"", "\"tokenizer\": \"\"", 1),
        good.replacen("\"heads\": 2", "\"heads\": 3", 1),
        good.replacen("\"step\": 2", "\"step\": -1", 1),
        good[..good.len() / 2].to_string(),
        String::new(),
        "null".into(),
        format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)),
    ];
    for text in texts {
        std::fs::write(&meta_path, &text).unwrap();
        assert!(checkpoint_target(&dir).is_err(), "{text:.60}");
    }
    std::fs::write(&meta_path, [0xff, 0xfe, 0x00]).unwrap();
    assert!(checkpoint_target(&dir).is_err(), "not UTF-8");
    let _ = std::fs::remove_dir_all(&dir);
}
