//! A pretrained checkpoint loaded: its weights (GGUF dequantised, or safetensors memory-mapped) into a
//! [`Llama`], its tokenizer into a [`Tokenizer`], the vocabulary extended by the engine's special rows and ordered
//! by [`VocabOrder`] (see `data::subword`).
//!
//! The new rows: `<|thought|>` starts as the mean of the model's embedding rows (and of its head rows when the head
//! is untied): as an input it is the centroid of what the model has seen, and its logit `h·mean` is the average
//! token's, so the model starts out predicting a thought about as rarely as a typical token, not never and not
//! always, and the episode phase's fallback decides the first placements. Padding and the reserved id are zero rows
//! (padding is never a target; its input is masked out of every loss).

mod gguf;
mod hf;

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use candle_nn::VarMap;

use crate::engine::data::{Subword, Tokenizer, VocabOrder};
use crate::engine::error::invalid;
use crate::engine::model::{trainable, Llama, LlamaBlock, LlamaWeights, RopeStyle};
use crate::plan::{CheckpointFormat, LlamaShape, PretrainedConfig, TrainPart};

/// A checkpoint's tensors in Hugging Face names and layout ((out, in) linear weights), f32, and its tokenizer.
struct Raw {
    tensors: HashMap<String, Tensor>,
    tokenizer: Subword,
    style: RopeStyle,
}

/// The model and tokenizer of `cfg` on `device`; the trained parameters (per `cfg.train`) become variables in
/// `varmap`, the rest stay plain tensors. Every problem with the files is an invalid-input error naming the file.
pub fn load(cfg: &PretrainedConfig, varmap: &VarMap, device: &Device) -> anyhow::Result<(Llama, Tokenizer)> {
    let path = Path::new(&cfg.path);
    let raw = match cfg.format {
        CheckpointFormat::Gguf => gguf::read(path, &cfg.shape, device)?,
        CheckpointFormat::HuggingFace => hf::read(path, &cfg.shape, device)?,
    };
    let model = assemble(cfg, raw.tensors, raw.tokenizer.order(), varmap, raw.style)
        .map_err(|e| invalid(format!("`{}`: {e:#}", cfg.path)))?;
    Ok((model, Tokenizer::Subword(raw.tokenizer)))
}

/// The (out, in) shape every tensor must have, by Hugging Face name.
fn expected_shapes(s: &LlamaShape) -> Vec<(String, Vec<usize>)> {
    let (d, kv, f) = (s.width, s.kv_heads * s.head_dim(), s.ffn);
    let mut out =
        vec![("model.embed_tokens.weight".to_string(), vec![s.vocab, d]), ("model.norm.weight".into(), vec![d])];
    if !s.tied {
        out.push(("lm_head.weight".into(), vec![s.vocab, d]));
    }
    for i in 0..s.layers {
        let p = |n: &str| format!("model.layers.{i}.{n}");
        out.extend([
            (p("input_layernorm.weight"), vec![d]),
            (p("self_attn.q_proj.weight"), vec![d, d]),
            (p("self_attn.k_proj.weight"), vec![kv, d]),
            (p("self_attn.v_proj.weight"), vec![kv, d]),
            (p("self_attn.o_proj.weight"), vec![d, d]),
            (p("post_attention_layernorm.weight"), vec![d]),
            (p("mlp.gate_proj.weight"), vec![f, d]),
            (p("mlp.up_proj.weight"), vec![f, d]),
            (p("mlp.down_proj.weight"), vec![d, f]),
        ]);
    }
    out
}

/// Check that `tensors` holds exactly the tensors of `shape` with their shapes (extra tensors are refused too:
/// they would mean another architecture), naming the first that is missing or wrong.
fn check_tensors(
    tensors: &HashMap<String, Tensor>,
    shape: &LlamaShape,
    names: impl Fn(&str) -> String,
) -> anyhow::Result<()> {
    for (name, dims) in expected_shapes(shape) {
        match tensors.get(&name) {
            None => anyhow::bail!("tensor `{}` is missing", names(&name)),
            Some(t) if t.dims() != dims.as_slice() => {
                anyhow::bail!(
                    "tensor `{}` is {:?}, expected {dims:?} for the model's configuration",
                    names(&name),
                    t.dims()
                )
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Rows of `table` (V, D) extended by the special rows and put in the engine's order.
fn extend_rows(table: &Tensor, order: &VocabOrder) -> candle_core::Result<Tensor> {
    let (_, d) = table.dims2()?;
    let mean = table.mean_keepdim(0)?;
    let zeros = Tensor::zeros((2, d), table.dtype(), table.device())?;
    let extended = Tensor::cat(&[table, &mean, &zeros], 0)?;
    let rows = Tensor::new(order.source_rows(), table.device())?;
    extended.index_select(&rows, 0)
}

fn assemble(
    cfg: &PretrainedConfig,
    mut t: HashMap<String, Tensor>,
    order: &VocabOrder,
    varmap: &VarMap,
    style: RopeStyle,
) -> anyhow::Result<Llama> {
    let s = &cfg.shape;
    let first_trained = match cfg.train {
        TrainPart::All => 0,
        TrainPart::Last { layers } => s.layers.saturating_sub(layers),
    };
    // `take` a tensor, as a variable if trained; linear weights are transposed to (in, out).
    let mut take = |name: &str, train: bool, transpose: bool| -> anyhow::Result<Tensor> {
        let x = t.remove(name).ok_or_else(|| anyhow::anyhow!("tensor `{name}` is missing"))?;
        let x = if transpose { x.t()?.contiguous()? } else { x };
        Ok(if train { trainable(varmap, name, &x)? } else { x })
    };
    let embed = extend_rows(&take("model.embed_tokens.weight", false, false)?, order)?;
    let embed = trainable(varmap, "model.embed_tokens.weight", &embed)?;
    let head = match s.tied {
        true => None,
        false => {
            let rows = extend_rows(&take("lm_head.weight", false, false)?, order)?;
            Some(trainable(varmap, "lm_head.weight", &rows.t()?.contiguous()?)?)
        }
    };
    let mut blocks = Vec::with_capacity(s.layers);
    for i in 0..s.layers {
        let train = i >= first_trained;
        let mut w = |n: &str, tr: bool| take(&format!("model.layers.{i}.{n}"), train, tr);
        blocks.push(LlamaBlock {
            attn_norm: w("input_layernorm.weight", false)?,
            q: w("self_attn.q_proj.weight", true)?,
            k: w("self_attn.k_proj.weight", true)?,
            v: w("self_attn.v_proj.weight", true)?,
            o: w("self_attn.o_proj.weight", true)?,
            ffn_norm: w("post_attention_layernorm.weight", false)?,
            gate: w("mlp.gate_proj.weight", true)?,
            up: w("mlp.up_proj.weight", true)?,
            down: w("mlp.down_proj.weight", true)?,
        });
    }
    let norm = take("model.norm.weight", true, false)?;
    let weights = LlamaWeights { embed, blocks, norm, head, mix: None };
    Ok(Llama::new(s, weights, cfg.vocab_size, cfg.context, style)?)
}
