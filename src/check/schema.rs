//! The language's tables: every block, key, function and argument with its type, default, range and doc.
//!
//! The checker resolves specs against these tables, and `docs/language.md`'s reference section is generated from
//! them (a test fails when the file drifts), so the reference cannot disagree with the checker.

pub use super::table::*;
use super::table::{closed, closed_open, func, ge, gt, key, open};

/// The whole language: the top level of a spec file.
pub use super::schema_data::{DATA, PAIR_ORDERS, SOURCES};
pub use super::schema_models::{MODEL, PRETRAINED, TRAIN_PARTS};

pub static EXPERIMENT: BlockSpec = BlockSpec {
    name: "experiment",
    labels: &[],
    doc: "One experiment: `experiment \"name\" { … }`. Its settings are the base of every run of the sweep.",
    variants: &[],
    keys: &[
        key("seed", Ty::Int(ge(0.0)), Default::Int(0), "Seed of model initialisation, batching and the episode phase."),
        key(
            "device",
            Ty::Choice(DEVICES),
            Default::Call("cpu"),
            "Where runs execute (`thinktok run --device` overrides it).",
        ),
        key(
            "dtype",
            Ty::Choice(DTYPES),
            Default::Call("f32"),
            "What the model's matmuls and attention compute in: `f32`, or `bf16` / `f16` on CUDA (weights and \
             optimiser state stay f32).",
        ),
        key("model", Ty::Block(&MODEL), Default::Block, "The model to train."),
        key("data", Ty::Block(&DATA), Default::Block, "Training and held-out data."),
        key(
            "episode",
            Ty::Block(&EPISODE),
            Default::Block,
            "The episode phase. Without this block: no thoughts (`insertion = none()`).",
        ),
        key("learn", Ty::Block(&LEARN), Default::Block, "The learning phase."),
        key("eval", Ty::Block(&EVAL), Default::Block, "Evaluation and checkpoints."),
    ],
};

pub static DEVICES: &[FnSpec] = &[
    func("cpu", &[], "The CPU."),
    func(
        "cuda",
        &[key("index", Ty::Int(ge(0.0)), Default::Int(0), "GPU ordinal.")],
        "A CUDA GPU (build with `--features cuda`).",
    ),
];

pub static DTYPES: &[FnSpec] = &[
    func("f32", &[], "32-bit floats everywhere (the CPU computes only in f32)."),
    func("bf16", &[], "bfloat16 matmuls and attention, f32 products and master weights (CUDA)."),
    func("f16", &[], "float16 matmuls and attention, f32 products and master weights (CUDA)."),
];

pub static FALLBACKS: &[FnSpec] = &[
    func("best_rank", &[], "The free slot where the thought ranks best (highest log-probability breaks ties)."),
    func(
        "sample",
        &[key("temperature", Ty::Float(gt(0.0)), Default::Float(1.0), "Softmax temperature.")],
        "Sampled from softmax(thought logit / temperature).",
    ),
    func("uniform", &[], "A uniformly random free slot."),
];

pub static INSERTIONS: &[FnSpec] = &[
    func(
        "fast_forward",
        &[
            key(
                "fallback",
                Ty::Choice(FALLBACKS),
                Default::Call("best_rank"),
                "Where a sequence gets a thought the model does not want.",
            ),
            key(
                "threshold",
                Ty::OptFloat(open(0.0, 1.0)),
                Default::None,
                "Insert where p(thought) > threshold instead of where it is top-1.",
            ),
            key("max_consecutive", Ty::Int(ge(1.0)), Default::Int(2), "Most consecutive thoughts in one slot."),
        ],
        "The model's own placement (greedy, left to right).",
    ),
    func("none", &[], "Baseline: no thoughts."),
    func(
        "random",
        &[key("per_sequence", Ty::Int(ge(1.0)), Default::Int(8), "Thoughts per sequence.")],
        "Baseline: thoughts at uniformly random slots.",
    ),
    func(
        "interval",
        &[key("every", Ty::Int(ge(1.0)), Default::Int(8), "Real tokens between thoughts.")],
        "Baseline: a thought every `every` real tokens.",
    ),
    func(
        "answer_pause",
        &[key("count", Ty::Int(ge(1.0)), Default::Int(4), "Thoughts before the answer.")],
        "Baseline: thoughts between prompt and answer.",
    ),
    func(
        "dit",
        &[key("count", Ty::Int(ge(1.0)), Default::Int(4), "Thoughts placed.")],
        "Baseline: thoughts before the least-confident real tokens (DIT-style).",
    ),
];

