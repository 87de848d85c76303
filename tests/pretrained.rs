//! Pretrained llama checkpoints on models the tests write themselves: the GGUF and Hugging Face loaders agree
//! (logits and token ids), the cached chunked forward equals the full forward, fast-forward equals the naive
//! reference, every trained parameter receives a gradient, broken files get one clear message, and a run trains,
//! resumes bit-exactly, evaluates and generates. The real SmolLM2 is `#[ignore]`d (see `scripts/fetch-smollm2.sh`).

mod pretrained_support;

use std::path::Path;
use std::process::Command;

use candle_core::quantized::GgmlDType;
use candle_core::{Device, Tensor};
use pretrained_support as tiny;
use thinktok::engine::episode::bias::ThoughtBias;
use thinktok::engine::episode::fast_forward::{fast_forward, fast_forward_naive};
use thinktok::engine::episode::walk::Policy;
use thinktok::engine::learn::{build_run_model, Built};
use thinktok::engine::rng::Rng;
use thinktok::engine::run::{run_plan, RunOptions};
use thinktok::plan::{Plan, EOT_ID, THOUGHT_ID};

const DATA: &str = "  data {\n    train = task.sum3(digits = 4, count = 64)\n    test = task.sum3(digits = 4, count = 16, seed = 1)\n  }\n";

fn compile(path: &Path, extra_model: &str, body: &str) -> Plan {
    let text = tiny::spec(path, extra_model, &format!("{DATA}{body}"));
    thinktok::compile_str("tiny.think", &text).unwrap_or_else(|d| panic!("{}", d.render(false)))
}

fn build(path: &Path, extra_model: &str, body: &str) -> Built {
    build_run_model(&compile(path, extra_model, body).runs[0].params, &Device::Cpu).expect("model")
}

/// The tiny model written both ways (tied head), and an untied one as a Hugging Face folder.
fn checkpoints(name: &str) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let dir = tiny::scratch(name);
    let tensors = tiny::tensors(7, true);
    let (hf, gguf) = (dir.join("hf"), dir.join("tiny.gguf"));
    tiny::write_hf(&hf, &tensors, true);
    tiny::write_gguf(&gguf, &tensors, GgmlDType::F32, "smollm");
    let untied = dir.join("hf-untied");
    tiny::write_hf(&untied, &tiny::tensors(8, false), false);
    (hf, gguf, untied)
}

fn ids(seed: u64, lens: &[usize]) -> Vec<Vec<u32>> {
    let mut rng = Rng::new(seed);
    lens.iter().map(|&n| (0..n).map(|_| rng.below(250) as u32).collect()).collect()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
}

#[test]
fn gguf_and_hugging_face_loaders_give_the_same_logits_and_token_ids() {
    let (hf, gguf, _) = checkpoints("same");
    let (a, b) = (build(&hf, "", ""), build(&gguf, "", ""));
    let texts = [
        "the answer is 42, then 315+120=435.",
        "In the beginning there was the thought.",
        "a<|thought|>b<|endoftext|>",
    ];
    for text in texts {
        let (x, y) = (a.tokenizer.encode(text).unwrap(), b.tokenizer.encode(text).unwrap());
        assert_eq!(x, y, "{text}");
        assert!(!x.contains(&THOUGHT_ID), "no text produces the thought: {text}");
        assert_eq!(a.tokenizer.decode(&x), text);
    }
    // The model's own end-of-text token is the engine's, and digits are split one by one.
    assert_eq!(a.tokenizer.encode("<|endoftext|>").unwrap(), vec![EOT_ID]);
    assert_eq!(a.tokenizer.encode("123").unwrap().len(), 3);
    let tokens = a.tokenizer.encode(texts[0]).unwrap();
    let tokens = Tensor::new(tokens.as_slice(), &Device::Cpu).unwrap().unsqueeze(0).unwrap();
    let (la, lb) =
        (a.model.forward_inference(&tokens).unwrap().logits, b.model.forward_inference(&tokens).unwrap().logits);
    assert_eq!(la.dims(), &[1, tokens.dim(1).unwrap(), tiny::vocab_size() + 3]);
    let diff = max_diff(&la, &lb);
    assert!(diff < 1e-4, "interleaved RoPE on GGUF's permuted rows == half-split RoPE on Hugging Face's: {diff}");
    // The gradient path (variables) computes the same values as the inference path.
    assert!(max_diff(&a.model.forward(&tokens).unwrap().logits, &la) < 1e-5);
}

