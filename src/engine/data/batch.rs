//! Batches: padded token rows with per-position targets and loss weights, and the seeded sampler that draws them.

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::Sequence;
use crate::engine::rng::Rng;
use crate::plan::PAD_ID;

/// A batch on the host: `rows × len` inputs, each position's target (the next token) and its loss weight.
///
/// Position `p` of a row reads token `p` and predicts token `p + 1`. Later phases add their own per-position targets
/// and weights (a thought to emit, a thought to avoid) next to these.
#[derive(Debug, Clone, PartialEq)]
pub struct HostBatch {
    pub rows: usize,
    pub len: usize,
    /// Input ids, row-major `(rows, len)`; padding is [`PAD_ID`].
    pub tokens: Vec<u32>,
    /// Target ids, row-major; [`PAD_ID`] where there is none.
    pub targets: Vec<u32>,
    /// Loss weight per position: 1 for a real target the loss counts, 0 otherwise.
    pub loss_weights: Vec<f32>,
    /// Whether the position's target is an answer token checked for accuracy.
    pub answer: Vec<bool>,
}

impl HostBatch {
    /// Pad `sequences` to the longest one (minus one: the last token is only a target).
    pub fn new(sequences: &[&Sequence]) -> Self {
        let rows = sequences.len();
        let len = sequences.iter().map(|s| s.tokens.len().saturating_sub(1)).max().unwrap_or(0);
        let mut batch = Self {
            rows,
            len,
            tokens: vec![PAD_ID; rows * len],
            targets: vec![PAD_ID; rows * len],
            loss_weights: vec![0.0; rows * len],
            answer: vec![false; rows * len],
        };
        for (r, seq) in sequences.iter().enumerate() {
            for p in 0..seq.tokens.len().saturating_sub(1) {
                let at = r * len + p;
                batch.tokens[at] = seq.tokens[p];
                batch.targets[at] = seq.tokens[p + 1];
                if seq.is_target(p + 1) {
                    batch.loss_weights[at] = 1.0;
                }
                batch.answer[at] = seq.is_answer(p + 1);
            }
        }
        batch
    }

    /// Number of positions the loss counts (real target tokens).
    pub fn n_targets(&self) -> usize {
        self.loss_weights.iter().filter(|&&w| w > 0.0).count()
    }

    /// The batch as tensors on `device`.
    pub fn to_device(&self, device: &Device) -> candle_core::Result<Batch> {
        let shape = (self.rows, self.len);
        Ok(Batch {
            tokens: Tensor::from_slice(&self.tokens, shape, device)?,
            targets: Tensor::from_slice(&self.targets, shape, device)?,
            loss_weights: Tensor::from_slice(&self.loss_weights, shape, device)?,
        })
    }
}

/// A batch as tensors: what a training step consumes.
#[derive(Debug, Clone)]
pub struct Batch {
    /// `(B, T)` u32 input ids.
    pub tokens: Tensor,
    /// `(B, T)` u32 target ids.
    pub targets: Tensor,
    /// `(B, T)` f32 per-position loss weights.
    pub loss_weights: Tensor,
}

/// Where a [`Sampler`] stands: enough to continue exactly (saved in checkpoints).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamplerState {
    /// Sequences in the data it draws from (a resumed run checks the data did not change size).
    pub items: usize,
    /// The RNG state just before the current epoch's shuffle.
    pub epoch_rng: u64,
    /// Completed passes over the data.
    pub epoch: u64,
    /// Sequences of the current epoch already drawn.
    pub cursor: usize,
}

/// Draws batches of sequence indices: a fresh seeded shuffle each epoch, batches running across epoch ends.
#[derive(Debug, Clone)]
pub struct Sampler {
    n: usize,
    rng: Rng,
    state: SamplerState,
    order: Vec<usize>,
}

impl Sampler {
    /// A sampler over `n` sequences, its order fixed by `seed`.
    pub fn new(n: usize, seed: u64) -> Self {
        let rng = Rng::derive(seed, "data-order");
        Self::restore(n, SamplerState { items: n, epoch_rng: rng.state(), epoch: 0, cursor: 0 })
    }

    /// A sampler continuing exactly from `state` (saved by a sampler over the same `n` sequences).
    pub fn restore(n: usize, state: SamplerState) -> Self {
        let state = SamplerState { items: n, cursor: state.cursor.min(n), ..state };
        let mut rng = Rng::from_state(state.epoch_rng);
        let mut order: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut order);
        Self { n, rng, state, order }
    }

    pub fn state(&self) -> SamplerState {
        self.state
    }

    /// The next `size` indices (empty when there is no data).
    pub fn next_batch(&mut self, size: usize) -> Vec<usize> {
        let mut out = Vec::with_capacity(size);
        if self.n == 0 {
            return out;
        }
        while out.len() < size {
            if self.state.cursor >= self.n {
                self.state =
                    SamplerState { items: self.n, epoch_rng: self.rng.state(), epoch: self.state.epoch + 1, cursor: 0 };
                self.order = (0..self.n).collect();
                self.rng.shuffle(&mut self.order);
            }
            out.push(self.order[self.state.cursor]);
            self.state.cursor += 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::EOT_ID;

    #[test]
    fn host_batch_pads_and_weights_targets() {
        let a = Sequence::answer("1=", "2");
        let b = Sequence::text(vec![5, 6, 7, 8, 9]);
        let batch = HostBatch::new(&[&a, &b]);
        assert_eq!((batch.rows, batch.len), (2, 4));
        assert_eq!(&batch.tokens[..4], &[b'1' as u32, b'=' as u32, b'2' as u32, PAD_ID]);
        assert_eq!(&batch.targets[..4], &[b'=' as u32, b'2' as u32, EOT_ID, PAD_ID]);
        assert_eq!(&batch.loss_weights[..4], &[0.0, 1.0, 1.0, 0.0]);
        assert_eq!(&batch.answer[..4], &[false, true, false, false]);
        assert_eq!(&batch.loss_weights[4..], &[1.0; 4]);
        assert_eq!(batch.n_targets(), 6);
    }

    #[test]
    fn sampler_covers_each_epoch_and_resumes_exactly() {
        let mut s = Sampler::new(10, 3);
        let first: Vec<usize> = s.next_batch(10);
        let mut sorted = first.clone();
        sorted.sort();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        s.next_batch(4);
        let saved = s.state();
        let expected: Vec<Vec<usize>> = (0..5).map(|_| s.next_batch(7)).collect();
        let mut r = Sampler::restore(10, saved);
        let got: Vec<Vec<usize>> = (0..5).map(|_| r.next_batch(7)).collect();
        assert_eq!(got, expected);
        assert_ne!(Sampler::new(10, 4).next_batch(10), first);
    }
}
