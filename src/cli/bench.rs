//! `thinktok bench`: speed measurements, each figure a median of repeats measured side by side in one process.

use std::process::ExitCode;

use super::BenchCommand;

pub fn run(cmd: &BenchCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        BenchCommand::Plan { json } => super::bench_plan::run(*json),
        BenchCommand::Model { json, device, repeats, model: Some(path), batch, seq, .. } => {
            super::bench_pretrained::run(path, *json, device.as_deref(), *repeats, *batch, *seq)
        }
        BenchCommand::Model { json, device, repeats, model: None, peak, dtype, .. } => {
            super::bench_model::run(super::bench_model::ModelBench {
                json: *json,
                device: device.as_deref(),
                dtype: *dtype,
                repeats: *repeats,
                peak: *peak,
            })
        }
        BenchCommand::Episode { json, device, size, repeats, chunk } => {
            super::bench_episode::run(*json, device.as_deref(), *size, *repeats, *chunk)
        }
    }
}

/// The median of `v` (the upper one of an even count); NaN for no values.
pub(super) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}
