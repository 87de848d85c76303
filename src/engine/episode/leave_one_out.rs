//! The alternative strategy: one fast-forward sweep, the leave-one-out gain of every new thought, one cull.
//!
//! Cost: the sweep, then per new occupied slot of a row one pass from that slot on with one thought fewer, then
//! one pass of the kept placement from its first change. Slots are taken right to left, so each row's cache only
//! ever needs cutting back, never recomputing twice.

use super::fallback;
use super::gains::gain_between;
use super::placement::Placement;
use super::rescore::Change;
use super::rounds::{cull_set, free_slots, mean, policy_of, starts};
use super::state::State;
use super::walk::Policy;
use super::{finish, EpisodeInput, EpisodeOutput, RoundStats, Source, Thought};
use crate::engine::model::CausalLm;
use crate::engine::rng::Rng;
use crate::plan::{EpisodeConfig, Fallback};

/// One new thought and its gain.
struct Scoring {
    row: usize,
    slot: usize,
    gain: f32,
    source: Source,
}

pub(super) fn run(
    model: &dyn CausalLm,
    input: EpisodeInput<'_>,
    cfg: &EpisodeConfig,
    chunk: usize,
    rng: &mut Rng,
) -> anyhow::Result<EpisodeOutput> {
    let (policy, fallback) = policy_of(cfg)?;
    let policy = policy.for_rows((0..input.tokens.len()).map(|b| input.first_target(b)));
    let starts = starts(&input);
    let mut state = State::new(model, input.tokens, &starts, Some(&policy), cfg.thought_budget, chunk)?;
    let sources = fill_empty_rows(&mut state, &policy, &fallback, rng)?;
    let firsts: Vec<Option<usize>> = (0..input.tokens.len()).map(|b| input.first_target(b)).collect();
    let mut scorings = leave_one_out_gains(&mut state, &starts, &sources, &firsts, cfg)?;
    // Equal gains in one slot must be culled deepest first: order by (row, slot) so that the cull's "later entry
    // goes first" tie rule applies within a slot.
    scorings.sort_by_key(|s| (s.row, s.slot));
    let keyed: Vec<(usize, f32)> = scorings.iter().enumerate().map(|(i, s)| (i, s.gain)).collect();
    let cut = cull_set(&keyed, cfg.cull, cfg.cull_below_cost);

    let mut finals: Vec<Placement> = state.rows.iter().map(|r| r.placement.clone()).collect();
    for (sc, _) in scorings.iter().zip(&cut).filter(|(_, &c)| c) {
        finals[sc.row].counts[sc.slot] -= 1;
    }
    let (kept, culled, mut st) = ledger(&scorings, &cut, &starts, &finals);

    // Final likelihoods under the kept placement, from each row's first change on.
    let changes: Vec<Option<Change>> = (0..finals.len())
        .map(|b| (finals[b] != state.rows[b].placement).then(|| state.change_to(b, finals[b].clone())))
        .collect();
    let (fin, _) = state.rescore(&changes)?;
    st.positions = state.positions;
    let sequences = state
        .rows
        .into_iter()
        .zip(fin)
        .zip(input.tokens)
        .zip(kept.into_iter().zip(culled))
        .map(|(((r, f), x), (k, c))| {
            let r = f.unwrap_or(r);
            finish(x, r.placement, r.ll, k, c)
        })
        .collect();
    Ok(EpisodeOutput { sequences, rounds: vec![st], positions: state.positions })
}

