//! Checks that relate several keys of one run's parameters (heads and width, task length and context, thoughts
//! and unroll, warm-up, proposals); each error points at the key that was set, or at the block.

use super::resolve::Ctx;
use super::tree::RBlock;
use crate::plan::*;

/// Checks that relate several keys; each error points at the key that was set (or the block).
pub fn relations(ctx: &mut Ctx, root: &RBlock, p: &RunParams) {
    let at = |path: &[&str]| root.span_of(path).or(root.span).unwrap_or_default();
    let context = p.model.context();
    if let ModelConfig::Gpt(gpt) = &p.model {
        heads_divide_width(ctx, &at(&["model", "heads"]), gpt);
    }
    for (key, src) in [("train", &p.data.train), ("test", &p.data.test)] {
        if let DataSource::Task { task, .. } = src {
            let len = super::estimate::task_tokens(task);
            if len > context {
                ctx.err(
                    "E0310",
                    at(&["data", key]),
                    format!("`{key}` sequences are up to {len} tokens, longer than `model.context = {}`", context),
                    "does not fit the context",
                )
                .push_hint(format!(
                    "raise `model.context` to at least {len} (plus room for thoughts), or use fewer digits"
                ));
            }
        }
    }
    if p.data.train == p.data.test {
        ctx.err(
            "E0305",
            at(&["data", "test"]),
            "`test` is the same data as `train`: evaluation would measure memorisation".into(),
            "same as `train`",
        )
        .push_hint("give the test data another `seed`, e.g. `seed = 1`");
    }
    let baseline = !matches!(p.episode.insertion, Insertion::FastForward { .. });
    if p.eval.placement == EvalPlacement::Rule && !baseline {
        ctx.err(
            "E0306",
            at(&["eval", "placement"]),
            "`placement = rule` needs a baseline insertion rule, but the run uses `fast_forward`".into(),
            "no rule to follow",
        )
        .push_hint("use `placement = own` for the model's own policy");
    }
    if p.learn.unroll > 1 && p.episode.thoughts == ThoughtKind::Discrete {
        ctx.err(
            "E0307",
            at(&["learn", "unroll"]),
            format!("`unroll = {}` has no effect with discrete thoughts", p.learn.unroll),
            "only for continuous thoughts",
        )
        .push_hint("set `episode.thoughts = continuous`, or `unroll = 1`");
    }
    if let Insertion::FastForward { max_consecutive, .. } = p.episode.insertion {
        // Only when written: the default cap of 2 is harmless under a budget of 1.
        let written = root.written(&["episode", "insertion", "max_consecutive"]);
        if written && p.episode.thought_budget > 0 && max_consecutive > p.episode.thought_budget {
            ctx.err(
                "E0308",
                at(&["episode", "insertion", "max_consecutive"]),
                format!(
                    "`max_consecutive = {max_consecutive}` exceeds `thought_budget = {}`",
                    p.episode.thought_budget
                ),
                "more than the budget",
            )
            .push_hint("lower `max_consecutive` or raise `thought_budget`");
        }
    }
    warmup(ctx, root, &at, p);
    proposal_size(ctx, &at, p);
    if p.episode.thought_budget >= context {
        ctx.err(
            "E0309",
            at(&["episode", "thought_budget"]),
            format!(
                "`thought_budget = {}` leaves no room for real tokens in a context of {}",
                p.episode.thought_budget, context
            ),
            "too large for the context",
        )
        .push_hint("lower `thought_budget` or raise `model.context`");
    }
}

