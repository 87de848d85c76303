//! A run's parameters as spec text: one `key = value` pair per setting, in the language's order. The printer and
//! `plan --diff` show these pairs, and a plan file's runs are checked by compiling them back
//! ([`spec_text`], then the checker), so a plan file gets every check a spec gets.

use super::*;

/// A run's parameters as `(key, spec text)` pairs, in the language's order, e.g.
/// `("episode.insertion", "fast_forward(fallback = best_rank, threshold = none, max_consecutive = 2)")`.
pub fn param_entries(p: &RunParams) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut push = |k: &str, v: String| out.push((k.to_string(), v));
    push("seed", p.seed.to_string());
    push(
        "device",
        match p.device {
            DeviceSpec::Cpu => "cpu".into(),
            DeviceSpec::Cuda(i) => format!("cuda({i})"),
        },
    );
    push("dtype", p.dtype.name().into());
    match &p.model {
        ModelConfig::Gpt(g) => {
            push("model", "gpt".into());
            push("model.layers", g.layers.to_string());
            push("model.width", g.width.to_string());
            push("model.heads", g.heads.to_string());
            push("model.context", g.context.to_string());
        }
        ModelConfig::Pretrained(m) => {
            push("model", "pretrained".into());
            push("model.path", format!("{:?}", m.path));
            push("model.context", m.context.to_string());
            push(
                "model.train",
                match m.train {
                    TrainPart::All => "all()".into(),
                    TrainPart::Last { layers } => format!("last(layers = {layers})"),
                },
            );
        }
    }
    push("data.train", source_text(&p.data.train));
    push("data.test", source_text(&p.data.test));
    let e = &p.episode;
    push("episode.samples", e.samples.to_string());
    push("episode.rounds", e.rounds.to_string());
    push("episode.thought_budget", e.thought_budget.to_string());
    push("episode.insertion", insertion(&e.insertion));
    push("episode.cull", num(e.cull));
    push("episode.cull_below_cost", e.cull_below_cost.to_string());
    let reduce = match e.gain.reduce {
        GainReduce::Sum => "sum",
        GainReduce::Mean => "mean",
    };
    let over = match e.gain.over {
        GainTokens::All => "all",
        GainTokens::Targets => "targets",
    };
    push(
        "episode.gain",
        format!(
            "continuation(window = {}, reduce = {reduce}, cost = {}, over = {over}, renormalise = {})",
            opt_u(e.gain.window),
            num(e.gain.cost),
            e.gain.renormalise
        ),
    );
    push(
        "episode.strategy",
        match e.strategy {
            EpisodeStrategy::Rounds => "rounds",
            EpisodeStrategy::LeaveOneOut => "leave_one_out",
        }
        .into(),
    );
    push(
        "episode.thoughts",
        match (e.thoughts, e.mix) {
            (ThoughtKind::Discrete, _) => "discrete",
            (ThoughtKind::Continuous, ThoughtMix::Replace) => "continuous",
            (ThoughtKind::Continuous, ThoughtMix::Gated) => "continuous(mix = gated)",
        }
        .into(),
    );
    push("episode.every", e.every.to_string());
    push(
        "episode.slots",
        match e.slots {
            Slots::All => "all",
            Slots::Targets => "targets",
            Slots::AnswerStart => "answer_start",
        }
        .into(),
    );
    // Only when on: a run without a warm-up prints (and round-trips) as before the keys existed.
    if !e.warmup.is_off() {
        push("episode.warmup", insertion(&e.warmup.rule));
        push("episode.warmup_steps", e.warmup.steps.to_string());
    }
    if e.proposal_size != 1 {
        push("episode.proposal_size", e.proposal_size.to_string());
    }
    let l = &p.learn;
    push("learn.steps", l.steps.to_string());
    push("learn.batch", l.batch.to_string());
    push("learn.accumulate", l.accumulate.to_string());
    push("learn.unroll", l.unroll.to_string());
    let Optimizer::AdamW { lr, warmup, weight_decay, beta1, beta2, eps, schedule } = &l.optimizer;
    let schedule = match schedule {
        Schedule::Cosine { min_lr_frac } => format!("cosine(min_lr_frac = {})", num(*min_lr_frac)),
        Schedule::Constant => "constant".into(),
    };
    push(
        "learn.optimizer",
        format!(
            "adamw(lr = {}, warmup = {warmup}, weight_decay = {}, beta1 = {}, beta2 = {}, eps = {}, schedule = {schedule})",
            num(*lr), num(*weight_decay), num(*beta1), num(*beta2), num(*eps)
        ),
    );
    push("learn.grad_clip", l.grad_clip.map_or("none".into(), num));
    push("learn.reinforce", num(l.reinforce));
    push("learn.punish", num(l.punish));
    let real_loss = match l.real_loss {
        RealLoss::Kept => "kept",
        RealLoss::Own => "own",
        RealLoss::OwnAndPlain => "own_and_plain",
        RealLoss::KeptAndPlain => "kept_and_plain",
        RealLoss::Plain => "plain",
    };
    push("learn.real_loss", real_loss.into());
    push(
        "learn.thought_norm",
        match l.thought_norm {
            ThoughtNorm::PerThought => "per_thought",
            ThoughtNorm::PerRealToken => "per_real_token",
        }
        .into(),
    );
    let v = &p.eval;
    push("eval.every", v.every.to_string());
    push("eval.checkpoint_every", v.checkpoint_every.to_string());
    push(
        "eval.placement",
        match v.placement {
            EvalPlacement::Own => "own".into(),
            EvalPlacement::Threshold(t) => format!("threshold({})", num(t)),
            EvalPlacement::FitThreshold { sequences } => format!("fit_threshold(sequences = {sequences})"),
            EvalPlacement::Rule => "rule".into(),
            EvalPlacement::Oracle => "oracle".into(),
        },
    );
    push("eval.max_sequences", opt_u(v.max_sequences));
    out
}

