//! Where a sequence gets a thought the model does not want to place itself.

use super::walk::SlotStat;
use crate::engine::rng::Rng;
use crate::plan::Fallback;

/// Pick one of the `free` slots (a slot `s` is free when `free[s]`) from the thought's prediction at each slot's
/// decision point, or `None` when no slot is free.
///
/// - `BestRank`: the lowest thought rank; ties go to the higher thought log-probability, then the earlier slot.
/// - `Sample { temperature }`: drawn from softmax(log p(thought) / T) over the free slots. The log-probability is
///   the thought logit normalised per position (raw logits are not comparable across positions).
/// - `Uniform`: uniformly random.
pub fn choose(fallback: &Fallback, slots: &[SlotStat], free: &[bool], rng: &mut Rng) -> Option<usize> {
    let cands: Vec<usize> = (0..slots.len().min(free.len())).filter(|&s| free[s]).collect();
    if cands.is_empty() {
        return None;
    }
    match fallback {
        Fallback::BestRank => cands.into_iter().min_by(|&a, &b| {
            slots[a]
                .thought_rank
                .cmp(&slots[b].thought_rank)
                .then(slots[b].thought_lp.total_cmp(&slots[a].thought_lp))
                .then(a.cmp(&b))
        }),
        Fallback::Uniform => Some(cands[rng.below(cands.len())]),
        Fallback::Sample { temperature } => {
            let t = temperature.max(1e-6);
            let logits: Vec<f64> = cands.iter().map(|&s| f64::from(slots[s].thought_lp) / t).collect();
            let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let weights: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
            let total: f64 = weights.iter().sum();
            let mut u = rng.next_f64() * total;
            for (i, w) in weights.iter().enumerate() {
                if u < *w {
                    return Some(cands[i]);
                }
                u -= w;
            }
            cands.last().copied()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(rank: u32, lp: f32) -> SlotStat {
        SlotStat { thought_lp: lp, thought_rank: rank, real_lp: 0.0 }
    }

    #[test]
    fn best_rank_breaks_ties_by_log_prob_then_slot_and_skips_taken_slots() {
        let slots = [st(0, 0.0), st(2, -1.0), st(1, -3.0), st(1, -2.0), st(1, -2.0)];
        let mut rng = Rng::new(0);
        let free = [false, true, true, true, true];
        assert_eq!(choose(&Fallback::BestRank, &slots, &free, &mut rng), Some(3));
        let free = [false, true, true, false, false];
        assert_eq!(choose(&Fallback::BestRank, &slots, &free, &mut rng), Some(2));
        assert_eq!(choose(&Fallback::BestRank, &slots, &[false; 5], &mut rng), None);
    }

    /// Empirical frequencies of `n` draws approach softmax(log p(thought) / T) over the free slots, for T below, at
    /// and above 1 (each within 5 binomial standard deviations), and a lower T puts more of them on the best slot.
    /// Dropping the temperature, or multiplying by it instead of dividing, agrees at T = 1 only.
    #[test]
    fn sampling_is_seeded_and_follows_the_temperature() {
        let slots = [st(0, 0.0), st(5, -0.5), st(9, -1.5), st(3, -1.0)];
        let free = [false, true, true, true];
        let draw = |t: f64, seed, n| {
            let mut rng = Rng::new(seed);
            (0..n).map(|_| choose(&Fallback::Sample { temperature: t }, &slots, &free, &mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(draw(1.0, 3, 200), draw(1.0, 3, 200));
        assert_ne!(draw(1.0, 3, 200), draw(1.0, 4, 200));
        let n = 20_000;
        let mut best_share = Vec::new();
        for t in [0.5, 1.0, 2.0] {
            let picks = draw(t, 7, n);
            assert!(picks.iter().all(|p| matches!(p, Some(1..=3))), "only free slots: {t}");
            let weights: Vec<f64> = (1..4).map(|s| (f64::from(slots[s].thought_lp) / t).exp()).collect();
            let total: f64 = weights.iter().sum();
            for (s, w) in (1..4).zip(&weights) {
                let p = w / total;
                let freq = picks.iter().filter(|&&x| x == Some(s)).count() as f64 / n as f64;
                let tol = 5.0 * (p * (1.0 - p) / n as f64).sqrt();
                assert!((freq - p).abs() < tol, "T = {t}, slot {s}: {freq} vs {p} ± {tol}");
            }
            best_share.push(picks.iter().filter(|&&x| x == Some(1)).count());
        }
        // softmax gives the best slot 0.67, 0.51 and 0.42 of the draws at T = 0.5, 1 and 2.
        assert!(best_share[0] > best_share[1] && best_share[1] > best_share[2], "{best_share:?}");
        let mut rng = Rng::new(1);
        let uni: Vec<_> = (0..100).map(|_| choose(&Fallback::Uniform, &slots, &free, &mut rng)).collect();
        assert!((1..4).all(|s| uni.contains(&Some(s))) && !uni.contains(&Some(0)));
    }
}
