//! Continuous thoughts as inputs: where a `<|thought|>` stands, the model's input is the final hidden state (after
//! `ln_f`) of the position before it, plus the thought's position embedding.
//!
//! The hidden state after the final LayerNorm is taken (not the residual stream before it): it is what the head
//! reads, its scale is fixed by `ln_f` whatever the depth (the residual stream's norm grows with depth and training),
//! and it is the convention of Coconut (the last hidden state of a Hugging Face model is after its final norm).
//!
//! One pass of a full forward cannot compute the recurrence (a thought's input is an output of the same pass), so
//! full forwards iterate: pass `d + 1` takes each thought's input from pass `d`'s hidden states
//! ([`unrolled_inputs`]). A position depends only on positions before it, so after `k + 1` passes (k = the most
//! thoughts in one row) every input is exact, whatever the first pass took; the same holds from `d = 1` when the
//! first pass's inputs are already exact (the learning phase's warm start).

use candle_core::{DType, Device, Result, Tensor};

use super::InputVectors;
use crate::plan::THOUGHT_ID;

/// For (B, T) host tokens: the (B, T, 1) mask of continuous-thought positions (every thought but one at position
/// 0, which has no previous position) and, per flattened position, the flattened index whose hidden state is its
/// input (the position before it; itself where the mask is 0). Also returns the most thoughts in one row.
pub fn previous_positions(tokens: &[u32], b: usize, t: usize, device: &Device) -> Result<(Tensor, Tensor, usize)> {
    let mut mask = vec![0f32; b * t];
    let mut prev: Vec<u32> = (0..(b * t) as u32).collect();
    let mut most = 0;
    for row in 0..b {
        let mut n = 0;
        for pos in 1..t {
            let i = row * t + pos;
            if tokens[i] == THOUGHT_ID {
                mask[i] = 1.0;
                prev[i] = (i - 1) as u32;
                n += 1;
            }
        }
        most = most.max(n);
    }
    let mask = Tensor::from_vec(mask, (b, t, 1), device)?;
    let prev = Tensor::from_vec(prev, b * t, device)?;
    Ok((mask, prev, most))
}

/// The next pass's inputs from a pass's `hidden` (B, T, D): each thought's input is the hidden state of the
/// position before it (gradients flow through).
pub fn unrolled_inputs(hidden: &Tensor, prev: &Tensor, mask: &Tensor) -> Result<InputVectors> {
    let (b, t, d) = hidden.dims3()?;
    // (B, T, D) -> (B·T, D), gather the previous positions, back to (B, T, D)
    let vectors = hidden.reshape((b * t, d))?.index_select(prev, 0)?.reshape((b, t, d))?;
    Ok(InputVectors { mask: mask.clone(), vectors })
}

/// Inputs with every masked position's vector zero (the start of an iteration from no warm start).
pub(crate) fn zero_inputs(mask: &Tensor, width: usize) -> Result<InputVectors> {
    let (b, t, _) = mask.dims3()?;
    Ok(InputVectors { mask: mask.clone(), vectors: Tensor::zeros((b, t, width), DType::F32, mask.device())? })
}

/// A full forward that computes the thought recurrence exactly: `full` is one pass with the given thought inputs
/// (none: the tokens' own embeddings), iterated until every thought's input is the output before it.
pub(super) fn exact_forward(
    tokens: &Tensor,
    width: usize,
    full: impl Fn(Option<&InputVectors>) -> Result<super::ModelOutput>,
) -> Result<super::ModelOutput> {
    let (b, t) = tokens.dims2()?;
    let host: Vec<u32> = tokens.flatten_all()?.to_vec1()?;
    let (mask, prev, most) = previous_positions(&host, b, t, tokens.device())?;
    if most == 0 {
        return full(None);
    }
    let mut inputs = zero_inputs(&mask, width)?;
    let mut out = full(Some(&inputs))?;
    for _ in 0..most {
        inputs = unrolled_inputs(&out.hidden, &prev, &mask)?;
        out = full(Some(&inputs))?;
    }
    Ok(out)
}
