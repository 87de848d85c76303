//! What the episode phase needs from each position's logits, reduced on the device so that only three numbers
//! per position travel to the host.

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
}

/// Per-position stats of `logits` (B, T, V) for `targets` (B, T) u32, row-major (`b * T + t`).
///
/// Log-probabilities are taken over the whole vocabulary, the thought included.
pub fn position_stats(logits: &Tensor, targets: &Tensor) -> candle_core::Result<Vec<PosStat>> {
    let logits = logits.to_dtype(DType::F32)?;
    let max = logits.max_keepdim(D::Minus1)?;
    let lse = (logits.broadcast_sub(&max)?.exp()?.sum_keepdim(D::Minus1)?.log()? + &max)?;
    let thought_id = THOUGHT_ID as usize;
    let thought = logits.narrow(D::Minus1, thought_id, 1)?.contiguous()?;
    let target = logits.gather(&targets.unsqueeze(D::Minus1)?.contiguous()?, D::Minus1)?;
    let rank = logits.broadcast_gt(&thought)?.to_dtype(DType::F32)?.sum_keepdim(D::Minus1)?;
    // (B, T, 1) each -> (B, T, 3) -> host: one copy per chunk, three floats per position.
    let all = Tensor::cat(&[(&thought - &lse)?, rank, (target - lse)?], D::Minus1)?;
    let flat = all.flatten_all()?.to_vec1::<f32>()?;
    Ok(flat.chunks_exact(3).map(|v| PosStat { thought_lp: v[0], thought_rank: v[1] as u32, target_lp: v[2] }).collect())
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
        let targets = Tensor::from_vec(vec![7u32, 5], (1, 2), &Device::Cpu)?;
        let s = position_stats(&logits, &targets)?;
        let lse0 = ((v - 1) as f32 + 2f32.exp()).ln();
        assert!((s[0].thought_lp - (2.0 - lse0)).abs() < 1e-5);
        assert!((s[0].target_lp - (0.0 - lse0)).abs() < 1e-5);
        assert_eq!(s[0].thought_rank, 0);
        let lse1 = ((v - 2) as f32 + 3f32.exp() + 1f32.exp()).ln();
        assert!((s[1].target_lp - (3.0 - lse1)).abs() < 1e-5);
        assert_eq!(s[1].thought_rank, 1);
        Ok(())
    }
}
