//! `thinktok bench model`.

use std::process::ExitCode;

pub fn run(_json: bool, _device: Option<&str>, _repeats: usize) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`thinktok bench model` is not built yet")
}
