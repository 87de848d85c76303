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
        SlotStat { thought_lp: lp, thought_rank: rank }
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

    #[test]
    fn sampling_is_seeded_and_follows_the_temperature() {
        let slots = [st(0, 0.0), st(5, -0.1), st(9, -8.0)];
        let free = [false, true, true];
        let draw = |seed| {
            let mut rng = Rng::new(seed);
            (0..200)
                .map(|_| choose(&Fallback::Sample { temperature: 1.0 }, &slots, &free, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        let picks = draw(3);
        let ones = picks.iter().filter(|&&p| p == Some(1)).count();
        assert!(ones > 190, "slot 1 is e^7.9 times likelier than slot 2, got {ones}/200");
        let mut rng = Rng::new(1);
        let uni: Vec<_> = (0..100).map(|_| choose(&Fallback::Uniform, &slots, &free, &mut rng)).collect();
        assert!(uni.contains(&Some(1)) && uni.contains(&Some(2)) && !uni.contains(&Some(0)));
    }
}
