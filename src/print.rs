//! The dry-run plan printer: a stable text tree of runs, phases, the parameters that differ between runs, estimates
//! and a summary line (like `terraform plan`). A run's parameters are shown as spec text ([`param_entries`]).

use std::fmt::Write as _;

use crate::plan::text::{insertion, param_entries};
use crate::plan::*;

/// Printer options.
#[derive(Debug, Clone, Copy, Default)]
pub struct PrintOptions {
    /// Replace machine-dependent figures (peak memory) with `<masked>`, for snapshot tests.
    pub mask_volatile: bool,
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
/// What a pretrained checkpoint's configuration says, as the dry run shows it.
fn checkpoint(m: &crate::plan::PretrainedConfig) -> String {
    let s = &m.shape;
    let format = match m.format {
        crate::plan::CheckpointFormat::Gguf => "GGUF",
        crate::plan::CheckpointFormat::HuggingFace => "Hugging Face",
    };
    format!(
        "{format} llama, {} layers, width {}, {} heads ({} key/value), FFN {}, vocabulary {} + {} special, context {} \
         (rope base {}), {} head, stored {}",
        s.layers,
        s.width,
        s.heads,
        s.kv_heads,
        s.ffn,
        s.vocab,
        crate::plan::SPECIAL_TOKENS,
        s.max_context,
        s.rope_base,
        if s.tied { "tied" } else { "untied" },
        s.weights
    )
}

fn phases(p: &RunParams) -> String {
    let l = &p.learn;
    let learn = format!("learn {} steps × {} sequences", l.steps, l.batch * l.accumulate);
    let e = &p.episode;
    match &e.insertion {
        Insertion::FastForward { .. } => {
            let how = match e.strategy {
                EpisodeStrategy::Rounds if e.proposal_size > 1 => {
                    format!("{} rounds of {}-thought proposals × {} samples", e.rounds, e.proposal_size, e.samples)
                }
                EpisodeStrategy::Rounds => format!("{} rounds × {} samples", e.rounds, e.samples),
                EpisodeStrategy::LeaveOneOut => format!("leave-one-out × {} samples", e.samples),
            };
            let every = if e.every == 1 { "every step".to_string() } else { format!("every {} steps", e.every) };
            let warmup = match e.warmup.steps {
                0 => String::new(),
                n => format!("warm-up {n} steps (thoughts by rule: {}) → ", insertion(&e.warmup.rule)),
            };
            format!("{warmup}episode (fast_forward, {how}, {every}) → {learn}")
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
    if !plan.overrides.is_empty() {
        let _ = writeln!(out, "├── overrides: --set {}", plan.overrides.join(" --set "));
    }
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
        if let crate::plan::ModelConfig::Pretrained(m) = &run.params.model {
            let _ = writeln!(out, "│   {cont}├── checkpoint: {}", checkpoint(m));
        }
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
