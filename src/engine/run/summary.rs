//! `report.md`'s sections over the groups of [`super::groups`]: mean ± std over seeds, the per-difficulty table,
//! which differences exceed the seed spread, and the episode phase's transition from the fallback to the model's
//! own placement.

use std::path::Path;

use super::groups::{accuracy, figure, nll, pm, positions_per_token, stats, thoughts, Group};
use super::results::{jsonl, RunRecord};

/// Which CPU thread counts trained the runs: different counts reduce in a different order, so their figures are
/// not bit-comparable (the run identity does not include the thread count).
pub(super) fn threads_note(runs: &[RunRecord]) -> String {
    let counts: std::collections::BTreeSet<usize> = runs.iter().filter_map(|r| r.threads).collect();
    let list = counts.iter().map(usize::to_string).collect::<Vec<_>>().join(", ");
    let unknown = runs.iter().filter(|r| r.threads.is_none() && r.result.steps > 0).count();
    let unknown = match unknown {
        0 => String::new(),
        n => format!(" (not recorded for {n} run{} trained by an older thinktok)", if n == 1 { "" } else { "s" }),
    };
    match counts.len() {
        0 => String::new(),
        1 => format!("\nCPU threads per run: {list}{unknown}.\n"),
        _ => format!(
            "\n**Runs trained with different CPU thread counts ({list}){unknown}**: floating-point reductions run in \
             another order, so these runs are not bit-comparable (rerun with one `RAYON_NUM_THREADS` for that).\n"
        ),
    }
}