/// Give each row where the model placed nothing one fallback thought; returns who placed each row's thoughts.
fn fill_empty_rows(
    state: &mut State<'_>,
    policy: &Policy,
    fallback: &Fallback,
    rng: &mut Rng,
) -> anyhow::Result<Vec<Source>> {
    let b_n = state.rows.len();
    let mut sources = vec![Source::Model; b_n];
    let changes: Vec<Option<Change>> = (0..b_n)
        .map(|b| {
            let row = &state.rows[b];
            if !row.inserted.is_empty() {
                return None;
            }
            let free = free_slots(policy, row, &policy.row(b, row.placement.len()).blocked);
            let s = fallback::choose(fallback, &row.slots, &free, rng)?;
            Some(state.change(b, s, true))
        })
        .collect();
    if changes.iter().any(Option::is_some) {
        let (new, _) = state.rescore(&changes)?;
        for (b, n) in new.into_iter().enumerate() {
            if let (Some(mut n), Some(c)) = (n, &changes[b]) {
                let old = &state.rows[b].placement.counts;
                n.inserted = c.placement.counts.iter().zip(old).position(|(a, o)| a != o).into_iter().collect();
                state.accept(b, n);
                sources[b] = Source::Fallback;
            }
        }
    }
    Ok(sources)
}

/// `LL(T) − LL(T∖{t})` for every thought not in the start placement; one pass per occupied slot, right to left.
fn leave_one_out_gains(
    state: &mut State<'_>,
    starts: &[Placement],
    sources: &[Source],
    firsts: &[Option<usize>],
    cfg: &EpisodeConfig,
) -> anyhow::Result<Vec<Scoring>> {
    let b_n = state.rows.len();
    let new_slots: Vec<Vec<usize>> = (0..b_n)
        .map(|b| {
            let (p, s0) = (&state.rows[b].placement, &starts[b]);
            (1..p.len()).rev().filter(|&s| p.counts[s] > s0.counts[s]).collect()
        })
        .collect();
    let passes = new_slots.iter().map(Vec::len).max().unwrap_or(0);
    let mut scorings = Vec::new();
    for i in 0..passes {
        let changes: Vec<Option<Change>> =
            (0..b_n).map(|b| new_slots[b].get(i).map(|&s| state.change(b, s, false))).collect();
        let (without, _) = state.rescore(&changes)?;
        for b in 0..b_n {
            let (Some(ch), Some(w)) = (&changes[b], &without[b]) else { continue };
            let s = new_slots[b][i];
            let g = gain_between(&cfg.gain, s, firsts[b], &state.rows[b], w);
            let n_new = state.rows[b].placement.counts[s] - starts[b].counts[s];
            for _ in 0..n_new {
                scorings.push(Scoring { row: b, slot: s, gain: g, source: sources[b] });
            }
            state.reject(b, ch);
        }
    }
    Ok(scorings)
}

/// Kept and culled thoughts per row with their depths, and the one round's statistics.
fn ledger(
    scorings: &[Scoring],
    cut: &[bool],
    starts: &[Placement],
    finals: &[Placement],
) -> (Vec<Vec<Thought>>, Vec<Vec<Thought>>, RoundStats) {
    let b_n = starts.len();
    let mut kept: Vec<Vec<Thought>> = vec![Vec::new(); b_n];
    let mut culled: Vec<Vec<Thought>> = vec![Vec::new(); b_n];
    let mut next_depth: Vec<Vec<usize>> =
        starts.iter().map(|p| p.counts.iter().map(|&c| usize::from(c)).collect()).collect();
    let (mut gk, mut gc) = (Vec::new(), Vec::new());
    for (sc, &is_cut) in scorings.iter().zip(cut) {
        let t = |depth| Thought { slot: sc.slot, depth, gain: Some(sc.gain), round: 0, source: sc.source };
        if is_cut {
            culled[sc.row].push(t(usize::from(finals[sc.row].counts[sc.slot])));
            gc.push(sc.gain);
        } else {
            let d = &mut next_depth[sc.row][sc.slot];
            kept[sc.row].push(t(*d));
            *d += 1;
            gk.push(sc.gain);
        }
    }
    let st = RoundStats {
        round: 0,
        proposed: scorings.len(),
        kept: gk.len(),
        culled: gc.len(),
        mean_gain_kept: mean(&gk),
        mean_gain_culled: mean(&gc),
        by_model: scorings.iter().filter(|s| s.source == Source::Model).count(),
        by_fallback: scorings.iter().filter(|s| s.source == Source::Fallback).count(),
        positions: 0,
    };
    (kept, culled, st)
}
