//! Where the cached drive's time goes, without a profiler: process-wide wall-time counters per phase, read by
//! `thinktok bench episode` (`breakdown`) so the next bottleneck is visible in its output.
//!
//! Counters nest: [`Phase::Model`] (a whole `forward_chunk`) includes the cache writes and cached attention run
//! inside it. They are plain atomics (a `Instant::now` pair per timed section, a few dozen per model call), always
//! on, and only meaningful while one drive runs at a time (the bench's case).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde::Serialize;

/// A timed section of the cached drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// One `forward_chunk` call, everything inside it included.
    Model,
    /// Writing a chunk's keys and values into the KV cache (inside [`Phase::Model`]).
    CacheWrite,
    /// Attention of a chunk over each row's cached prefix (inside [`Phase::Model`]).
    Attention,
    /// Logits to per-position statistics on the host (log-softmax, the thought's rank).
    Stats,
    /// Host-side decisions: planning each row's chunk, accepting its predictions, cutting rows back.
    Decide,
    /// Moving rows between the full cache and the working one (compaction, copying finished rows home).
    Compact,
}

static NANOS: [AtomicU64; 6] = [const { AtomicU64::new(0) }; 6];
static CALLS: [AtomicU64; 6] = [const { AtomicU64::new(0) }; 6];

/// Run `f`, adding its wall time to `phase`.
pub fn timed<T>(phase: Phase, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    let i = phase as usize;
    NANOS[i].fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
    CALLS[i].fetch_add(1, Ordering::Relaxed);
    out
}

/// Zero every counter.
pub fn reset() {
    for (n, c) in NANOS.iter().zip(&CALLS) {
        n.store(0, Ordering::Relaxed);
        c.store(0, Ordering::Relaxed);
    }
}

/// Seconds and calls per phase since the last [`reset`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Breakdown {
    pub model_s: f64,
    pub cache_write_s: f64,
    pub attention_s: f64,
    pub stats_s: f64,
    pub decide_s: f64,
    pub compact_s: f64,
    pub model_calls: u64,
}

impl Breakdown {
    /// The counters now.
    pub fn read() -> Self {
        let s = |p: Phase| NANOS[p as usize].load(Ordering::Relaxed) as f64 * 1e-9;
        Self {
            model_s: s(Phase::Model),
            cache_write_s: s(Phase::CacheWrite),
            attention_s: s(Phase::Attention),
            stats_s: s(Phase::Stats),
            decide_s: s(Phase::Decide),
            compact_s: s(Phase::Compact),
            model_calls: CALLS[Phase::Model as usize].load(Ordering::Relaxed),
        }
    }

    /// The sum of two breakdowns.
    pub fn plus(self, o: Self) -> Self {
        Self {
            model_s: self.model_s + o.model_s,
            cache_write_s: self.cache_write_s + o.cache_write_s,
            attention_s: self.attention_s + o.attention_s,
            stats_s: self.stats_s + o.stats_s,
            decide_s: self.decide_s + o.decide_s,
            compact_s: self.compact_s + o.compact_s,
            model_calls: self.model_calls + o.model_calls,
        }
    }

    /// Every figure divided by `by` (a per-repeat or relative breakdown).
    pub fn scaled(self, by: f64) -> Self {
        Self {
            model_s: self.model_s / by,
            cache_write_s: self.cache_write_s / by,
            attention_s: self.attention_s / by,
            stats_s: self.stats_s / by,
            decide_s: self.decide_s / by,
            compact_s: self.compact_s / by,
            model_calls: (self.model_calls as f64 / by).round() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timed_sections_add_up_per_phase() {
        // Other tests may time sections concurrently: only lower bounds hold.
        timed(Phase::Decide, || std::thread::sleep(std::time::Duration::from_millis(2)));
        let b = Breakdown::read();
        assert!(b.decide_s >= 0.002, "{b:?}");
    }
}