pub static REDUCES: &[FnSpec] = &[func("sum", &[], "Sum over the window."), func("mean", &[], "Mean over the window.")];

pub static GAIN_TOKENS: &[FnSpec] = &[
    func("all", &[], "Every real token (prompt tokens included)."),
    func(
        "targets",
        &[],
        "Only the tokens the loss and the evaluation score (for prompt/answer data: the answer and its end-of-text).",
    ),
];

pub static GAINS: &[FnSpec] = &[func(
    "continuation",
    &[
        key(
            "window",
            Ty::OptInt(ge(1.0)),
            Default::None,
            "Real tokens after the slot that count; `none`: the whole continuation.",
        ),
        key("reduce", Ty::Choice(REDUCES), Default::Call("sum"), "`sum` or `mean`."),
        key("cost", Ty::Float(ge(0.0)), Default::Float(0.0), "Per-thought cost λ subtracted from every gain."),
        key(
            "over",
            Ty::Choice(GAIN_TOKENS),
            Default::Call("all"),
            "Which real tokens of the window count: `all` or `targets`.",
        ),
        key(
            "renormalise",
            Ty::Bool,
            Default::Bool(false),
            "Score real tokens under the softmax without `<|thought|>` (log p(x) − log(1 − p(thought))): the gain then measures the thought's effect, not the mass the model put on thoughts.",
        ),
    ],
    "Gain of a thought: the change in log-likelihood of the real tokens after it.",
)];

pub static STRATEGIES: &[FnSpec] = &[
    func("rounds", &[], "The author's flow: propose, score, keep the best, cull, for `rounds` rounds."),
    func("leave_one_out", &[], "One full sweep, leave-one-out gains, cull."),
];

pub static REAL_LOSSES: &[FnSpec] = &[
    func("kept", &[], "On the episode's kept placement (chosen with hindsight of the continuation)."),
    func("own", &[], "On the model's own placement; the kept placement only gives reinforce/punish targets."),
    func(
        "own_and_plain",
        &[],
        "Mean of `own` and the loss without thoughts (every step): gains then measure help, not dependence.",
    ),
    func(
        "kept_and_plain",
        &[],
        "Mean of `kept` and the loss without thoughts (every step): trained with the episode's thoughts and without any.",
    ),
    func(
        "plain",
        &[],
        "Only without thoughts (ablation: the thought objective without thoughts as inputs to the real-token loss).",
    ),
];

pub static THOUGHT_KINDS: &[FnSpec] = &[
    func("discrete", &[], "A thought is a fixed learned embedding."),
    func(
        "continuous",
        &[key(
            "mix",
            Ty::Choice(THOUGHT_MIXES),
            Default::Call("replace"),
            "`replace` (the input is the hidden state) or `gated` (the thought embedding plus a learned projection of \
             it, initialised at zero).",
        )],
        "A thought's input is the previous position's last hidden state.",
    ),
];

pub static THOUGHT_MIXES: &[FnSpec] = &[
    func("replace", &[], "The thought's input is the previous position's hidden state itself."),
    func(
        "gated",
        &[],
        "The thought embedding plus a learned projection of the hidden state, initialised at zero (training starts at \
         discrete thoughts).",
    ),
];