#[test]
fn cached_chunked_forward_equals_full_forward_and_fast_forward_equals_naive() {
    let (hf, _, untied) = checkpoints("cached");
    for (path, model) in [(&hf, ""), (&untied, "")] {
        for continuous in [false, true] {
            let body = if continuous { "  episode {\n    thoughts = continuous\n  }\n" } else { "" };
            let built = build(path, model, body);
            let m = built.model.as_ref();
            let seqs = ids(3, &[9, 17, 5]);
            let mut cache = m.new_cache(seqs.len()).unwrap();
            let mut pos = vec![0usize; seqs.len()];
            let mut outs: Vec<Vec<Tensor>> = vec![Vec::new(); seqs.len()];
            for chunk in [4usize, 1, 7, 3, 5].iter().cycle().take(8) {
                let valid: Vec<usize> = seqs.iter().zip(&pos).map(|(s, &p)| (s.len() - p).min(*chunk)).collect();
                if valid.iter().all(|&v| v == 0) {
                    break;
                }
                let mut flat = vec![0u32; seqs.len() * chunk];
                for (b, s) in seqs.iter().enumerate() {
                    flat[b * chunk..b * chunk + valid[b]].copy_from_slice(&s[pos[b]..pos[b] + valid[b]]);
                }
                let x = Tensor::from_vec(flat, (seqs.len(), *chunk), &Device::Cpu).unwrap();
                let out = m.forward_chunk(&x, &valid, &mut cache).unwrap();
                for b in 0..seqs.len() {
                    if valid[b] > 0 {
                        outs[b].push(out.logits.get(b).unwrap().narrow(0, 0, valid[b]).unwrap());
                    }
                    pos[b] += valid[b];
                }
            }
            for (b, s) in seqs.iter().enumerate() {
                let full = m
                    .forward_inference(&Tensor::new(s.as_slice(), &Device::Cpu).unwrap().unsqueeze(0).unwrap())
                    .unwrap();
                let cached = Tensor::cat(&outs[b], 0).unwrap();
                let diff = max_diff(&cached, &full.logits.get(0).unwrap());
                assert!(diff < 1e-4, "row {b}: cached vs full {diff}");
            }
            // Fast-forward == naive, slot for slot, with thoughts made likely by a bias on the thought's logit.
            let biased = ThoughtBias::new(m, 9.0).unwrap();
            let policy = Policy { threshold: None, max_consecutive: 2, budget: 4, ..Default::default() };
            let seqs = ids(5, &[12, 20, 7, 15]);
            let (fast, _) = fast_forward(&biased, &seqs, None, &policy, 5).unwrap();
            let (naive, _) = fast_forward_naive(&biased, &seqs, None, &policy).unwrap();
            let inserted: usize = fast.iter().map(|f| f.inserted.len()).sum();
            assert!(inserted > 0, "the biased model thinks");
            for (f, n) in fast.iter().zip(&naive) {
                assert_eq!(f.placement, n.placement);
                for (a, c) in f.ll.iter().zip(&n.ll) {
                    assert!((a - c).abs() < 1e-4, "ll {a} vs {c} (continuous {continuous})");
                }
            }
        }
    }
}

#[test]
fn every_trained_parameter_receives_a_gradient() {
    let (hf, _, untied) = checkpoints("grads");
    for (path, train, expect) in [
        (&hf, "all()", 2 + 9 * tiny::LAYERS),
        (&untied, "all()", 3 + 9 * tiny::LAYERS),
        (&hf, "last(layers = 1)", 2 + 9),
    ] {
        let built = build(path, &format!("    train = {train}\n"), "");
        let tokens = Tensor::new(ids(1, &[11])[0].as_slice(), &Device::Cpu).unwrap().unsqueeze(0).unwrap();
        let logits = built.model.forward(&tokens).unwrap().logits;
        let loss = logits.sqr().unwrap().sum_all().unwrap();
        let grads = loss.backward().unwrap();
        let vars = built.varmap.all_vars();
        assert_eq!(vars.len(), expect, "{train}: trained tensors");
        for var in &vars {
            let g = grads.get(var).unwrap_or_else(|| panic!("{train}: a variable {:?} got no gradient", var.dims()));
            let norm = g.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(norm > 0.0 && norm.is_finite(), "{train}: zero gradient for {:?}", var.dims());
        }
    }
}

