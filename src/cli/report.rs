//! `thinktok report OUT [OUT2 …] [--to DIR]`: rebuild `results.json`, `report.md` and `report.html` from run
//! folders (also runs that finished on another machine); several output folders make one combined report.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::engine::error::invalid;
use crate::engine::run::folders::{collect, combine};
use crate::engine::run::report;

pub fn run(args: &super::ReportArgs) -> anyhow::Result<ExitCode> {
    let outcome = (|| {
        let to: PathBuf = match (&args.to, args.out.as_slice()) {
            (Some(to), _) => to.clone(),
            (None, [one]) => one.clone(),
            (None, _) => {
                return Err(invalid(
                    "several output folders make one report: say where it goes with `--to DIR` (the folders \
                     themselves are left as they are)",
                ))
            }
        };
        let mut parts = Vec::new();
        for out in &args.out {
            let path = out.join("plan.ron");
            if !path.is_file() {
                return Err(invalid(format!(
                    "`{}` is not an output folder of `thinktok run` (it has no `plan.ron`)",
                    out.display()
                )));
            }
            // The folder's plan is checked like any plan file: its runs must be what their parameters compile to.
            let plan = crate::load_plan(&path).map_err(|e| invalid(format!("{e:#}")))?;
            parts.push(collect(plan, out)?);
        }
        let all = combine(parts)?;
        std::fs::create_dir_all(&to)?;
        report::write_from(&all.plan, &all.results, &all.dirs, &to)?;
        let finished = all.results.iter().filter(|r| r.status == "finished").count();
        eprintln!(
            "report of `{}`: {finished} of {} run{} finished",
            all.plan.experiment,
            all.results.len(),
            if all.results.len() == 1 { "" } else { "s" }
        );
        for name in ["report.html", "report.md", "results.json"] {
            println!("{}", to.join(name).display());
        }
        Ok(())
    })();
    match outcome {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(err) => super::run::fail(err),
    }
}
