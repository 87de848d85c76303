//! One process per run folder: `OUT/<run-id>/lock` names the host and process training the run. A second process
//! is refused with the holder's name; a lock whose process is gone (on this host) is taken over with a note. The
//! lock is removed when the run returns, however it returns.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::engine::error::invalid;

/// What a lock file says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub host: String,
    pub pid: u32,
    /// Seconds since the Unix epoch when the lock was taken.
    pub since: u64,
}

/// A held lock; dropping it removes the file.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// This machine's short host name (as `hostname -s` prints it).
pub fn host_name() -> String {
    #[cfg(unix)]
    {
        let mut buf = [0u8; 256];
        // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
        let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        if rc == 0 {
            let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            let name = String::from_utf8_lossy(&buf[..end]).into_owned();
            return name.split('.').next().unwrap_or_default().to_string();
        }
    }
    "unknown".to_string()
}

/// Whether process `pid` exists on this host.
pub fn alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
        // SAFETY: signal 0 checks for existence and sends nothing.
        let rc = unsafe { libc::kill(pid, 0) };
        rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// The holder of `dir`'s lock, if any (an unreadable lock file reads as held by nobody known).
pub fn holder(dir: &Path) -> Option<Holder> {
    let text = std::fs::read_to_string(dir.join("lock")).ok()?;
    serde_json::from_str(&text).ok()
}

/// Whether `holder` is still training (a process on another host is taken to be alive).
pub fn held(holder: &Holder) -> bool {
    holder.host != host_name() || alive(holder.pid)
}

/// Take the lock of run folder `dir` for this process.
pub fn acquire(dir: &Path, run_id: &str) -> anyhow::Result<RunLock> {
    let path = dir.join("lock");
    let me = Holder {
        host: host_name(),
        pid: std::process::id(),
        since: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
    };
    for _ in 0..2 {
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut file) => {
                file.write_all(serde_json::to_string(&me)?.as_bytes())?;
                return Ok(RunLock { path });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match holder(dir) {
                Some(h) if held(&h) => {
                    return Err(invalid(format!(
                        "run `{run_id}` is being trained by process {} on host `{}` (lock `{}`, taken at {} s \
                         since the epoch); wait for it, or stop that process first",
                        h.pid,
                        h.host,
                        path.display(),
                        h.since
                    )))
                }
                stale => {
                    let who = stale.map_or("an unreadable lock".to_string(), |h| {
                        format!("process {} on `{}`, which is gone", h.pid, h.host)
                    });
                    eprintln!("note: run `{run_id}`: taking over the stale lock of {who}");
                    std::fs::remove_file(&path)?;
                }
            },
            Err(e) => return Err(anyhow::anyhow!("cannot create the lock `{}`: {e}", path.display())),
        }
    }
    Err(invalid(format!("cannot take the lock `{}`: another process took it first", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("thinktok-lock-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// A held lock refuses a second holder, naming the first; it is gone once dropped.
    #[test]
    fn a_held_lock_refuses_a_second_process_and_is_released_on_drop() {
        let d = dir("held");
        let lock = acquire(&d, "r1").unwrap();
        let h = holder(&d).unwrap();
        assert_eq!((h.pid, h.host.clone()), (std::process::id(), host_name()));
        let err = acquire(&d, "r1").unwrap_err().to_string();
        assert!(err.contains(&format!("process {}", std::process::id())) && err.contains("is being trained"), "{err}");
        drop(lock);
        assert!(!d.join("lock").exists());
        let _again = acquire(&d, "r1").unwrap();
    }

    /// A lock left by a process that is gone (here: a pid that cannot exist) is taken over.
    #[test]
    fn a_stale_lock_is_taken_over() {
        let d = dir("stale");
        let stale = Holder { host: host_name(), pid: u32::MAX - 1, since: 0 };
        std::fs::write(d.join("lock"), serde_json::to_string(&stale).unwrap()).unwrap();
        assert!(!held(&stale));
        let _lock = acquire(&d, "r1").unwrap();
        assert_eq!(holder(&d).unwrap().pid, std::process::id());
        // A lock of another host is never taken to be stale.
        assert!(held(&Holder { host: format!("{}-elsewhere", host_name()), pid: u32::MAX - 1, since: 0 }));
    }
}