fn thinktok(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_thinktok")).args(args).env("RUST_BACKTRACE", "1").output().unwrap()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `thinktok check` (and `run`) on a spoilt checkpoint: exit 1, one message that says `expected`, no panic.
fn refused(dir: &Path, name: &str, path: &Path, command: &str, expected: &str) {
    let spec = dir.join(format!("{name}.think"));
    std::fs::write(&spec, tiny::spec(path, "", &format!("{DATA}  learn {{\n    steps = 1\n  }}\n"))).unwrap();
    let out_dir = dir.join(format!("out-{name}"));
    let out = match command {
        "check" => thinktok(&["check", spec.to_str().unwrap()]),
        _ => thinktok(&["run", spec.to_str().unwrap(), "--out", out_dir.to_str().unwrap(), "--quiet"]),
    };
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{name}: {err}");
    assert!(err.contains(expected), "{name}: expected `{expected}` in\n{err}");
    assert!(!err.contains("panicked") && !err.contains("stack backtrace"), "{name}: {err}");
}

#[test]
fn broken_checkpoints_get_one_clear_message() {
    let (hf, gguf, _) = checkpoints("broken");
    let dir = hf.parent().unwrap().to_path_buf();
    refused(&dir, "missing", &dir.join("nope.gguf"), "check", "E0320");
    let bytes = std::fs::read(&gguf).unwrap();
    let header_cut = dir.join("header-cut.gguf");
    std::fs::write(&header_cut, &bytes[..200]).unwrap();
    refused(&dir, "header-cut", &header_cut, "check", "is not a readable GGUF file");
    let data_cut = dir.join("data-cut.gguf");
    std::fs::write(&data_cut, &bytes[..bytes.len() - 4096]).unwrap();
    refused(&dir, "data-cut", &data_cut, "run", "cannot be read");
    // A Hugging Face folder whose query projection has the wrong shape.
    let mut tensors = tiny::tensors(7, true);
    tensors.insert(
        "model.layers.1.self_attn.q_proj.weight".into(),
        Tensor::zeros((8, tiny::WIDTH), candle_core::DType::F32, &Device::Cpu).unwrap(),
    );
    let wrong = dir.join("wrong-shape");
    tiny::write_hf(&wrong, &tensors, true);
    refused(
        &dir,
        "wrong-shape",
        &wrong,
        "run",
        "`model.layers.1.self_attn.q_proj.weight` is [8, 32], expected [32, 32]",
    );
    let cut = dir.join("safetensors-cut");
    tiny::write_hf(&cut, &tiny::tensors(7, true), true);
    let st = std::fs::read(cut.join("model.safetensors")).unwrap();
    std::fs::write(cut.join("model.safetensors"), &st[..st.len() / 2]).unwrap();
    refused(&dir, "safetensors-cut", &cut, "run", "model.safetensors");
    // Another architecture, and a longer context than the model's.
    let neox = dir.join("neox");
    tiny::write_hf(&neox, &tiny::tensors(7, true), true);
    let config = std::fs::read_to_string(neox.join("config.json")).unwrap().replace("\"llama\"", "\"gpt_neox\"");
    std::fs::write(neox.join("config.json"), config).unwrap();
    refused(&dir, "neox", &neox, "check", "E0322");
    let spec = dir.join("long.think");
    std::fs::write(&spec, tiny::spec(&hf, "", DATA).replace("context = 64", "context = 512")).unwrap();
    let out = thinktok(&["check", spec.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("E0323") && stderr(&out).contains("context of 128"), "{}", stderr(&out));
}

#[test]
fn a_pretrained_episodic_run_resumes_bit_exactly_then_evaluates_and_generates() {
    let (hf, _, _) = checkpoints("run");
    let body = "  episode {\n    samples = 4\n    rounds = 2\n    thought_budget = 2\n    thoughts = continuous\n    \
                insertion = fast_forward(fallback = best_rank)\n  }\n  \
                learn {\n    steps = 4\n    batch = 4\n    unroll = 2\n  }\n  eval {\n    every = 2\n    checkpoint_every = 2\n  }\n";
    let plan = compile(&hf, "    train = last(layers = 1)\n", body);
    let id = &plan.runs[0].id;
    let dir = hf.parent().unwrap();
    let (straight, resumed) = (dir.join("straight"), dir.join("resumed"));
    let done = run_plan(&plan, &RunOptions::quiet(straight.clone())).unwrap();
    assert!(done.runs[0].eval.as_ref().is_some_and(|e| e.real_nll.is_finite()));
    run_plan(&plan, &RunOptions { stop_after: Some(2), ..RunOptions::quiet(resumed.clone()) }).unwrap();
    let again = run_plan(&plan, &RunOptions { resume: true, ..RunOptions::quiet(resumed.clone()) }).unwrap();
    assert_eq!(again.runs[0].eval, done.runs[0].eval);
    for file in ["model.safetensors", "optimizer.safetensors"] {
        let read = |d: &Path| std::fs::read(d.join(id).join("final").join(file)).unwrap();
        assert!(read(&straight) == read(&resumed), "{file} bit for bit");
    }
    let ckpt = straight.join(id).join("final");
    let eval = thinktok(&["eval", "--ckpt", ckpt.to_str().unwrap(), "--json"]);
    assert!(eval.status.success(), "{}", stderr(&eval));
    let gen = thinktok(&[
        "generate",
        "--ckpt",
        ckpt.to_str().unwrap(),
        "-p",
        "12+34=",
        "-p",
        "the",
        "--max-tokens",
        "5",
        "--json",
    ]);
    assert!(gen.status.success(), "{}", stderr(&gen));
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&gen.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l["tokens"].as_u64().unwrap() <= 5));
    // The pretrained model as published: eval and generate take it directly.
    let text = dir.join("passage.txt");
    std::fs::write(&text, "the thought in the beginning was the answer. ".repeat(8)).unwrap();
    let data = format!("text:{}", text.display());
    let e = thinktok(&["eval", "--model", hf.to_str().unwrap(), "--context", "32", "--data", &data, "--json"]);
    assert!(e.status.success(), "{}", stderr(&e));
    let v: serde_json::Value = serde_json::from_slice(&e.stdout).unwrap();
    assert!(v["real_nll"].as_f64().unwrap().is_finite() && v["n_tokens"].as_u64().unwrap() > 0, "{v}");
    let g = thinktok(&[
        "generate",
        "--model",
        hf.to_str().unwrap(),
        "-p",
        "the",
        "--max-tokens",
        "4",
        "--temperature",
        "0.8",
    ]);
    assert!(g.status.success(), "{}", stderr(&g));
}

