//! One row's left-to-right walk through its augmented stream: the decision logic shared by the cached
//! fast-forward, the naive reference and the teacher-forced scoring passes.
//!
//! The walk feeds items `x[0] … ` up to (not including) `x[L-1]`: the last position that predicts anything is
//! the one before `x[L-1]`. After each fed position it looks at the item that comes next. If that is a real
//! token `x[s]`, the position is slot `s`'s *decision point*: with a [`Policy`] the walk may insert a thought
//! there (the rest of the chunk is then discarded and the thought is fed next); otherwise it records
//! `log p(x[s])` and the thought's log-probability and rank at that slot.

use super::placement::Placement;
use super::stats::PosStat;
use crate::plan::{Slots, PAD_ID, THOUGHT_ID};

/// When the model places a thought itself.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Insert where `p(thought) > threshold`; `None`: where the thought is top-1 (ties count as top-1).
    pub threshold: Option<f64>,
    /// At most this many thoughts in one slot (existing ones included).
    pub max_consecutive: usize,
    /// At most this many thoughts in the sequence (existing ones included).
    pub budget: usize,
    /// Slots where the model may not insert (e.g. already tried and culled); empty means none.
    pub blocked: Vec<bool>,
    /// Which slots are open (`episode.slots`); [`Policy::for_rows`] turns this into each row's open range.
    pub slots: Slots,
    /// Per row of a batch, the first slot open to a thought (empty: every slot from 1 on).
    pub first_slots: Vec<usize>,
    /// Per row of a batch, the slot after the last one open to a thought (empty: open to the end).
    pub end_slots: Vec<usize>,
}

impl Policy {
    /// This policy for a batch whose rows' first scored tokens are `first_targets` (`None`: every token is
    /// scored). With `slots = targets`, row `b`'s thoughts may stand only from slot `first_targets[b]` on; with
    /// `slots = answer_start` only there (rows without an answer: everywhere).
    pub fn for_rows(&self, first_targets: impl IntoIterator<Item = Option<usize>>) -> Policy {
        let firsts: Vec<Option<usize>> = first_targets.into_iter().collect();
        let (first_slots, end_slots) = match self.slots {
            Slots::All => (Vec::new(), Vec::new()),
            Slots::Targets => (firsts.iter().map(|f| f.unwrap_or(1).max(1)).collect(), Vec::new()),
            Slots::AnswerStart => (
                firsts.iter().map(|f| f.unwrap_or(1).max(1)).collect(),
                firsts.iter().map(|f| f.map_or(usize::MAX, |f| f.max(1) + 1)).collect(),
            ),
        };
        Policy { first_slots, end_slots, ..self.clone() }
    }

    /// Row `b`'s own policy for a sequence of `len` real tokens: `blocked` sized to it and closed before the row's
    /// first open slot.
    pub fn row(&self, b: usize, len: usize) -> Policy {
        let mut blocked = self.blocked.clone();
        blocked.resize(len, false);
        let first = self.first_slots.get(b).copied().unwrap_or(0).min(len);
        blocked[..first].iter_mut().for_each(|x| *x = true);
        let end = self.end_slots.get(b).copied().unwrap_or(len).min(len);
        blocked[end..].iter_mut().for_each(|x| *x = true);
        Policy { blocked, first_slots: Vec::new(), end_slots: Vec::new(), ..self.clone() }
    }

    /// Whether the prediction `stat` asks for a thought.
    pub fn wants(&self, stat: &SlotStat) -> bool {
        match self.threshold {
            Some(t) => f64::from(stat.thought_lp).exp() > t,
            None => stat.thought_rank == 0,
        }
    }

    /// Whether a thought may go into slot `s` of `counts` holding `total` thoughts.
    pub fn allows(&self, counts: &[u16], total: usize, s: usize) -> bool {
        usize::from(counts[s]) < self.max_consecutive
            && total < self.budget
            && !self.blocked.get(s).copied().unwrap_or(false)
    }
}

