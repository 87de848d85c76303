//! Per-thought gains from per-real-token log-likelihoods.
//!
//! By causality a thought at slot `s` changes only the predictions of `x[s..]`, so its gain is
//! `Σ_{j ∈ window(s)} (ll_with[j] − ll_without[j])` (or the mean over the window) minus the cost λ, where the
//! window is `s..L` or `s..min(s+W, L)`. With `over = targets` only the window's tokens from the first scored
//! one on count (for prompt/answer data the answer: the tokens the loss and the evaluation score); the window
//! itself is still measured from the slot.

use super::fast_forward::Scored;
use crate::plan::{GainConfig, GainReduce, GainTokens};

/// [`gain`] between two passes over one sequence, on the log-likelihoods `cfg` scores (with `renormalise`, each
/// real token's under the softmax without the thought: [`Scored::gain_lls`]).
pub fn gain_between(cfg: &GainConfig, s: usize, first_target: Option<usize>, with: &Scored, without: &Scored) -> f32 {
    gain(cfg, s, first_target, &with.gain_lls(cfg.renormalise), &without.gain_lls(cfg.renormalise))
}

/// The real-token indices that count for a thought at slot `s` in a sequence of `len` real tokens whose first
/// scored token is `first_target` (`None`: every token is scored).
pub fn window(cfg: &GainConfig, s: usize, len: usize, first_target: Option<usize>) -> std::ops::Range<usize> {
    let end = cfg.window.map_or(len, |w| s.saturating_add(w).min(len));
    let start = match cfg.over {
        GainTokens::All => s,
        GainTokens::Targets => s.max(first_target.unwrap_or(0)),
    };
    start.min(end)..end
}

/// The gain of a thought at slot `s`: the change from `ll_without` to `ll_with` over its window, reduced, minus λ.
pub fn gain(cfg: &GainConfig, s: usize, first_target: Option<usize>, ll_with: &[f32], ll_without: &[f32]) -> f32 {
    let w = window(cfg, s, ll_with.len().min(ll_without.len()), first_target);
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
        GainConfig { window, reduce, cost, over: GainTokens::All, renormalise: false }
    }

    #[test]
    fn gain_counts_only_the_continuation_window() {
        let without = [0.0, -1.0, -1.0, -1.0, -1.0];
        let with = [0.0, -5.0, -0.5, -0.5, -0.9];
        // Slot 2: tokens 2.. change by 0.5 + 0.5 + 0.1; token 1 (before the slot) is ignored.
        let g = gain(&cfg(None, GainReduce::Sum, 0.0), 2, None, &with, &without);
        assert!((g - 1.1).abs() < 1e-6);
        let g = gain(&cfg(Some(2), GainReduce::Sum, 0.25), 2, None, &with, &without);
        assert!((g - 0.75).abs() < 1e-6);
        let g = gain(&cfg(Some(2), GainReduce::Mean, 0.0), 2, None, &with, &without);
        assert!((g - 0.5).abs() < 1e-6);
        // A window running past the end is cut at the end.
        let g = gain(&cfg(Some(10), GainReduce::Mean, 0.0), 4, None, &with, &without);
        assert!((g - 0.1).abs() < 1e-6);
    }

    #[test]
    fn gain_over_targets_counts_only_the_scored_tokens() {
        let without = [0.0, -1.0, -1.0, -1.0, -1.0, -1.0];
        let with = [0.0, -1.0, -3.0, -2.0, -0.5, -0.75];
        let targets = GainConfig { over: GainTokens::Targets, ..cfg(None, GainReduce::Sum, 0.0) };
        // The answer starts at token 4: the prompt tokens 2 and 3 (worse by 2 and 1) do not count.
        assert!((gain(&targets, 2, Some(4), &with, &without) - 0.75).abs() < 1e-6);
        // All tokens count under `all`.
        assert!((gain(&cfg(None, GainReduce::Sum, 0.0), 2, Some(4), &with, &without) + 2.25).abs() < 1e-6);
        // Text (no answer): every token is scored, so `targets` equals `all`.
        assert_eq!(
            gain(&targets, 2, None, &with, &without),
            gain(&cfg(None, GainReduce::Sum, 0.0), 2, None, &with, &without)
        );
        // A window that ends before the answer counts nothing; the mean over nothing is 0, minus λ.
        let short = GainConfig {
            window: Some(1),
            reduce: GainReduce::Mean,
            cost: 0.5,
            over: GainTokens::Targets,
            renormalise: false,
        };
        assert!((gain(&short, 2, Some(4), &with, &without) + 0.5).abs() < 1e-6);
        // The mean is over the counted tokens only.
        let mean = GainConfig { reduce: GainReduce::Mean, ..targets };
        assert!((gain(&mean, 2, Some(4), &with, &without) - 0.375).abs() < 1e-6);
    }
}
