//! The learning phase's losses on a thought placement.
//!
//! A placement gives, for each real sequence `x_0 … x_{L-1}`, the number of thoughts kept in each slot (slot `i` is
//! the gap after `x_i`) and the slots whose proposals were culled. From it [`build_batch`] lays out the augmented
//! sequence and three per-position masks over next-token targets:
//!
//! - `real`: the target is a real token: cross-entropy (thoughts are never counted as real tokens);
//! - `reinforce`: the target is a kept thought: cross-entropy for emitting `<|thought|>`;
//! - `punish`: a culled proposal stood here: unlikelihood `−log(1 − p(thought))`.
//!
//! A culled proposal in slot `i` is punished at the position where it would have been emitted: after `x_i` and the
//! thoughts kept in that slot (the proposal came after them).

use candle_core::{Device, Tensor, D};

use crate::plan::{PAD_ID, THOUGHT_ID};

/// Thoughts placed in one real sequence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SequencePlacement {
    /// `kept[i]`: thoughts kept in slot `i` (after real token `i`); shorter vectors mean zeros.
    pub kept: Vec<usize>,
    /// Slots whose proposal was culled (the negatives); duplicates count once.
    pub culled: Vec<usize>,
}

/// An augmented training batch: tokens with thoughts in place, next-token targets and the loss masks.
#[derive(Debug)]
pub struct ThoughtBatch {
    /// (B, T) u32: the augmented inputs, padded with `PAD_ID`.
    pub inputs: Tensor,
    /// (B, T) u32: the next token of each position (`PAD_ID` where there is none).
    pub targets: Tensor,
    /// (B, T) f32 masks, 1.0 where the term applies.
    pub real: Tensor,
    pub reinforce: Tensor,
    pub punish: Tensor,
    /// Real targets in the batch (the cross-entropy's denominator).
    pub n_real: usize,
    pub n_kept: usize,
    pub n_culled: usize,
}

/// One sequence laid out on the host: inputs, targets and masks of equal length.
#[derive(Debug, Default, PartialEq)]
struct Layout {
    inputs: Vec<u32>,
    targets: Vec<u32>,
    real: Vec<f32>,
    reinforce: Vec<f32>,
    punish: Vec<f32>,
}

/// Lay out one sequence; `loss_real[j]` says whether real token `j` is scored (e.g. answer-only tasks).
fn layout(tokens: &[u32], loss_real: Option<&[bool]>, placement: &SequencePlacement) -> Layout {
    let mut culled = vec![false; tokens.len()];
    for &slot in &placement.culled {
        if slot + 1 < tokens.len() {
            culled[slot] = true;
        }
    }
    let mut stream: Vec<u32> = Vec::with_capacity(tokens.len() * 2);
    // For each stream position: Some(j) if it is the last position of slot j (where a culled proposal would go).
    let mut slot_end: Vec<Option<usize>> = Vec::with_capacity(tokens.len() * 2);
    for (j, &tok) in tokens.iter().enumerate() {
        let n = if j + 1 < tokens.len() { placement.kept.get(j).copied().unwrap_or(0) } else { 0 };
        stream.push(tok);
        slot_end.push(if n == 0 { Some(j) } else { None });
        for t in 0..n {
            stream.push(THOUGHT_ID);
            slot_end.push(if t + 1 == n { Some(j) } else { None });
        }
    }
    let mut out = Layout::default();
    // The real index of the next real token after each stream position.
    let mut next_real = 0usize;
    for p in 0..stream.len().saturating_sub(1) {
        if stream[p] != THOUGHT_ID {
            next_real += 1;
        }
        let target = stream[p + 1];
        out.inputs.push(stream[p]);
        out.targets.push(target);
        let is_real = target != THOUGHT_ID && loss_real.map_or(true, |m| m.get(next_real).copied().unwrap_or(false));
        out.real.push(f32::from(u8::from(is_real)));
        out.reinforce.push(f32::from(u8::from(target == THOUGHT_ID)));
        let punished = slot_end[p].is_some_and(|j| culled[j]);
        out.punish.push(f32::from(u8::from(punished)));
    }
    out
}