/// The thought's prediction at a slot's decision point, and the slot's real token's log-probability under the
/// softmax without the thought (`gain = continuation(renormalise = true)` compares those).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SlotStat {
    pub thought_lp: f32,
    pub thought_rank: u32,
    pub real_lp: f32,
}

impl From<&PosStat> for SlotStat {
    fn from(st: &PosStat) -> Self {
        Self { thought_lp: st.thought_lp, thought_rank: st.thought_rank, real_lp: st.real_lp }
    }
}

/// A row's walk state. `ll[s]` and `slots[s]` are filled for `s ≥ 1` as decisions are made; entries decided
/// before the walk's start position are kept from the values it was created with.
#[derive(Debug, Clone)]
pub struct Walk {
    pub real: Vec<u32>,
    pub placement: Placement,
    pub policy: Option<Policy>,
    /// Per real token: `ll[s] = log p(x[s] | …)`; `ll[0] = 0` (nothing predicts the first token).
    pub ll: Vec<f32>,
    pub slots: Vec<SlotStat>,
    /// Thoughts the policy inserted, in order.
    pub inserted: Vec<usize>,
    /// Next item to feed, `(s, j)`.
    s: usize,
    j: usize,
    /// Items fed so far (= the row's cache length).
    pub fed: usize,
    total: usize,
}

impl Walk {
    /// A walk from the start of `real` under `placement` (a fresh cache row).
    pub fn new(real: Vec<u32>, placement: Placement, policy: Option<Policy>) -> Self {
        let n = real.len();
        Self::resume(real, placement, policy, vec![0.0; n], vec![SlotStat::default(); n], 0)
    }

    /// A walk that continues at augmented position `fed` (the cache row holds positions `0..fed` of
    /// `placement`'s stream), with the decisions before it taken from `ll` and `slots`.
    pub fn resume(
        real: Vec<u32>,
        placement: Placement,
        policy: Option<Policy>,
        ll: Vec<f32>,
        slots: Vec<SlotStat>,
        fed: usize,
    ) -> Self {
        let (s, j) = placement.item_at(fed);
        let total = placement.total();
        Self { real, placement, policy, ll, slots, inserted: Vec::new(), s, j, fed, total }
    }

    /// Whether every real token after the first has been predicted.
    pub fn done(&self) -> bool {
        self.is_end(self.s, self.j)
    }

    fn token(&self, s: usize, j: usize) -> u32 {
        if j < usize::from(self.placement.counts[s]) {
            THOUGHT_ID
        } else {
            self.real[s]
        }
    }

    fn next_item(&self, s: usize, j: usize) -> (usize, usize) {
        if j < usize::from(self.placement.counts[s]) {
            (s, j + 1)
        } else {
            (s + 1, 0)
        }
    }

    /// The next up to `max` items to feed under the current placement (no new insertions), each with the
    /// token that follows it. Returns how many were written.
    pub fn plan(&self, max: usize, tokens: &mut [u32], targets: &mut [u32]) -> usize {
        self.plan_with(max, tokens, targets, false)
    }

    /// [`Walk::plan`], stopping before a thought that would not be the first item when `thought_first` (continuous
    /// thoughts: a thought's input is the output of the position before it, so it starts a chunk).
    pub fn plan_with(&self, max: usize, tokens: &mut [u32], targets: &mut [u32], thought_first: bool) -> usize {
        let (mut s, mut j) = (self.s, self.j);
        let mut n = 0;
        while n < max && !self.is_end(s, j) {
            if thought_first && n > 0 && self.token(s, j) == THOUGHT_ID {
                break;
            }
            tokens[n] = self.token(s, j);
            let (ns, nj) = self.next_item(s, j);
            targets[n] = if ns < self.real.len() { self.token(ns, nj) } else { PAD_ID };
            (s, j) = (ns, nj);
            n += 1;
        }
        n
    }

    /// Whether `(s, j)` is `x[L-1]` (never fed) or past it.
    fn is_end(&self, s: usize, j: usize) -> bool {
        let last = self.real.len().saturating_sub(1);
        s > last || (s == last && j >= usize::from(self.placement.counts[last]))
    }

