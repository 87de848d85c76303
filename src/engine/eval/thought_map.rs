//! Where a run's model puts its thoughts: a handful of held-out examples per data group with the thoughts of the
//! run's evaluation placement drawn in place, and the thought rate by position, overall and per data group.
//!
//! The final evaluation writes it as `OUT/<run>/thoughts.json` (runs whose placement can place thoughts);
//! report.html draws it. The placement is the one the figures were computed under ([`super::placer`]), so the
//! picture shows what was measured.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::placer::{place, placement_seed, Placer};
use super::EVAL_BATCH;
use crate::engine::data::{Dataset, Sequence, Tokenizer};
use crate::engine::episode::Placement;
use crate::engine::model::CausalLm;
use crate::engine::rng::Rng;

/// The key of [`ThoughtMap::rate_by_position`] for every sequence.
pub const ALL: &str = "all";

/// `thoughts.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThoughtMap {
    /// Who placed the thoughts, as in the evaluation figures (`own (fast-forward top-1)`, `rule …`).
    pub placement: String,
    /// Sequences placed (the evaluation's `max_sequences`).
    pub n_sequences: usize,
    /// The first examples of each data group (of the data, when it has no groups), in data order.
    pub examples: Vec<PlacedExample>,
    /// Per data group ([`ALL`]: every sequence): at real-token position `p`, the mean number of thoughts placed
    /// right before token `p` over the sequences that have a token `p`.
    pub rate_by_position: BTreeMap<String, Vec<f64>>,
}

/// One held-out example with its thoughts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlacedExample {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Each real token as display text (special tokens by name).
    pub tokens: Vec<String>,
    /// Thoughts placed right before each token (as long as `tokens`).
    pub thoughts: Vec<u16>,
    /// Index of the first answer token, for answer tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<usize>,
}

impl ThoughtMap {
    /// Whether any thought was placed.
    pub fn has_thoughts(&self) -> bool {
        self.rate_by_position.get(ALL).is_some_and(|r| r.iter().any(|&x| x > 0.0))
    }
}

/// Accumulates a [`ThoughtMap`] from placed sequences, in data order.
#[derive(Debug, Default)]
pub(crate) struct MapCollector {
    per_group: usize,
    sums: BTreeMap<String, (Vec<f64>, Vec<f64>)>,
    examples: Vec<PlacedExample>,
    kept: BTreeMap<Option<String>, usize>,
    n_sequences: usize,
    /// Shows each kept example's tokens.
    tokenizer: Tokenizer,
}

impl MapCollector {
    /// Keep `per_group` examples of each data group, their tokens shown by `tokenizer`.
    pub fn new(per_group: usize, tokenizer: &Tokenizer) -> Self {
        Self { per_group, tokenizer: tokenizer.clone(), ..Self::default() }
    }

    /// One placed sequence.
    pub fn add(&mut self, seq: &Sequence, placement: &Placement) {
        self.n_sequences += 1;
        let keys = std::iter::once(ALL.to_string()).chain(seq.group.clone());
        for key in keys {
            let (thoughts, seen) = self.sums.entry(key).or_default();
            if thoughts.len() < seq.tokens.len() {
                thoughts.resize(seq.tokens.len(), 0.0);
                seen.resize(seq.tokens.len(), 0.0);
            }
            for (p, &c) in placement.counts.iter().enumerate() {
                thoughts[p] += f64::from(c);
                seen[p] += 1.0;
            }
        }
        let count = self.kept.entry(seq.group.clone()).or_default();
        if *count < self.per_group {
            *count += 1;
            self.examples.push(PlacedExample {
                group: seq.group.clone(),
                tokens: seq.tokens.iter().map(|&t| self.tokenizer.decode(&[t])).collect(),
                thoughts: placement.counts.clone(),
                answer: seq.answer,
            });
        }
    }

    /// The map of everything added, placed by `placer`.
    pub fn finish(mut self, placer: &Placer) -> ThoughtMap {
        let rate_by_position = self
            .sums
            .into_iter()
            .map(|(k, (thoughts, seen))| (k, thoughts.iter().zip(&seen).map(|(t, s)| t / s.max(1.0)).collect()))
            .collect();
        // Examples grouped by data group, in the groups' order.
        self.examples.sort_by(|a, b| a.group.cmp(&b.group));
        ThoughtMap {
            placement: placer.describe(),
            n_sequences: self.n_sequences,
            examples: self.examples,
            rate_by_position,
        }
    }
}

/// Place thoughts with `placer` in the first `max_sequences` sequences of `data` (as the evaluation does) and keep
/// `per_group` examples of each data group.
pub fn thought_map(
    model: &dyn CausalLm,
    data: &Dataset,
    placer: &Placer,
    max_sequences: Option<usize>,
    per_group: usize,
    tokenizer: &Tokenizer,
) -> anyhow::Result<ThoughtMap> {
    let n = max_sequences.map_or(data.sequences.len(), |m| m.min(data.sequences.len()));
    // The same random choices as the evaluation that produced the figures.
    let mut rng = Rng::derive(placement_seed(placer), "eval-placement");
    let mut map = MapCollector::new(per_group, tokenizer);
    for chunk in data.sequences[..n].chunks(EVAL_BATCH) {
        let seqs: Vec<&Sequence> = chunk.iter().collect();
        for (seq, placement) in chunk.iter().zip(&place(model, &seqs, placer, &mut rng)?) {
            map.add(seq, placement);
        }
    }
    Ok(map.finish(placer))
}
