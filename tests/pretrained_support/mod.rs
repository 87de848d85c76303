//! Tiny random llama checkpoints that the tests write themselves (no downloads): one model stored as a Hugging
//! Face folder (config.json, model.safetensors, tokenizer.json) and as a GGUF file (F32 tensors, the query and key
//! rows permuted the way llama.cpp's converter does, the vocabulary and merges embedded), and helpers to spoil them.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::Value;
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};
use thinktok::engine::rng::Rng;

pub const LAYERS: usize = 2;
pub const WIDTH: usize = 32;
pub const HEADS: usize = 4;
pub const KV_HEADS: usize = 2;
pub const FFN: usize = 48;
pub const MAX_CONTEXT: usize = 128;

/// A fresh scratch folder.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("thinktok-pretrained-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// GPT-2's byte-to-character table: printable bytes stand for themselves, the rest map to 256 + n.
pub fn byte_chars() -> Vec<char> {
    let printable = |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
    let mut extra = 0;
    (0u32..256)
        .map(|b| {
            if printable(b) {
                char::from_u32(b).unwrap_or('?')
            } else {
                extra += 1;
                char::from_u32(255 + extra).unwrap_or('?')
            }
        })
        .collect()
}

/// The vocabulary: `<|endoftext|>` at 0, the 256 byte characters, then one token per merge.
pub fn vocabulary() -> (Vec<String>, Vec<(String, String)>) {
    let mut tokens = vec!["<|endoftext|>".to_string()];
    tokens.extend(byte_chars().into_iter().map(String::from));
    let merges: Vec<(String, String)> =
        [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("e", "r"), ("Ġ", "a"), ("o", "n"), ("Ġ", "s")]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
    for (a, b) in &merges {
        tokens.push(format!("{a}{b}"));
    }
    (tokens, merges)
}

pub fn vocab_size() -> usize {
    vocabulary().0.len()
}

/// tokenizer.json as Hugging Face writes it for a byte-level BPE with SmolLM's digit split.
pub fn tokenizer_json() -> String {
    let (tokens, merges) = vocabulary();
    let vocab: serde_json::Map<String, serde_json::Value> =
        tokens.iter().enumerate().map(|(i, t)| (t.clone(), serde_json::json!(i))).collect();
    let merges: Vec<String> = merges.iter().map(|(a, b)| format!("{a} {b}")).collect();
    let byte_level =
        serde_json::json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true});
    serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": [{"id": 0, "content": "<|endoftext|>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
        "normalizer": null,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": true}, byte_level]},
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null, "end_of_word_suffix": null,
                  "fuse_unk": false, "byte_fallback": false, "vocab": vocab, "merges": merges}
    })
    .to_string()
}

/// The tiny model's tensors in Hugging Face names and (out, in) layout, drawn from `seed`.
pub fn tensors(seed: u64, tied: bool) -> HashMap<String, Tensor> {
    let mut rng = Rng::new(seed);
    let dev = Device::Cpu;
    let mut normal = |dims: &[usize], std: f32| {
        let n: usize = dims.iter().product();
        // Box–Muller from the project's generator: reproducible without another dependency.
        let v: Vec<f32> = (0..n)
            .map(|_| {
                let (u1, u2) = (rng.next_f64().max(1e-12), rng.next_f64());
                ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32 * std
            })
            .collect();
        Tensor::from_vec(v, dims, &dev).expect("tensor")
    };
    let v = vocab_size();
    let kv = KV_HEADS * (WIDTH / HEADS);
    let mut t = HashMap::new();
    t.insert("model.embed_tokens.weight".to_string(), normal(&[v, WIDTH], 0.5));
    if !tied {
        t.insert("lm_head.weight".into(), normal(&[v, WIDTH], 0.5));
    }
    for i in 0..LAYERS {
        let p = |n: &str| format!("model.layers.{i}.{n}");
        let norm = normal(&[WIDTH], 0.1).affine(1.0, 1.0).expect("norm");
        t.insert(p("input_layernorm.weight"), norm.clone());
        t.insert(p("post_attention_layernorm.weight"), norm);
        t.insert(p("self_attn.q_proj.weight"), normal(&[WIDTH, WIDTH], 0.3));
        t.insert(p("self_attn.k_proj.weight"), normal(&[kv, WIDTH], 0.3));
        t.insert(p("self_attn.v_proj.weight"), normal(&[kv, WIDTH], 0.3));
        t.insert(p("self_attn.o_proj.weight"), normal(&[WIDTH, WIDTH], 0.2));
        t.insert(p("mlp.gate_proj.weight"), normal(&[FFN, WIDTH], 0.2));
        t.insert(p("mlp.up_proj.weight"), normal(&[FFN, WIDTH], 0.2));
        t.insert(p("mlp.down_proj.weight"), normal(&[WIDTH, FFN], 0.2));
    }
    t.insert("model.norm.weight".into(), normal(&[WIDTH], 0.1).affine(1.0, 1.0).expect("norm"));
    t
}

