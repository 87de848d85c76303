//! What a pretrained checkpoint says about itself — its architecture, sizes, tensor types and tokenizer — read from
//! a GGUF header or a Hugging Face `config.json` and safetensors header, without loading a weight. The checker uses
//! it for diagnostics and estimates; the engine's loader (`engine::model::pretrained`) reads the weights.
//!
//! Only the llama architecture is supported (RMSNorm, RoPE, SwiGLU, grouped-query attention, tied or untied head).
//! Nothing here, or in the loader, ever executes code from a checkpoint.

pub mod gguf;
pub mod hf;

use std::path::Path;

use crate::plan::{CheckpointFormat, LlamaShape};

/// A checkpoint as inspected.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspected {
    pub format: CheckpointFormat,
    pub shape: LlamaShape,
}

/// Why a checkpoint cannot be used, with a hint for the user.
#[derive(Debug, Clone, PartialEq)]
pub struct InspectError {
    pub kind: InspectErrorKind,
    pub message: String,
    pub hint: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InspectErrorKind {
    /// No such file or folder, or it cannot be read.
    Unreadable,
    /// Read, but not a valid checkpoint of its format (corrupt, truncated, fields missing).
    Corrupt,
    /// Valid, but an architecture, quantisation or tokenizer thinktok does not support.
    Unsupported,
}

impl InspectError {
    pub(crate) fn new(kind: InspectErrorKind, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self { kind, message: message.into(), hint: hint.into() }
    }
}

impl std::fmt::Display for InspectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.hint)
    }
}

impl std::error::Error for InspectError {}

/// The format of `path`: a `.gguf` file, or a folder holding `config.json`.
pub fn format_of(path: &Path) -> Result<CheckpointFormat, InspectError> {
    let shown = path.display();
    if path.is_dir() {
        return Ok(CheckpointFormat::HuggingFace);
    }
    if !path.exists() {
        return Err(InspectError::new(
            InspectErrorKind::Unreadable,
            format!("no checkpoint at `{shown}`"),
            "give a `.gguf` file or a Hugging Face folder (config.json, model.safetensors, tokenizer.json); paths are \
             relative to the working directory (SmolLM2: `scripts/fetch-smollm2.sh` prints its path)",
        ));
    }
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gguf")) {
        return Ok(CheckpointFormat::Gguf);
    }
    Err(InspectError::new(
        InspectErrorKind::Unsupported,
        format!("`{shown}` is neither a `.gguf` file nor a folder"),
        "give a `.gguf` file, or the Hugging Face folder that holds config.json and model.safetensors",
    ))
}

/// Inspect the checkpoint at `path`.
pub fn inspect(path: &Path) -> Result<Inspected, InspectError> {
    let format = format_of(path)?;
    let shape = match format {
        CheckpointFormat::Gguf => gguf::inspect(path)?.shape,
        CheckpointFormat::HuggingFace => hf::inspect(path)?,
    };
    check_shape(&shape)?;
    Ok(Inspected { format, shape })
}

/// Shapes the llama model cannot run: heads that do not divide the width, KV heads that do not divide the heads,
/// an odd head width (RoPE rotates pairs).
fn check_shape(s: &LlamaShape) -> Result<(), InspectError> {
    let bad = |m: String| {
        Err(InspectError::new(InspectErrorKind::Corrupt, m, "the checkpoint's configuration is inconsistent"))
    };
    if s.layers == 0 || s.width == 0 || s.heads == 0 || s.kv_heads == 0 || s.ffn == 0 || s.vocab == 0 {
        return bad(format!("a size is 0: {s:?}"));
    }
    if s.width % s.heads != 0 || s.heads % s.kv_heads != 0 || s.head_dim() % 2 != 0 {
        return bad(format!(
            "width {} over {} heads ({} key/value heads) is not a valid llama attention shape",
            s.width, s.heads, s.kv_heads
        ));
    }
    Ok(())
}
