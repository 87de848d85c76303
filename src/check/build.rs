//! Typed plan values from a checked settings tree (the checks that relate several keys are in `relations.rs`).

use super::tree::{Node, RBlock, RCall, RVal};
use crate::plan::*;

/// Build one run's parameters; `model` is the pretrained model already inspected, if the run has one. `None` only
/// when an earlier error left a value missing (already reported).
pub fn params(root: &RBlock, model: Option<ModelConfig>) -> Option<RunParams> {
    let model = match model {
        Some(m) => m,
        None => gpt(root.block("model")?)?,
    };
    Some(RunParams {
        seed: uint(root.entries.get("seed")?)?,
        device: device(call(root.entries.get("device")?)?)?,
        dtype: match call(root.entries.get("dtype")?)?.func.name {
            "bf16" => Precision::Bf16,
            "f16" => Precision::F16,
            _ => Precision::F32,
        },
        model,
        data: data(root.block("data")?)?,
        episode: episode(root.block("episode")?)?,
        learn: learn(root.block("learn")?)?,
        eval: eval(root.block("eval")?)?,
    })
}

fn uint(n: &Node) -> Option<u64> {
    match n.val {
        RVal::Int(i) => u64::try_from(i).ok(),
        _ => None,
    }
}

fn usize_of(n: &Node) -> Option<usize> {
    uint(n).and_then(|u| usize::try_from(u).ok())
}

fn float(n: &Node) -> Option<f64> {
    match n.val {
        RVal::Float(f) => Some(f),
        RVal::Int(i) => Some(i as f64),
        _ => None,
    }
}

fn call(n: &Node) -> Option<&RCall> {
    match &n.val {
        RVal::Call(c) => Some(c),
        _ => None,
    }
}

/// Typed accessors on a block's keys or a call's arguments.
trait Get {
    fn node(&self, key: &str) -> Option<&Node>;
    fn u(&self, key: &str) -> Option<usize> {
        usize_of(self.node(key)?)
    }
    fn u64(&self, key: &str) -> Option<u64> {
        uint(self.node(key)?)
    }
    fn f(&self, key: &str) -> Option<f64> {
        float(self.node(key)?)
    }
    fn b(&self, key: &str) -> Option<bool> {
        match self.node(key)?.val {
            RVal::Bool(b) => Some(b),
            _ => None,
        }
    }
    fn s(&self, key: &str) -> Option<String> {
        match &self.node(key)?.val {
            RVal::Str(s) => Some(s.clone()),
            _ => None,
        }
    }
    fn c(&self, key: &str) -> Option<&RCall> {
        call(self.node(key)?)
    }
    /// An integer `k` → `k..k + 1`; a range → itself.
    fn range(&self, key: &str) -> Option<IntRange> {
        let n = |x: i64| usize::try_from(x).ok();
        match self.node(key)?.val {
            RVal::Range(a, b) => Some(IntRange { start: n(a)?, end: n(b)? }),
            RVal::Int(k) => Some(IntRange { start: n(k)?, end: n(k)? + 1 }),
            _ => None,
        }
    }
    /// `none` → `Some(None)`; a value → `Some(Some(v))`.
    fn opt_u(&self, key: &str) -> Option<Option<usize>> {
        match self.node(key)?.val {
            RVal::None => Some(None),
            _ => self.u(key).map(Some),
        }
    }
    fn opt_f(&self, key: &str) -> Option<Option<f64>> {
        match self.node(key)?.val {
            RVal::None => Some(None),
            _ => self.f(key).map(Some),
        }
    }
}

impl Get for RBlock {
    fn node(&self, key: &str) -> Option<&Node> {
        self.entries.get(key)
    }
}

impl Get for RCall {
    fn node(&self, key: &str) -> Option<&Node> {
        self.args.get(key)
    }
}

fn device(c: &RCall) -> Option<DeviceSpec> {
    Some(match c.func.name {
        "cuda" => DeviceSpec::Cuda(c.u("index")?),
        _ => DeviceSpec::Cpu,
    })
}

fn gpt(b: &RBlock) -> Option<ModelConfig> {
    Some(ModelConfig::Gpt(GptConfig {
        layers: b.u("layers")?,
        width: b.u("width")?,
        heads: b.u("heads")?,
        context: b.u("context")?,
        vocab_size: VOCAB_SIZE,
    }))
}

fn data(b: &RBlock) -> Option<DataConfig> {
    Some(DataConfig { train: source(b.c("train")?, TextSplit::Train)?, test: source(b.c("test")?, TextSplit::Test)? })
}

fn source(c: &RCall, split: TextSplit) -> Option<DataSource> {
    let task =
        |task| -> Option<DataSource> { Some(DataSource::Task { task, count: c.u("count")?, seed: c.u64("seed")? }) };
    match c.func.name {
        "task.sum3" => task(TaskKind::Sum3 { digits: c.u("digits")? }),
        "task.multiply" => task(TaskKind::Multiply { digits: c.u("digits")? }),
        // An integer count of terms is the original task (and its run identities); a range mixes counts.
        "task.addition" => match c.node("terms")?.val {
            RVal::Range(..) => task(TaskKind::AdditionMixed { terms: c.range("terms")?, digits: c.u("digits")? }),
            _ => task(TaskKind::Addition { terms: c.u("terms")?, digits: c.u("digits")? }),
        },
        "task.hops" => task(TaskKind::Hops {
            letters: c.u("letters")?,
            hops: c.range("hops")?,
            order: match c.c("order")?.func.name {
                "shuffled" => PairOrder::Shuffled,
                _ => PairOrder::Sorted,
            },
        }),
        "task.compose" => task(TaskKind::Compose { letters: c.u("letters")?, steps: c.range("steps")? }),
        "jsonl" => Some(DataSource::Jsonl { path: c.s("path")? }),
        "text" => Some(DataSource::Text { path: c.s("path")?, split, holdout: c.f("holdout")? }),
        _ => None,
    }
}

