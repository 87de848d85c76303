//! The author's flow: rounds of one proposal per sequence, scored against the previous round, best kept, worst
//! culled.
//!
//! Cost: one teacher-forced pass of the start placement, then per round only each row's positions from its
//! proposal on (a row whose last proposal was culled recomputes from that earlier proposal, where its cache
//! stopped matching). Proposals come from the predictions already at hand: under the current placement, the
//! fast-forward's first insertion is the first slot whose decision point wants a thought.

use super::fallback;
use super::fast_forward::{validate, Scored};
use super::gains::gain;
use super::placement::Placement;
use super::rescore::{rescore, Change};
use super::walk::{Policy, Walk};
use super::{finish, EpisodeInput, EpisodeOutput, RoundStats, Source, Thought};
use crate::engine::model::CausalLm;
use crate::engine::rng::Rng;
use crate::plan::{EpisodeConfig, Fallback, Insertion};

/// The fast-forward parameters of a plan, as a policy and a fallback.
pub(super) fn policy_of(cfg: &EpisodeConfig) -> anyhow::Result<(Policy, Fallback)> {
    match &cfg.insertion {
        Insertion::FastForward { fallback, threshold, max_consecutive } => Ok((
            Policy {
                threshold: *threshold,
                max_consecutive: *max_consecutive,
                budget: cfg.thought_budget,
                blocked: Vec::new(),
            },
            fallback.clone(),
        )),
        other => anyhow::bail!("{other:?} is a baseline rule, not a fast-forward insertion"),
    }
}

/// Slots where `policy` lets row `scored` take one more thought (ignoring whether the model wants it).
pub(super) fn free_slots(policy: &Policy, scored: &Scored, blocked: &[bool]) -> Vec<bool> {
    let p = &scored.placement;
    let total = p.total();
    (0..p.len()).map(|s| s >= 1 && !blocked[s] && policy.allows(&p.counts, total, s)).collect()
}

/// A row's proposal: the first free slot whose decision point wants a thought, else the fallback's choice.
fn propose(
    policy: &Policy,
    fallback: &Fallback,
    scored: &Scored,
    blocked: &[bool],
    rng: &mut Rng,
) -> Option<(usize, Source)> {
    let free = free_slots(policy, scored, blocked);
    let wanted = (1..free.len()).find(|&s| {
        let st = &scored.slots[s];
        free[s]
            && policy.wants(&super::stats::PosStat {
                thought_lp: st.thought_lp,
                thought_rank: st.thought_rank,
                target_lp: 0.0,
            })
    });
    match wanted {
        Some(s) => Some((s, Source::Model)),
        None => fallback::choose(fallback, &scored.slots, &free, rng).map(|s| (s, Source::Fallback)),
    }
}

/// Indices of `proposals` (row, gain) to cull: the `⌊cull·n⌋` lowest gains (ties: the later row), plus every
/// negative gain when `below_cost`.
pub(super) fn cull_set(gains: &[(usize, f32)], cull: f64, below_cost: bool) -> Vec<bool> {
    let n = gains.len();
    let mut order: Vec<usize> = (0..n).collect();
    // Best first: higher gain, then the earlier row.
    order.sort_by(|&a, &b| gains[b].1.total_cmp(&gains[a].1).then(gains[a].0.cmp(&gains[b].0)));
    let n_cull = ((cull.clamp(0.0, 1.0) * n as f64).floor() as usize).min(n);
    let mut out = vec![false; n];
    for &i in &order[n - n_cull..] {
        out[i] = true;
    }
    if below_cost {
        for (i, &(_, g)) in gains.iter().enumerate() {
            out[i] |= g < 0.0;
        }
    }
    out
}

fn mean(xs: &[f32]) -> Option<f32> {
    (!xs.is_empty()).then(|| xs.iter().sum::<f32>() / xs.len() as f32)
}

