//! The learning forward with continuous thoughts and an unroll depth (DESIGN.md, "Unroll depth").
//!
//! `unroll = D` parallel passes over the augmented batch: pass 1 takes every thought's input from the warm start
//! (the episode's hidden states: no gradients, same weights, so pass 1 is already exact), pass `d + 1` from pass
//! `d`'s hidden states; the loss is taken on pass D, and gradients flow through all D passes but not into the warm
//! start. Every pass computes the same values; what D changes is how far gradients reach back along a chain of
//! thoughts: thought j of a row (in order) receives the full gradient of its input when D ≥ j + 1, so D ≥ k + 1
//! for a row of k thoughts backpropagates through the whole recurrence (Coconut's n + 1 passes for n thoughts), and
//! D = 1 treats every thought input as a constant.

use candle_core::Tensor;

use crate::engine::model::{previous_positions, unrolled_inputs, CausalLm, InputVectors, ModelOutput};

/// The learning forward of (B, T) `inputs`: without continuous thoughts (or without thoughts) one pass; with them
/// `unroll` passes from `warm` ((B, T, D) vectors, as [`thought_inputs`](crate::engine::episode::fast_forward::thought_inputs)
/// lays them out). Gradient-safe.
pub fn forward_unrolled(
    model: &dyn CausalLm,
    inputs: &Tensor,
    unroll: usize,
    warm: Option<&Tensor>,
) -> anyhow::Result<ModelOutput> {
    if !model.continuous_thoughts() {
        return Ok(model.forward(inputs)?);
    }
    let (b, t) = inputs.dims2()?;
    let host: Vec<u32> = inputs.flatten_all()?.to_vec1()?;
    let (mask, prev, most) = previous_positions(&host, b, t, model.device())?;
    if most == 0 {
        return Ok(model.forward(inputs)?);
    }
    let warm = warm.ok_or_else(|| anyhow::anyhow!("continuous thoughts in the learning phase need a warm start"))?;
    anyhow::ensure!(unroll >= 1, "`learn.unroll` must be at least 1");
    let mut step = InputVectors { mask: mask.clone(), vectors: warm.detach() };
    let mut out = model.forward_with(inputs, &step)?;
    for _ in 1..unroll {
        step = unrolled_inputs(&out.hidden, &prev, &mask)?;
        out = model.forward_with(inputs, &step)?;
    }
    Ok(out)
}
