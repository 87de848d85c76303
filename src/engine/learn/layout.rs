//! The learning phase's losses on a thought placement.
//!
//! An [`Example`] is one real sequence with the episode phase's result for it: the kept [`Placement`]
//! (`counts[s]` thoughts before real token `x[s]`, the episode module's convention) and the culled [`Thought`]s
//! (the negatives). From it [`build_batch`] lays out the augmented sequence and three per-position masks over
//! next-token targets:
//!
//! - `real`: the target is a real token the data scores: cross-entropy (thoughts are never counted as real tokens);
//! - `reinforce`: the target is a kept thought (when the example asks for it): cross-entropy for `<|thought|>`;
//! - `punish`: a culled proposal stood here: unlikelihood `−log(1 − p(thought))`.
//!
//! A culled thought `(slot, depth)` is punished at the position where it would have been emitted: the one after
//! `x[slot-1]` and `depth` thoughts of its slot. If a kept thought stands at that depth now (its target is a
//! thought, not a real token), the position is reinforced instead and not punished.

use candle_core::{Device, Tensor, D};

use crate::engine::data::Sequence;
use crate::engine::episode::{Placement, Thought};
use crate::plan::{PAD_ID, THOUGHT_ID};

/// One real sequence and what the episode phase decided for it.
#[derive(Debug, Clone, Copy)]
pub struct Example<'a> {
    /// The real tokens, and which of them the loss scores (answer-only tasks).
    pub sequence: &'a Sequence,
    /// Kept thoughts; `counts.len()` equals the sequence length (or is empty: no thoughts).
    pub placement: &'a Placement,
    /// Culled proposals: the negatives.
    pub culled: &'a [Thought],
    /// Whether kept thoughts are reinforced (true for the model's own placements; rule placements only give the
    /// model extra positions and are not a policy to learn).
    pub reinforce: bool,
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
    /// Input positions without padding (the learning phase's compute).
    pub positions: usize,
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

/// Lay out one example: augmented inputs, next-token targets and the three masks.
fn layout(ex: &Example<'_>) -> anyhow::Result<Layout> {
    let x = &ex.sequence.tokens;
    let empty;
    let placement = if ex.placement.is_empty() {
        empty = Placement::empty(x.len());
        &empty
    } else {
        ex.placement
    };
    anyhow::ensure!(
        placement.len() == x.len() && placement.counts.first().is_none_or(|&c| c == 0),
        "placement for {} slots does not fit a sequence of {} real tokens",
        placement.len(),
        x.len()
    );
    let stream = placement.augment(x);
    let n = stream.len().saturating_sub(1);
    let mut out = Layout {
        inputs: stream[..n].to_vec(),
        targets: stream[1..].to_vec(),
        real: vec![0.0; n],
        reinforce: vec![0.0; n],
        punish: vec![0.0; n],
    };
    for p in 0..n {
        let (s, j) = placement.item_at(p + 1);
        if j < usize::from(placement.counts[s]) {
            out.reinforce[p] = f32::from(u8::from(ex.reinforce));
        } else if ex.sequence.is_target(s) {
            out.real[p] = 1.0;
        }
    }
    for t in ex.culled {
        anyhow::ensure!(
            t.slot >= 1 && t.slot < x.len(),
            "culled thought in slot {} is outside 1..{} for a sequence of {} real tokens",
            t.slot,
            x.len(),
            x.len()
        );
        let kept_here = usize::from(placement.counts[t.slot]);
        // A kept thought at this depth now: its position is a reinforce target, never a punished one.
        if t.depth >= kept_here {
            out.punish[placement.position(t.slot, kept_here) - 1] = 1.0;
        }
    }
    Ok(out)
}

