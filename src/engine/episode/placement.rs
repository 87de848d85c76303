//! Where thoughts stand in a sequence, and the augmented token stream that results.
//!
//! Slot `s` (1 ≤ s < L) is the gap before real token `x[s]` (0-based), i.e. after the first `s` real tokens; a
//! thought there is seen before `x[s]` is predicted. The augmented stream is
//! `x[0], θ×counts[1], x[1], θ×counts[2], x[2], …, x[L-1]`. Its items are addressed as `(s, j)`: the `j`-th
//! thought of slot `s` when `j < counts[s]`, the real token `x[s]` when `j == counts[s]`.

use serde::{Deserialize, Serialize};

use crate::plan::THOUGHT_ID;

/// Thoughts per slot of one sequence: `counts[s]` thoughts before real token `s`; `counts[0]` is always 0.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Placement {
    pub counts: Vec<u16>,
}

impl Placement {
    /// No thoughts in a sequence of `len` real tokens.
    pub fn empty(len: usize) -> Self {
        Self { counts: vec![0; len] }
    }

    /// A placement from `(slot, count)` pairs (counts of a repeated slot add up); slots outside `1..len` are an
    /// error.
    pub fn from_slots(len: usize, slots: &[usize]) -> anyhow::Result<Self> {
        let mut p = Self::empty(len);
        for &s in slots {
            if s == 0 || s >= len {
                anyhow::bail!("thought slot {s} is outside 1..{len} for a sequence of {len} real tokens");
            }
            p.counts[s] += 1;
        }
        Ok(p)
    }

    /// Real tokens this placement is for.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Thoughts in all slots.
    pub fn total(&self) -> usize {
        self.counts.iter().map(|&c| usize::from(c)).sum()
    }

    /// The occupied slots in order, a slot repeated once per thought.
    pub fn slots(&self) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.total());
        for (s, &c) in self.counts.iter().enumerate() {
            out.extend(std::iter::repeat_n(s, usize::from(c)));
        }
        out
    }

    /// Position in the augmented stream of item `(s, j)`: `s + Σ_{t<s} counts[t] + j`.
    pub fn position(&self, s: usize, j: usize) -> usize {
        s + self.counts[..s].iter().map(|&c| usize::from(c)).sum::<usize>() + j
    }

    /// The item `(s, j)` at augmented position `pos` (positions past the end map to `(len, 0)`).
    pub fn item_at(&self, pos: usize) -> (usize, usize) {
        let mut at = 0;
        for (s, &c) in self.counts.iter().enumerate() {
            let width = usize::from(c) + 1;
            if pos < at + width {
                return (s, pos - at);
            }
            at += width;
        }
        (self.counts.len(), 0)
    }

    /// Real tokens and thoughts interleaved.
    pub fn augment(&self, real: &[u32]) -> Vec<u32> {
        let mut out = Vec::with_capacity(real.len() + self.total());
        for (s, &x) in real.iter().enumerate() {
            let c = self.counts.get(s).copied().unwrap_or(0);
            out.extend(std::iter::repeat_n(THOUGHT_ID, usize::from(c)));
            out.push(x);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn augment_positions_and_items_agree() {
        let p = Placement { counts: vec![0, 2, 0, 1] };
        let aug = p.augment(&[10, 11, 12, 13]);
        let t = THOUGHT_ID;
        assert_eq!(aug, vec![10, t, t, 11, 12, t, 13]);
        assert_eq!(p.total(), 3);
        assert_eq!(p.slots(), vec![1, 1, 3]);
        for (pos, &tok) in aug.iter().enumerate() {
            let (s, j) = p.item_at(pos);
            assert_eq!(p.position(s, j), pos);
            let expect = if j < usize::from(p.counts[s]) { t } else { 10 + s as u32 };
            assert_eq!(tok, expect);
        }
        assert_eq!(p.item_at(7), (4, 0));
    }

    #[test]
    fn from_slots_rejects_slot_zero_and_past_the_end() {
        assert!(Placement::from_slots(4, &[0]).is_err());
        assert!(Placement::from_slots(4, &[4]).is_err());
        assert_eq!(Placement::from_slots(4, &[2, 2]).map(|p| p.counts).ok(), Some(vec![0, 0, 2, 0]));
    }
}
