//! `thinktok bench episode`.

use std::process::ExitCode;

use super::BenchSize;

pub fn run(
    _json: bool,
    _device: Option<&str>,
    _size: BenchSize,
    _repeats: usize,
) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`thinktok bench episode` is not built yet")
}
