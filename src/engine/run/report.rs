//! Sweep reports: `OUT/results.json` (every run's parameters and final figures), `OUT/report.md` (runs grouped
//! by the swept parameters other than the seed, mean ± std over seeds, and which differences exceed the seed
//! spread), `OUT/report.html` (the same tables with labelled charts and where the thoughts go, one self-contained
//! file) and `OUT/curves.svg` (held-out NLL against steps and against positions processed, one line per group).
//!
//! Positions processed in training are counted the same way for every run (`learn::train`): every position a
//! model pass computes for a real token or a thought, padding excluded, a forward counting 1 and a backward 2; the
//! episode phase's no-gradient passes count 1 ×, each learning pass 3 × its input positions. Every run logs the
//! running total in `metrics.jsonl`. Folders written before that fall back to `episodes.jsonl` (runs with thoughts;
//! its episode part then counted chunk padding) or, for plain runs, to `3 × batch × accumulate × mean(real length −
//! 1)` per step.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::charts::{line_chart, Chart, Line};
use super::groups::{group, Group};
use super::html::{self, Section};
use super::results::{jsonl, table, Results, RichResults, RunRecord, RunResult};
use super::summary::{difficulty_table, group_table, spread, threads_note, transitions};
use crate::engine::data::{self, Role};
use crate::engine::eval::ThoughtMap;
use crate::engine::files::write_atomic;
use crate::plan::{Plan, RunParams, RunPlan};

/// Write the reports into `out` for `plan` and what became of its runs, each run read from `out/<run-id>/`.
pub fn write(plan: &Plan, results: &Results, out: &Path) -> anyhow::Result<()> {
    let dirs: Vec<PathBuf> = plan.runs.iter().map(|r| out.join(&r.id)).collect();
    write_from(plan, &results.runs, &dirs, out)
}

/// Write the reports into `out` for `plan`'s runs, run `i` read from `dirs[i]` (folders of several output folders
/// when `thinktok report` combines them).
pub fn write_from(plan: &Plan, results: &[RunResult], dirs: &[PathBuf], out: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        plan.runs.len() == results.len() && results.len() == dirs.len(),
        "a report needs one result and one folder per run"
    );
    let records: Vec<RunRecord> = plan
        .runs
        .iter()
        .zip(results)
        .zip(dirs)
        .map(|((run, r), dir)| record(run, r, dir))
        .collect::<anyhow::Result<_>>()?;
    let rich = RichResults { experiment: plan.experiment.clone(), axes: plan.axes.clone(), runs: records };
    write_atomic(&out.join("results.json"), serde_json::to_string_pretty(&rich)?)?;
    let groups = group(plan, &rich.runs);
    let by_steps = line_chart(&Chart {
        title: "Held-out NLL against training steps",
        x_title: "optimiser steps",
        y_title: "held-out NLL (nats per real token)",
        lines: &curves(&groups, |(step, _, nll)| (*step as f64, *nll)),
        y_from_zero: false,
    })?;
    let by_positions = line_chart(&Chart {
        title: "Held-out NLL against training compute",
        x_title: "training positions processed (forward 1, backward 2)",
        y_title: "held-out NLL (nats per real token)",
        lines: &curves(&groups, |(_, pos, nll)| (*pos, *nll)),
        y_from_zero: false,
    })?;
    write_atomic(&out.join("curves.svg"), &by_steps)?;
    write_atomic(&out.join("curves-positions.svg"), &by_positions)?;
    // Each run named by its group and seed: plain labels can agree across combined plans.
    let folders: Vec<(String, &Path)> = rich
        .runs
        .iter()
        .zip(dirs)
        .map(|(r, d)| {
            let group = groups.iter().find(|g| g.runs.iter().any(|x| std::ptr::eq(*x, r)));
            let label = group.map_or_else(|| r.result.id.clone(), |g| format!("{} seed={}", g.label, r.params.seed));
            (label, d.as_path())
        })
        .collect();
    let tables = format!(
        "{}{}\n{}{}",
        group_table(&groups),
        threads_note(&rich.runs),
        difficulty_table(&groups),
        spread(&groups),
    ) + &transitions(&folders);
    let text = format!(
        "# {}\n\n{tables}\n## Charts\n\n`report.html` (open it in a browser: one file, no network) has every chart \
         and where the thoughts go; the learning curves are also in `curves.svg` (against steps) and \
         `curves-positions.svg` (against training positions).\n\n## Runs\n\n{}",
        plan.experiment,
        table(&Results { experiment: plan.experiment.clone(), runs: results.to_vec() })
    );
    write_atomic(&out.join("report.md"), &text)?;
    let mut sections = vec![
        Section::Markdown(tables),
        Section::Charts {
            heading: "Learning curves".into(),
            note: CURVES_NOTE.into(),
            svgs: vec![by_steps, by_positions],
        },
    ];
    sections.extend(episode_charts(&folders)?);
    sections.extend(thought_sections(&groups, dirs, &rich.runs)?);
    sections.push(Section::Markdown(format!(
        "## Runs\n\n{}",
        table(&Results { experiment: String::new(), runs: results.to_vec() })
    )));
    write_atomic(&out.join("report.html"), html::render(plan, &sections))?;
    Ok(())
}

