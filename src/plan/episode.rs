//! The episode phase's settings: insertion rules and baselines, the warm-up, slots, gains, the culling strategy and
//! what a thought's input is.

use serde::{Deserialize, Serialize};

/// The episode phase (and the choice of insertion strategy, which includes the baselines).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpisodeConfig {
    /// Sequences per episode batch (the notes' 2N).
    pub samples: usize,
    pub rounds: usize,
    /// Thoughts per sequence, at most.
    pub thought_budget: usize,
    pub insertion: Insertion,
    /// Fraction of each round's proposals that is culled, in (0, 1).
    pub cull: f64,
    /// Also cull any proposal whose gain is below the per-thought cost.
    pub cull_below_cost: bool,
    pub gain: GainConfig,
    pub strategy: EpisodeStrategy,
    pub thoughts: ThoughtKind,
    /// Run the episode phase every this many learning steps (reusing the last placement policy in between).
    pub every: usize,
    /// Where the model's thoughts may stand (in the episode, in its own placement and at evaluation). Left out of
    /// the serialised plan when `All`, so earlier plans and run identities stay valid.
    #[serde(default, skip_serializing_if = "Slots::is_all")]
    pub slots: Slots,
    /// How a continuous thought's input is made from the previous hidden state. Left out of the serialised plan
    /// when `Replace`, so earlier plans and run identities stay valid.
    #[serde(default, skip_serializing_if = "ThoughtMix::is_replace")]
    pub mix: ThoughtMix,
    /// The first steps of a `fast_forward` run placed by a fixed rule instead of the episode phase. Left out of
    /// the serialised plan when off, so earlier plans and run identities stay valid.
    #[serde(default, skip_serializing_if = "Warmup::is_off")]
    pub warmup: Warmup,
    /// Thoughts one proposal of the `rounds` strategy places together in its slot, scored, kept and culled as one
    /// unit (a continuous thought that only pays as the first of two passes is credited with the pair). Left out
    /// of the serialised plan when 1, so earlier plans and run identities stay valid.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub proposal_size: usize,
}

fn one() -> usize {
    1
}

fn is_one(n: &usize) -> bool {
    *n == 1
}

/// A warm-up before the episode phase: for the first `steps` learning steps thoughts are placed by `rule` (a
/// baseline rule: `none`, `random`, `interval` or `answer_pause`) and only the real-token loss applies, so that a
/// model that is to choose its thoughts has first learned to read them (docs/language.md, "Meaning").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Warmup {
    pub rule: Insertion,
    pub steps: usize,
}

impl Default for Warmup {
    fn default() -> Self {
        Self { rule: Insertion::None, steps: 0 }
    }
}

impl Warmup {
    /// No warm-up written: the language's default (`warmup = none()`, `warmup_steps = 0`).
    pub fn is_off(&self) -> bool {
        *self == Self::default()
    }

    /// Whether 0-based learning step `step` is a warm-up step.
    pub fn covers(&self, step: usize) -> bool {
        step < self.steps
    }
}

/// How a continuous thought's input is made from the previous position's hidden state h.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ThoughtMix {
    /// The input is h itself.
    #[default]
    Replace,
    /// The input is the thought embedding plus a learned projection of h, initialised at zero: training starts
    /// exactly at discrete thoughts and learns how much of the recurrence to use.
    Gated,
}

impl ThoughtMix {
    pub fn is_replace(&self) -> bool {
        *self == Self::Replace
    }
}

/// The slots open to the model's own thoughts (baseline rules place by their own rule).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Slots {
    /// Before any real token after the first.
    #[default]
    All,
    /// Only before scored tokens: for prompt/answer data inside the answer (and before its end-of-text), for
    /// text everywhere (there it equals `All`).
    Targets,
    /// Only right before the answer's first token, where `answer_pause` puts its pauses (a thought after the
    /// answer's last token cannot help it); for text everywhere.
    AnswerStart,
}

impl Slots {
    pub fn is_all(&self) -> bool {
        *self == Self::All
    }
}

/// How thoughts are placed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Insertion {
    /// The model's own placement, with a fallback when it places none.
    FastForward {
        fallback: Fallback,
        /// Insert where `p(thought) > threshold` instead of where the thought is top-1.
        threshold: Option<f64>,
        /// At most this many consecutive thoughts in one slot.
        max_consecutive: usize,
    },
    /// Baseline: no thoughts.
    None,
    /// Baseline: `per_sequence` thoughts at uniformly random slots.
    Random { per_sequence: usize },
    /// Baseline: a thought after every `every` real tokens.
    Interval { every: usize },
    /// Baseline: `count` thoughts between prompt and answer.
    AnswerPause { count: usize },
    /// Baseline: thoughts before the `count` least-confident real tokens of a no-grad pass.
    Dit { count: usize },
}

/// Where a sequence gets a thought the model does not want.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Fallback {
    /// The free slot where the thought ranks best (highest log-probability breaks ties).
    BestRank,
    /// Sampled from softmax(thought logit / temperature) over free slots.
    Sample { temperature: f64 },
    /// Uniformly random free slot.
    Uniform,
}

/// How a thought's gain is measured. `Default` is the language's default, `continuation()`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GainConfig {
    /// Real tokens after the slot that count; `None` is the whole continuation.
    pub window: Option<usize>,
    pub reduce: GainReduce,
    /// Per-thought cost λ subtracted from every gain.
    pub cost: f64,
    /// Which real tokens of the window count. Left out of the serialised plan when `All` (the original
    /// semantics), so plans and run identities from before this field existed stay valid.
    #[serde(default, skip_serializing_if = "GainTokens::is_all")]
    pub over: GainTokens,
    /// Score each real token under the softmax renormalised without `<|thought|>`
    /// (`log p(x) − log(1 − p(thought))`), so a gain measures the thought's effect on the real tokens and not
    /// the probability mass the model put on thoughts. Left out of the serialised plan when `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub renormalise: bool,
}

/// The real tokens a gain counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum GainTokens {
    /// Every real token of the window (DESIGN.md's definition).
    #[default]
    All,
    /// Only the tokens the loss and the evaluation score: for prompt/answer data the answer and its
    /// end-of-text, for text every token (there it equals `All`).
    Targets,
}

impl GainTokens {
    pub fn is_all(&self) -> bool {
        *self == Self::All
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum GainReduce {
    #[default]
    Sum,
    Mean,
}

/// The author's rounds-and-culling flow, or one sweep with leave-one-out gains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EpisodeStrategy {
    Rounds,
    LeaveOneOut,
}

/// What a thought position's input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ThoughtKind {
    /// A fixed learned embedding.
    Discrete,
    /// The previous position's last hidden state.
    Continuous,
}
