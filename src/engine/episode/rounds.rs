//! The author's flow: rounds of one proposal per sequence, scored against the previous round, best kept, worst
//! culled.
//!
//! Cost: one teacher-forced pass of the start placement, then per round only each row's positions from its
//! proposal on (a row whose last proposal was culled recomputes from that earlier proposal, where its cache
//! stopped matching). Proposals come from the predictions already at hand: under the current placement, the
//! fast-forward's first insertion is the first slot whose decision point wants a thought.
//!
//! With `proposal_size = k` a proposal is a run of up to k thoughts in its slot (as many as the slot and the
//! budget still hold), scored as one unit against the placement without any of them and kept or culled whole: a
//! continuous thought that pays only as the first of two serial passes is credited with the pair (and pays the
//! per-thought cost λ once per thought). A culled run is
//! one negative, at the decision point where it would have started (the only one of its positions that exists
//! once it is gone).

use super::fallback;
use super::fast_forward::Scored;
use super::gains::gain_between;
use super::placement::Placement;
use super::rescore::Change;
use super::state::State;
use super::walk::Policy;
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
                slots: cfg.slots,
                first_slots: Vec::new(),
                end_slots: Vec::new(),
            },
            fallback.clone(),
        )),
        other => anyhow::bail!("{other:?} is a baseline rule, not a fast-forward insertion"),
    }
}

/// Each sequence's start placement (no thoughts without one).
pub(super) fn starts(input: &EpisodeInput<'_>) -> Vec<Placement> {
    input
        .tokens
        .iter()
        .enumerate()
        .map(|(b, x)| input.start.map_or_else(|| Placement::empty(x.len()), |s| s[b].clone()))
        .collect()
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
        free[s] && policy.wants(st)
    });
    match wanted {
        Some(s) => Some((s, Source::Model)),
        None => fallback::choose(fallback, &scored.slots, &free, rng).map(|s| (s, Source::Fallback)),
    }
}

/// Which of `gains` (row, gain) to cull: the `⌊cull·n⌋` lowest (ties: the later entry), plus every negative
/// gain when `below_cost`.
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

pub(super) fn mean(xs: &[f32]) -> Option<f32> {
    (!xs.is_empty()).then(|| xs.iter().sum::<f32>() / xs.len() as f32)
}

/// Per-sequence bookkeeping across rounds.
struct Ledger {
    blocked: Vec<Vec<bool>>,
    kept: Vec<Vec<Thought>>,
    culled: Vec<Vec<Thought>>,
}

pub(super) fn run(
    model: &dyn CausalLm,
    input: EpisodeInput<'_>,
    cfg: &EpisodeConfig,
    chunk: usize,
    rng: &mut Rng,
) -> anyhow::Result<EpisodeOutput> {
    let (policy, fallback) = policy_of(cfg)?;
    let b_n = input.tokens.len();
    let policy = policy.for_rows((0..b_n).map(|b| input.first_target(b)));
    let mut state = State::new(model, input.tokens, &starts(&input), None, cfg.thought_budget, chunk)?;
    let mut ledger = Ledger {
        // Slots closed to thoughts (`slots = targets`) start out blocked, like tried ones.
        blocked: input.tokens.iter().enumerate().map(|(b, x)| policy.row(b, x.len()).blocked).collect(),
        kept: vec![Vec::new(); b_n],
        culled: vec![Vec::new(); b_n],
    };
    let firsts: Vec<Option<usize>> = (0..b_n).map(|b| input.first_target(b)).collect();
    let mut stats = Vec::with_capacity(cfg.rounds);
    for round in 0..cfg.rounds {
        let props: Vec<Option<(usize, Source)>> =
            (0..b_n).map(|b| propose(&policy, &fallback, &state.rows[b], &ledger.blocked[b], rng)).collect();
        let sizes: Vec<usize> =
            (0..b_n).map(|b| run_size(&policy, &state.rows[b], props[b], cfg.proposal_size)).collect();
        stats.push(play_round(&mut state, &mut ledger, &props, &sizes, &firsts, cfg, round)?);
    }
    let sequences = state
        .rows
        .into_iter()
        .zip(input.tokens)
        .zip(ledger.kept.into_iter().zip(ledger.culled))
        .map(|((r, x), (k, c))| finish(x, r.placement, r.ll, k, c))
        .collect();
    Ok(EpisodeOutput { sequences, rounds: stats, positions: state.positions })
}

/// How many thoughts a proposal in its slot places: up to `k`, as many as the slot's cap and the budget still
/// allow (at least the one [`propose`] found room for).
fn run_size(policy: &Policy, scored: &Scored, prop: Option<(usize, Source)>, k: usize) -> usize {
    let Some((s, _)) = prop else { return 0 };
    let p = &scored.placement;
    let slot_room = policy.max_consecutive.saturating_sub(usize::from(p.counts[s]));
    let budget_room = policy.budget.saturating_sub(p.total());
    k.min(slot_room).min(budget_room).max(1)
}

/// Score one round's proposals (row `b`'s is `sizes[b]` thoughts in its slot), keep the best, cull the rest, and
/// say what happened.
fn play_round(
    state: &mut State<'_>,
    ledger: &mut Ledger,
    props: &[Option<(usize, Source)>],
    sizes: &[usize],
    firsts: &[Option<usize>],
    cfg: &EpisodeConfig,
    round: usize,
) -> anyhow::Result<RoundStats> {
    let changes: Vec<Option<Change>> = props
        .iter()
        .enumerate()
        .map(|(b, p)| {
            p.map(|(s, _)| {
                let mut placement = state.rows[b].placement.clone();
                placement.counts[s] = placement.counts[s].saturating_add(u16::try_from(sizes[b]).unwrap_or(u16::MAX));
                state.change_to(b, placement)
            })
        })
        .collect();
    let (mut new, positions) = state.rescore(&changes)?;
    let scored: Vec<(usize, f32)> = (0..props.len())
        .filter_map(|b| {
            let (s, _) = props[b]?;
            // λ is per thought: a run of n pays it n times.
            let extra_cost = cfg.gain.cost * sizes[b].saturating_sub(1) as f64;
            let g = gain_between(&cfg.gain, s, firsts[b], new[b].as_ref()?, &state.rows[b]);
            Some((b, (f64::from(g) - extra_cost) as f32))
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
        positions,
    };
    let (mut gk, mut gc) = (Vec::new(), Vec::new());
    for (&(b, g), &is_cut) in scored.iter().zip(&cut) {
        let (Some((s, source)), Some(change)) = (props[b], &changes[b]) else { continue };
        match source {
            Source::Model => st.by_model += 1,
            _ => st.by_fallback += 1,
        }
        let depth = usize::from(state.rows[b].placement.counts[s]);
        let thought = |depth| Thought { slot: s, depth, gain: Some(g), round, source };
        if is_cut {
            state.reject(b, change);
            ledger.blocked[b][s] = true;
            ledger.culled[b].push(thought(depth));
            gc.push(g);
        } else if let Some(with) = new[b].take() {
            state.accept(b, with);
            ledger.kept[b].extend((depth..depth + sizes[b]).map(thought));
            gk.push(g);
        }
    }
    (st.kept, st.culled) = (gk.len(), gc.len());
    (st.mean_gain_kept, st.mean_gain_culled) = (mean(&gk), mean(&gc));
    Ok(st)
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
