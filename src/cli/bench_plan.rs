//! `thinktok bench plan` (front end).

use std::process::ExitCode;

pub fn run(_json: bool) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`thinktok bench plan` is not built yet")
}