/// A warm-up comes before an episode phase and places thoughts by a rule that needs no model pass.
fn warmup(ctx: &mut Ctx, root: &RBlock, at: &dyn Fn(&[&str]) -> crate::diagnostic::Span, p: &RunParams) {
    let w = &p.episode.warmup;
    if w.is_off() {
        return;
    }
    if !matches!(p.episode.insertion, Insertion::FastForward { .. }) {
        let key = if root.written(&["episode", "warmup_steps"]) { "warmup_steps" } else { "warmup" };
        ctx.err(
            "E0311",
            at(&["episode", key]),
            format!(
                "a warm-up comes before the episode phase, but this run places thoughts by `{}` throughout",
                crate::plan::text::insertion(&p.episode.insertion)
            ),
            "no episode phase to warm up for",
        )
        .push_hint("use `insertion = fast_forward()`, or leave `warmup` and `warmup_steps` out of this run");
    }
    if matches!(w.rule, Insertion::FastForward { .. } | Insertion::Dit { .. }) {
        ctx.err(
            "E0312",
            at(&["episode", "warmup"]),
            format!(
                "`warmup = {}` is not a fixed rule",
                match &w.rule {
                    Insertion::FastForward { .. } => "fast_forward()".to_string(),
                    rule => crate::plan::text::insertion(rule),
                }
            ),
            "expected `none`, `random`, `interval` or `answer_pause`",
        )
        .push_hint(
            "the warm-up is what comes before the model places thoughts: e.g. `warmup = answer_pause(count = 2)`",
        );
    }
    if w.steps == 0 {
        ctx.err(
            "E0314",
            at(&["episode", "warmup"]),
            format!("`warmup = {}` with `warmup_steps = 0` never runs", crate::plan::text::insertion(&w.rule)),
            "no warm-up steps",
        )
        .push_hint("set `episode.warmup_steps`, e.g. `warmup_steps = 2000`, or leave `warmup` out");
    } else if w.steps >= p.learn.steps {
        ctx.err(
            "E0313",
            at(&["episode", "warmup_steps"]),
            format!(
                "`warmup_steps = {}` takes every one of the run's {} steps: the episode phase never runs",
                w.steps, p.learn.steps
            ),
            "as long as the run",
        )
        .push_hint("lower `warmup_steps` below `learn.steps`, or train with the rule itself as `insertion`");
    }
}

/// A proposal's thoughts stand together in one slot, in one sequence, and only the `rounds` strategy proposes.
fn proposal_size(ctx: &mut Ctx, at: &dyn Fn(&[&str]) -> crate::diagnostic::Span, p: &RunParams) {
    let e = &p.episode;
    let k = e.proposal_size;
    let Insertion::FastForward { max_consecutive, .. } = e.insertion else { return };
    if k <= 1 {
        return;
    }
    let room = max_consecutive.min(e.thought_budget);
    if k > room {
        let (what, fix) = if max_consecutive <= e.thought_budget {
            (format!("`insertion = fast_forward(max_consecutive = {max_consecutive})`"), "raise `max_consecutive`")
        } else {
            (format!("`thought_budget = {}`", e.thought_budget), "raise `thought_budget`")
        };
        ctx.err(
            "E0315",
            at(&["episode", "proposal_size"]),
            format!("`proposal_size = {k}` places more thoughts in one slot than {what} allows"),
            &format!("at most {room}"),
        )
        .push_hint(format!("lower `proposal_size` to {room} or less, or {fix}"));
    }
    if e.strategy == EpisodeStrategy::LeaveOneOut {
        ctx.err(
            "E0316",
            at(&["episode", "proposal_size"]),
            format!("`proposal_size = {k}` needs proposals, but `strategy = leave_one_out` scores a sweep"),
            "only with `strategy = rounds`",
        )
        .push_hint("use `strategy = rounds`, or leave `proposal_size` out");
    }
}

fn heads_divide_width(ctx: &mut Ctx, at: &crate::diagnostic::Span, gpt: &GptConfig) {
    if gpt.width % gpt.heads != 0 {
        let divisors: Vec<String> =
            (1..=gpt.width.min(64)).filter(|d| gpt.width % d == 0).map(|d| d.to_string()).collect();
        let d = ctx.err(
            "E0304",
            *at,
            format!("`heads` must divide `width`: {} heads do not divide width {}", gpt.heads, gpt.width),
            "does not divide `width`",
        );
        d.push_hint(format!("heads that divide {}: {}", gpt.width, divisors.join(", ")));
    }
}
