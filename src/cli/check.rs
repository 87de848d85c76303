//! `thinktok check SPEC`: validate a spec and report every error in it.

use std::io::IsTerminal as _;
use std::process::ExitCode;

/// Colour diagnostics when stderr is a terminal and `NO_COLOR` is unset.
pub fn stderr_color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

pub fn run(args: &super::CheckArgs) -> anyhow::Result<ExitCode> {
    match crate::compile_file(&args.spec) {
        Ok(plan) => {
            println!(
                "{}: ok ({} run{}, {} ax{})",
                args.spec.display(),
                plan.runs.len(),
                if plan.runs.len() == 1 { "" } else { "s" },
                plan.axes.len(),
                if plan.axes.len() == 1 { "is" } else { "es" }
            );
            // A valid spec that the engine cannot run yet (continuous thoughts) is said so here, not only by `run`.
            if let Err(err) = crate::engine::runner::check_supported(&plan) {
                eprintln!("warning: {err:#}; `thinktok run` will refuse it");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(diags) => {
            eprint!("{}", diags.render(stderr_color()));
            Ok(ExitCode::from(super::EXIT_INVALID))
        }
    }
}