fn num(x: f64) -> String {
    format!("{x:?}")
}

fn opt_u(x: Option<usize>) -> String {
    x.map_or("none".into(), |v| v.to_string())
}

/// A data source as spec text (`task.hops(letters = 8, …, count = 20000, seed = 0)`).
pub fn source_text(s: &DataSource) -> String {
    match s {
        DataSource::Task { task, count, seed } => match task {
            TaskKind::Sum3 { digits } => format!("task.sum3(digits = {digits}, count = {count}, seed = {seed})"),
            TaskKind::Multiply { digits } => {
                format!("task.multiply(digits = {digits}, count = {count}, seed = {seed})")
            }
            TaskKind::Addition { terms, digits } => {
                format!("task.addition(terms = {terms}, digits = {digits}, count = {count}, seed = {seed})")
            }
            TaskKind::AdditionMixed { terms, digits } => {
                format!("task.addition(terms = {terms}, digits = {digits}, count = {count}, seed = {seed})")
            }
            TaskKind::Hops { letters, hops, order } => {
                let order = match order {
                    PairOrder::Sorted => "sorted",
                    PairOrder::Shuffled => "shuffled",
                };
                format!(
                    "task.hops(letters = {letters}, hops = {hops}, order = {order}, count = {count}, seed = {seed})"
                )
            }
            TaskKind::Compose { letters, steps } => {
                format!("task.compose(letters = {letters}, steps = {steps}, count = {count}, seed = {seed})")
            }
        },
        DataSource::Jsonl { path } => format!("jsonl({path:?})"),
        DataSource::Text { path, holdout, .. } => format!("text({path:?}, holdout = {})", num(*holdout)),
    }
}

/// An insertion strategy as spec text.
pub fn insertion(i: &Insertion) -> String {
    match i {
        Insertion::FastForward { fallback, threshold, max_consecutive } => {
            let fallback = match fallback {
                Fallback::BestRank => "best_rank".into(),
                Fallback::Sample { temperature } => format!("sample(temperature = {})", num(*temperature)),
                Fallback::Uniform => "uniform".into(),
            };
            let threshold = threshold.map_or("none".into(), num);
            format!("fast_forward(fallback = {fallback}, threshold = {threshold}, max_consecutive = {max_consecutive})")
        }
        Insertion::None => "none()".into(),
        Insertion::Random { per_sequence } => format!("random(per_sequence = {per_sequence})"),
        Insertion::Interval { every } => format!("interval(every = {every})"),
        Insertion::AnswerPause { count } => format!("answer_pause(count = {count})"),
        Insertion::Dit { count } => format!("dit(count = {count})"),
    }
}

/// `params` as a one-run spec: `version`, then an `experiment` block setting every key of [`param_entries`].
/// Compiling it gives `params` back (a test holds every spec in `specs/` to that), so the checker can judge a run
/// that came from a plan file.
pub fn spec_text(params: &RunParams) -> String {
    let mut out = format!("version = {FORMAT_VERSION}\nexperiment \"plan\" {{\n");
    for (key, value) in param_entries(params) {
        let value = match (key.as_str(), &params.episode.insertion) {
            // The model block's label is its kind: an empty labelled block selects it, the dotted keys fill it.
            ("model", _) => {
                out.push_str(&format!("  model {value} {{}}\n"));
                continue;
            }
            // `max_consecutive` at its default is left unwritten, as a spec leaves it: the checker compares it
            // with the budget only where it was written.
            ("episode.insertion", Insertion::FastForward { max_consecutive: 2, .. }) => {
                value.replace(", max_consecutive = 2)", ")")
            }
            _ => value,
        };
        out.push_str(&format!("  {key} = {value}\n"));
    }
    out.push_str("}\n");
    out
}