const CURVES_NOTE: &str = "One line per group of runs (runs that differ only in the seed), the mean over its seeds \
    at each evaluation. Training positions count every position a model pass computed for real tokens and thoughts, \
    so runs with thoughts are compared at equal compute on the right.";

/// The episode phase over steps, one line per run with an episode phase: the share of proposed thoughts the
/// model placed itself (the rest: the fallback), and thoughts per 100 real tokens of the training batch.
fn episode_charts(folders: &[(String, &Path)]) -> anyhow::Result<Option<Section>> {
    let mut share = Vec::new();
    let mut rate = Vec::new();
    for (label, dir) in folders {
        let lines = jsonl(&dir.join("episodes.jsonl"));
        let episodes: Vec<&serde_json::Value> = lines.iter().filter(|v| v["episode"] == true).collect();
        if episodes.is_empty() {
            continue;
        }
        let label = label.clone();
        let series = |key: &str| -> Vec<(f64, f64)> {
            thin(episodes.iter().filter_map(|v| Some((v["step"].as_f64()?, v[key].as_f64()?))).collect(), 200)
        };
        share.push(Line { label: label.clone(), points: series("share_by_model") });
        rate.push(Line { label, points: series("thoughts_per_100") });
    }
    if share.is_empty() {
        return Ok(None);
    }
    let share_svg = line_chart(&Chart {
        title: "Episode phase: thoughts the model placed itself",
        x_title: "optimiser steps",
        y_title: "share placed by the model (rest: fallback)",
        lines: &share,
        y_from_zero: true,
    })?;
    let rate_svg = line_chart(&Chart {
        title: "Episode phase: thoughts kept in training",
        x_title: "optimiser steps",
        y_title: "thoughts per 100 real tokens",
        lines: &rate,
        y_from_zero: true,
    })?;
    Ok(Some(Section::Charts {
        heading: "Episode phase: from the fallback to the model's own placement".into(),
        note: "Per run with an episode phase, from `episodes.jsonl` (at most 200 points a line).".into(),
        svgs: vec![share_svg, rate_svg],
    }))
}

/// At most `n` points of `points`, evenly spaced, the last one always kept.
fn thin(points: Vec<(f64, f64)>, n: usize) -> Vec<(f64, f64)> {
    if points.len() <= n {
        return points;
    }
    let stride = points.len().div_ceil(n);
    let last = points.last().copied();
    let mut out: Vec<(f64, f64)> = points.into_iter().step_by(stride).collect();
    if out.last().copied() != last {
        out.extend(last);
    }
    out
}

/// Where the thoughts go: per group of runs, the first run's `thoughts.json` (the final model under the run's
/// evaluation placement), drawn as examples with their thoughts and a chart of the thought rate by position.
fn thought_sections(groups: &[Group<'_>], dirs: &[PathBuf], runs: &[RunRecord]) -> anyhow::Result<Vec<Section>> {
    let mut out = Vec::new();
    for g in groups {
        let Some((record, map)) = g.runs.iter().find_map(|r| {
            let i = runs.iter().position(|x| std::ptr::eq(x, *r))?;
            let text = std::fs::read_to_string(dirs[i].join("thoughts.json")).ok()?;
            Some((*r, serde_json::from_str::<ThoughtMap>(&text).ok()?))
        }) else {
            continue;
        };
        let lines: Vec<Line> = map
            .rate_by_position
            .iter()
            .map(|(k, v)| Line {
                label: k.clone(),
                points: v.iter().enumerate().map(|(p, &r)| (p as f64, r)).collect(),
            })
            .collect();
        let chart = line_chart(&Chart {
            title: "Thoughts by position",
            x_title: "real-token position (thoughts right before it)",
            y_title: "thoughts per sequence",
            lines: &lines,
            y_from_zero: true,
        })?;
        out.push(Section::Thoughts { label: g.label.clone(), run: record.result.id.clone(), map, chart });
    }
    Ok(out)
}

/// Gather a run's figures from the runner's result and its folder.
fn record(run: &RunPlan, result: &RunResult, dir: &Path) -> anyhow::Result<RunRecord> {
    // A skipped run's wall time is the one saved when it finished.
    let wall_s = if result.status == "finished" && result.wall_s > 0.0 {
        result.wall_s
    } else {
        super::runner::read_wall(dir).unwrap_or(result.wall_s)
    };
    let positions = positions_by_step(&run.params, dir)?;
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
fn curves(groups: &[Group<'_>], xy: impl Fn(&(usize, f64, f64)) -> (f64, f64)) -> Vec<Line> {
    groups
        .iter()
        .map(|g| {
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
            // A group with no finished run is still learning: say so where its line is drawn.
            let done = g.runs.iter().any(|r| r.result.eval.is_some());
            let label = if done { g.label.clone() } else { format!("{} (unfinished)", g.label) };
            Line { label, points }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinning_keeps_the_ends_and_at_most_about_n_points() {
        let pts: Vec<(f64, f64)> = (0..1001).map(|i| (i as f64, 0.0)).collect();
        let t = thin(pts.clone(), 200);
        assert!(t.len() <= 202, "{}", t.len());
        assert_eq!(t.first(), pts.first());
        assert_eq!(t.last(), pts.last());
        assert_eq!(thin(pts[..10].to_vec(), 200).len(), 10);
    }
}
