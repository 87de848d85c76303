//! Evaluation: real-token negative log-likelihood (nats and bits) and answer accuracy on held-out data.
//!
//! Accuracy is exact match under greedy decoding. Greedy decoding of an answer is right exactly when, with the true
//! answer prefix fed back in (teacher forcing), the top-1 prediction is right at every answer position: the first
//! wrong token ends both. So one forward pass per batch gives it, with no sampling loop.

use std::collections::BTreeMap;

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
    /// The same figures per group of the data (`Sequence::group`: a task's difficulty), when it has groups.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, GroupFigures>,
}

/// An evaluation's figures over one group of the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupFigures {
    pub n_sequences: usize,
    /// Mean NLL per real target token of the group, in nats.
    pub real_nll: f64,
    pub accuracy: Option<f64>,
    /// With thoughts placed: thoughts per 100 real tokens and per example of the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thoughts_per_100: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thoughts_per_example: Option<f64>,
}

/// The thought figures of an evaluation (added to [`EvalReport`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThoughtFigures {
    /// Thoughts per 100 real tokens of the evaluated sequences.
    pub thoughts_per_100: f64,
    /// Positions processed per real token: (real tokens + thoughts) / real tokens.
    pub positions_per_real_token: f64,
    /// Thoughts per evaluated sequence (0 in reports written before it was recorded).
    #[serde(default)]
    pub thoughts_per_example: f64,
    /// Which rule placed the thoughts, e.g. `own (fast-forward top-1)` or `rule random(per_sequence = 8)`.
    pub placement: String,
}

/// What an evaluation accumulates over its batches (overall, or for one group).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sums {
    pub nll_sum: f64,
    pub n_tokens: usize,
    pub answered: usize,
    pub correct: usize,
    pub n_sequences: usize,
    pub real_tokens: usize,
    pub thoughts: usize,
}

impl Sums {
    /// Add one evaluated sequence: its NLL sum over `n_tokens` scored targets, whether its answer was right
    /// (`None` without an answer), its real tokens and thoughts.
    pub fn add(&mut self, nll_sum: f64, n_tokens: usize, right: Option<bool>, real: usize, thoughts: usize) {
        self.nll_sum += nll_sum;
        self.n_tokens += n_tokens;
        if let Some(right) = right {
            self.answered += 1;
            self.correct += usize::from(right);
        }
        self.n_sequences += 1;
        self.real_tokens += real;
        self.thoughts += thoughts;
    }

    fn accuracy(&self) -> Option<f64> {
        (self.answered > 0).then(|| self.correct as f64 / self.answered as f64)
    }
}

/// Overall sums and, for data with groups, sums per group.
#[derive(Debug, Clone, Default)]
pub(crate) struct GroupedSums {
    pub all: Sums,
    pub groups: BTreeMap<String, Sums>,
}

impl GroupedSums {
    pub fn add(&mut self, seq: &Sequence, nll_sum: f64, n_tokens: usize, right: bool, thoughts: usize) {
        let right = seq.answer.is_some().then_some(right);
        let real = seq.tokens.len();
        self.all.add(nll_sum, n_tokens, right, real, thoughts);
        if let Some(g) = &seq.group {
            self.groups.entry(g.clone()).or_default().add(nll_sum, n_tokens, right, real, thoughts);
        }
    }

    /// Per-group figures (`with_thoughts`: include the thought counts).
    pub fn group_figures(&self, with_thoughts: bool) -> BTreeMap<String, GroupFigures> {
        self.groups
            .iter()
            .map(|(g, s)| {
                let figures = GroupFigures {
                    n_sequences: s.n_sequences,
                    real_nll: s.nll_sum / s.n_tokens.max(1) as f64,
                    accuracy: s.accuracy(),
                    thoughts_per_100: with_thoughts.then(|| 100.0 * s.thoughts as f64 / s.real_tokens.max(1) as f64),
                    thoughts_per_example: with_thoughts.then(|| s.thoughts as f64 / s.n_sequences.max(1) as f64),
                };
                (g.clone(), figures)
            })
            .collect()
    }
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
            accuracy: sums.accuracy(),
            n_tokens: sums.n_tokens,
            n_sequences: sums.n_sequences,
            thoughts,
            groups: BTreeMap::new(),
        })
    }
}

/// Sequences per forward pass during evaluation.
pub const EVAL_BATCH: usize = 64;

/// Evaluate `model` on the first `max_sequences` (all if `None`) sequences of `data`.
pub fn evaluate(model: &dyn CausalLm, data: &Dataset, max_sequences: Option<usize>) -> anyhow::Result<EvalReport> {
    let n = max_sequences.map_or(data.sequences.len(), |m| m.min(data.sequences.len()));
    let mut sums = GroupedSums::default();
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
            let (mut all_right, mut nll_sum, mut n_tokens) = (true, 0f64, 0usize);
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
            sums.add(seq, nll_sum, n_tokens, all_right, 0);
        }
    }
    let mut report = EvalReport::from_sums(&data.name, sums.all, None)?;
    report.groups = sums.group_figures(false);
    Ok(report)
}
