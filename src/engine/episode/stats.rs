//! What the episode phase needs from each position's logits: three numbers per position.

use candle_core::{DType, Tensor, D};

use crate::plan::THOUGHT_ID;

/// The prediction made at one position of the augmented stream.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PosStat {
    /// `log p(<|thought|>)` under the full softmax.
    pub thought_lp: f32,
    /// How many vocabulary entries have a strictly larger logit than the thought (0: the thought is top-1; a
    /// tie counts in the thought's favour).
    pub thought_rank: u32,
    /// `log p(target)` of the token that follows in the stream.
    pub target_lp: f32,
    /// `log p(target)` under the softmax renormalised without `<|thought|>`: `log p(target) − log(1 − p(thought))`,
    /// computed from the logits (exact where the thought takes nearly all the mass). Equals `target_lp` where
    /// the target is the thought itself (never used there).
    pub real_lp: f32,
}

/// Per-position stats of `logits` (B, T, V) for `targets` (B·T, row-major), row-major (`b * T + t`).
///
/// Log-probabilities are taken over the whole vocabulary, the thought included, and (`real_lp`) over the
/// vocabulary without the thought. The logits are copied to the
/// host once and reduced there in one pass: a dozen small tensor ops per chunk cost more than the copy.
pub fn position_stats(logits: &Tensor, targets: &[u32]) -> candle_core::Result<Vec<PosStat>> {
    let v = logits.dim(D::Minus1)?;
    // to_vec1 copies to the host: once per model call, B·C·V floats.
    let flat = logits.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    if flat.len() != targets.len() * v {
        candle_core::bail!("{} targets for logits of shape {:?}", targets.len(), logits.shape());
    }
    let thought = THOUGHT_ID as usize;
    Ok(flat
        .chunks_exact(v)
        .zip(targets)
        .map(|(row, &target)| {
            let t = row.get(thought).copied().unwrap_or(f32::NEG_INFINITY);
            // Two passes: the maxima of all entries and of the real ones, then both sums (the real tokens' own
            // maximum keeps their sum from underflowing when the thought takes nearly all the mass).
            let (mut max, mut max_real) = (f32::NEG_INFINITY, f32::NEG_INFINITY);
            for (i, &x) in row.iter().enumerate() {
                max = max.max(x);
                if i != thought {
                    max_real = max_real.max(x);
                }
            }
            let (mut sum, mut sum_real) = (0f32, 0f32);
            for (i, &x) in row.iter().enumerate() {
                sum += (x - max).exp();
                if i != thought {
                    sum_real += (x - max_real).exp();
                }
            }
            let (lse, lse_real) = (max + sum.ln(), max_real + sum_real.ln());
            let tgt = row.get(target as usize).copied().unwrap_or(f32::NEG_INFINITY);
            PosStat {
                thought_lp: t - lse,
                thought_rank: row.iter().filter(|&&x| x > t).count() as u32,
                target_lp: tgt - lse,
                real_lp: if target as usize == thought { tgt - lse } else { tgt - lse_real },
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn stats_match_a_hand_computed_softmax() -> candle_core::Result<()> {
        let v = crate::plan::VOCAB_SIZE;
        let mut row = vec![0f32; 2 * v];
        row[THOUGHT_ID as usize] = 2.0; // position 0: thought is top-1
        row[v + 5] = 3.0; // position 1: token 5 beats the thought (1.0)
        row[v + THOUGHT_ID as usize] = 1.0;
        let logits = Tensor::from_vec(row, (1, 2, v), &Device::Cpu)?;
        let s = position_stats(&logits, &[7, 5])?;
        let lse0 = ((v - 1) as f32 + 2f32.exp()).ln();
        assert!((s[0].thought_lp - (2.0 - lse0)).abs() < 1e-5);
        assert!((s[0].target_lp - (0.0 - lse0)).abs() < 1e-5);
        assert_eq!(s[0].thought_rank, 0);
        let lse1 = ((v - 2) as f32 + 3f32.exp() + 1f32.exp()).ln();
        assert!((s[1].target_lp - (3.0 - lse1)).abs() < 1e-5);
        assert_eq!(s[1].thought_rank, 1);
        // Without the thought: position 0's real logits are all 0, position 1's are 3 and zeros.
        assert!((s[0].real_lp - (0.0 - ((v - 1) as f32).ln())).abs() < 1e-5);
        assert!((s[1].real_lp - (3.0 - ((v - 2) as f32 + 3f32.exp()).ln())).abs() < 1e-5);
        Ok(())
    }

    #[test]
    fn renormalised_target_stays_finite_when_the_thought_takes_all_the_mass() -> candle_core::Result<()> {
        let v = crate::plan::VOCAB_SIZE;
        let mut row = vec![0f32; v];
        row[THOUGHT_ID as usize] = 200.0;
        row[9] = 1.0;
        let s = position_stats(&Tensor::from_vec(row, (1, 1, v), &Device::Cpu)?, &[9])?;
        assert!(s[0].target_lp < -190.0);
        assert!((s[0].real_lp - (1.0 - ((v - 2) as f32 + 1f32.exp()).ln())).abs() < 1e-5);
        Ok(())
    }
}
