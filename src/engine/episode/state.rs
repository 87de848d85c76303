//! The state both episode strategies work on: one KV-cache row per sequence, the predictions under each row's
//! current placement, and how much of each cache row still matches that placement.

use super::driver::drive_cached;
use super::fast_forward::{validate, Scored};
use super::placement::Placement;
use super::rescore::{rescore, Change};
use super::walk::{Policy, Walk};
use crate::engine::model::{CausalLm, KvCache};

pub(super) struct State<'a> {
    model: &'a dyn CausalLm,
    pub seqs: &'a [Vec<u32>],
    chunk: usize,
    cache: KvCache,
    /// Predictions under each row's current placement.
    pub rows: Vec<Scored>,
    /// Cache positions of each row that match its current placement.
    valid: Vec<usize>,
    /// Positions computed so far (padding included).
    pub positions: usize,
}

impl<'a> State<'a> {
    /// Run every row from `starts`, teacher-forced or (with a policy) fast-forward.
    pub fn new(
        model: &'a dyn CausalLm,
        seqs: &'a [Vec<u32>],
        starts: &[Placement],
        policy: Option<&Policy>,
        budget: usize,
        chunk: usize,
    ) -> anyhow::Result<Self> {
        validate(model, seqs, Some(starts), budget)?;
        let mut cache = model.new_cache(seqs.len())?;
        let mut walks: Vec<Walk> = seqs
            .iter()
            .zip(starts)
            .enumerate()
            .map(|(b, (x, p))| {
                let pol = policy.map(|pol| Policy { blocked: Vec::new(), ..pol.clone() }.row(b, x.len()));
                Walk::new(x.clone(), p.clone(), pol)
            })
            .collect();
        let positions = drive_cached(model, &mut cache, &mut walks, chunk)?.positions;
        let valid = walks.iter().map(|w| w.fed).collect();
        let rows = walks
            .into_iter()
            .map(|w| Scored { placement: w.placement, inserted: w.inserted, ll: w.ll, slots: w.slots })
            .collect();
        Ok(Self { model, seqs, chunk, cache, rows, valid, positions })
    }

    /// Row `b`'s placement with one thought more (`add`) or fewer in slot `s`.
    pub fn change(&self, b: usize, s: usize, add: bool) -> Change {
        let mut placement = self.rows[b].placement.clone();
        if add {
            placement.counts[s] += 1;
        } else {
            placement.counts[s] = placement.counts[s].saturating_sub(1);
        }
        self.change_to(b, placement)
    }

    /// Row `b` moved to `placement`, recomputed from where it first differs (or from where the cache stops
    /// matching, if that is earlier).
    pub fn change_to(&self, b: usize, placement: Placement) -> Change {
        let from = self.first_difference(b, &placement).min(self.valid[b]);
        Change { placement, from }
    }

    /// Predictions under the changed placements, each recomputed from its change on. Rows keep their current
    /// placement until [`State::accept`]; a rejected change leaves the row's cache matching its placement
    /// only up to `from` (see [`State::reject`]).
    pub fn rescore(&mut self, changes: &[Option<Change>]) -> anyhow::Result<(Vec<Option<Scored>>, usize)> {
        let (out, cost) = rescore(self.model, &mut self.cache, self.seqs, &self.rows, changes, self.chunk)?;
        self.positions += cost.positions;
        Ok((out, cost.positions))
    }

    /// Make a rescored placement row `b`'s current one (its cache now holds it entirely).
    pub fn accept(&mut self, b: usize, scored: Scored) {
        self.valid[b] = self.cache.len(b);
        self.rows[b] = scored;
    }

    /// Keep row `b`'s placement after rescoring `change`: the rescore rewrote the cache from at most the first
    /// difference on, so it matches the placement exactly up to there.
    pub fn reject(&mut self, b: usize, change: &Change) {
        self.valid[b] = self.first_difference(b, &change.placement).min(self.cache.len(b));
    }

    /// The first augmented position where `placement` differs from row `b`'s (`usize::MAX` if nowhere).
    fn first_difference(&self, b: usize, placement: &Placement) -> usize {
        let old = &self.rows[b].placement;
        match (0..old.len()).find(|&s| old.counts[s] != placement.counts[s]) {
            Some(s) => old.position(s, usize::from(old.counts[s].min(placement.counts[s]))),
            None => usize::MAX,
        }
    }
}