pub(super) fn group_table(groups: &[Group<'_>]) -> String {
    let mut out = String::from(
        "Mean ± std over seeds (sample std; one seed: its value alone). NLL: real tokens only, nats. Train positions: training compute, counted \
         the same way for every run: positions a model pass computed for real tokens and thoughts, padding \
         excluded, a forward counting 1 and a backward 2 (episode phase 1 ×, learning passes 3 ×).\n\n| group | seeds | NLL (nats) | accuracy | thoughts/100 | positions/real token \
         | train positions | wall (s) | eval placement |\n|---|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for g in groups {
        let placement = g
            .runs
            .iter()
            .find_map(|r| Some(r.result.eval.as_ref()?.thoughts.as_ref()?.placement.clone()))
            .unwrap_or_else(|| "–".into());
        let done = g.runs.iter().filter(|r| r.result.eval.is_some()).count();
        out.push_str(&format!(
            "| {} | {done} | {} | {} | {} | {} | {} | {} | {placement} |\n",
            g.label,
            pm(figure(g, nll), 4),
            pm(figure(g, accuracy), 4),
            pm(figure(g, thoughts), 1),
            pm(figure(g, positions_per_token), 3),
            figure(g, |r| r.train_positions).map_or("–".into(), |(m, _, _)| format!("{m:.3e}")),
            pm(figure(g, |r| (r.result.wall_s > 0.0).then_some(r.result.wall_s)), 0),
        ));
    }
    out
}

/// Where the data has groups (a task's difficulty): per run group and data group, accuracy, NLL and thoughts per
/// example, mean ± std over seeds, so "does the model think more before harder questions?" is read off here.
pub(super) fn difficulty_table(groups: &[Group<'_>]) -> String {
    let data_groups: std::collections::BTreeSet<&String> = groups
        .iter()
        .flat_map(|g| g.runs.iter())
        .filter_map(|r| r.result.eval.as_ref())
        .flat_map(|e| e.groups.keys())
        .collect();
    if data_groups.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\n## Per difficulty\n\nHeld-out figures per group of the data (mean ± std over seeds): accuracy, NLL \
         (nats) and thoughts per example.\n\n| group | data group | seeds | accuracy | NLL (nats) | thoughts/example |\n\
         |---|---|---:|---:|---:|---:|\n",
    );
    for g in groups {
        for dg in &data_groups {
            let of = |r: &RunRecord| r.result.eval.as_ref().and_then(|e| e.groups.get(*dg)).cloned();
            let n = g.runs.iter().filter(|r| of(r).is_some()).count();
            if n == 0 {
                continue;
            }
            out.push_str(&format!(
                "| {} | {dg} | {n} | {} | {} | {} |\n",
                g.label,
                pm(figure(g, |r| of(r)?.accuracy), 4),
                pm(figure(g, |r| of(r).map(|f| f.real_nll)), 4),
                pm(figure(g, |r| of(r)?.thoughts_per_example), 2),
            ));
        }
    }
    out
}

/// Pairs of groups whose difference in NLL or accuracy exceeds the seed spread: `|Δ mean| > std_a + std_b`, with at
/// least two seeds on each side.
pub(super) fn spread(groups: &[Group<'_>]) -> String {
    let mut out = String::from(
        "\n## Differences beyond the seed spread\n\nA difference counts when |Δ mean| > std_a + std_b (both groups with \
         ≥ 2 seeds).\n\n",
    );
    let mut any = false;
    for (name, f, lower_better) in [
        ("NLL", nll as fn(&RunRecord) -> Option<f64>, true),
        ("accuracy", accuracy as fn(&RunRecord) -> Option<f64>, false),
    ] {
        for (i, a) in groups.iter().enumerate() {
            for b in &groups[i + 1..] {
                let vals = |g: &Group<'_>| g.runs.iter().filter_map(|r| f(r)).collect::<Vec<_>>();
                let (va, vb) = (vals(a), vals(b));
                let (Some((ma, sa)), Some((mb, sb))) = (stats(&va), stats(&vb)) else { continue };
                if va.len() < 2 || vb.len() < 2 || (ma - mb).abs() <= sa + sb {
                    continue;
                }
                any = true;
                let a_better = if lower_better { ma < mb } else { ma > mb };
                let ((win, mw), (lose, ml)) =
                    if a_better { ((&a.label, ma), (&b.label, mb)) } else { ((&b.label, mb), (&a.label, ma)) };
                out.push_str(&format!(
                    "- {name}: `{win}` better than `{lose}` ({mw:.4} vs {ml:.4}; |Δ| {:.4} > spread {:.4})\n",
                    (ma - mb).abs(),
                    sa + sb
                ));
            }
        }
    }
    if !any {
        out.push_str("- none: no difference in NLL or accuracy exceeds the seed spread.\n");
    }
    out
}

/// Per run with an episode phase: when the model's own placements took over from the fallback (from
/// `episodes.jsonl`), and the last step's losses.
pub(super) fn transitions(folders: &[(String, &Path)]) -> String {
    let mut rows = String::new();
    for (label, dir) in folders {
        let lines = jsonl(&dir.join("episodes.jsonl"));
        let episodes: Vec<&serde_json::Value> = lines.iter().filter(|v| v["episode"] == true).collect();
        let Some(last) = lines.last() else { continue };
        if episodes.is_empty() {
            continue;
        }
        let share = |v: &serde_json::Value| v["share_by_model"].as_f64().unwrap_or(0.0);
        let first = |pred: &dyn Fn(f64) -> bool| {
            episodes
                .iter()
                .find(|v| pred(share(v)))
                .and_then(|v| v["step"].as_u64())
                .map_or("never".into(), |s| s.to_string())
        };
        let f = |k: &str| last[k].as_f64().map_or("–".into(), |v| format!("{v:.4}"));
        rows.push_str(&format!(
            "| {} | {} | {} | {:.2} | {} | {} | {} | {} |\n",
            label,
            first(&|s| s > 0.0),
            first(&|s| s >= 0.5),
            episodes.last().map_or(0.0, |v| share(v)),
            f("loss_real"),
            f("loss_reinforce"),
            f("loss_punish"),
            f("mean_gain_kept"),
        ));
    }
    if rows.is_empty() {
        return String::new();
    }
    format!(
        "\n## Episode phase: fallback to own placement\n\nShare of proposals the model placed itself (the rest: the \
         fallback), and the last step's learning-phase losses (`episodes.jsonl` has every step).\n\n| run | first own \
         | own ≥ 50 % | last share | real CE | reinforce | punish | mean gain kept |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n{rows}"
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::groups::group;
    use super::super::results::RunResult;
    use super::*;
    use crate::plan::RunParams;

    #[test]
    fn stats_are_mean_and_sample_std() {
        let (m, s) = stats(&[1.0, 2.0, 3.0]).unwrap();
        assert!((m - 2.0).abs() < 1e-12 && (s - 1.0).abs() < 1e-12);
        assert_eq!(stats(&[4.0]), Some((4.0, 0.0)));
        assert_eq!(stats(&[]), None);
        assert_eq!(pm(Some((1.0, 0.25, 2)), 2), "1.00 ± 0.25");
        assert_eq!(pm(Some((1.0, 0.0, 1)), 2), "1.00");
    }

    /// A finished run of `insertion = method` with `seed`, its final NLL and accuracy (`nll = None`: stopped
    /// before any evaluation).
    fn run(params: &RunParams, method: &str, seed: u64, nll: Option<f64>, accuracy: Option<f64>) -> RunRecord {
        let eval = nll.map(|real_nll| crate::engine::eval::EvalReport {
            real_nll,
            bits_per_token: real_nll / std::f64::consts::LN_2,
            accuracy,
            n_tokens: 100,
            n_sequences: 10,
            thoughts: None,
            groups: BTreeMap::new(),
            same_answer_share: None,
            majority_accuracy: None,
        });
        let swept: BTreeMap<String, String> =
            [("episode.insertion".to_string(), method.to_string()), ("seed".to_string(), seed.to_string())].into();
        RunRecord {
            result: RunResult {
                id: format!("{method}-{seed}"),
                label: String::new(),
                status: if eval.is_some() { "finished".into() } else { "stopped".into() },
                steps: 10,
                eval,
                wall_s: 1.0,
            },
            threads: Some(1),
            swept,
            train_positions: None,
            curve: Vec::new(),
            params: params.clone(),
        }
    }

    /// The report's "differences beyond the seed spread" section for `runs` swept over insertion and seed.
    fn spread_of(runs: &[RunRecord]) -> String {
        let mut plan = crate::compile_str("default.think", crate::DEFAULT_SPEC).expect("the default spec compiles");
        plan.axes = vec!["episode.insertion".into(), "seed".into()];
        spread(&group(&plan, runs))
    }

    fn params() -> RunParams {
        crate::compile_str("default.think", crate::DEFAULT_SPEC).expect("the default spec compiles").runs[0]
            .params
            .clone()
    }

    /// The per-difficulty table lists every data group of every run group, with mean ± std over seeds; data
    /// without groups adds no section.
    #[test]
    fn difficulty_table_lists_each_data_group_over_seeds() {
        let p = params();
        let with_groups = |mut r: RunRecord, acc: [f64; 2], thoughts: [f64; 2]| {
            let eval = r.result.eval.as_mut().unwrap();
            for (i, name) in ["hops=1", "hops=3"].iter().enumerate() {
                let figures = crate::engine::eval::GroupFigures {
                    n_sequences: 5,
                    real_nll: 1.0,
                    accuracy: Some(acc[i]),
                    thoughts_per_100: Some(10.0),
                    thoughts_per_example: Some(thoughts[i]),
                };
                eval.groups.insert(name.to_string(), figures);
            }
            r
        };
        let runs = [
            with_groups(run(&p, "fast_forward()", 0, Some(1.0), Some(0.5)), [0.9, 0.2], [1.0, 3.0]),
            with_groups(run(&p, "fast_forward()", 1, Some(1.0), Some(0.5)), [0.7, 0.4], [1.0, 5.0]),
        ];
        let mut plan = crate::compile_str("default.think", crate::DEFAULT_SPEC).expect("compiles");
        plan.axes = vec!["episode.insertion".into(), "seed".into()];
        let table = difficulty_table(&group(&plan, &runs));
        assert!(
            table.contains(
                "| insertion=fast_forward() | hops=1 | 2 | 0.8000 ± 0.1414 | 1.0000 ± 0.0000 | 1.00 ± 0.00 |"
            ),
            "{table}"
        );
        assert!(
            table.contains(
                "| insertion=fast_forward() | hops=3 | 2 | 0.3000 ± 0.1414 | 1.0000 ± 0.0000 | 4.00 ± 1.41 |"
            ),
            "{table}"
        );
        let plain = [run(&p, "none()", 0, Some(1.0), None)];
        assert_eq!(difficulty_table(&group(&plan, &plain)), "");
    }

    /// Groups are the runs that differ only in the seed, labelled by the other swept values' last path part.
    #[test]
    fn runs_that_differ_only_in_the_seed_form_one_group() {
        let p = params();
        let runs = [
            run(&p, "none()", 0, Some(1.0), None),
            run(&p, "interval(every = 2)", 0, Some(2.0), None),
            run(&p, "none()", 1, Some(1.5), None),
        ];
        let mut plan = crate::compile_str("default.think", crate::DEFAULT_SPEC).expect("compiles");
        plan.axes = vec!["episode.insertion".into(), "seed".into()];
        let groups = group(&plan, &runs);
        let shape: Vec<(&str, Vec<&str>)> =
            groups.iter().map(|g| (g.label.as_str(), g.runs.iter().map(|r| r.result.id.as_str()).collect())).collect();
        assert_eq!(
            shape,
            vec![
                ("insertion=none()", vec!["none()-0", "none()-1"]),
                ("insertion=interval(every = 2)", vec!["interval(every = 2)-0"]),
            ]
        );
    }

    /// Runs of combined plans whose swept values agree but whose other settings differ are two groups, each label
    /// naming what differs.
    #[test]
    fn runs_with_equal_labels_and_other_settings_are_two_groups() {
        let p = params();
        let mut other = p.clone();
        other.learn.steps += 1;
        let runs = [
            run(&p, "none()", 0, Some(1.0), None),
            run(&other, "none()", 0, Some(2.0), None),
            run(&p, "none()", 1, Some(1.5), None),
        ];
        let mut plan = crate::compile_str("default.think", crate::DEFAULT_SPEC).expect("compiles");
        plan.axes = vec!["episode.insertion".into(), "seed".into()];
        let groups = group(&plan, &runs);
        let shape: Vec<(&str, usize)> = groups.iter().map(|g| (g.label.as_str(), g.runs.len())).collect();
        let steps = p.learn.steps;
        assert_eq!(
            shape,
            vec![
                (format!("insertion=none() steps={steps}").as_str(), 2),
                (format!("insertion=none() steps={}", steps + 1).as_str(), 1)
            ]
        );
    }

    /// |Δ mean| > std_a + std_b lists the pair, better one first, in the right direction for each figure; an
    /// overlapping pair is not listed.
    #[test]
    fn spread_lists_only_differences_beyond_the_seed_spread() {
        let p = params();
        let runs = [
            // a: NLL 1.0 ± 0.0707, accuracy 0.50 ± 0.0141; b: NLL 1.5 ± 0.0707 (Δ 0.5 > 0.141), accuracy
            // 0.90 ± 0.0141 (Δ 0.4 > 0.028): both differences are real, a is better in NLL, b in accuracy.
            run(&p, "a", 0, Some(0.95), Some(0.49)),
            run(&p, "a", 1, Some(1.05), Some(0.51)),
            run(&p, "b", 0, Some(1.45), Some(0.89)),
            run(&p, "b", 1, Some(1.55), Some(0.91)),
        ];
        let text = spread_of(&runs);
        assert!(text.contains("- NLL: `insertion=a` better than `insertion=b` (1.0000 vs 1.5000;"), "{text}");
        assert!(text.contains("- accuracy: `insertion=b` better than `insertion=a` (0.9000 vs 0.5000;"), "{text}");
        assert!(!text.contains("- none"), "{text}");
        // c: NLL 1.0 ± 0.2828 against d: 1.3 ± 0.0707: |Δ| 0.3 ≤ 0.354, inside the spread; accuracies equal.
        let runs = [
            run(&p, "c", 0, Some(0.8), Some(0.5)),
            run(&p, "c", 1, Some(1.2), Some(0.5)),
            run(&p, "d", 0, Some(1.25), Some(0.5)),
            run(&p, "d", 1, Some(1.35), Some(0.5)),
        ];
        let text = spread_of(&runs);
        assert!(!text.contains("better than"), "{text}");
        assert!(text.contains("- none: no difference in NLL or accuracy exceeds the seed spread."), "{text}");
        // Just beyond the spread (Δ 0.36 > 0.354) it counts.
        let runs = [
            run(&p, "c", 0, Some(0.8), None),
            run(&p, "c", 1, Some(1.2), None),
            run(&p, "d", 0, Some(1.31), None),
            run(&p, "d", 1, Some(1.41), None),
        ];
        let text = spread_of(&runs);
        assert!(text.contains("- NLL: `insertion=c` better than `insertion=d`"), "{text}");
    }

    /// "Both groups with ≥ 2 seeds": a group with one seed (or one evaluated run) has no spread and is never
    /// compared, however far its figure lies; the other pairs still are.
    #[test]
    fn spread_never_compares_a_group_with_a_single_seed() {
        let p = params();
        let runs = [
            run(&p, "a", 0, Some(1.0), Some(0.5)),
            run(&p, "a", 1, Some(1.0), Some(0.5)),
            run(&p, "b", 0, Some(1.0), Some(0.5)),
            run(&p, "b", 1, Some(1.0), Some(0.5)),
            // One seed, far off.
            run(&p, "single", 0, Some(9.0), Some(0.0)),
            // Two seeds, one stopped before evaluating: one value.
            run(&p, "stopped", 0, Some(0.1), Some(1.0)),
            run(&p, "stopped", 1, None, None),
        ];
        let text = spread_of(&runs);
        assert!(!text.contains("single") && !text.contains("stopped"), "{text}");
        assert!(text.contains("- none:"), "{text}");
        // The same far-off figures with a second seed each are listed against `a` and `b`.
        let mut runs = runs.to_vec();
        runs.push(run(&p, "single", 1, Some(9.0), Some(0.0)));
        runs[6] = run(&p, "stopped", 1, Some(0.1), Some(1.0));
        let text = spread_of(&runs);
        for line in [
            "- NLL: `insertion=a` better than `insertion=single`",
            "- NLL: `insertion=stopped` better than `insertion=a`",
            "- accuracy: `insertion=stopped` better than `insertion=single`",
        ] {
            assert!(text.contains(line), "missing `{line}` in {text}");
        }
    }
}
