//! The episode phase: place thoughts the way the model itself would, score each one by how much it raises the
//! log-likelihood of the real tokens after it, keep the best and cull the worst (DESIGN.md, "Episode phase").
//! No gradients anywhere.
//!
//! # API
//!
//! [`run_episode`] takes a batch of real sequences ([`EpisodeInput`]: ragged token lists, optional prompt
//! lengths, an optional starting [`Placement`]), the plan's [`EpisodeConfig`], a chunk width and an [`Rng`],
//! and returns an [`EpisodeOutput`]:
//! - per sequence ([`SequenceEpisode`]): the kept placement (`placement.counts[s]` thoughts in slot `s`, i.e.
//!   before real token `x[s]`), the augmented tokens, `ll[s] = log p(x[s] | …)` under the kept placement
//!   (`ll[0] = 0`), the kept thoughts and the culled ones (the negatives), each a [`Thought`] with its slot,
//!   its depth (thoughts already in the slot before it: the learning phase's target position is the one after
//!   `x[slot-1]` and `depth` thoughts), its gain, the round and who placed it;
//! - per round ([`RoundStats`]): proposed / kept / culled, mean gain of kept and culled, how many proposals
//!   the model placed and how many the fallback, and the positions computed.
//!
//! Lower-level pieces are public for the bench, the tests and evaluation: [`fast_forward::fast_forward`] (the
//! model's own placement, cached), [`fast_forward::fast_forward_naive`] (the recompute-from-scratch reference),
//! [`fast_forward::score`] (teacher-forced predictions of fixed placements), [`gains::gain`],
//! [`fallback::choose`], [`baselines::place`] and [`bias::ThoughtBias`] (a wrapper that adds a constant to the
//! thought logit, so that thoughts occur on an untrained model).
//!
//! # Cost and memory
//! - The fast-forward keeps one KV-cache row per sequence. Each model call feeds every unfinished row up to
//!   [`default_chunk`] planned positions at its own offset; a row that inserts a thought is cut back to the
//!   insertion and continues from it, so no prefix is ever recomputed. Work ≈ `L + k·chunk/2` positions per row
//!   for `k` insertions; `calls ≈ L/chunk + max k`.
//! - Rows that finish early are compacted out of the working batch (their cache rows are copied home) once an
//!   eighth of it is idle. While compacted, the live rows' caches exist twice (working copy and home row):
//!   peak cache memory is at most twice one cache for the batch, plus one chunk's activations.
//! - Rounds cost one teacher-forced pass plus, per round, each proposing row's positions from its proposal on.
//!
//! # Semantics fixed here
//! - Log-probabilities are over the whole vocabulary, the thought included. The thought is *top-1* when no logit
//!   is strictly larger than its own (ties favour the thought); with a threshold, when `p(thought) > threshold`.
//! - Rounds: a row's proposal is its first slot, left to right, where the model wants a thought under the
//!   current placement and may place one (not culled before, under `max_consecutive`, within
//!   `thought_budget`); else the fallback's choice among those free slots. A slot is *tried* once a proposal
//!   there was culled; a kept slot may get another thought up to `max_consecutive`. Each round culls
//!   `⌊cull · proposals⌋` proposals with the lowest gains (ties: the later row), plus, with `cull_below_cost`,
//!   every proposal whose gain (after subtracting λ) is below 0.
//! - Leave-one-out: one fast-forward sweep from the start placement (a row where the model places nothing gets
//!   one fallback thought), the gain of each new thought is `LL(T) − LL(T∖{t})` over its window, and
//!   `⌊cull · thoughts⌋` thoughts with the lowest gains are culled (of equal gains in one slot, the deepest first).
//! - Fallbacks choose among free slots from the thought's prediction at each slot's decision point: `best_rank`
//!   (lowest rank, then highest log-probability, then earliest slot); `sample` draws from
//!   softmax(log p(thought) / T), the per-position normalised logit (raw logits are not comparable across
//!   positions); `uniform`. Randomness comes only from the caller's [`Rng`].
//! - Baseline insertions (`none`, `random`, `interval`, `answer_pause`, `dit`) place by rule: kept thoughts with
//!   no gain, no culling, no rounds.
//! - Thoughts of the start placement are never scored or culled; they count against the budget.

pub mod baselines;
pub mod bias;
pub mod driver;
pub mod fallback;
pub mod fast_forward;
pub mod gains;
mod leave_one_out;
pub mod placement;
mod rescore;
mod rounds;
mod state;
pub mod stats;
pub mod walk;

use serde::{Deserialize, Serialize};

pub use driver::DriveCost;

/// Positions per row per fast-forward model call on `device` (teacher-forced passes use
/// [`driver::SCORE_CHUNK_FACTOR`] times more). Narrow chunks waste less work after an insertion; wide ones make
/// fewer calls, which matters where a call has a fixed cost (kernel launches on a GPU, thread barriers on a
/// busy CPU). Measured with `thinktok bench episode` and `tests/episode_speed.rs`.
pub fn default_chunk(device: &candle_core::Device) -> usize {
    if device.is_cpu() {
        8
    } else {
        32
    }
}
pub use placement::Placement;

use crate::engine::model::CausalLm;
use crate::engine::rng::Rng;
use crate::plan::{EpisodeConfig, EpisodeStrategy, Insertion, ThoughtKind};

/// A batch of real sequences for the episode phase.
#[derive(Debug, Clone, Copy)]
pub struct EpisodeInput<'a> {
    /// Real tokens per sequence (ragged).
    pub tokens: &'a [Vec<u32>],
    /// Real tokens of each sequence's prompt, i.e. the index of its first scored token (for `answer_pause`, and
    /// for gains `over = targets`); `None`: text, every token is scored.
    pub prompt_lens: Option<&'a [usize]>,
    /// A placement to start from (e.g. the last episode's); `None`: no thoughts.
    pub start: Option<&'a [Placement]>,
}

