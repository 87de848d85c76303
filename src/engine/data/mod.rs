//! Data: sources (built-in tasks, JSONL, text) turned into token sequences, and batches with per-position loss
//! weights.
//!
//! A [`Sequence`] holds real tokens only; where the loss and accuracy count is recorded per sequence and becomes a
//! per-position weight in a [`batch::Batch`], so a later phase can add its own targets and weights (thoughts).

pub mod batch;
pub mod jsonl;
pub mod subword;
pub mod tasks;
pub mod text;
pub mod tokenizer;

use crate::engine::error::invalid;
use crate::plan::{DataSource, RunParams, EOT_ID};

pub use batch::{Batch, HostBatch, Sampler, SamplerState};
pub use subword::{Subword, VocabOrder};
pub use tokenizer::Tokenizer;

/// Which side of an experiment a source feeds: it matters for tasks with held-out items (`multiply`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Train,
    Test,
}

/// One sequence of real tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence {
    pub tokens: Vec<u32>,
    /// Index of the first answer token: the loss covers `tokens[answer..]` only. `None`: every token after the first.
    pub answer: Option<usize>,
    /// Answer tokens checked for accuracy (the answer text, without the closing end-of-text); 0 without an answer.
    pub answer_len: usize,
    /// The example's group (built-in tasks: its difficulty, e.g. `hops=3`; JSONL: its `group` field): evaluation
    /// reports every figure per group as well as overall.
    pub group: Option<String>,
}

impl Sequence {
    /// A language-modelling sequence: every token after the first is a target.
    pub fn text(tokens: Vec<u32>) -> Self {
        Self { tokens, answer: None, answer_len: 0, group: None }
    }

    /// `prompt`, `answer`, end-of-text as bytes; the loss covers the answer and the end-of-text.
    pub fn answer(prompt: &str, answer: &str) -> Self {
        Self::answer_ids(tokenizer::encode(prompt), tokenizer::encode(answer))
    }

    /// [`Sequence::answer`] with the run's tokenizer (prompt and answer tokenized apart, so the answer's tokens
    /// are its own).
    pub fn answer_with(tok: &Tokenizer, prompt: &str, answer: &str) -> anyhow::Result<Self> {
        Ok(Self::answer_ids(tok.encode(prompt)?, tok.encode(answer)?))
    }

    fn answer_ids(mut tokens: Vec<u32>, answer_tokens: Vec<u32>) -> Self {
        let start = tokens.len();
        let answer_len = answer_tokens.len();
        tokens.extend(answer_tokens);
        tokens.push(EOT_ID);
        Self { tokens, answer: Some(start), answer_len, group: None }
    }

    /// This sequence in group `group`.
    pub fn in_group(mut self, group: Option<String>) -> Self {
        self.group = group;
        self
    }

    /// Whether token `index` (≥ 1) is a loss target.
    pub fn is_target(&self, index: usize) -> bool {
        index >= 1 && index >= self.answer.unwrap_or(1)
    }

    /// Whether token `index` is part of the answer checked for accuracy.
    pub fn is_answer(&self, index: usize) -> bool {
        self.answer.is_some_and(|start| index >= start && index < start + self.answer_len)
    }
}

/// The sequences of one source.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Where they came from, for messages (`task sum3`, `data/train.jsonl`).
    pub name: String,
    pub sequences: Vec<Sequence>,
}

impl Dataset {
    /// Whether any sequence has an answer (then accuracy is reported).
    pub fn has_answers(&self) -> bool {
        self.sequences.iter().any(|s| s.answer.is_some())
    }

    /// Longest sequence, in tokens.
    pub fn max_len(&self) -> usize {
        self.sequences.iter().map(|s| s.tokens.len()).max().unwrap_or(0)
    }
}

/// Human name of a source, for messages and tables.
pub fn source_name(source: &DataSource) -> String {
    match source {
        DataSource::Task { task, count, seed } => {
            format!("task {}({count}, seed {seed})", tasks::name(task))
        }
        DataSource::Jsonl { path } => format!("jsonl `{path}`"),
        DataSource::Text { path, split, .. } => format!("text `{path}` ({split:?})"),
    }
}

/// Load `source` for `role` as bytes (the own GPT): see [`load_with`].
pub fn load(source: &DataSource, role: Role, context: usize) -> anyhow::Result<Dataset> {
    load_with(&Tokenizer::Bytes, source, role, context)
}

/// Load `source` for `role` with the run's tokenizer, every sequence fitting `context` tokens, or a clear
/// invalid-input error.
pub fn load_with(tok: &Tokenizer, source: &DataSource, role: Role, context: usize) -> anyhow::Result<Dataset> {
    let name = source_name(source);
    let sequences = match source {
        DataSource::Task { task, count, seed } => {
            let needed = tasks::max_tokens(task);
            if needed > context {
                return Err(invalid(format!(
                    "{name}: {task:?} makes sequences of up to {needed} tokens, more than the model's context \
                     of {context}; raise `model.context` or make the task smaller"
                )));
            }
            if *count == 0 {
                return Err(invalid(format!("{name}: `count` is 0, so there is no data")));
            }
            tasks::generate(task, *count, *seed, role)
                .into_iter()
                .map(|e| Ok(Sequence::answer_with(tok, &e.prompt, &e.answer)?.in_group(e.group)))
                .collect::<anyhow::Result<Vec<_>>>()?
        }
        DataSource::Jsonl { path } => jsonl::load(tok, path, context)?,
        DataSource::Text { path, split, holdout } => text::load(tok, path, *split, *holdout, context)?,
    };
    Ok(Dataset { name, sequences })
}

/// The length that sequences of `source` are packed (text) or cut (JSONL) to: `context − thought_budget` real
/// tokens (at least 2), so the plan's thoughts fit the model's context. Every run of a sweep, thoughts or not,
/// loads its data this way, so all of them see the same sequences. Generated tasks keep the full context: their
/// lengths are fixed by the task.
pub fn data_context(params: &RunParams, source: &DataSource) -> usize {
    let context = params.model.context();
    match source {
        DataSource::Task { .. } => context,
        _ => context.saturating_sub(params.episode.thought_budget).max(2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::TaskKind;

    #[test]
    fn answer_sequences_target_only_the_answer_and_eot() {
        let s = Sequence::answer("12=", "3");
        assert_eq!(s.tokens, vec![b'1' as u32, b'2' as u32, b'=' as u32, b'3' as u32, EOT_ID]);
        let targets: Vec<usize> = (0..5).filter(|&i| s.is_target(i)).collect();
        assert_eq!(targets, vec![3, 4]);
        let answers: Vec<usize> = (0..5).filter(|&i| s.is_answer(i)).collect();
        assert_eq!(answers, vec![3]);
        let t = Sequence::text(vec![1, 2, 3]);
        assert_eq!((0..3).filter(|&i| t.is_target(i)).count(), 2);
    }

    #[test]
    fn task_longer_than_context_is_refused_with_its_name() {
        let source = DataSource::Task { task: TaskKind::Sum3 { digits: 20 }, count: 10, seed: 0 };
        let err = load(&source, Role::Train, 16).unwrap_err();
        assert!(crate::engine::error::is_invalid_input(&err));
        assert!(format!("{err:#}").contains("sum3"), "{err:#}");
        assert_eq!(load(&source, Role::Train, 64).unwrap().sequences.len(), 10);
    }
}