pub static EPISODE: BlockSpec = BlockSpec {
    name: "episode",
    labels: &[],
    doc: "The episode phase: insert thoughts, score them by gain, keep the best, cull the worst.",
    variants: &[],
    keys: &[
        key("samples", Ty::Int(ge(2.0)), Default::Int(32), "Sequences per episode batch (the notes' 2N)."),
        key("rounds", Ty::Int(ge(1.0)), Default::Int(16), "Propose-score-cull rounds."),
        key("thought_budget", Ty::Int(ge(0.0)), Default::Int(8), "Thoughts per sequence, at most."),
        key(
            "insertion",
            Ty::Choice(INSERTIONS),
            Default::Call("fast_forward"),
            "How thoughts are placed (including the baselines).",
        ),
        key("cull", Ty::Float(open(0.0, 1.0)), Default::Float(0.5), "Fraction of each round's proposals dropped."),
        key(
            "cull_below_cost",
            Ty::Bool,
            Default::Bool(false),
            "Also cull any proposal whose gain is below the cost λ.",
        ),
        key("gain", Ty::Choice(GAINS), Default::Call("continuation"), "How a thought's gain is measured."),
        key("strategy", Ty::Choice(STRATEGIES), Default::Call("rounds"), "`rounds` or `leave_one_out`."),
        key("thoughts", Ty::Choice(THOUGHT_KINDS), Default::Call("discrete"), "`discrete` or `continuous`."),
        key("every", Ty::Int(ge(1.0)), Default::Int(1), "Run the episode phase every this many learning steps."),
        key(
            "slots",
            Ty::Choice(SLOTS),
            Default::Call("all"),
            "Where the model's own thoughts may stand: `all` or `targets`.",
        ),
        key(
            "warmup",
            Ty::Choice(INSERTIONS),
            Default::Call("none"),
            "The rule that places thoughts during the warm-up (`none`, `random`, `interval` or `answer_pause`).",
        ),
        key(
            "warmup_steps",
            Ty::Int(ge(0.0)),
            Default::Int(0),
            "Learning steps at the start placed by `warmup` instead of the episode phase (real-token loss only).",
        ),
        key(
            "proposal_size",
            Ty::Int(ge(1.0)),
            Default::Int(1),
            "Thoughts each proposal places together in its slot, scored, kept and culled as one unit (`rounds`).",
        ),
    ],
};

pub static SLOTS: &[FnSpec] = &[
    func("all", &[], "Before any real token after the first."),
    func(
        "targets",
        &[],
        "Only before scored tokens (for prompt/answer data: inside the answer; for text: everywhere).",
    ),
    func(
        "answer_start",
        &[],
        "Only right before the answer's first token, where `answer_pause` puts its pauses (for text: everywhere).",
    ),
];

pub static SCHEDULES: &[FnSpec] = &[
    func(
        "cosine",
        &[key(
            "min_lr_frac",
            Ty::Float(closed(0.0, 1.0)),
            Default::Float(0.1),
            "Final learning rate as a fraction of `lr`.",
        )],
        "Cosine decay after warmup.",
    ),
    func("constant", &[], "Constant after warmup."),
];

pub static OPTIMIZERS: &[FnSpec] = &[func(
    "adamw",
    &[
        key("lr", Ty::Float(gt(0.0)), Default::Float(1e-3), "Peak learning rate."),
        key("warmup", Ty::Int(ge(0.0)), Default::Int(0), "Linear warmup steps."),
        key("weight_decay", Ty::Float(ge(0.0)), Default::Float(0.1), "Decoupled weight decay."),
        key("beta1", Ty::Float(closed_open(0.0, 1.0)), Default::Float(0.9), "First-moment decay."),
        key("beta2", Ty::Float(closed_open(0.0, 1.0)), Default::Float(0.99), "Second-moment decay."),
        key("eps", Ty::Float(gt(0.0)), Default::Float(1e-8), "Denominator epsilon."),
        key("schedule", Ty::Choice(SCHEDULES), Default::Call("cosine"), "Learning-rate schedule after warmup."),
    ],
    "AdamW with warmup and a schedule.",
)];

