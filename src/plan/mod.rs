//! The execution plan: the only thing the engine ever sees of a spec.
//!
//! A [`Plan`] is fully resolved: every default is explicit, the sweep is expanded into one [`RunPlan`] per run, and
//! each run carries a content identity ([`RunPlan::id`]) derived from its [`RunParams`] alone, so renaming a spec or
//! reordering a sweep never changes it. Plans are written as RON or JSON (`thinktok plan --format ron|json`) and read
//! back by `thinktok run plan.ron`.
//!
//! Changing the meaning of a field is a breaking change: bump [`FORMAT_VERSION`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod data;
mod episode;
mod model;
pub mod text;

pub use data::{DataConfig, DataSource, IntRange, PairOrder, TaskKind, TextSplit};
pub use episode::{
    EpisodeConfig, EpisodeStrategy, Fallback, GainConfig, GainReduce, GainTokens, Insertion, Slots, ThoughtKind,
    ThoughtMix, Warmup,
};
pub use model::{CheckpointFormat, GptConfig, LlamaShape, ModelConfig, PretrainedConfig, TrainPart, SPECIAL_TOKENS};

/// Version of the serialised plan format.
pub const FORMAT_VERSION: u32 = 1;

/// Byte-level vocabulary: 256 bytes followed by the special tokens below.
pub const BYTE_VOCAB: usize = 256;
/// End of text / document separator.
pub const EOT_ID: u32 = 256;
/// The `<|thought|>` token: no text, one extra position before the next real token.
pub const THOUGHT_ID: u32 = 257;
/// Padding (never a target).
pub const PAD_ID: u32 = 258;
/// Reserved for later use; keeps the vocabulary at the benchmark GPT's 260 entries.
pub const RESERVED_ID: u32 = 259;
/// Vocabulary size of the own GPT with the byte tokenizer.
pub const VOCAB_SIZE: usize = 260;

/// A fully resolved, serialisable execution plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    /// The spec language version the plan was compiled from.
    pub language_version: u32,
    /// The experiment's name (display only; not part of any run identity).
    pub experiment: String,
    /// The swept parameter paths, in spec order (e.g. `episode.cull`).
    pub axes: Vec<String>,
    /// One entry per run of the sweep (a single entry without a sweep).
    pub runs: Vec<RunPlan>,
    /// The `--set KEY=VALUE` overrides the plan was compiled with, in order (a record: run identities follow from
    /// the resolved parameters alone). Left out of the serialised plan when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<String>,
}

/// One run of an experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunPlan {
    /// Content identity: a stable hash of `params` (see [`RunParams::identity`]).
    pub id: String,
    /// A human label built from the swept values, e.g. `cull=0.25 seed=1`.
    pub label: String,
    /// The swept values of this run, keyed by axis path, as spec text.
    pub swept: BTreeMap<String, String>,
    pub params: RunParams,
    pub estimates: Estimates,
}

/// Everything that determines what a run computes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunParams {
    pub seed: u64,
    pub device: DeviceSpec,
    /// The dtype of the model's matmuls and attention. Left out of the serialised plan when `F32`, so earlier
    /// plans and run identities stay valid.
    #[serde(default, skip_serializing_if = "Precision::is_f32")]
    pub dtype: Precision,
    pub model: ModelConfig,
    pub data: DataConfig,
    pub episode: EpisodeConfig,
    pub learn: LearnConfig,
    pub eval: EvalConfig,
}

impl RunParams {
    /// Stable content identity of these parameters: FNV-1a (64-bit) over their canonical JSON form.
    ///
    /// Field order is fixed by the struct definitions and maps are `BTreeMap`s, so the JSON text is canonical.
    pub fn identity(&self) -> String {
        let text = serde_json::to_string(self).unwrap_or_default();
        format!("{:016x}", fnv1a64(text.as_bytes()))
    }
}

/// FNV-1a, 64-bit: tiny, stable across platforms and Rust versions (unlike `DefaultHasher`).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Where a run executes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeviceSpec {
    Cpu,
    Cuda(usize),
}

/// The dtype a run's matmuls and attention compute in. Weights, optimiser state, layer norms, softmax and the KV
/// cache stay f32 (mixed precision): `Bf16` and `F16` cast each matmul's operands down and its product back up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Precision {
    #[default]
    F32,
    Bf16,
    F16,
}

impl Precision {
    pub fn is_f32(&self) -> bool {
        *self == Self::F32
    }

    /// The name as written in specs: `f32`, `bf16`, `f16`.
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::Bf16 => "bf16",
            Self::F16 => "f16",
        }
    }
}

/// The learning phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LearnConfig {
    pub steps: usize,
    pub batch: usize,
    /// Micro-batches per optimiser step (gradient accumulation).
    pub accumulate: usize,
    /// Backprop depth through continuous thoughts.
    pub unroll: usize,
    pub optimizer: Optimizer,
    /// Global gradient-norm clip; `None` disables clipping.
    pub grad_clip: Option<f64>,
    /// Weight of the cross-entropy for emitting `<|thought|>` at kept slots.
    pub reinforce: f64,
    /// Weight of the unlikelihood `−log(1 − p(thought))` at culled slots.
    pub punish: f64,
    /// Which placement the real-token loss is trained on in episode steps.
    pub real_loss: RealLoss,
    /// How the reinforce and punish terms are averaged. Left out of the serialised plan at its default, so
    /// earlier plans and run identities stay valid.
    #[serde(default, skip_serializing_if = "ThoughtNorm::is_per_thought")]
    pub thought_norm: ThoughtNorm,
}

