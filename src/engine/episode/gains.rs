//! Per-thought gains from per-real-token log-likelihoods.
//!
//! By causality a thought at slot `s` changes only the predictions of `x[s..]`, so its gain is
//! `Σ_{j ∈ window(s)} (ll_with[j] − ll_without[j])` (or the mean over the window) minus the cost λ, where the
//! window is `s..L` or `s..min(s+W, L)`.

use crate::plan::{GainConfig, GainReduce};

/// The real-token indices that count for a thought at slot `s` in a sequence of `len` real tokens.
pub fn window(cfg: &GainConfig, s: usize, len: usize) -> std::ops::Range<usize> {
    let end = cfg.window.map_or(len, |w| s.saturating_add(w).min(len));
    s.min(len)..end
}

/// The gain of a thought at slot `s`: the change from `ll_without` to `ll_with` over its window, reduced, minus λ.
pub fn gain(cfg: &GainConfig, s: usize, ll_with: &[f32], ll_without: &[f32]) -> f32 {
    let w = window(cfg, s, ll_with.len().min(ll_without.len()));
    let n = w.len();
    let sum: f64 = w.map(|j| f64::from(ll_with[j]) - f64::from(ll_without[j])).sum();
    let reduced = match cfg.reduce {
        GainReduce::Sum => sum,
        GainReduce::Mean if n > 0 => sum / n as f64,
        GainReduce::Mean => 0.0,
    };
    (reduced - cfg.cost) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(window: Option<usize>, reduce: GainReduce, cost: f64) -> GainConfig {
        GainConfig { window, reduce, cost }
    }

    #[test]
    fn gain_counts_only_the_continuation_window() {
        let without = [0.0, -1.0, -1.0, -1.0, -1.0];
        let with = [0.0, -5.0, -0.5, -0.5, -0.9];
        // Slot 2: tokens 2.. change by 0.5 + 0.5 + 0.1; token 1 (before the slot) is ignored.
        let g = gain(&cfg(None, GainReduce::Sum, 0.0), 2, &with, &without);
        assert!((g - 1.1).abs() < 1e-6);
        let g = gain(&cfg(Some(2), GainReduce::Sum, 0.25), 2, &with, &without);
        assert!((g - 0.75).abs() < 1e-6);
        let g = gain(&cfg(Some(2), GainReduce::Mean, 0.0), 2, &with, &without);
        assert!((g - 0.5).abs() < 1e-6);
        // A window running past the end is cut at the end.
        let g = gain(&cfg(Some(10), GainReduce::Mean, 0.0), 4, &with, &without);
        assert!((g - 0.1).abs() < 1e-6);
    }
}
