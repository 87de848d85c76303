//! `thinktok check` (front end).

use std::process::ExitCode;

pub fn run(_args: &super::CheckArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`thinktok check` is not built yet")
}
