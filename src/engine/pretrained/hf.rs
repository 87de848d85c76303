//! Reading a Hugging Face checkpoint folder: `model.safetensors` memory-mapped (tensors converted to f32 as they
//! are read), `tokenizer.json` through the `tokenizers` crate.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device};

use super::{check_tensors, Raw};
use crate::engine::data::Subword;
use crate::engine::error::invalid;
use crate::engine::model::RopeStyle;
use crate::plan::LlamaShape;
use crate::pretrained::hf::{inspect, TOKENIZER, WEIGHTS};

pub(super) fn read(dir: &Path, shape: &LlamaShape, device: &Device) -> anyhow::Result<Raw> {
    let shown = dir.display().to_string();
    let now = inspect(dir).map_err(|e| invalid(e.to_string()))?;
    if &now != shape {
        return Err(invalid(format!(
            "`{shown}` has changed since the plan was made (its shape is now {now:?}); check the spec again"
        )));
    }
    let weights = dir.join(WEIGHTS);
    // SAFETY: the file is mapped read-only; thinktok never writes a checkpoint it reads in place, and a file
    // changed underneath a run is the user's doing (as with any memory-mapped reader such as transformers').
    let st = unsafe { candle_core::safetensors::MmapedSafetensors::new(&weights) }
        .map_err(|e| invalid(format!("`{}` is not a readable safetensors file: {e}", weights.display())))?;
    let mut tensors = HashMap::new();
    for (name, _) in st.tensors() {
        let t = st
            .load(&name, device)
            .and_then(|t| t.to_dtype(DType::F32))
            .map_err(|e| invalid(format!("`{}`: tensor `{name}` cannot be read: {e}", weights.display())))?;
        tensors.insert(name, t);
    }
    if shape.tied {
        // Some tied checkpoints store the head anyway: it is the embedding.
        tensors.remove("lm_head.weight");
    }
    check_tensors(&tensors, shape, str::to_string).map_err(|e| invalid(format!("`{}`: {e}", weights.display())))?;
    if let Some(extra) = tensors.keys().find(|k| !k.starts_with("model.") && *k != "lm_head.weight") {
        return Err(invalid(format!("`{}`: tensor `{extra}` is not part of a llama model", weights.display())));
    }
    let json = std::fs::read_to_string(dir.join(TOKENIZER))
        .map_err(|e| invalid(format!("cannot read `{shown}/{TOKENIZER}`: {e}")))?;
    let tokenizer = Subword::from_json(&json, shape.vocab, eos_token(dir))
        .map_err(|e| invalid(format!("`{shown}/{TOKENIZER}`: {e:#}")))?;
    Ok(Raw { tensors, tokenizer, style: RopeStyle::HalfSplit })
}

/// `eos_token_id` of `config.json` (a number, or the first of a list).
fn eos_token(dir: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(dir.join(crate::pretrained::hf::CONFIG)).ok()?;
    let cfg: serde_json::Value = serde_json::from_str(&text).ok()?;
    let eos = cfg.get("eos_token_id")?;
    let id = eos.as_u64().or_else(|| eos.as_array()?.first()?.as_u64())?;
    u32::try_from(id).ok()
}
