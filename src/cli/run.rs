//! `thinktok run` (engine).

use std::process::ExitCode;

pub fn run(_args: &super::RunArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`thinktok run` is not built yet")
}
