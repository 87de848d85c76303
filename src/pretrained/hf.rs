//! Hugging Face checkpoints: a folder with `config.json`, `model.safetensors` and `tokenizer.json`. The shape comes
//! from `config.json`, the tensor types from the safetensors header (its first 8 + n bytes; no weight is read).

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;

use super::{InspectError, InspectErrorKind};
use crate::plan::LlamaShape;

pub const CONFIG: &str = "config.json";
pub const WEIGHTS: &str = "model.safetensors";
pub const TOKENIZER: &str = "tokenizer.json";

/// A safetensors header larger than this is refused (real headers are kilobytes to a few megabytes).
const MAX_HEADER: u64 = 100 << 20;

/// The shape of the llama model in the folder `dir`.
pub fn inspect(dir: &Path) -> Result<LlamaShape, InspectError> {
    let shown = dir.display();
    for file in [CONFIG, WEIGHTS, TOKENIZER] {
        if !dir.join(file).is_file() {
            return Err(InspectError::new(
                InspectErrorKind::Unreadable,
                format!("the Hugging Face folder `{shown}` has no `{file}`"),
                "a checkpoint folder needs config.json, model.safetensors and tokenizer.json (sharded weights are not read)",
            ));
        }
    }
    let text = std::fs::read_to_string(dir.join(CONFIG)).map_err(|e| {
        InspectError::new(
            InspectErrorKind::Unreadable,
            format!("cannot read `{shown}/{CONFIG}`: {e}"),
            "check its permissions",
        )
    })?;
    let corrupt = |m: String| {
        InspectError::new(
            InspectErrorKind::Corrupt,
            format!("`{shown}/{CONFIG}`: {m}"),
            "the configuration is incomplete",
        )
    };
    let cfg: serde_json::Value = serde_json::from_str(&text).map_err(|e| corrupt(format!("not JSON: {e}")))?;
    let model_type = cfg.get("model_type").and_then(|v| v.as_str()).unwrap_or("");
    if model_type != "llama" {
        return Err(InspectError::new(
            InspectErrorKind::Unsupported,
            format!("`{shown}` holds a `{model_type}` model; thinktok reads llama-architecture models"),
            "use a llama-architecture checkpoint (SmolLM2, TinyLlama, Llama)",
        ));
    }
    let int = |key: &str| -> Result<usize, InspectError> {
        cfg.get(key)
            .and_then(|v| v.as_u64())
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| corrupt(format!("no integer `{key}`")))
    };
    let float = |key: &str, default: f64| cfg.get(key).and_then(|v| v.as_f64()).unwrap_or(default);
    let heads = int("num_attention_heads")?;
    Ok(LlamaShape {
        layers: int("num_hidden_layers")?,
        width: int("hidden_size")?,
        heads,
        kv_heads: int("num_key_value_heads").unwrap_or(heads),
        ffn: int("intermediate_size")?,
        vocab: int("vocab_size")?,
        max_context: int("max_position_embeddings")?,
        rope_base: float("rope_theta", 10_000.0),
        rms_eps: float("rms_norm_eps", 1e-6),
        tied: cfg.get("tie_word_embeddings").and_then(|v| v.as_bool()).unwrap_or(false),
        weights: tensor_types(&dir.join(WEIGHTS))?,
    })
}

/// The distinct dtypes in a safetensors file's header, e.g. `BF16` (only F32, F16 and BF16 are read).
pub fn tensor_types(path: &Path) -> Result<String, InspectError> {
    let shown = path.display();
    let corrupt = |m: String| {
        InspectError::new(
            InspectErrorKind::Corrupt,
            format!("`{shown}`: {m}"),
            "the file may be truncated; fetch it again",
        )
    };
    let mut file = std::fs::File::open(path).map_err(|e| {
        InspectError::new(InspectErrorKind::Unreadable, format!("cannot open `{shown}`: {e}"), "check its permissions")
    })?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut len = [0u8; 8];
    file.read_exact(&mut len).map_err(|_| corrupt("shorter than a safetensors header".into()))?;
    let n = u64::from_le_bytes(len);
    if n > MAX_HEADER || n + 8 > size {
        return Err(corrupt(format!("a header of {n} bytes in a file of {size}")));
    }
    let mut header = vec![0u8; n as usize];
    file.read_exact(&mut header).map_err(|_| corrupt("the header is cut short".into()))?;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&header).map_err(|e| corrupt(format!("the header is not JSON: {e}")))?;
    let mut types = BTreeSet::new();
    for (name, info) in &header {
        if name == "__metadata__" {
            continue;
        }
        let dtype = info
            .get("dtype")
            .and_then(|d| d.as_str())
            .ok_or_else(|| corrupt(format!("tensor `{name}` has no dtype")))?;
        if !matches!(dtype, "F32" | "F16" | "BF16") {
            return Err(InspectError::new(
                InspectErrorKind::Unsupported,
                format!("`{shown}`: tensor `{name}` is {dtype}; thinktok reads F32, F16 and BF16 safetensors"),
                "convert the weights to a float type",
            ));
        }
        types.insert(dtype.to_string());
    }
    Ok(types.into_iter().collect::<Vec<_>>().join(", "))
}
