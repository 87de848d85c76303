//! GGUF checkpoints (llama.cpp's format): the header's metadata and tensor table, read by candle's `gguf_file`
//! (which bounds every length by the file's size, so a corrupt header is an error, not an allocation).

use std::collections::BTreeSet;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::quantized::GgmlDType;

use super::{InspectError, InspectErrorKind};
use crate::plan::LlamaShape;

/// Tensor types thinktok dequantises (to f32 for training).
pub const SUPPORTED: &[GgmlDType] =
    &[GgmlDType::F32, GgmlDType::F16, GgmlDType::BF16, GgmlDType::Q4_0, GgmlDType::Q4_1, GgmlDType::Q8_0];

/// A GGUF file's header, and the shape it describes.
pub struct Header {
    pub content: Content,
    pub shape: LlamaShape,
}

/// Read the header of the GGUF file at `path` (not its weights).
pub fn inspect(path: &Path) -> Result<Header, InspectError> {
    let shown = path.display().to_string();
    let file = File::open(path).map_err(|e| {
        InspectError::new(
            InspectErrorKind::Unreadable,
            format!("cannot open `{shown}`: {e}"),
            "check the path and its permissions",
        )
    })?;
    let content = Content::read(&mut BufReader::new(file)).map_err(|e| {
        InspectError::new(
            InspectErrorKind::Corrupt,
            format!("`{shown}` is not a readable GGUF file: {e}"),
            "the file may be truncated or not GGUF; fetch it again",
        )
    })?;
    let shape = shape(&content, &shown)?;
    Ok(Header { content, shape })
}

fn shape(c: &Content, shown: &str) -> Result<LlamaShape, InspectError> {
    let corrupt = |m: String| {
        InspectError::new(
            InspectErrorKind::Corrupt,
            format!("`{shown}`: {m}"),
            "the GGUF header is incomplete; fetch the file again",
        )
    };
    let arch = match c.metadata.get("general.architecture") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(corrupt("no `general.architecture` in the header".into())),
    };
    if arch != "llama" {
        return Err(InspectError::new(
            InspectErrorKind::Unsupported,
            format!("`{shown}` is a `{arch}` model; thinktok reads llama-architecture models"),
            "use a llama-architecture checkpoint (SmolLM2, TinyLlama, Llama)",
        ));
    }
    let int = |key: &str| -> Result<usize, InspectError> {
        let v = c.metadata.get(&format!("llama.{key}")).ok_or_else(|| corrupt(format!("no `llama.{key}`")))?;
        let n = v
            .to_u64()
            .or_else(|_| v.to_u32().map(u64::from))
            .map_err(|_| corrupt(format!("`llama.{key}` is not an integer")))?;
        usize::try_from(n).map_err(|_| corrupt(format!("`llama.{key}` = {n} is too large")))
    };
    let float = |key: &str, default: f64| -> f64 {
        c.metadata.get(&format!("llama.{key}")).and_then(|v| v.to_f32().ok()).map_or(default, f64::from)
    };
    let heads = int("attention.head_count")?;
    let tokens = match c.metadata.get("tokenizer.ggml.tokens") {
        Some(Value::Array(a)) => a.len(),
        _ => return Err(corrupt("no `tokenizer.ggml.tokens` (the vocabulary)".into())),
    };
    let embed =
        c.tensor_infos.get("token_embd.weight").ok_or_else(|| corrupt("no `token_embd.weight` tensor".into()))?;
    let vocab = embed.shape.dims().first().copied().unwrap_or(0);
    if vocab != tokens {
        return Err(corrupt(format!("the embedding has {vocab} rows but the vocabulary {tokens} tokens")));
    }
    tokenizer_kind(c, shown)?;
    let mut types = BTreeSet::new();
    for (name, info) in &c.tensor_infos {
        if !SUPPORTED.contains(&info.ggml_dtype) {
            return Err(InspectError::new(
                InspectErrorKind::Unsupported,
                format!("`{shown}`: tensor `{name}` is stored as {:?}, a quantisation thinktok does not read", info.ggml_dtype),
                "supported: F32, F16, BF16, Q4_0, Q4_1, Q8_0 (re-quantise the model, e.g. with llama.cpp's `llama-quantize`)",
            ));
        }
        types.insert(format!("{:?}", info.ggml_dtype));
    }
    Ok(LlamaShape {
        layers: int("block_count")?,
        width: int("embedding_length")?,
        heads,
        kv_heads: int("attention.head_count_kv").unwrap_or(heads),
        ffn: int("feed_forward_length")?,
        vocab,
        max_context: int("context_length")?,
        rope_base: float("rope.freq_base", 10_000.0),
        rms_eps: float("attention.layer_norm_rms_epsilon", 1e-5),
        tied: !c.tensor_infos.contains_key("output.weight"),
        weights: types.into_iter().collect::<Vec<_>>().join(", "),
    })
}

/// How the embedded vocabulary is pre-tokenized: by `tokenizer.ggml.pre`, for the byte-level BPE tokenizers
/// (`tokenizer.ggml.model = "gpt2"`) thinktok builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreTokenizer {
    /// GPT-2's byte-level split.
    ByteLevel,
    /// Every digit alone, then GPT-2's byte-level split (SmolLM's).
    DigitsThenByteLevel,
}

/// The tokenizer a GGUF's metadata describes, or why thinktok cannot build it.
pub fn tokenizer_kind(c: &Content, shown: &str) -> Result<PreTokenizer, InspectError> {
    let text = |k: &str| match c.metadata.get(k) {
        Some(Value::String(s)) => Some(s.as_str()),
        _ => None,
    };
    let unsupported = |m: String| {
        InspectError::new(
            InspectErrorKind::Unsupported,
            format!("`{shown}`: {m}"),
            "thinktok builds byte-level BPE tokenizers (`gpt2`) with the `smollm`, `gpt2` or `default` pre-tokenizer; \
             use a Hugging Face folder with its tokenizer.json instead",
        )
    };
    match text("tokenizer.ggml.model") {
        Some("gpt2") => {}
        Some(other) => return Err(unsupported(format!("its tokenizer is `{other}`"))),
        None => return Err(unsupported("it names no tokenizer (`tokenizer.ggml.model`)".into())),
    }
    match text("tokenizer.ggml.pre").unwrap_or("default") {
        "smollm" => Ok(PreTokenizer::DigitsThenByteLevel),
        "gpt2" | "default" => Ok(PreTokenizer::ByteLevel),
        other => Err(unsupported(format!("its pre-tokenizer `{other}` is not one thinktok builds"))),
    }
}