/// Build the augmented batch of `examples`, padded to the longest row.
pub fn build_batch(examples: &[Example<'_>], device: &Device) -> anyhow::Result<ThoughtBatch> {
    let layouts = examples.iter().map(layout).collect::<anyhow::Result<Vec<Layout>>>()?;
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
        positions: layouts.iter().map(|l| l.inputs.len()).sum(),
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
    use crate::engine::episode::Source;
    use candle_core::DType;

    fn scalar(t: &Tensor) -> f32 {
        t.to_dtype(DType::F32).and_then(|t| t.to_scalar::<f32>()).unwrap_or(f32::NAN)
    }

    const T: u32 = THOUGHT_ID;

    fn culled(slot: usize, depth: usize) -> Thought {
        Thought { slot, depth, gain: Some(-1.0), round: 0, source: Source::Fallback }
    }

    fn lay(seq: &Sequence, counts: Vec<u16>, negatives: &[Thought], reinforce: bool) -> Layout {
        let placement = Placement { counts };
        layout(&Example { sequence: seq, placement: &placement, culled: negatives, reinforce }).unwrap()
    }

    #[test]
    fn layout_places_kept_thoughts_and_masks_targets() {
        // x = [10, 11, 12]; two thoughts before x[1]; a proposal before x[2] was culled.
        let l = lay(&Sequence::text(vec![10, 11, 12]), vec![0, 2, 0], &[culled(2, 0)], true);
        assert_eq!(l.inputs, vec![10, T, T, 11]);
        assert_eq!(l.targets, vec![T, T, 11, 12]);
        assert_eq!(l.real, vec![0.0, 0.0, 1.0, 1.0]);
        assert_eq!(l.reinforce, vec![1.0, 1.0, 0.0, 0.0]);
        // the culled thought would have been emitted after x[1] = 11, input position 3
        assert_eq!(l.punish, vec![0.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn culled_after_kept_thoughts_is_punished_after_them_and_never_over_a_kept_one() {
        let seq = Sequence::text(vec![10, 11]);
        let l = lay(&seq, vec![0, 1], &[culled(1, 1)], true);
        assert_eq!(l.inputs, vec![10, T]);
        assert_eq!(l.punish, vec![0.0, 1.0]);
        assert_eq!(l.real, vec![0.0, 1.0]);
        // depth 0 is now a kept thought: reinforced, not punished
        let l = lay(&seq, vec![0, 1], &[culled(1, 0)], true);
        assert_eq!((l.punish, l.reinforce), (vec![0.0, 0.0], vec![1.0, 0.0]));
    }

    #[test]
    fn thoughts_never_count_as_real_and_answer_mask_applies() {
        let seq = Sequence { tokens: vec![1, 2, 3, 4], answer: Some(2), answer_len: 1, group: None };
        let l = lay(&seq, vec![0, 0, 1, 0], &[], true);
        assert_eq!(l.inputs, vec![1, 2, T, 3]);
        assert_eq!(l.targets, vec![2, T, 3, 4]);
        // target 2 (real index 1) is not scored, 3 and 4 are; the thought target is never "real"
        assert_eq!(l.real, vec![0.0, 0.0, 1.0, 1.0]);
        // a rule placement: the thought is an input only, no reinforce target
        let l = lay(&seq, vec![0, 0, 1, 0], &[], false);
        assert_eq!((l.real.iter().sum::<f32>(), l.reinforce.iter().sum::<f32>()), (2.0, 0.0));
    }

    #[test]
    fn bad_negatives_and_placements_are_errors() {
        let seq = Sequence::text(vec![1, 2, 3]);
        let p = Placement { counts: vec![0, 0, 0] };
        let ex = |c: &'static [Thought]| Example { sequence: &seq, placement: &p, culled: c, reinforce: true };
        assert!(layout(&ex(&[])).is_ok());
        let zero = [culled(0, 0)];
        assert!(layout(&Example { culled: &zero, ..ex(&[]) }).is_err());
        let short = Placement { counts: vec![0, 1] };
        assert!(layout(&Example { placement: &short, ..ex(&[]) }).is_err());
    }

    #[test]
    fn losses_match_hand_computed_values() -> anyhow::Result<()> {
        let dev = Device::Cpu;
        let v = crate::plan::VOCAB_SIZE;
        let seq = Sequence::text(vec![10u32, 11]);
        let placement = Placement { counts: vec![0, 1] };
        let negatives = [culled(1, 1)];
        let ex = Example { sequence: &seq, placement: &placement, culled: &negatives, reinforce: true };
        let batch = build_batch(&[ex], &dev)?;
        assert_eq!((batch.n_real, batch.n_kept, batch.n_culled, batch.positions), (1, 1, 1, 2));
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
    fn empty_terms_are_zero_not_nan() -> anyhow::Result<()> {
        let dev = Device::Cpu;
        let seq = Sequence::text(vec![1, 2, 3]);
        let none = Placement::default();
        let batch = build_batch(&[Example { sequence: &seq, placement: &none, culled: &[], reinforce: true }], &dev)?;
        let logits = Tensor::zeros((1, 2, crate::plan::VOCAB_SIZE), DType::F32, &dev)?;
        let l = losses(&logits, &batch)?;
        assert_eq!(scalar(&l.reinforce), 0.0);
        assert_eq!(scalar(&l.punish), 0.0);
        assert!((scalar(&l.real) - (crate::plan::VOCAB_SIZE as f32).ln()).abs() < 1e-5);
        Ok(())
    }
}
