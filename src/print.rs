//! The dry-run plan printer: a stable text tree of runs, phases, the parameters that differ between runs, estimates
//! and a summary line (like `terraform plan`). Also [`param_entries`], the spec-text view of a run's parameters that
//! the printer and `plan --diff` share.

use std::fmt::Write as _;

use crate::plan::*;

/// Printer options.
#[derive(Debug, Clone, Copy, Default)]
pub struct PrintOptions {
    /// Replace machine-dependent figures (peak memory) with `<masked>`, for snapshot tests.
    pub mask_volatile: bool,
}

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
    let ModelConfig::Gpt(g) = &p.model;
    push("model", "gpt".into());
    push("model.layers", g.layers.to_string());
    push("model.width", g.width.to_string());
    push("model.heads", g.heads.to_string());
    push("model.context", g.context.to_string());
    push("data.train", source(&p.data.train));
    push("data.test", source(&p.data.test));
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
            "continuation(window = {}, reduce = {reduce}, cost = {}, over = {over})",
            opt_u(e.gain.window),
            num(e.gain.cost)
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
        }
        .into(),
    );
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

fn source(s: &DataSource) -> String {
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

/// `1.2e15`.
pub fn flops(x: f64) -> String {
    format!("{x:.1e}")
}

/// `1.4 GiB`, `312.0 MiB`.
pub fn bytes(b: u64) -> String {
    let b = b as f64;
    if b >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} GiB", b / (1024.0 * 1024.0 * 1024.0))
    } else if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    } else {
        format!("{:.1} KiB", b / 1024.0)
    }
}

/// `421.6K`, `1.2M`.
pub fn count(n: u64) -> String {
    match n {
        n if n >= 1_000_000_000 => format!("{:.1}G", n as f64 / 1e9),
        n if n >= 1_000_000 => format!("{:.1}M", n as f64 / 1e6),
        n if n >= 1_000 => format!("{:.1}K", n as f64 / 1e3),
        n => n.to_string(),
    }
}

/// The phases a run goes through, in one line.
fn phases(p: &RunParams) -> String {
    let l = &p.learn;
    let learn = format!("learn {} steps × {} sequences", l.steps, l.batch * l.accumulate);
    let e = &p.episode;
    match &e.insertion {
        Insertion::FastForward { .. } => {
            let how = match e.strategy {
                EpisodeStrategy::Rounds => format!("{} rounds × {} samples", e.rounds, e.samples),
                EpisodeStrategy::LeaveOneOut => format!("leave-one-out × {} samples", e.samples),
            };
            let every = if e.every == 1 { "every step".to_string() } else { format!("every {} steps", e.every) };
            format!("episode (fast_forward, {how}, {every}) → {learn}")
        }
        Insertion::None => format!("{learn} (no thoughts)"),
        rule => format!("{learn} (thoughts by rule: {})", insertion(rule)),
    }
}

/// Print a plan as a tree.
pub fn print_plan(plan: &Plan, opts: PrintOptions) -> String {
    let mem = |b: u64| if opts.mask_volatile { "<masked>".to_string() } else { bytes(b) };
    let entries: Vec<Vec<(String, String)>> = plan.runs.iter().map(|r| param_entries(&r.params)).collect();
    let differs = |k: usize| entries.iter().any(|e| e.get(k).map(|x| &x.1) != entries[0].get(k).map(|x| &x.1));
    let varying: Vec<bool> = entries.first().map_or(Vec::new(), |e| (0..e.len()).map(differs).collect());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Plan for `{}` (language {}, plan format {})",
        plan.experiment, plan.language_version, plan.format_version
    );
    let axes = if plan.axes.is_empty() { "none".to_string() } else { plan.axes.join(" × ") };
    let _ = writeln!(out, "├── axes: {axes}");
    let _ = writeln!(out, "├── shared by every run");
    if let Some(first) = entries.first() {
        let shared: Vec<&(String, String)> = first.iter().zip(&varying).filter(|(_, v)| !**v).map(|(e, _)| e).collect();
        for (i, (k, v)) in shared.iter().enumerate() {
            let branch = if i + 1 == shared.len() { "└──" } else { "├──" };
            let _ = writeln!(out, "│   {branch} {k} = {v}");
        }
    }
    let _ = writeln!(out, "├── runs ({})", plan.runs.len());
    for (i, run) in plan.runs.iter().enumerate() {
        let last = i + 1 == plan.runs.len();
        let (branch, cont) = if last { ("└──", "    ") } else { ("├──", "│   ") };
        let label = if run.label.is_empty() { String::new() } else { format!("  {}", run.label) };
        let _ = writeln!(out, "│   {branch} run {}/{} {}{label}", i + 1, plan.runs.len(), run.id);
        for ((k, v), vary) in entries[i].iter().zip(&varying) {
            if *vary {
                let _ = writeln!(out, "│   {cont}├── ~ {k} = {v}");
            }
        }
        let est = &run.estimates;
        let _ = writeln!(out, "│   {cont}├── phases: {}", phases(&run.params));
        let _ = writeln!(
            out,
            "│   {cont}└── estimates: {} parameters, {} tokens/step, {} tokens, {} FLOPs/step (fwd {}, bwd {}, episode {}), run {} FLOPs, peak {}",
            count(est.parameters),
            count(est.tokens_per_step),
            count(est.total_tokens),
            flops(est.forward_flops_per_step + est.backward_flops_per_step + est.episode_flops_per_step),
            flops(est.forward_flops_per_step),
            flops(est.backward_flops_per_step),
            flops(est.episode_flops_per_step),
            flops(est.run_flops),
            mem(est.peak_memory_bytes),
        );
    }
    let total: f64 = plan.runs.iter().map(|r| r.estimates.run_flops).sum();
    let peak = plan.runs.iter().map(|r| r.estimates.peak_memory_bytes).max().unwrap_or(0);
    let _ = writeln!(
        out,
        "└── Plan: {} run{}, {} ax{}, {} FLOPs, peak {}",
        plan.runs.len(),
        if plan.runs.len() == 1 { "" } else { "s" },
        plan.axes.len(),
        if plan.axes.len() == 1 { "is" } else { "es" },
        flops(total),
        mem(peak)
    );
    out
}