pub static LEARN: BlockSpec = BlockSpec {
    name: "learn",
    labels: &[],
    doc: "The learning phase (forward + backward on the kept placement).",
    variants: &[],
    keys: &[
        key("steps", Ty::Int(ge(1.0)), Default::Int(1000), "Optimiser steps."),
        key("batch", Ty::Int(ge(1.0)), Default::Int(32), "Sequences per micro-batch."),
        key("accumulate", Ty::Int(ge(1.0)), Default::Int(1), "Micro-batches per optimiser step."),
        key("unroll", Ty::Int(ge(1.0)), Default::Int(1), "Backprop depth through continuous thoughts."),
        key("optimizer", Ty::Choice(OPTIMIZERS), Default::Call("adamw"), "The optimiser and its schedule."),
        key("grad_clip", Ty::OptFloat(gt(0.0)), Default::Float(1.0), "Global gradient-norm clip; `none` disables it."),
        key("reinforce", Ty::Float(ge(0.0)), Default::Float(1.0), "Weight of emitting `<|thought|>` at kept slots."),
        key("punish", Ty::Float(ge(0.0)), Default::Float(0.5), "Weight of the unlikelihood at culled slots."),
        key(
            "real_loss",
            Ty::Choice(REAL_LOSSES),
            Default::Call("kept"),
            "Placement of the real-token loss: `kept`, `own`, `own_and_plain`, `kept_and_plain` or `plain`.",
        ),
        key(
            "thought_norm",
            Ty::Choice(THOUGHT_NORMS),
            Default::Call("per_thought"),
            "Averaging of reinforce / punish: `per_thought` or `per_real_token`.",
        ),
    ],
};

pub static THOUGHT_NORMS: &[FnSpec] = &[
    func("per_thought", &[], "Mean over the kept (culled) positions: the same weight however few thoughts."),
    func("per_real_token", &[], "Sum over them divided by the real targets: a thought target weighs one real token."),
];

pub static PLACEMENTS: &[FnSpec] = &[
    func("own", &[], "The model's own fast-forward top-1 policy."),
    func(
        "threshold",
        &[key("value", Ty::Float(open(0.0, 1.0)), Default::Required, "p(thought) threshold.")],
        "p(thought) > value.",
    ),
    func(
        "fit_threshold",
        &[key(
            "sequences",
            Ty::Int(ge(1.0)),
            Default::Int(crate::plan::FIT_SEQUENCES as i64),
            "Training sequences the threshold is fitted on.",
        )],
        "The own policy, p(thought) > τ with τ fitted at each evaluation on training sequences (lowest real-token NLL \
         among no thoughts, top-1 and τ ∈ {0.9, 0.7, 0.5, 0.3, 0.2, 0.1, 0.05, 0.02}), never on the evaluation data.",
    ),
    func("rule", &[], "The run's baseline rule (needs a baseline insertion)."),
    func("oracle", &[], "Diagnostic only: placement from continuation gains (peeks at the future)."),
];

pub static EVAL: BlockSpec = BlockSpec {
    name: "eval",
    labels: &[],
    doc: "Evaluation and checkpoints.",
    variants: &[],
    keys: &[
        key("every", Ty::Int(ge(1.0)), Default::Int(200), "Evaluate every this many steps (and at the end)."),
        key(
            "checkpoint_every",
            Ty::Int(ge(1.0)),
            Default::Int(1000),
            "Checkpoint every this many steps (and at the end).",
        ),
        key("placement", Ty::Choice(PLACEMENTS), Default::Call("own"), "Who places thoughts at evaluation."),
        key(
            "max_sequences",
            Ty::OptInt(ge(1.0)),
            Default::None,
            "Evaluate on at most this many test sequences; `none`: all.",
        ),
    ],
};

/// Distributions usable inside a sweep's `sample(…) { … }` block.
pub static DISTRIBUTIONS: &[FnSpec] = &[
    func(
        "uniform",
        &[
            key("low", Ty::Float(Range::ANY), Default::Required, ""),
            key("high", Ty::Float(Range::ANY), Default::Required, ""),
        ],
        "Uniform on [low, high] (an integer key draws integers).",
    ),
    func(
        "log_uniform",
        &[
            key("low", Ty::Float(gt(0.0)), Default::Required, ""),
            key("high", Ty::Float(gt(0.0)), Default::Required, ""),
        ],
        "Log-uniform on [low, high].",
    ),
];
