//! Stopping on a signal: after SIGTERM or SIGINT (what Slurm sends before it preempts or kills a job, with
//! `--signal`, and Ctrl-C), a run finishes its current step, writes a checkpoint and returns; the command exits with
//! [`EXIT_PREEMPTED`], and `run --resume` continues bit-exactly.

use std::sync::atomic::{AtomicBool, Ordering};

/// The exit code of a run stopped by a signal with a checkpoint written (`EX_TEMPFAIL`: try again later).
pub const EXIT_PREEMPTED: u8 = 75;

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Whether a stop was asked for (by a signal or [`request`]).
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Ask the running training loop to stop at the end of its step.
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

#[cfg(unix)]
extern "C" fn on_signal(_: libc::c_int) {
    // Only an atomic swap and `_exit`: async-signal-safe.
    if REQUESTED.swap(true, Ordering::SeqCst) {
        // A second signal: stop now, without the checkpoint (128 + SIGINT, as a shell reports an interrupt).
        // SAFETY: `_exit` is async-signal-safe and never returns.
        unsafe { libc::_exit(130) };
    }
}

/// Catch SIGTERM and SIGINT from now on: the first asks for a stop at the end of the step (with a checkpoint); a
/// second one ends the process at once (exit 130), without it.
pub fn install_handlers() {
    #[cfg(unix)]
    // SAFETY: `on_signal` only stores to an atomic, which is async-signal-safe; the handler stays valid for the
    // life of the process.
    unsafe {
        let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::signal(libc::SIGTERM, handler);
        libc::signal(libc::SIGINT, handler);
    }
}