pub(super) fn run(
    model: &dyn CausalLm,
    input: EpisodeInput<'_>,
    cfg: &EpisodeConfig,
    chunk: usize,
    rng: &mut Rng,
) -> anyhow::Result<EpisodeOutput> {
    let seqs = input.tokens;
    let (policy, fallback) = policy_of(cfg)?;
    validate(model, seqs, input.start, cfg.thought_budget)?;
    let b_n = seqs.len();
    let mut cache = model.new_cache(b_n)?;
    // The start placement, teacher-forced.
    let mut walks: Vec<Walk> = seqs
        .iter()
        .enumerate()
        .map(|(b, x)| {
            let p = input.start.map_or_else(|| Placement::empty(x.len()), |s| s[b].clone());
            Walk::new(x.clone(), p, None)
        })
        .collect();
    let mut positions = super::driver::drive_cached(model, &mut cache, &mut walks, chunk)?.positions;
    let mut valid: Vec<usize> = walks.iter().map(|w| w.fed).collect();
    let mut rows: Vec<Scored> = walks
        .into_iter()
        .map(|w| Scored { placement: w.placement, inserted: Vec::new(), ll: w.ll, slots: w.slots })
        .collect();
    let mut blocked: Vec<Vec<bool>> = seqs.iter().map(|x| vec![false; x.len()]).collect();
    let mut kept: Vec<Vec<Thought>> = vec![Vec::new(); b_n];
    let mut culled: Vec<Vec<Thought>> = vec![Vec::new(); b_n];
    let mut stats = Vec::with_capacity(cfg.rounds);

    for round in 0..cfg.rounds {
        let props: Vec<Option<(usize, Source)>> =
            (0..b_n).map(|b| propose(&policy, &fallback, &rows[b], &blocked[b], rng)).collect();
        let changes: Vec<Option<Change>> = (0..b_n)
            .map(|b| {
                props[b].map(|(s, _)| {
                    let old = &rows[b].placement;
                    let at = old.position(s, usize::from(old.counts[s]));
                    let mut placement = old.clone();
                    placement.counts[s] += 1;
                    Change { placement, from: at.min(valid[b]) }
                })
            })
            .collect();
        let (new, cost) = rescore(model, &mut cache, seqs, &rows, &changes, chunk)?;
        positions += cost.positions;
        let scored: Vec<(usize, f32)> = (0..b_n)
            .filter_map(|b| {
                let (s, _) = props[b]?;
                let with = new[b].as_ref()?;
                Some((b, gain(&cfg.gain, s, &with.ll, &rows[b].ll)))
            })
            .collect();
        let cut = cull_set(&scored, cfg.cull, cfg.cull_below_cost);
        let mut st = RoundStats {
            round,
            proposed: scored.len(),
            kept: 0,
            culled: 0,
            mean_gain_kept: None,
            mean_gain_culled: None,
            by_model: 0,
            by_fallback: 0,
            positions: cost.positions,
        };
        let (mut gk, mut gc) = (Vec::new(), Vec::new());
        let mut new = new;
        for (&(b, g), &is_cut) in scored.iter().zip(&cut) {
            let Some((s, source)) = props[b] else { continue };
            match source {
                Source::Model => st.by_model += 1,
                _ => st.by_fallback += 1,
            }
            let depth = usize::from(rows[b].placement.counts[s]);
            let thought = Thought { slot: s, depth, gain: Some(g), round, source };
            if is_cut {
                // The cache was recomputed from at most here, so it matches the old placement up to the
                // rejected thought's position.
                valid[b] = rows[b].placement.position(s, depth);
                blocked[b][s] = true;
                culled[b].push(thought);
                gc.push(g);
            } else if let Some(with) = new[b].take() {
                valid[b] = cache.len(b);
                rows[b] = with;
                kept[b].push(thought);
                gk.push(g);
            }
        }
        st.kept = gk.len();
        st.culled = gc.len();
        st.mean_gain_kept = mean(&gk);
        st.mean_gain_culled = mean(&gc);
        stats.push(st);
    }
    let sequences = rows
        .into_iter()
        .zip(seqs)
        .zip(kept.into_iter().zip(culled))
        .map(|((r, x), (k, c))| finish(x, r.placement, r.ll, k, c))
        .collect();
    Ok(EpisodeOutput { sequences, rounds: stats, positions })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cull_drops_the_lowest_gains_and_optionally_the_negative_ones() {
        let gains = [(0, 0.5), (1, -0.1), (2, 2.0), (3, 0.1)];
        assert_eq!(cull_set(&gains, 0.5, false), vec![false, true, false, true]);
        assert_eq!(cull_set(&gains, 0.25, false), vec![false, true, false, false]);
        assert_eq!(cull_set(&gains, 0.0, true), vec![false, true, false, false]);
        // Ties: the later row goes first.
        let tied = [(0, 1.0), (1, 1.0), (2, 1.0)];
        assert_eq!(cull_set(&tied, 0.5, false), vec![false, false, true]);
    }
}