/// The real SmolLM2-135M-Instruct: fetch it with `scripts/fetch-smollm2.sh` (or point `THINKTOK_SMOLLM2` at it).
#[test]
#[ignore = "needs SmolLM2 (~98 MB): run scripts/fetch-smollm2.sh, then cargo test --release --test pretrained -- --ignored"]
fn smollm2_answers_in_english() {
    let path = std::env::var("THINKTOK_SMOLLM2").unwrap_or_else(|_| {
        format!("{}/.cache/thinktok/smollm2/SmolLM2-135M-Instruct-Q4_1.gguf", std::env::var("HOME").unwrap_or_default())
    });
    let prompt = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n";
    let out = thinktok(&["generate", "--model", &path, "-p", prompt, "--max-tokens", "12"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Paris"), "{}", String::from_utf8_lossy(&out.stdout));
}

/// Spoilt GGUF bytes (seeded mutations and cuts of the tiny model) never panic the header reader or the loader:
/// each is read, or refused with an error.
#[test]
fn mutated_gguf_files_are_read_or_refused_never_a_panic() {
    let (_, gguf, _) = checkpoints("mutated");
    let bytes = std::fs::read(&gguf).unwrap();
    let dir = gguf.parent().unwrap();
    let mut rng = Rng::new(11);
    let (mut refused, mut read) = (0, 0);
    for case in 0..120 {
        let mut b = bytes.clone();
        match case % 3 {
            0 => b.truncate(rng.below(b.len())),
            1 => {
                for _ in 0..1 + rng.below(8) {
                    let i = rng.below(b.len().min(4096));
                    b[i] = rng.below(256) as u8;
                }
            }
            _ => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
        }
        let path = dir.join(format!("m{case}.gguf"));
        std::fs::write(&path, &b).unwrap();
        let outcome = std::panic::catch_unwind(|| match thinktok::pretrained::inspect(&path) {
            Err(_) => false,
            Ok(inspected) if inspected.shape.parameters() > 1 << 22 => false,
            Ok(inspected) => {
                let shape = inspected.shape;
                let cfg = thinktok::plan::PretrainedConfig {
                    path: path.display().to_string(),
                    format: inspected.format,
                    context: 16,
                    train: thinktok::plan::TrainPart::All,
                    vocab_size: shape.vocab + thinktok::plan::SPECIAL_TOKENS,
                    shape,
                };
                thinktok::engine::pretrained::load(&cfg, &candle_nn::VarMap::new(), &Device::Cpu).is_ok()
            }
        });
        match outcome {
            Ok(true) => read += 1,
            Ok(false) => refused += 1,
            Err(_) => panic!("case {case}: a spoilt GGUF panicked"),
        }
        let _ = std::fs::remove_file(&path);
    }
    assert!(refused > 20 && read + refused == 120, "{refused} refused, {read} read");
}
