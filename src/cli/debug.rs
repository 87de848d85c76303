//! `thinktok debug ast|resolved SPEC`, `debug tokens --model PATH FILE`: views of the pipeline's intermediate stages. Prone to change.

use std::process::ExitCode;

use super::DebugCommand;

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
        DebugCommand::Resolved { spec } => match crate::compile_file(spec) {
            Ok(plan) => println!("{}", crate::plan_to_ron(&plan)?),
            Err(diags) => {
                eprint!("{}", diags.render(super::check::stderr_color()));
                return Ok(ExitCode::from(super::EXIT_INVALID));
            }
        },
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