fn episode(b: &RBlock) -> Option<EpisodeConfig> {
    let gain = b.c("gain")?;
    Some(EpisodeConfig {
        samples: b.u("samples")?,
        rounds: b.u("rounds")?,
        thought_budget: b.u("thought_budget")?,
        insertion: insertion(b.c("insertion")?)?,
        cull: b.f("cull")?,
        cull_below_cost: b.b("cull_below_cost")?,
        gain: GainConfig {
            window: gain.opt_u("window")?,
            reduce: match gain.c("reduce")?.func.name {
                "mean" => GainReduce::Mean,
                _ => GainReduce::Sum,
            },
            cost: gain.f("cost")?,
            over: match gain.c("over")?.func.name {
                "targets" => GainTokens::Targets,
                _ => GainTokens::All,
            },
            renormalise: gain.b("renormalise")?,
        },
        strategy: match b.c("strategy")?.func.name {
            "leave_one_out" => EpisodeStrategy::LeaveOneOut,
            _ => EpisodeStrategy::Rounds,
        },
        thoughts: match b.c("thoughts")?.func.name {
            "continuous" => ThoughtKind::Continuous,
            _ => ThoughtKind::Discrete,
        },
        every: b.u("every")?,
        slots: match b.c("slots")?.func.name {
            "targets" => Slots::Targets,
            "answer_start" => Slots::AnswerStart,
            _ => Slots::All,
        },
        mix: match b.c("thoughts")?.func.name {
            "continuous" => match b.c("thoughts")?.c("mix")?.func.name {
                "gated" => ThoughtMix::Gated,
                _ => ThoughtMix::Replace,
            },
            _ => ThoughtMix::Replace,
        },
        warmup: Warmup { rule: insertion(b.c("warmup")?)?, steps: b.u("warmup_steps")? },
        proposal_size: b.u("proposal_size")?,
    })
}

fn insertion(c: &RCall) -> Option<Insertion> {
    Some(match c.func.name {
        "fast_forward" => {
            let fb = c.c("fallback")?;
            Insertion::FastForward {
                fallback: match fb.func.name {
                    "sample" => Fallback::Sample { temperature: fb.f("temperature")? },
                    "uniform" => Fallback::Uniform,
                    _ => Fallback::BestRank,
                },
                threshold: c.opt_f("threshold")?,
                max_consecutive: c.u("max_consecutive")?,
            }
        }
        "random" => Insertion::Random { per_sequence: c.u("per_sequence")? },
        "interval" => Insertion::Interval { every: c.u("every")? },
        "answer_pause" => Insertion::AnswerPause { count: c.u("count")? },
        "dit" => Insertion::Dit { count: c.u("count")? },
        _ => Insertion::None,
    })
}

fn learn(b: &RBlock) -> Option<LearnConfig> {
    let opt = b.c("optimizer")?;
    let sched = opt.c("schedule")?;
    Some(LearnConfig {
        steps: b.u("steps")?,
        batch: b.u("batch")?,
        accumulate: b.u("accumulate")?,
        unroll: b.u("unroll")?,
        optimizer: Optimizer::AdamW {
            lr: opt.f("lr")?,
            warmup: opt.u("warmup")?,
            weight_decay: opt.f("weight_decay")?,
            beta1: opt.f("beta1")?,
            beta2: opt.f("beta2")?,
            eps: opt.f("eps")?,
            schedule: match sched.func.name {
                "constant" => Schedule::Constant,
                _ => Schedule::Cosine { min_lr_frac: sched.f("min_lr_frac")? },
            },
        },
        grad_clip: b.opt_f("grad_clip")?,
        reinforce: b.f("reinforce")?,
        punish: b.f("punish")?,
        real_loss: match b.c("real_loss")?.func.name {
            "own" => RealLoss::Own,
            "own_and_plain" => RealLoss::OwnAndPlain,
            "kept_and_plain" => RealLoss::KeptAndPlain,
            "plain" => RealLoss::Plain,
            _ => RealLoss::Kept,
        },
        thought_norm: match b.c("thought_norm")?.func.name {
            "per_real_token" => ThoughtNorm::PerRealToken,
            _ => ThoughtNorm::PerThought,
        },
    })
}

fn eval(b: &RBlock) -> Option<EvalConfig> {
    let p = b.c("placement")?;
    Some(EvalConfig {
        every: b.u("every")?,
        checkpoint_every: b.u("checkpoint_every")?,
        placement: match p.func.name {
            "threshold" => EvalPlacement::Threshold(p.f("value")?),
            "fit_threshold" => EvalPlacement::FitThreshold { sequences: p.u("sequences")? },
            "rule" => EvalPlacement::Rule,
            "oracle" => EvalPlacement::Oracle,
            _ => EvalPlacement::Own,
        },
        max_sequences: b.opt_u("max_sequences")?,
    })
}
