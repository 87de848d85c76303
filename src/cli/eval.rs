//! `thinktok eval --ckpt DIR [--data …] [--json] [--thoughts FILE]`: held-out figures of a checkpoint, and where
//! its model puts its thoughts.

use std::process::ExitCode;

use crate::engine::data::{self, Role};
use crate::engine::error::invalid;
use crate::engine::eval::placer::{evaluate_run, fit, Placer};
use crate::engine::eval::thought_map;
use crate::engine::files::write_atomic;
use crate::engine::learn::{describe, THOUGHT_EXAMPLES_PER_GROUP};
use crate::plan::{DataSource, EvalPlacement, Insertion, RunParams, RunPlan, TaskKind, TextSplit, FIT_SEQUENCES};

/// Parse `--data`: `jsonl:PATH`, `text:PATH` (the whole text, no split) or `task:NAME` (the run's own task settings
/// when it trained on that task, else the defaults, seed 1).
pub fn parse_data(text: &str, run: &RunPlan) -> anyhow::Result<DataSource> {
    let (kind, value) = text
        .split_once(':')
        .ok_or_else(|| invalid(format!("`--data {text}`: expected `jsonl:PATH`, `text:PATH` or `task:NAME`")))?;
    match kind {
        "jsonl" => Ok(DataSource::Jsonl { path: value.to_string() }),
        "text" => Ok(DataSource::Text { path: value.to_string(), split: TextSplit::Train, holdout: 0.0 }),
        "task" => {
            let defaults = match value {
                "sum3" => TaskKind::Sum3 { digits: 6 },
                "multiply" => TaskKind::Multiply { digits: 2 },
                "addition" => TaskKind::Addition { terms: 3, digits: 3 },
                "hops" => TaskKind::Hops {
                    letters: 8,
                    hops: crate::plan::IntRange { start: 1, end: 5 },
                    order: crate::plan::PairOrder::Sorted,
                },
                "compose" => TaskKind::Compose { letters: 5, steps: crate::plan::IntRange { start: 1, end: 5 } },
                other => {
                    return Err(invalid(format!(
                        "unknown task `{other}`{}: the built-in tasks are `sum3`, `multiply`, `addition`, `hops` and `compose`",
                        crate::diagnostic::did_you_mean(other, &["sum3", "multiply", "addition", "hops", "compose"])
                    )))
                }
            };
            let own = [&run.params.data.test, &run.params.data.train].into_iter().find_map(|s| match s {
                DataSource::Task { task, count, seed } if data::tasks::name(task) == data::tasks::name(&defaults) => {
                    Some(DataSource::Task { task: task.clone(), count: *count, seed: *seed })
                }
                _ => None,
            });
            Ok(own.unwrap_or(DataSource::Task { task: defaults, count: 1000, seed: 1 }))
        }
        other => Err(invalid(format!("`--data {text}`: unknown kind `{other}`; use `jsonl:`, `text:` or `task:`"))),
    }
}

/// Parse `--placement` into the run's parameters: `own`, `threshold:P`, `fit_threshold[:N]`, `none`, `oracle`.
pub fn apply_placement(text: &str, params: &mut RunParams) -> anyhow::Result<()> {
    let (kind, value) = text.split_once(':').map_or((text, None), |(k, v)| (k, Some(v)));
    let bad = |why: &str| invalid(format!("`--placement {text}`: {why}"));
    let is_ff = matches!(params.episode.insertion, Insertion::FastForward { .. });
    params.eval.placement = match (kind, value) {
        ("own", None) => EvalPlacement::Own,
        ("oracle", None) => EvalPlacement::Oracle,
        ("none", None) => {
            params.episode.insertion = Insertion::None;
            EvalPlacement::Rule
        }
        ("threshold", Some(v)) => match v.parse::<f64>() {
            Ok(p) if p > 0.0 && p < 1.0 => EvalPlacement::Threshold(p),
            _ => return Err(bad("the threshold is a probability strictly between 0 and 1, e.g. `threshold:0.3`")),
        },
        ("fit_threshold", v) => match v.map_or(Ok(FIT_SEQUENCES), str::parse::<usize>) {
            Ok(n) if n >= 1 => EvalPlacement::FitThreshold { sequences: n },
            _ => return Err(bad("the count of training sequences is an integer ≥ 1, e.g. `fit_threshold:500`")),
        },
        _ => {
            return Err(bad("expected `own`, `threshold:P`, `fit_threshold` or `fit_threshold:N`, `none`, or `oracle`"))
        }
    };
    if !is_ff && !matches!(kind, "none" | "oracle") {
        return Err(bad("this run trained with a baseline rule; its own policy is that rule (omit `--placement`)"));
    }
    Ok(())
}

