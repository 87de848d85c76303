//! `thinktok debug ast|resolved SPEC`, `debug examples SPEC`, `debug tokens --model PATH FILE`: views of the pipeline's intermediate stages. Prone to change.

use std::process::ExitCode;

use super::DebugCommand;
use crate::engine::data::{tasks, Role};
use crate::plan::DataSource;

pub fn run(cmd: &DebugCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DebugCommand::Ast { spec } => {
            let text =
                std::fs::read_to_string(spec).map_err(|e| anyhow::anyhow!("cannot read `{}`: {e}", spec.display()))?;
            match crate::parse_spec(&spec.display().to_string(), &text) {
                Ok(ast) => println!("{}", crate::syntax::debug_ast(&ast)),
                Err(diags) => {
                    eprint!("{}", diags.render(super::check::stderr_color()));
                    return Ok(ExitCode::from(super::EXIT_INVALID));
                }
            }
        }
        DebugCommand::Resolved { spec } => match compile(spec) {
            Ok(plan) => println!("{}", crate::plan_to_ron(&plan)?),
            Err(code) => return Ok(code),
        },
        DebugCommand::Examples { spec, run, test, count } => {
            let plan = match compile(spec) {
                Ok(plan) => plan,
                Err(code) => return Ok(code),
            };
            let Some(chosen) = plan.runs.get(*run) else {
                let n = plan.runs.len();
                let runs = if n == 1 { "run" } else { "runs" };
                let err = format!("`{}` plans {n} {runs}, numbered from 0: there is no run {run}", spec.display());
                return super::run::fail(crate::engine::error::invalid(err));
            };
            let data = &chosen.params.data;
            let (source, role) = if *test { (&data.test, Role::Test) } else { (&data.train, Role::Train) };
            let DataSource::Task { task, count: total, seed } = source else {
                let err = format!(
                    "{} is a file, not a built-in task: read it directly",
                    crate::engine::data::source_name(source)
                );
                return super::run::fail(crate::engine::error::invalid(err));
            };
            // The same examples, in the same order, as the run loads: the generator is seeded, so the first `count`
            // of `total` are the first `count` the run trains on.
            for example in tasks::generate(task, (*count).min(*total), *seed, role) {
                println!("{}", serde_json::to_string(&example)?);
            }
        }
        DebugCommand::Tokens { model, file } => {
            let outcome = (|| {
                let loaded = super::model_source::load(None, Some(model), None, 64, None, |_| Ok(()))?;
                let text = std::fs::read_to_string(file)
                    .map_err(|e| crate::engine::error::invalid(format!("cannot read `{}`: {e}", file.display())))?;
                let crate::engine::data::Tokenizer::Subword(sub) = &loaded.built.tokenizer else {
                    return Err(crate::engine::error::invalid("not a pretrained model's tokenizer"));
                };
                let ids: Vec<u32> = sub.encode(&text)?.iter().filter_map(|&id| sub.order().to_model(id)).collect();
                Ok(ids)
            })();
            match outcome {
                Ok(ids) => println!("{}", serde_json::to_string(&ids)?),
                Err(err) => return super::run::fail(err),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The plan of `spec`, or its diagnostics on stderr and the invalid-spec exit code.
fn compile(spec: &std::path::Path) -> Result<crate::plan::Plan, ExitCode> {
    crate::compile_file(spec).map_err(|diags| {
        eprint!("{}", diags.render(super::check::stderr_color()));
        ExitCode::from(super::EXIT_INVALID)
    })
}
