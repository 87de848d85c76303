//! Sweep reports: `OUT/results.json` (every run's parameters and final figures), `OUT/report.md` (runs grouped
//! by the swept parameters other than the seed, mean ± std over seeds, and which differences exceed the seed
//! spread) and `OUT/curves.png` (held-out NLL against steps and against positions processed, one line per group).
//!
//! Positions processed in training are counted the same way for every run (`learn::train`): every position a
//! model pass computes for a real token or a thought, padding excluded, a forward counting 1 and a backward 2; the
//! episode phase's no-gradient passes count 1 ×, each learning pass 3 × its input positions. Every run logs the
//! running total in `metrics.jsonl`. Folders written before that fall back to `episodes.jsonl` (runs with thoughts;
//! its episode part then counted chunk padding) or, for plain runs, to `3 × batch × accumulate × mean(real length −
//! 1)` per step.

use std::collections::BTreeMap;
use std::path::Path;

use super::plot::{chart_png, Panel, Series, PALETTE};
use super::results::{jsonl, table, write_atomic, Results, RichResults, RunRecord, RunResult};
use super::summary::{difficulty_table, group, group_table, spread, threads_note, transitions, Group};
use crate::engine::data::{self, Role};
use crate::plan::{Plan, RunParams, RunPlan};

/// Write `results.json`, `report.md` and `curves.png` into `out` for `plan` and what became of its runs.
pub fn write(plan: &Plan, results: &Results, out: &Path) -> anyhow::Result<()> {
    let records: Vec<RunRecord> =
        plan.runs.iter().zip(&results.runs).map(|(run, r)| record(run, r, out)).collect::<anyhow::Result<_>>()?;
    let rich = RichResults { experiment: plan.experiment.clone(), axes: plan.axes.clone(), runs: records };
    write_atomic(&out.join("results.json"), serde_json::to_string_pretty(&rich)?)?;
    let groups = group(plan, &rich.runs);
    let panels = [
        Panel { series: curves(&groups, |(step, _, nll)| (*step as f64, *nll)) },
        Panel { series: curves(&groups, |(_, pos, nll)| (*pos, *nll)) },
    ];
    write_atomic(&out.join("curves.png"), chart_png(&panels, 560, 380))?;
    let text = format!(
        "# {}\n\n{}{}\n{}{}\n{}\n## Runs\n\n{}",
        plan.experiment,
        group_table(&groups),
        threads_note(&rich.runs),
        difficulty_table(&groups),
        spread(&groups),
        key(&groups, &panels),
        table(results)
    ) + &transitions(plan, out);
    write_atomic(&out.join("report.md"), text)?;
    Ok(())
}

/// Gather a run's figures from the runner's result and its folder.
fn record(run: &RunPlan, result: &RunResult, out: &Path) -> anyhow::Result<RunRecord> {
    let dir = out.join(&run.id);
    // A skipped run's wall time is the one saved when it finished.
    let wall_file = dir.join("wall_s.txt");
    let wall_s = if result.status == "finished" && result.wall_s > 0.0 {
        write_atomic(&wall_file, format!("{}", result.wall_s))?;
        result.wall_s
    } else {
        std::fs::read_to_string(&wall_file).ok().and_then(|t| t.trim().parse().ok()).unwrap_or(result.wall_s)
    };
    let positions = positions_by_step(&run.params, &dir)?;
    let metrics = jsonl(&dir.join("metrics.jsonl"));
    let threads = metrics.iter().rev().find_map(|v| v.get("threads")?.as_u64()).map(|t| t as usize);
    let curve: Vec<(usize, f64, f64)> = metrics
        .iter()
        .filter_map(|v| {
            let step = v.get("step")?.as_u64()? as usize;
            let nll = v.get("eval")?.get("real_nll")?.as_f64()?;
            Some((step, positions(step), nll))
        })
        .collect();
    Ok(RunRecord {
        result: RunResult { wall_s, ..result.clone() },
        threads,
        swept: run.swept.clone(),
        train_positions: (result.steps > 0).then(|| positions(result.steps)),
        curve,
        params: run.params.clone(),
    })
}

/// Positions processed after each step: as logged in `metrics.jsonl`, else (older folders) in `episodes.jsonl`,
/// else estimated for plain runs.
fn positions_by_step(params: &RunParams, dir: &Path) -> anyhow::Result<Box<dyn Fn(usize) -> f64>> {
    let logged_in = |file: &str| -> BTreeMap<usize, f64> {
        jsonl(&dir.join(file))
            .iter()
            .filter_map(|v| Some((v.get("step")?.as_u64()? as usize, v.get("positions")?.as_f64()?)))
            .collect()
    };
    for file in ["metrics.jsonl", "episodes.jsonl"] {
        let logged = logged_in(file);
        if !logged.is_empty() {
            return Ok(Box::new(move |step| logged.range(..=step).next_back().map_or(0.0, |(_, &p)| p)));
        }
    }
    let context = crate::engine::data::data_context(params, &params.data.train);
    let train = data::load(&params.data.train, Role::Train, context)?;
    let n = train.sequences.len().max(1) as f64;
    let mean_inputs = train.sequences.iter().map(|s| s.tokens.len().saturating_sub(1)).sum::<usize>() as f64 / n;
    let per_step = 3.0 * (params.learn.batch * params.learn.accumulate) as f64 * mean_inputs;
    Ok(Box::new(move |step| step as f64 * per_step))
}

/// Mean curve of each group: per evaluation step, the mean over seeds of `(x, y)`.
fn curves(groups: &[Group<'_>], xy: impl Fn(&(usize, f64, f64)) -> (f64, f64)) -> Vec<Series> {
    groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let mut by_step: BTreeMap<usize, Vec<(f64, f64)>> = BTreeMap::new();
            for r in &g.runs {
                for p in &r.curve {
                    by_step.entry(p.0).or_default().push(xy(p));
                }
            }
            let points = by_step
                .values()
                .map(|v| {
                    let n = v.len() as f64;
                    (v.iter().map(|p| p.0).sum::<f64>() / n, v.iter().map(|p| p.1).sum::<f64>() / n)
                })
                .collect();
            Series { color: PALETTE[i % PALETTE.len()].0, points }
        })
        .collect()
}

/// The key of `curves.png`: colours and axis ranges (the image has no text).
fn key(groups: &[Group<'_>], panels: &[Panel; 2]) -> String {
    let mut out = String::from(
        "\n## curves.png\n\nLeft: held-out NLL (nats) against steps; right: against training \
                                positions processed. One line per group, mean over seeds; no text in the image.\n\n",
    );
    for (name, p) in ["left", "right"].iter().zip(panels) {
        let (x0, x1, y0, y1) = p.ranges();
        out.push_str(&format!("- {name}: x {x0:.4e} … {x1:.4e}, y {y0:.4} … {y1:.4}\n"));
    }
    for (i, g) in groups.iter().enumerate() {
        out.push_str(&format!("- {}: `{}`\n", PALETTE[i % PALETTE.len()].1, g.label));
    }
    out
}