/// Build the augmented batch for `sequences` (real tokens) under `placements`, padded to the longest row.
///
/// `loss_real`, when given, marks per sequence which real tokens are scored (answer-only loss).
pub fn build_batch(
    sequences: &[Vec<u32>],
    loss_real: Option<&[Vec<bool>]>,
    placements: &[SequencePlacement],
    device: &Device,
) -> candle_core::Result<ThoughtBatch> {
    let layouts: Vec<Layout> = sequences
        .iter()
        .enumerate()
        .map(|(b, seq)| {
            let mask = loss_real.and_then(|m| m.get(b)).map(Vec::as_slice);
            let empty = SequencePlacement::default();
            layout(seq, mask, placements.get(b).unwrap_or(&empty))
        })
        .collect();
    let t = layouts.iter().map(|l| l.inputs.len()).max().unwrap_or(0).max(1);
    let b = layouts.len();
    let inputs: Vec<u32> = layouts.iter().flat_map(|l| padded(&l.inputs, PAD_ID, t)).collect();
    let targets: Vec<u32> = layouts.iter().flat_map(|l| padded(&l.targets, PAD_ID, t)).collect();
    let mask =
        |f: fn(&Layout) -> &Vec<f32>| -> Vec<f32> { layouts.iter().flat_map(|l| padded(f(l), 0.0, t)).collect() };
    let (real, reinforce, punish) = (mask(|l| &l.real), mask(|l| &l.reinforce), mask(|l| &l.punish));
    let count = |v: &[f32]| v.iter().filter(|&&x| x > 0.0).count();
    Ok(ThoughtBatch {
        n_real: count(&real),
        n_kept: count(&reinforce),
        n_culled: count(&punish),
        inputs: Tensor::from_vec(inputs, (b, t), device)?,
        targets: Tensor::from_vec(targets, (b, t), device)?,
        real: Tensor::from_vec(real, (b, t), device)?,
        reinforce: Tensor::from_vec(reinforce, (b, t), device)?,
        punish: Tensor::from_vec(punish, (b, t), device)?,
    })
}

/// `values` followed by `fill` up to length `t`.
fn padded<T: Copy>(values: &[T], fill: T, t: usize) -> impl Iterator<Item = T> + '_ {
    values.iter().copied().chain(std::iter::repeat(fill)).take(t)
}

/// The three loss terms (each a scalar tensor, mean over the positions where it applies; zero where none do).
#[derive(Debug)]
pub struct Losses {
    pub real: Tensor,
    pub reinforce: Tensor,
    pub punish: Tensor,
}

impl Losses {
    /// `real + reinforce_w · reinforce + punish_w · punish`.
    pub fn total(&self, reinforce_w: f64, punish_w: f64) -> candle_core::Result<Tensor> {
        self.real.add(&(self.reinforce.affine(reinforce_w, 0.0)?))?.add(&(self.punish.affine(punish_w, 0.0)?))
    }
}

