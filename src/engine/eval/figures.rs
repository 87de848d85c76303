//! Evaluation: real-token negative log-likelihood (nats and bits) and answer accuracy on held-out data.
//!
//! Accuracy is exact match under greedy decoding. Greedy decoding of an answer is right exactly when, with the true
//! answer prefix fed back in (teacher forcing), the top-1 prediction is right at every answer position: the first
//! wrong token ends both. So one forward pass per batch gives it, with no sampling loop.

use candle_core::D;
use serde::{Deserialize, Serialize};

use crate::engine::data::{Dataset, HostBatch, Sequence};
use crate::engine::model::CausalLm;

/// Held-out figures of a model on a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Mean negative log-likelihood per real target token, in nats.
    pub real_nll: f64,
    /// The same in bits.
    pub bits_per_token: f64,
    /// Fraction of answer sequences whose whole answer greedy decoding gets right; `None` without answers.
    pub accuracy: Option<f64>,
    /// Real target tokens counted.
    pub n_tokens: usize,
    /// Sequences evaluated.
    pub n_sequences: usize,
    /// Thoughts per 100 real tokens, positions per real token and who placed them (see [`super::placer`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thoughts: Option<ThoughtFigures>,
}

/// The thought figures of an evaluation (added to [`EvalReport`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThoughtFigures {
    /// Thoughts per 100 real tokens of the evaluated sequences.
    pub thoughts_per_100: f64,
    /// Positions processed per real token: (real tokens + thoughts) / real tokens.
    pub positions_per_real_token: f64,
    /// Which rule placed the thoughts, e.g. `own (fast-forward top-1)` or `rule random(per_sequence = 8)`.
    pub placement: String,
}

/// What an evaluation accumulates over its batches.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sums {
    pub nll_sum: f64,
    pub n_tokens: usize,
    pub answered: usize,
    pub correct: usize,
    pub n_sequences: usize,
}

impl EvalReport {
    /// The report from accumulated sums; an error naming `data_name` if no target token was scored.
    pub(crate) fn from_sums(data_name: &str, sums: Sums, thoughts: Option<ThoughtFigures>) -> anyhow::Result<Self> {
        if sums.n_tokens == 0 {
            anyhow::bail!("`{data_name}` has no target tokens to evaluate");
        }
        let real_nll = sums.nll_sum / sums.n_tokens as f64;
        Ok(EvalReport {
            real_nll,
            bits_per_token: real_nll / std::f64::consts::LN_2,
            accuracy: (sums.answered > 0).then(|| sums.correct as f64 / sums.answered as f64),
            n_tokens: sums.n_tokens,
            n_sequences: sums.n_sequences,
            thoughts,
        })
    }
}

/// Sequences per forward pass during evaluation.
pub const EVAL_BATCH: usize = 64;

/// Evaluate `model` on the first `max_sequences` (all if `None`) sequences of `data`.
pub fn evaluate(model: &dyn CausalLm, data: &Dataset, max_sequences: Option<usize>) -> anyhow::Result<EvalReport> {
    let n = max_sequences.map_or(data.sequences.len(), |m| m.min(data.sequences.len()));
    let mut nll_sum = 0f64;
    let mut n_tokens = 0usize;
    let (mut answered, mut correct) = (0usize, 0usize);
    for chunk in data.sequences[..n].chunks(EVAL_BATCH) {
        let seqs: Vec<&Sequence> = chunk.iter().collect();
        let host = HostBatch::new(&seqs);
        if host.len == 0 {
            continue;
        }
        let batch = host.to_device(model.device())?;
        let logits = model.forward_inference(&batch.tokens)?.logits;
        let logp = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
        // (B, T, V) -> (B, T): the log-probability of each position's target.
        let picked = logp.gather(&batch.targets.unsqueeze(D::Minus1)?, D::Minus1)?.squeeze(D::Minus1)?;
        // to_vec copies to the host: once per evaluation batch.
        let picked: Vec<Vec<f32>> = picked.to_vec2()?;
        let top: Vec<Vec<u32>> = logits.argmax(D::Minus1)?.to_vec2()?;
        for (r, seq) in chunk.iter().enumerate() {
            let mut all_right = true;
            for p in 0..host.len {
                let at = r * host.len + p;
                if host.loss_weights[at] > 0.0 {
                    nll_sum -= f64::from(picked[r][p]);
                    n_tokens += 1;
                }
                if host.answer[at] && top[r][p] != host.targets[at] {
                    all_right = false;
                }
            }
            if seq.answer.is_some() {
                answered += 1;
                correct += usize::from(all_right);
            }
        }
    }
    EvalReport::from_sums(&data.name, Sums { nll_sum, n_tokens, answered, correct, n_sequences: n }, None)
}
