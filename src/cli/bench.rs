//! `thinktok bench`: speed measurements, each figure a median of repeats measured side by side in one process.

use std::process::ExitCode;

use super::BenchCommand;

pub fn run(cmd: &BenchCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        BenchCommand::Plan { json } => super::bench_plan::run(*json),
        BenchCommand::Model { json, device, repeats } => super::bench_model::run(*json, device.as_deref(), *repeats),
        BenchCommand::Episode { json, device, size, repeats } => {
            super::bench_episode::run(*json, device.as_deref(), *size, *repeats)
        }
    }
}
