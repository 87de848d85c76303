//! Reading a GGUF checkpoint: tensors dequantised to f32 under their Hugging Face names, and the tokenizer built
//! from the embedded vocabulary (`tokenizer.ggml.tokens`, `merges`, `token_type`, `pre`) as a `tokenizer.json`
//! that the `tokenizers` crate reads.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::Device;

use super::{check_tensors, Raw};
use crate::engine::data::Subword;
use crate::engine::error::invalid;
use crate::engine::model::RopeStyle;
use crate::plan::LlamaShape;
use crate::pretrained::gguf::{inspect, tokenizer_kind, PreTokenizer};

/// The Hugging Face name of a GGUF tensor name (`blk.3.attn_q.weight` → `model.layers.3.self_attn.q_proj.weight`).
pub fn hf_name(gguf: &str) -> Option<String> {
    let fixed = match gguf {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(f) = fixed {
        return Some(f.to_string());
    }
    let rest = gguf.strip_prefix("blk.")?;
    let (layer, part) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let part = match part {
        "attn_norm.weight" => "input_layernorm.weight",
        "attn_q.weight" => "self_attn.q_proj.weight",
        "attn_k.weight" => "self_attn.k_proj.weight",
        "attn_v.weight" => "self_attn.v_proj.weight",
        "attn_output.weight" => "self_attn.o_proj.weight",
        "ffn_norm.weight" => "post_attention_layernorm.weight",
        "ffn_gate.weight" => "mlp.gate_proj.weight",
        "ffn_up.weight" => "mlp.up_proj.weight",
        "ffn_down.weight" => "mlp.down_proj.weight",
        _ => return None,
    };
    Some(format!("model.layers.{layer}.{part}"))
}

/// The GGUF name of a Hugging Face tensor name (the inverse of [`hf_name`]), for messages.
fn gguf_name(hf: &str, content: &Content) -> String {
    content.tensor_infos.keys().find(|k| hf_name(k).as_deref() == Some(hf)).cloned().unwrap_or_else(|| hf.to_string())
}

pub(super) fn read(path: &Path, shape: &LlamaShape, device: &Device) -> anyhow::Result<Raw> {
    let shown = path.display().to_string();
    let header = inspect(path).map_err(|e| invalid(e.to_string()))?;
    if &header.shape != shape {
        return Err(invalid(format!(
            "`{shown}` has changed since the plan was made (its shape is now {:?}); check the spec again",
            header.shape
        )));
    }
    let content = header.content;
    let file = File::open(path).map_err(|e| invalid(format!("cannot open `{shown}`: {e}")))?;
    let mut reader = BufReader::new(file);
    let mut tensors = HashMap::new();
    for (name, info) in &content.tensor_infos {
        let Some(hf) = hf_name(name) else {
            return Err(invalid(format!("`{shown}`: tensor `{name}` is not part of a llama model thinktok reads")));
        };
        let q = info
            .read(&mut reader, content.tensor_data_offset, device)
            .map_err(|e| invalid(format!("`{shown}`: tensor `{name}` cannot be read: {e}")))?;
        let t = q.dequantize(device).map_err(|e| invalid(format!("`{shown}`: tensor `{name}`: {e}")))?;
        tensors.insert(hf, t);
    }
    check_tensors(&tensors, shape, |hf| gguf_name(hf, &content)).map_err(|e| invalid(format!("`{shown}`: {e}")))?;
    let pre = tokenizer_kind(&content, &shown).map_err(|e| invalid(e.to_string()))?;
    let json = tokenizer_json(&content, pre).map_err(|e| invalid(format!("`{shown}`: {e}")))?;
    let eos = content.metadata.get("tokenizer.ggml.eos_token_id").and_then(|v| v.to_u32().ok());
    let tokenizer = Subword::from_json(&json, shape.vocab, eos).map_err(|e| invalid(format!("`{shown}`: {e:#}")))?;
    // llama.cpp's converter permutes the query and key rows so that adjacent pairs rotate together.
    Ok(Raw { tensors, tokenizer, style: RopeStyle::Interleaved })
}

fn strings(content: &Content, key: &str) -> anyhow::Result<Vec<String>> {
    match content.metadata.get(key) {
        Some(Value::Array(items)) => items.iter().map(|v| Ok(v.to_string()?.clone())).collect(),
        _ => anyhow::bail!("no `{key}` array"),
    }
}

/// A `tokenizer.json` for the embedded byte-level BPE vocabulary: the vocabulary and merges, control tokens
/// (`token_type` 3) as special added tokens, the pre-tokenizer `pre` names, a byte-level decoder.
pub fn tokenizer_json(content: &Content, pre: PreTokenizer) -> anyhow::Result<String> {
    let tokens = strings(content, "tokenizer.ggml.tokens")?;
    let merges = strings(content, "tokenizer.ggml.merges").unwrap_or_default();
    let types: Vec<i64> = match content.metadata.get("tokenizer.ggml.token_type") {
        Some(Value::Array(items)) => items.iter().map(|v| v.to_i32().map(i64::from).unwrap_or(1)).collect(),
        _ => vec![1; tokens.len()],
    };
    let vocab: serde_json::Map<String, serde_json::Value> =
        tokens.iter().enumerate().map(|(i, t)| (t.clone(), serde_json::json!(i))).collect();
    let added: Vec<serde_json::Value> = tokens
        .iter()
        .enumerate()
        .filter(|(i, _)| types.get(*i) == Some(&3))
        .map(|(i, t)| {
            serde_json::json!({"id": i, "content": t, "single_word": false, "lstrip": false, "rstrip": false,
                               "normalized": false, "special": true})
        })
        .collect();
    let byte_level =
        serde_json::json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true});
    let pre_tokenizer = match pre {
        PreTokenizer::ByteLevel => byte_level.clone(),
        PreTokenizer::DigitsThenByteLevel => serde_json::json!({"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true}, byte_level.clone()]}),
    };
    let json = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": added, "normalizer": null,
        "pre_tokenizer": pre_tokenizer, "post_processor": null, "decoder": byte_level,
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                  "vocab": vocab, "merges": merges},
    });
    Ok(json.to_string())
}