    /// Take the predictions of the positions just fed (as planned by [`Walk::plan`]); returns how many are
    /// kept. Fewer than `stats.len()` means a thought was inserted after the last kept position: the caller
    /// cuts the cache row back to `fed`.
    pub fn accept(&mut self, stats: &[PosStat]) -> usize {
        for (i, st) in stats.iter().enumerate() {
            (self.s, self.j) = self.next_item(self.s, self.j);
            self.fed += 1;
            let s = self.s;
            if s >= self.real.len() || self.j < usize::from(self.placement.counts[s]) {
                continue; // the next item is a thought already in place: nothing to decide
            }
            // Decision point of slot s.
            if let Some(policy) = &self.policy {
                let stat = SlotStat::from(st);
                if policy.allows(&self.placement.counts, self.total, s) && policy.wants(&stat) {
                    self.placement.counts[s] += 1;
                    self.total += 1;
                    self.inserted.push(s);
                    return i + 1;
                }
            }
            self.ll[s] = st.target_lp;
            self.slots[s] = SlotStat::from(st);
        }
        stats.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(rank: u32, target_lp: f32) -> PosStat {
        PosStat { thought_lp: -1.0, thought_rank: rank, target_lp, real_lp: target_lp }
    }

    #[test]
    fn teacher_forced_walk_records_every_real_token_once() {
        let p = Placement { counts: vec![0, 1, 0] };
        let mut w = Walk::new(vec![5, 6, 7], p, None);
        let (mut tok, mut tgt) = ([0u32; 8], [0u32; 8]);
        let n = w.plan(8, &mut tok, &mut tgt);
        assert_eq!(&tok[..n], &[5, THOUGHT_ID, 6]);
        assert_eq!(&tgt[..n], &[THOUGHT_ID, 6, 7]);
        assert_eq!(w.accept(&[stat(3, -9.0), stat(3, -2.0), stat(3, -3.0)]), 3);
        assert!(w.done());
        assert_eq!(w.ll, vec![0.0, -2.0, -3.0]);
    }

    #[test]
    fn policy_inserts_at_top1_respects_the_cap_and_cuts_the_chunk() {
        let policy = Policy { threshold: None, max_consecutive: 1, budget: 5, blocked: vec![], ..Default::default() };
        let mut w = Walk::new(vec![5, 6, 7], Placement::empty(3), Some(policy));
        let (mut tok, mut tgt) = ([0u32; 8], [0u32; 8]);
        assert_eq!(w.plan(8, &mut tok, &mut tgt), 2);
        // Position 0 wants a thought: insert, keep 1 of 2 positions.
        assert_eq!(w.accept(&[stat(0, -1.0), stat(0, -1.0)]), 1);
        assert_eq!(w.placement.counts, vec![0, 1, 0]);
        let n = w.plan(8, &mut tok, &mut tgt);
        assert_eq!(&tok[..n], &[THOUGHT_ID, 6]);
        // After the thought the model wants another, but the cap is 1; at slot 2 it does not want one.
        assert_eq!(w.accept(&[stat(0, -0.5), stat(4, -0.25)]), 2);
        assert!(w.done());
        assert_eq!(w.inserted, vec![1]);
        assert_eq!(w.ll, vec![0.0, -0.5, -0.25]);
    }

    #[test]
    fn slot_rules_open_every_slot_the_targets_or_the_answer_start() {
        let open = |slots, first: Option<usize>| -> Vec<usize> {
            let p = Policy { max_consecutive: 2, budget: 4, slots, ..Default::default() };
            let row = p.for_rows([Some(2), first]).row(1, 8);
            (1..8).filter(|&s| row.allows(&[0; 8], 0, s)).collect()
        };
        assert_eq!(open(Slots::All, Some(5)), vec![1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(open(Slots::Targets, Some(5)), vec![5, 6, 7]);
        assert_eq!(open(Slots::AnswerStart, Some(5)), vec![5]);
        // Text (no answer): every slot under every rule.
        assert_eq!(open(Slots::AnswerStart, None), vec![1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(open(Slots::Targets, None), vec![1, 2, 3, 4, 5, 6, 7]);
    }
}
