//! `thinktok debug` (front end).

use std::process::ExitCode;

pub fn run(_args: &super::DebugCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`thinktok debug` is not built yet")
}