/// Compute the losses from `logits` (B, T, V) over `batch.inputs`. Every op has a backward.
pub fn losses(logits: &Tensor, batch: &ThoughtBatch) -> candle_core::Result<Losses> {
    let logp = candle_nn::ops::log_softmax(logits, D::Minus1)?; // (B, T, V)
    let target_logp = logp.gather(&batch.targets.unsqueeze(D::Minus1)?, D::Minus1)?.squeeze(D::Minus1)?;
    let thought = logp.narrow(D::Minus1, THOUGHT_ID as usize, 1)?.squeeze(D::Minus1)?; // (B, T)
    let masked_mean = |values: &Tensor, mask: &Tensor, n: usize| -> candle_core::Result<Tensor> {
        (values * mask)?.sum_all()?.affine(1.0 / n.max(1) as f64, 0.0)
    };
    let real = masked_mean(&target_logp.neg()?, &batch.real, batch.n_real)?;
    let reinforce = masked_mean(&thought.neg()?, &batch.reinforce, batch.n_kept)?;
    // −log(1 − p), with p clamped below 1 so a saturated thought logit gives a large finite penalty.
    let p = thought.exp()?.clamp(0.0, 1.0 - 1e-6)?;
    let unlikely = p.affine(-1.0, 1.0)?.log()?.neg()?;
    let punish = masked_mean(&unlikely, &batch.punish, batch.n_culled)?;
    Ok(Losses { real, reinforce, punish })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::DType;

    fn scalar(t: &Tensor) -> f32 {
        t.to_dtype(DType::F32).and_then(|t| t.to_scalar::<f32>()).unwrap_or(f32::NAN)
    }

    const T: u32 = THOUGHT_ID;

    #[test]
    fn layout_places_kept_thoughts_and_masks_targets() {
        // x = [10, 11, 12]; two thoughts after 10, none after 11; proposal in slot 1 culled.
        let p = SequencePlacement { kept: vec![2, 0], culled: vec![1] };
        let l = layout(&[10, 11, 12], None, &p);
        assert_eq!(l.inputs, vec![10, T, T, 11]);
        assert_eq!(l.targets, vec![T, T, 11, 12]);
        assert_eq!(l.real, vec![0.0, 0.0, 1.0, 1.0]);
        assert_eq!(l.reinforce, vec![1.0, 1.0, 0.0, 0.0]);
        // slot 1 ends at input position 3 (token 11, no kept thoughts there)
        assert_eq!(l.punish, vec![0.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn culled_after_kept_thoughts_is_punished_after_them() {
        let p = SequencePlacement { kept: vec![1], culled: vec![0] };
        let l = layout(&[10, 11], None, &p);
        assert_eq!(l.inputs, vec![10, T]);
        assert_eq!(l.punish, vec![0.0, 1.0]);
        assert_eq!(l.real, vec![0.0, 1.0]);
    }

    #[test]
    fn thoughts_never_count_as_real_and_answer_mask_applies() {
        let p = SequencePlacement { kept: vec![0, 1, 0], culled: vec![] };
        let mask = vec![false, false, true, true];
        let l = layout(&[1, 2, 3, 4], Some(&mask), &p);
        assert_eq!(l.inputs, vec![1, 2, T, 3]);
        assert_eq!(l.targets, vec![2, T, 3, 4]);
        // target 2 (real index 1) is not scored, 3 and 4 are; the thought target is never "real"
        assert_eq!(l.real, vec![0.0, 0.0, 1.0, 1.0]);
    }

    #[test]
    fn losses_match_hand_computed_values() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let v = crate::plan::VOCAB_SIZE;
        let seqs = vec![vec![10u32, 11]];
        let placement = vec![SequencePlacement { kept: vec![1], culled: vec![0] }];
        let batch = build_batch(&seqs, None, &placement, &dev)?;
        // inputs [10, T], targets [T, 11]
        let mut logits = vec![0f32; 2 * v];
        logits[THOUGHT_ID as usize] = 2.0; // position 0 favours the thought
        logits[v + 11] = 1.0; // position 1 favours token 11
        logits[v + THOUGHT_ID as usize] = 0.5;
        let logits = Tensor::from_vec(logits, (1, 2, v), &dev)?;
        let l = losses(&logits, &batch)?;
        let z0 = (v as f32 - 1.0) + 2f32.exp();
        let z1 = (v as f32 - 2.0) + 1f32.exp() + 0.5f32.exp();
        let reinforce = -(2f32.exp() / z0).ln();
        let real = -(1f32.exp() / z1).ln();
        let punish = -(1.0 - 0.5f32.exp() / z1).ln();
        assert!((scalar(&l.reinforce) - reinforce).abs() < 1e-5);
        assert!((scalar(&l.real) - real).abs() < 1e-5);
        assert!((scalar(&l.punish) - punish).abs() < 1e-5);
        let total = scalar(&l.total(1.0, 0.5)?);
        assert!((total - (real + reinforce + 0.5 * punish)).abs() < 1e-5);
        Ok(())
    }

    #[test]
    fn empty_terms_are_zero_not_nan() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let batch = build_batch(&[vec![1, 2, 3]], None, &[SequencePlacement::default()], &dev)?;
        let logits = Tensor::zeros((1, 2, crate::plan::VOCAB_SIZE), DType::F32, &dev)?;
        let l = losses(&logits, &batch)?;
        assert_eq!(scalar(&l.reinforce), 0.0);
        assert_eq!(scalar(&l.punish), 0.0);
        assert!((scalar(&l.real) - (crate::plan::VOCAB_SIZE as f32).ln()).abs() < 1e-5);
        Ok(())
    }
}
