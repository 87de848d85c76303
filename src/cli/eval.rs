//! `thinktok eval` (engine).

use std::process::ExitCode;

pub fn run(_args: &super::EvalArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`thinktok eval` is not built yet")
}