pub fn run(args: &super::EvalArgs) -> anyhow::Result<ExitCode> {
    let outcome = (|| {
        if args.source.model.is_some() && args.data.is_none() {
            return Err(invalid(
                "`--model` evaluates a pretrained model as published: give the data, e.g. `--data text:PATH`",
            ));
        }
        let adjust = |run: &mut RunPlan| match &args.placement {
            Some(text) => apply_placement(text, &mut run.params),
            None => Ok(()),
        };
        let loaded = super::model_source::load(
            args.source.ckpt.as_deref(),
            args.source.model.as_deref(),
            args.source.context,
            256,
            args.device.as_deref(),
            adjust,
        )?;
        let (built, step) = (&loaded.built, loaded.step);
        let meta = Shown {
            run: loaded.run,
            step,
            what: loaded.ckpt.as_ref().map_or_else(
                || args.source.model.as_ref().map_or(String::new(), |m| format!("model `{}`", m.display())),
                |d| format!("checkpoint `{}`", d.display()),
            ),
        };
        let source = match &args.data {
            Some(text) => parse_data(text, &meta.run)?,
            None => meta.run.params.data.test.clone(),
        };
        let data = data::load_with(
            &built.tokenizer,
            &source,
            Role::Test,
            crate::engine::data::data_context(&meta.run.params, &source),
        )?;
        // Thoughts placed as the run was evaluated: its own policy or its baseline rule, never the continuation.
        // A `fit_threshold` placement is fitted on the run's own training data, never on the data evaluated.
        let train = match meta.run.params.eval.placement {
            EvalPlacement::FitThreshold { .. } => {
                let source = &meta.run.params.data.train;
                Some(data::load_with(
                    &built.tokenizer,
                    source,
                    Role::Train,
                    crate::engine::data::data_context(&meta.run.params, source),
                )?)
            }
            _ => None,
        };
        let report = evaluate_run(built.model.as_ref(), &data, &meta.run.params, None, train.as_ref())?;
        if let Some(path) = &args.thoughts {
            // As the run's final evaluation writes it: the same placement, on its `eval.max_sequences`.
            let placer = fit(built.model.as_ref(), Placer::for_run(&meta.run.params), train.as_ref())?;
            let max = meta.run.params.eval.max_sequences;
            let map =
                thought_map(built.model.as_ref(), &data, &placer, max, THOUGHT_EXAMPLES_PER_GROUP, &built.tokenizer)?;
            write_atomic(path, serde_json::to_string_pretty(&map)?)?;
        }
        anyhow::Ok((meta, data.name, report))
    })();
    let (meta, name, report) = match outcome {
        Ok(done) => done,
        Err(err) => return super::run::fail(err),
    };
    if args.json {
        let value = serde_json::json!({
            "real_nll": report.real_nll,
            "bits_per_token": report.bits_per_token,
            "accuracy": report.accuracy,
            "n_tokens": report.n_tokens,
            "n_sequences": report.n_sequences,
            "thoughts_per_100": report.thoughts.as_ref().map(|t| t.thoughts_per_100),
            "positions_per_real_token": report.thoughts.as_ref().map(|t| t.positions_per_real_token),
            "placement": report.thoughts.as_ref().map(|t| t.placement.clone()),
            "thoughts_per_example": report.thoughts.as_ref().map(|t| t.thoughts_per_example),
            "groups": report.groups,
            "same_answer_share": report.same_answer_share,
            "majority_accuracy": report.majority_accuracy,
            "step": meta.step,
            "run": meta.run.id,
            "data": name,
        });
        println!("{value}");
    } else {
        println!("{} (run {}, step {})", meta.what, meta.run.id, meta.step);
        println!("data: {name} ({} sequences)", report.n_sequences);
        println!("{}", describe(&report));
        for (group, g) in &report.groups {
            let accuracy = g.accuracy.map_or(String::new(), |a| format!("  accuracy {a:.4}"));
            let thoughts = g.thoughts_per_example.map_or(String::new(), |t| format!("  thoughts/example {t:.2}"));
            println!("  {group}: {} sequences  NLL {:.4}{accuracy}{thoughts}", g.n_sequences, g.real_nll);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What the output names: the run, its step, and the checkpoint or model it came from.
struct Shown {
    run: RunPlan,
    step: usize,
    what: String,
}
