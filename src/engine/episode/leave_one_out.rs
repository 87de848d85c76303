//! The alternative strategy: one fast-forward sweep, the leave-one-out gain of every new thought, one cull.
//!
//! Cost: the sweep, then per new occupied slot of a row one pass from that slot on with one thought fewer.
//! Slots are taken right to left, so each row's cache only ever needs cutting back, never recomputing twice.

use super::fast_forward::{validate, Scored};
use super::gains::gain;
use super::placement::Placement;
use super::rescore::{rescore, Change};
use super::rounds::{cull_set, free_slots, policy_of};
use super::walk::Walk;
use super::{fallback, finish, EpisodeInput, EpisodeOutput, RoundStats, Source, Thought};
use crate::engine::model::CausalLm;
use crate::engine::rng::Rng;
use crate::plan::EpisodeConfig;

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
    let seqs = input.tokens;
    let (policy, fallback) = policy_of(cfg)?;
    validate(model, seqs, input.start, cfg.thought_budget)?;
    let b_n = seqs.len();
    let starts: Vec<Placement> = seqs
        .iter()
        .enumerate()
        .map(|(b, x)| input.start.map_or_else(|| Placement::empty(x.len()), |s| s[b].clone()))
        .collect();
    let mut cache = model.new_cache(b_n)?;
    let mut walks: Vec<Walk> = seqs
        .iter()
        .zip(&starts)
        .map(|(x, p)| {
            let mut pol = policy.clone();
            pol.blocked = vec![false; x.len()];
            Walk::new(x.clone(), p.clone(), Some(pol))
        })
        .collect();
    let mut positions = super::driver::drive_cached(model, &mut cache, &mut walks, chunk)?.positions;
    let mut valid: Vec<usize> = walks.iter().map(|w| w.fed).collect();
    let mut source: Vec<Source> = vec![Source::Model; b_n];
    let mut rows: Vec<Scored> = walks
        .into_iter()
        .map(|w| Scored { placement: w.placement, inserted: w.inserted, ll: w.ll, slots: w.slots })
        .collect();

    // Rows where the model placed nothing get one fallback thought.
    let none_blocked: Vec<Vec<bool>> = seqs.iter().map(|x| vec![false; x.len()]).collect();
    let fills: Vec<Option<Change>> = (0..b_n)
        .map(|b| {
            if !rows[b].inserted.is_empty() {
                return None;
            }
            let free = free_slots(&policy, &rows[b], &none_blocked[b]);
            let s = fallback::choose(&fallback, &rows[b].slots, &free, rng)?;
            let old = &rows[b].placement;
            let at = old.position(s, usize::from(old.counts[s]));
            let mut placement = old.clone();
            placement.counts[s] += 1;
            Some(Change { placement, from: at.min(valid[b]) })
        })
        .collect();
    if fills.iter().any(Option::is_some) {
        let (new, cost) = rescore(model, &mut cache, seqs, &rows, &fills, chunk)?;
        positions += cost.positions;
        for (b, n) in new.into_iter().enumerate() {
            if let Some(mut n) = n {
                let diff = n.placement.counts.iter().zip(&rows[b].placement.counts).position(|(a, o)| a != o);
                n.inserted = diff.into_iter().collect();
                valid[b] = cache.len(b);
                source[b] = Source::Fallback;
                rows[b] = n;
            }
        }
    }

    // Leave-one-out, one slot per row per pass, right to left.
    let new_slots: Vec<Vec<usize>> = (0..b_n)
        .map(|b| {
            let (p, s0) = (&rows[b].placement, &starts[b]);
            (1..p.len()).rev().filter(|&s| p.counts[s] > s0.counts[s]).collect()
        })
        .collect();
    let passes = new_slots.iter().map(Vec::len).max().unwrap_or(0);
    let mut scorings = Vec::new();
    for i in 0..passes {
        let changes: Vec<Option<Change>> = (0..b_n)
            .map(|b| {
                let &s = new_slots[b].get(i)?;
                let full = &rows[b].placement;
                let at = full.position(s, usize::from(full.counts[s]) - 1);
                let mut placement = full.clone();
                placement.counts[s] -= 1;
                Some(Change { placement, from: at.min(valid[b]) })
            })
            .collect();
        let (without, cost) = rescore(model, &mut cache, seqs, &rows, &changes, chunk)?;
        positions += cost.positions;
        for b in 0..b_n {
            let (Some(ch), Some(w)) = (&changes[b], &without[b]) else { continue };
            valid[b] = ch.from;
            let s = new_slots[b][i];
            let g = gain(&cfg.gain, s, &rows[b].ll, &w.ll);
            let n_new = rows[b].placement.counts[s] - starts[b].counts[s];
            for _ in 0..n_new {
                scorings.push(Scoring { row: b, slot: s, gain: g, source: source[b] });
            }
        }
    }
    // Same-gain thoughts of one slot must be culled deepest first: order by (row, slot) so the cull's
    // "later entry goes first" tie rule applies within a slot.
    scorings.sort_by(|a, b| (a.row, a.slot).cmp(&(b.row, b.slot)));
    let keyed: Vec<(usize, f32)> = scorings.iter().enumerate().map(|(i, s)| (i, s.gain)).collect();
    let cut = cull_set(&keyed, cfg.cull, cfg.cull_below_cost);

    let mut finals: Vec<Placement> = rows.iter().map(|r| r.placement.clone()).collect();
    let mut kept: Vec<Vec<Thought>> = vec![Vec::new(); b_n];
    let mut culled: Vec<Vec<Thought>> = vec![Vec::new(); b_n];
    for (sc, &is_cut) in scorings.iter().zip(&cut) {
        if is_cut {
            finals[sc.row].counts[sc.slot] -= 1;
        }
    }
    let mut next_depth: Vec<Vec<usize>> =
        starts.iter().map(|p| p.counts.iter().map(|&c| usize::from(c)).collect()).collect();
    let (mut gk, mut gc) = (Vec::new(), Vec::new());
    let mut st = RoundStats {
        round: 0,
        proposed: scorings.len(),
        kept: 0,
        culled: 0,
        mean_gain_kept: None,
        mean_gain_culled: None,
        by_model: scorings.iter().filter(|s| s.source == Source::Model).count(),
        by_fallback: scorings.iter().filter(|s| s.source == Source::Fallback).count(),
        positions: 0,
    };
    for (sc, &is_cut) in scorings.iter().zip(&cut) {
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
    st.kept = gk.len();
    st.culled = gc.len();
    st.mean_gain_kept = (!gk.is_empty()).then(|| gk.iter().sum::<f32>() / gk.len() as f32);
    st.mean_gain_culled = (!gc.is_empty()).then(|| gc.iter().sum::<f32>() / gc.len() as f32);

    // Final likelihoods under the kept placement, from each row's first changed slot.
    let changes: Vec<Option<Change>> = (0..b_n)
        .map(|b| {
            let full = &rows[b].placement;
            let s = (1..full.len()).find(|&s| finals[b].counts[s] != full.counts[s])?;
            let at = full.position(s, usize::from(finals[b].counts[s]));
            Some(Change { placement: finals[b].clone(), from: at.min(valid[b]) })
        })
        .collect();
    let (fin, cost) = rescore(model, &mut cache, seqs, &rows, &changes, chunk)?;
    positions += cost.positions;
    st.positions = positions;
    let sequences = rows
        .into_iter()
        .zip(fin)
        .zip(seqs)
        .zip(kept.into_iter().zip(culled))
        .map(|(((r, f), x), (k, c))| {
            let r = f.unwrap_or(r);
            finish(x, r.placement, r.ll, k, c)
        })
        .collect();
    Ok(EpisodeOutput { sequences, rounds: vec![st], positions })
}
