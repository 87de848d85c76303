//! `thinktok plan SPEC [--diff NEW] [--format text|ron|json] [--mask-volatile]`: the dry run.

use std::io::Write as _;
use std::process::ExitCode;

use super::{PlanArgs, PlanFormat};
use crate::plan::Plan;

pub fn run(args: &PlanArgs) -> anyhow::Result<ExitCode> {
    // With `--diff`, the overrides apply to NEW: `plan S --diff S --set k=v` shows what the override changes.
    let own = if args.diff.is_some() { &[][..] } else { &args.set[..] };
    let Some(old) = load(&args.spec, own) else {
        return Ok(ExitCode::from(super::EXIT_INVALID));
    };
    let text = match &args.diff {
        Some(new_path) => {
            let Some(new) = load(new_path, &args.set) else {
                return Ok(ExitCode::from(super::EXIT_INVALID));
            };
            crate::plan_diff::diff(&old, &new).render()
        }
        None => render(&old, args.format, args.mask_volatile)?,
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The plan in the requested format.
pub fn render(plan: &Plan, format: PlanFormat, mask_volatile: bool) -> anyhow::Result<String> {
    let mut plan = plan.clone();
    if mask_volatile && format != PlanFormat::Text {
        crate::mask_volatile(&mut plan);
    }
    Ok(match format {
        PlanFormat::Text => crate::print_plan(&plan, crate::print::PrintOptions { mask_volatile }),
        PlanFormat::Ron => crate::plan_to_ron(&plan)? + "\n",
        PlanFormat::Json => serde_json::to_string_pretty(&plan)? + "\n",
    })
}

/// A spec is compiled (diagnostics to stderr on failure); a `.ron`/`.json` plan is read.
fn load(path: &std::path::Path, set: &[String]) -> Option<Plan> {
    if !set.is_empty() && path.extension().is_none_or(|e| e != "think") {
        eprintln!("error: {:#}", super::set_on_plan_file(path));
        return None;
    }
    if path.extension().is_some_and(|e| e == "think") {
        return match crate::compile_file_with(path, set) {
            Ok(plan) => Some(plan),
            Err(diags) => {
                eprint!("{}", diags.render(super::check::stderr_color()));
                None
            }
        };
    }
    match crate::load_plan(path) {
        Ok(plan) => Some(plan),
        Err(err) => {
            eprintln!("error: {err:#}");
            None
        }
    }
}
