//! `thinktok plan` (front end).

use std::process::ExitCode;

pub fn run(_args: &super::PlanArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`thinktok plan` is not built yet")
}
