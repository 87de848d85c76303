//! Choosing the candle device for a run.

use candle_core::Device;

use crate::plan::DeviceSpec;

/// The candle device for `spec`, or an error that says how to get it.
///
/// There is no silent fallback to the CPU: a plan that asks for a GPU and cannot have one fails before any work.
pub fn device(spec: DeviceSpec) -> anyhow::Result<Device> {
    match spec {
        DeviceSpec::Cpu => Ok(Device::Cpu),
        DeviceSpec::Cuda(ordinal) => cuda(ordinal),
    }
}

/// Parse a `--device` override: `cpu`, `cuda`, or `cuda:N`.
pub fn parse_device(text: &str) -> anyhow::Result<DeviceSpec> {
    match text.trim() {
        "cpu" => Ok(DeviceSpec::Cpu),
        "cuda" | "gpu" => Ok(DeviceSpec::Cuda(0)),
        other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(n)) => Ok(DeviceSpec::Cuda(n)),
            _ => anyhow::bail!("unknown device `{other}`: expected `cpu`, `cuda` or `cuda:N` (e.g. `cuda:0`)"),
        },
    }
}

#[cfg(feature = "cuda")]
fn cuda(ordinal: usize) -> anyhow::Result<Device> {
    Device::new_cuda(ordinal).map_err(|e| anyhow::anyhow!("cannot open CUDA device {ordinal}: {e}"))
}

#[cfg(not(feature = "cuda"))]
fn cuda(ordinal: usize) -> anyhow::Result<Device> {
    anyhow::bail!(
        "the plan asks for `cuda({ordinal})`, but this thinktok was built without GPU support; \
         rebuild with `cargo build --release --features cuda`, or run with `--device cpu`"
    )
}
