//! `thinktok debug ast|resolved SPEC`: views of the pipeline's intermediate stages. Prone to change.

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
    }
    Ok(ExitCode::SUCCESS)
}