/// The denominator of the reinforce and punish terms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ThoughtNorm {
    /// Mean over the kept (culled) positions: the terms weigh the same however few thoughts there are.
    #[default]
    PerThought,
    /// Sum over the kept (culled) positions divided by the batch's real targets: each thought target weighs as
    /// much as one real token.
    PerRealToken,
}

impl ThoughtNorm {
    pub fn is_per_thought(&self) -> bool {
        *self == Self::PerThought
    }
}

/// The placement under which the learning phase's real-token cross-entropy is computed on episode steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RealLoss {
    /// The episode's kept placement (DESIGN.md's learning phase). Kept thoughts were chosen by looking at the
    /// continuation, so their positions can carry information about it.
    Kept,
    /// The model's own fast-forward placement (what evaluation sees); the episode's kept and culled thoughts only
    /// give the reinforce and punish targets, on a second pass over the kept placement.
    Own,
    /// The mean of `Own`'s loss and the loss on the sequence without thoughts (a third pass, every step): the
    /// model stays competent without thoughts, so a thought's gain measures help rather than dependence on a
    /// placement it was trained under.
    OwnAndPlain,
    /// The mean of `Kept`'s loss and the loss without thoughts (every step): the model is trained both with the
    /// episode's thoughts and without any, so both streams a gain compares are ones it was trained on.
    KeptAndPlain,
    /// Only on the sequence without thoughts (every step): an ablation that separates the thought objective
    /// (reinforce / punish, still on the kept placement) from thoughts as inputs to the real-token loss.
    Plain,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Optimizer {
    AdamW { lr: f64, warmup: usize, weight_decay: f64, beta1: f64, beta2: f64, eps: f64, schedule: Schedule },
}

/// Learning-rate schedule after warmup.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Schedule {
    /// Cosine decay to `min_lr_frac · lr` at the last step.
    Cosine {
        min_lr_frac: f64,
    },
    Constant,
}

/// Evaluation and checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalConfig {
    /// Evaluate on the test data every this many steps (and at the end).
    pub every: usize,
    /// Write a checkpoint every this many steps (the final one is always written).
    pub checkpoint_every: usize,
    pub placement: EvalPlacement,
    /// Evaluate on at most this many test sequences (`None`: all).
    pub max_sequences: Option<usize>,
}

/// Training sequences `fit_threshold` fits on unless told otherwise (the language's default and `eval --placement`'s).
pub const FIT_SEQUENCES: usize = 500;

/// The thresholds `fit_threshold` tries (besides no thoughts and top-1), highest first.
pub const FIT_CANDIDATES: [f64; 8] = [0.9, 0.7, 0.5, 0.3, 0.2, 0.1, 0.05, 0.02];

/// Who places thoughts at evaluation. Never the continuation gains, except for the labelled `Oracle` diagnostic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum EvalPlacement {
    /// The model's own fast-forward top-1 policy.
    Own,
    /// `p(thought) > threshold`, the threshold chosen on training data.
    Threshold(f64),
    /// The model's own policy with its threshold fitted at each evaluation on the first `sequences` *training*
    /// sequences (lowest real-token NLL among [`FIT_CANDIDATES`], no thoughts and top-1), never on the evaluation
    /// data.
    FitThreshold { sequences: usize },
    /// The run's baseline rule (none, random, interval, answer_pause, dit).
    Rule,
    /// Diagnostic only: placement from continuation gains, i.e. peeking at the future.
    Oracle,
}

/// Machine-independent estimates of a run's cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimates {
    pub parameters: u64,
    /// Real tokens per learning step.
    pub tokens_per_step: u64,
    pub total_tokens: u64,
    /// Learning phase, per step.
    pub forward_flops_per_step: f64,
    pub backward_flops_per_step: f64,
    /// Episode phase, per step (no gradients).
    pub episode_flops_per_step: f64,
    pub run_flops: f64,
    /// Positions processed per learning step, counted as the engine logs them (`positions` in `metrics.jsonl`:
    /// padding excluded, forward 1, backward 2). Absent (0) in plans written before it was estimated.
    #[serde(default)]
    pub train_positions_per_step: f64,
    /// Peak memory of the learning phase (weights, optimiser state, gradients, activations), in bytes.
    pub peak_memory_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Rust defaults that engine code and tests build on are the language's defaults.
    #[test]
    fn rust_defaults_match_the_language_defaults() {
        let plan = crate::compile_str("default.think", crate::DEFAULT_SPEC).expect("the default spec compiles");
        let ep = &plan.runs[0].params.episode;
        assert_eq!(ep.gain, GainConfig::default());
        assert_eq!(ep.slots, Slots::default());
        assert_eq!(plan.runs[0].params.learn.thought_norm, ThoughtNorm::default());
    }

    /// The language reference lists exactly the thresholds `fit_threshold` tries.
    #[test]
    fn fit_threshold_doc_names_the_candidates() {
        let doc = crate::check::schema::PLACEMENTS.iter().find(|f| f.name == "fit_threshold").expect("listed").doc;
        let listed = format!("{{{}}}", FIT_CANDIDATES.map(|t| t.to_string()).join(", "));
        assert!(doc.contains(&listed), "{doc} vs {listed}");
    }
}
