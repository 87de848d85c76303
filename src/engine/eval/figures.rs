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
    /// Share of answered sequences whose first answer token under greedy decoding is the model's most common one.
    /// Near 1 the model gives the same answer whatever the question: its accuracy is a constant guess.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub same_answer_share: Option<f64>,
    /// Accuracy of always giving the data's most common answer (the majority baseline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub majority_accuracy: Option<f64>,
}

/// At or above this share of one first answer token, reports call an accuracy a constant guess.
pub const CONSTANT_GUESS_SHARE: f64 = 0.9;

impl EvalReport {
    /// `Some(share)` when the model gives one first answer token to at least [`CONSTANT_GUESS_SHARE`] of the
    /// answered sequences.
    pub fn constant_guess(&self) -> Option<f64> {
        self.same_answer_share.filter(|&s| s >= CONSTANT_GUESS_SHARE)
    }
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

/// The first answer tokens a model gave and the true answers, counted: what a constant guess and the majority
/// baseline are read from.
#[derive(Debug, Clone, Default)]
pub(crate) struct Answers {
    guesses: BTreeMap<u32, usize>,
    truths: BTreeMap<Vec<u32>, usize>,
    n: usize,
}

impl Answers {
    fn add(&mut self, seq: &Sequence, first_guess: Option<u32>) {
        let (Some(start), Some(guess)) = (seq.answer, first_guess) else { return };
        let truth = seq.tokens.get(start..start + seq.answer_len).unwrap_or_default().to_vec();
        *self.guesses.entry(guess).or_default() += 1;
        *self.truths.entry(truth).or_default() += 1;
        self.n += 1;
    }

    /// The share of the most common entry of `counts`; `None` before any answer.
    fn top_share<K>(&self, counts: &BTreeMap<K, usize>) -> Option<f64> {
        (self.n > 0).then(|| counts.values().copied().max().unwrap_or(0) as f64 / self.n as f64)
    }
}

/// Overall sums and, for data with groups, sums per group.
#[derive(Debug, Clone, Default)]
pub(crate) struct GroupedSums {
    pub all: Sums,
    pub groups: BTreeMap<String, Sums>,
    pub answers: Answers,
}

impl GroupedSums {
    /// Add one evaluated sequence; `first_guess` is the first answer token greedy decoding gave (`None` without
    /// an answer).
    pub fn add(
        &mut self,
        seq: &Sequence,
        (nll_sum, n_tokens): (f64, usize),
        right: bool,
        first_guess: Option<u32>,
        thoughts: usize,
    ) {
        self.answers.add(seq, first_guess);
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
    /// The report from accumulated sums (groups included); an error naming `data_name` if no target token was
    /// scored.
    pub(crate) fn from_sums(
        data_name: &str,
        grouped: &GroupedSums,
        thoughts: Option<ThoughtFigures>,
    ) -> anyhow::Result<Self> {
        let sums = grouped.all;
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
            groups: grouped.group_figures(thoughts.is_some()),
            thoughts,
            same_answer_share: grouped.answers.top_share(&grouped.answers.guesses),
            majority_accuracy: grouped.answers.top_share(&grouped.answers.truths),
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
            let (mut all_right, mut nll_sum, mut n_tokens, mut first_guess) = (true, 0f64, 0usize, None);
            for p in 0..host.len {
                let at = r * host.len + p;
                if host.loss_weights[at] > 0.0 {
                    nll_sum -= f64::from(picked[r][p]);
                    n_tokens += 1;
                }
                if host.answer[at] {
                    first_guess = first_guess.or(Some(top[r][p]));
                    all_right &= top[r][p] == host.targets[at];
                }
            }
            sums.add(seq, (nll_sum, n_tokens), all_right, first_guess, 0);
        }
    }
    EvalReport::from_sums(&data.name, &sums, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(answer: u32) -> Sequence {
        let letter = char::from(b'a' + answer as u8).to_string();
        Sequence::answer("q=", &letter).in_group(Some(format!("a={answer}")))
    }

    /// A model that gives one answer to 9 of 10 examples is a constant guess; the majority baseline is the share
    /// of the most common true answer; a spread of answers is not flagged.
    #[test]
    fn a_constant_guess_is_flagged_with_the_majority_baseline() -> anyhow::Result<()> {
        let truths = [5, 5, 5, 5, 6, 6, 6, 7, 7, 8];
        let mut constant = GroupedSums::default();
        let mut spread = GroupedSums::default();
        for (i, &t) in truths.iter().enumerate() {
            let seq = example(t);
            let guess = if i == 9 { 6 } else { 5 };
            constant.add(&seq, (1.0, 2), guess == t, Some(guess), 0);
            spread.add(&seq, (1.0, 2), true, Some(t), 0);
        }
        let c = EvalReport::from_sums("test", &constant, None)?;
        assert_eq!(c.accuracy, Some(0.4));
        assert_eq!(c.same_answer_share, Some(0.9));
        assert_eq!(c.constant_guess(), Some(0.9));
        assert_eq!(c.majority_accuracy, Some(0.4));
        let s = EvalReport::from_sums("test", &spread, None)?;
        assert_eq!(s.same_answer_share, Some(0.4));
        assert_eq!(s.constant_guess(), None);
        assert_eq!(s.groups.len(), 4);
        Ok(())
    }

    /// Text (no answers) has neither figure.
    #[test]
    fn text_has_no_guess_figures() -> anyhow::Result<()> {
        let mut sums = GroupedSums::default();
        sums.add(&Sequence::text(vec![1, 2, 3]), (2.0, 2), true, None, 0);
        let r = EvalReport::from_sums("text", &sums, None)?;
        assert_eq!((r.same_answer_share, r.majority_accuracy, r.accuracy), (None, None, None));
        Ok(())
    }
}
