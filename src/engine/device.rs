//! Choosing the candle device for a run.

use candle_core::{DType, Device};

use crate::plan::{DeviceSpec, Precision, RunPlan};

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

/// Bytes of memory a run on `spec` can use now: the host's available memory (`MemAvailable` of `/proc/meminfo`)
/// on the CPU; `None` where it is not known (another OS; CUDA devices, whose free memory is not queried yet).
pub fn available_memory(spec: DeviceSpec) -> Option<u64> {
    match spec {
        DeviceSpec::Cpu => host_available(),
        DeviceSpec::Cuda(_) => None,
    }
}

fn host_available() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// `bytes` for messages: `3.2 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut x = bytes as f64;
    let mut unit = 0;
    while x >= 1024.0 && unit + 1 < UNITS.len() {
        x /= 1024.0;
        unit += 1;
    }
    format!("{x:.1} {}", UNITS[unit])
}

/// The memory guard: every run of `runs` whose estimated peak exceeds what its device (`device`, else its own)
/// has available, as one message that says what to reduce; `None` when all fit (or nothing is known).
pub fn memory_shortfall(runs: &[RunPlan], device: Option<DeviceSpec>) -> Option<String> {
    let total = runs.len();
    let over: Vec<String> = runs
        .iter()
        .enumerate()
        .filter_map(|(i, run)| {
            let (peak, available) =
                (run.estimates.peak_memory_bytes, available_memory(device.unwrap_or(run.params.device))?);
            (peak > available).then(|| {
                format!(
                    "run {}/{total} (`{}`): estimated peak {} exceeds the {} available",
                    i + 1,
                    run.id,
                    human_bytes(peak),
                    human_bytes(available)
                )
            })
        })
        .collect();
    (!over.is_empty()).then(|| {
        format!(
            "not enough memory for {} run{} (the plan's `peak` estimate against this machine):\n  {}\nreduce \
             `model.width`, `model.layers`, `model.context`, `learn.batch` or `episode.samples` (or run elsewhere)",
            over.len(),
            if over.len() == 1 { "" } else { "s" },
            over.join("\n  ")
        )
    })
}

/// The candle dtype of `precision`'s matmuls.
pub fn compute_dtype(precision: Precision) -> DType {
    match precision {
        Precision::F32 => DType::F32,
        Precision::Bf16 => DType::BF16,
        Precision::F16 => DType::F16,
    }
}

/// The precision guard: every run of `runs` that asks for a reduced `dtype` but would run on the CPU (its own
/// device, or `device` when given), as one message; `None` when all can run. The CPU computes in f32 only: its
/// fused kernels are f32, and candle's CPU matmul widens bf16 to f32 anyway, so bf16 there is slower and no smaller.
pub fn precision_refusal(runs: &[RunPlan], device: Option<DeviceSpec>) -> Option<String> {
    let over: Vec<String> = runs
        .iter()
        .enumerate()
        .filter(|(_, run)| !run.params.dtype.is_f32() && device.unwrap_or(run.params.device) == DeviceSpec::Cpu)
        .map(|(i, run)| format!("run {}/{} (`{}`): dtype = {}", i + 1, runs.len(), run.id, run.params.dtype.name()))
        .collect();
    (!over.is_empty()).then(|| {
        format!(
            "a reduced dtype needs a CUDA device, and {} would run on the CPU, which computes in f32 only:\n  {}\n\
             run with `--device cuda:0` (or set `device = cuda(0)`), or remove `dtype` for f32",
            if over.len() == 1 { "this run" } else { "these runs" },
            over.join("\n  ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_in_binary_units() {
        assert_eq!(human_bytes(512), "512.0 B");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024 / 2), "1.5 GiB");
        assert_eq!(human_bytes(u64::MAX), "16.0 EiB");
    }
}