/// Write the model as a Hugging Face folder `dir`.
pub fn write_hf(dir: &Path, tensors: &HashMap<String, Tensor>, tied: bool) {
    std::fs::create_dir_all(dir).expect("dir");
    let config = serde_json::json!({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": WIDTH,
        "num_hidden_layers": LAYERS, "num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS,
        "intermediate_size": FFN, "vocab_size": vocab_size(), "max_position_embeddings": MAX_CONTEXT,
        "rope_theta": 10000.0, "rms_norm_eps": 1e-5, "tie_word_embeddings": tied, "eos_token_id": 0,
    });
    std::fs::write(dir.join("config.json"), config.to_string()).expect("config");
    std::fs::write(dir.join("tokenizer.json"), tokenizer_json()).expect("tokenizer");
    candle_core::safetensors::save(tensors, dir.join("model.safetensors")).expect("safetensors");
}

/// llama.cpp's permutation of query/key rows: each head's halves interleaved into adjacent pairs.
fn permute(w: &Tensor, heads: usize) -> Tensor {
    let (out, inp) = w.dims2().expect("2-D");
    w.reshape((heads, 2, out / heads / 2, inp))
        .and_then(|x| x.transpose(1, 2))
        .and_then(|x| x.contiguous())
        .and_then(|x| x.reshape((out, inp)))
        .expect("permute")
}

fn gguf_name(hf: &str) -> String {
    let fixed = [
        ("model.embed_tokens.weight", "token_embd.weight"),
        ("model.norm.weight", "output_norm.weight"),
        ("lm_head.weight", "output.weight"),
    ];
    if let Some((_, g)) = fixed.iter().find(|(h, _)| *h == hf) {
        return g.to_string();
    }
    let rest = hf.strip_prefix("model.layers.").expect("layer tensor");
    let (layer, part) = rest.split_once('.').expect("layer");
    let part = match part {
        "input_layernorm.weight" => "attn_norm.weight",
        "self_attn.q_proj.weight" => "attn_q.weight",
        "self_attn.k_proj.weight" => "attn_k.weight",
        "self_attn.v_proj.weight" => "attn_v.weight",
        "self_attn.o_proj.weight" => "attn_output.weight",
        "post_attention_layernorm.weight" => "ffn_norm.weight",
        "mlp.gate_proj.weight" => "ffn_gate.weight",
        "mlp.up_proj.weight" => "ffn_up.weight",
        "mlp.down_proj.weight" => "ffn_down.weight",
        other => panic!("unknown tensor {other}"),
    };
    format!("blk.{layer}.{part}")
}

/// Write the model as the GGUF file `path`, every tensor stored as `dtype` (F32 keeps it exact).
pub fn write_gguf(path: &Path, tensors: &HashMap<String, Tensor>, dtype: GgmlDType, pre: &str) {
    let (tokens, merges) = vocabulary();
    let mut q: Vec<(String, QTensor)> = Vec::new();
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    for name in names {
        let mut t = tensors[name].clone();
        if name.ends_with("q_proj.weight") {
            t = permute(&t, HEADS);
        } else if name.ends_with("k_proj.weight") {
            t = permute(&t, KV_HEADS);
        }
        let ty = if t.rank() == 1 { GgmlDType::F32 } else { dtype };
        q.push((gguf_name(name), QTensor::quantize(&t.to_dtype(DType::F32).expect("f32"), ty).expect("quantize")));
    }
    let s = |x: &str| Value::String(x.to_string());
    let u = |x: usize| Value::U32(x as u32);
    let types: Vec<Value> = (0..tokens.len()).map(|i| Value::I32(if i == 0 { 3 } else { 1 })).collect();
    let metadata: Vec<(&str, Value)> = vec![
        ("general.architecture", s("llama")),
        ("llama.block_count", u(LAYERS)),
        ("llama.context_length", u(MAX_CONTEXT)),
        ("llama.embedding_length", u(WIDTH)),
        ("llama.feed_forward_length", u(FFN)),
        ("llama.attention.head_count", u(HEADS)),
        ("llama.attention.head_count_kv", u(KV_HEADS)),
        ("llama.rope.freq_base", Value::F32(10000.0)),
        ("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
        ("tokenizer.ggml.model", s("gpt2")),
        ("tokenizer.ggml.pre", s(pre)),
        ("tokenizer.ggml.tokens", Value::Array(tokens.iter().map(|t| s(t)).collect())),
        ("tokenizer.ggml.merges", Value::Array(merges.iter().map(|(a, b)| s(&format!("{a} {b}"))).collect())),
        ("tokenizer.ggml.token_type", Value::Array(types)),
        ("tokenizer.ggml.eos_token_id", Value::U32(0)),
    ];
    let md: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
    let qt: Vec<(&str, &QTensor)> = q.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut file = std::fs::File::create(path).expect("gguf file");
    candle_core::quantized::gguf_file::write(&mut file, &md, &qt).expect("write gguf");
}

/// A spec text for the checkpoint at `path`.
pub fn spec(path: &Path, extra_model: &str, body: &str) -> String {
    format!(
        "version = 1\nexperiment \"tiny-llama\" {{\n  model pretrained {{\n    path = {:?}\n    context = 64\n{extra_model}  }}\n{body}}}\n",
        path.display().to_string()
    )
}
