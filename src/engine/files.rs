//! Files the engine writes: always through a temporary name and a rename.

use std::path::Path;

use anyhow::Context;

/// Write `bytes` to `path` through a temporary file and a rename, so a crash never leaves a half-written file.
/// The temporary name carries the process id, so two processes writing the same file never rename each other's.
pub fn write_atomic(path: &Path, bytes: impl AsRef<[u8]>) -> anyhow::Result<()> {
    let name = path.file_name().map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write `{}`", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot move `{}` to `{}`", tmp.display(), path.display()))?;
    Ok(())
}