impl EpisodeInput<'_> {
    /// Row `b`'s first scored token (`None`: every token is scored).
    pub fn first_target(&self, b: usize) -> Option<usize> {
        self.prompt_lens.and_then(|p| p.get(b).copied())
    }
}

/// Who placed a thought.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    /// The model's own fast-forward choice.
    Model,
    /// The fallback rule, where the model wanted no thought.
    Fallback,
    /// A baseline rule.
    Rule,
}

/// One scored (or rule-placed) thought.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thought {
    /// Before real token `x[slot]`.
    pub slot: usize,
    /// Thoughts in the slot before this one.
    pub depth: usize,
    /// `LL` change of the continuation window minus λ (`None` for rule placements).
    pub gain: Option<f32>,
    /// The round that proposed it (0-based; 0 for leave-one-out and rules).
    pub round: usize,
    pub source: Source,
}

/// One sequence after the episode phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequenceEpisode {
    pub placement: Placement,
    pub augmented: Vec<u32>,
    /// `ll[s] = log p(x[s] | …)` under `placement`; `ll[0] = 0`.
    pub ll: Vec<f32>,
    pub kept: Vec<Thought>,
    /// Culled thoughts: the learning phase's negatives.
    pub culled: Vec<Thought>,
}

/// What one round did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundStats {
    pub round: usize,
    pub proposed: usize,
    pub kept: usize,
    pub culled: usize,
    pub mean_gain_kept: Option<f32>,
    pub mean_gain_culled: Option<f32>,
    /// Proposals the model placed itself.
    pub by_model: usize,
    /// Proposals the fallback placed.
    pub by_fallback: usize,
    /// Positions computed in this round (padding included).
    pub positions: usize,
}

/// The episode phase's result for one batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpisodeOutput {
    pub sequences: Vec<SequenceEpisode>,
    pub rounds: Vec<RoundStats>,
    /// Positions computed in all (padding included): compare with one forward's `Σ augmented lengths`.
    pub positions: usize,
}

/// Run the episode phase on one batch under `cfg` (see the module docs for the semantics).
pub fn run_episode(
    model: &dyn CausalLm,
    input: EpisodeInput<'_>,
    cfg: &EpisodeConfig,
    chunk: usize,
    rng: &mut Rng,
) -> anyhow::Result<EpisodeOutput> {
    // With continuous thoughts the model computes the thought inputs (cached hidden states); a plan and a model that
    // disagree would score one kind of thought and train another.
    anyhow::ensure!(
        (cfg.thoughts == ThoughtKind::Continuous) == model.continuous_thoughts(),
        "the episode is configured for {:?} thoughts but the model computes {} ones",
        cfg.thoughts,
        if model.continuous_thoughts() { "continuous" } else { "discrete" }
    );
    match &cfg.insertion {
        Insertion::FastForward { .. } => match cfg.strategy {
            EpisodeStrategy::Rounds => rounds::run(model, input, cfg, chunk, rng),
            EpisodeStrategy::LeaveOneOut => leave_one_out::run(model, input, cfg, chunk, rng),
        },
        rule => rule_placement(model, input, rule, chunk, rng),
    }
}

/// Baselines: place by rule, then one teacher-forced pass for the log-likelihoods.
fn rule_placement(
    model: &dyn CausalLm,
    input: EpisodeInput<'_>,
    rule: &Insertion,
    chunk: usize,
    rng: &mut Rng,
) -> anyhow::Result<EpisodeOutput> {
    let seqs = input.tokens;
    let mut positions = 0;
    let plain = if matches!(rule, Insertion::Dit { .. }) {
        let empty: Vec<Placement> = seqs.iter().map(|x| Placement::empty(x.len())).collect();
        let (s, cost) = fast_forward::score(model, seqs, &empty, chunk)?;
        positions += cost.positions;
        Some(s)
    } else {
        None
    };
    let mut placements = Vec::with_capacity(seqs.len());
    for (b, x) in seqs.iter().enumerate() {
        let inp = baselines::BaselineInput {
            prompt_len: input.prompt_lens.and_then(|p| p.get(b).copied()),
            ll: plain.as_ref().map(|s| s[b].ll.as_slice()),
        };
        let mut p = baselines::place(rule, x.len(), inp, rng)?;
        if let Some(start) = input.start {
            for (c, s) in p.counts.iter_mut().zip(&start[b].counts) {
                *c += s;
            }
        }
        placements.push(p);
    }
    let (scored, cost) = fast_forward::score(model, seqs, &placements, chunk)?;
    positions += cost.positions;
    let sequences = scored
        .into_iter()
        .zip(seqs)
        .enumerate()
        .map(|(b, (s, x))| {
            let base = input.start.map(|st| &st[b]);
            let mut kept = Vec::new();
            for (slot, &c) in s.placement.counts.iter().enumerate() {
                let from = base.map_or(0, |p| usize::from(p.counts[slot]));
                for depth in from..usize::from(c) {
                    kept.push(Thought { slot, depth, gain: None, round: 0, source: Source::Rule });
                }
            }
            finish(x, s.placement, s.ll, kept, Vec::new())
        })
        .collect();
    Ok(EpisodeOutput { sequences, rounds: Vec::new(), positions })
}

/// Assemble one sequence's result.
fn finish(
    real: &[u32],
    placement: Placement,
    ll: Vec<f32>,
    kept: Vec<Thought>,
    culled: Vec<Thought>,
) -> SequenceEpisode {
    SequenceEpisode { augmented: placement.augment(real), placement, ll, kept, culled }
}
