//! `thinktok check SPEC`: validate a spec and report every error in it.

use std::io::IsTerminal as _;
use std::process::ExitCode;

/// Colour diagnostics when stderr is a terminal and `NO_COLOR` is unset.
pub fn stderr_color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

pub fn run(args: &super::CheckArgs) -> anyhow::Result<ExitCode> {
    // A plan file is checked by reading it (format version included).
    if args.spec.extension().is_some_and(|e| e == "ron" || e == "json") {
        if !args.set.is_empty() {
            eprintln!("error: {:#}", super::set_on_plan_file(&args.spec));
            return Ok(ExitCode::from(super::EXIT_INVALID));
        }
        return match crate::load_plan(&args.spec) {
            Ok(plan) => {
                let n = plan.runs.len();
                println!("{}: ok (a plan of {n} run{})", args.spec.display(), if n == 1 { "" } else { "s" });
                Ok(ExitCode::SUCCESS)
            }
            Err(err) => {
                eprintln!("error: {err:#}");
                Ok(ExitCode::from(super::EXIT_INVALID))
            }
        };
    }
    match crate::compile_file_with(&args.spec, &args.set) {
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
            if let Err(err) = crate::engine::run::check_supported(&plan) {
                eprintln!("warning: {err:#}; `thinktok run` will refuse it");
            }
            if let Some(message) = crate::engine::device::memory_shortfall(&plan.runs, None) {
                eprintln!("warning: {message}; `thinktok run` will refuse it here");
            }
            for w in crate::check::redundant::warnings(&plan).into_iter().chain(crate::check::memorise::warnings(&plan))
            {
                eprintln!("warning: {w}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(diags) => {
            eprint!("{}", diags.render(stderr_color()));
            Ok(ExitCode::from(super::EXIT_INVALID))
        }
    }
}
