//! Re-scoring rows whose placement changed, reusing each row's cached prefix.

use super::driver::{drive_cached, DriveCost};
use super::fast_forward::Scored;
use super::placement::Placement;
use super::walk::Walk;
use crate::engine::model::{CausalLm, KvCache};

/// A row's new placement and the first augmented position whose cached keys and values may differ from the old
/// placement's (positions before it are shared and already in the cache).
#[derive(Debug, Clone)]
pub struct Change {
    pub placement: Placement,
    pub from: usize,
}

/// Teacher-forced predictions of the changed rows under their new placements, each recomputed from its `from`
/// position on (its cache row is cut back there first); predictions before it are taken from `base`. Rows
/// without a change cost nothing and come back as `None`.
pub fn rescore(
    model: &dyn CausalLm,
    cache: &mut KvCache,
    seqs: &[Vec<u32>],
    base: &[Scored],
    changes: &[Option<Change>],
    chunk: usize,
) -> anyhow::Result<(Vec<Option<Scored>>, DriveCost)> {
    let mut walks = Vec::with_capacity(seqs.len());
    for (b, x) in seqs.iter().enumerate() {
        let (placement, fed) = match &changes[b] {
            Some(c) => {
                // The prediction of the item at `from` is made at `from - 1`: when that item is a real token
                // (a thought was removed before it), that position must be fed again to record it.
                let (s, j) = c.placement.item_at(c.from);
                let real_next = s < x.len() && j == usize::from(c.placement.counts[s]);
                let from = if real_next { c.from.saturating_sub(1) } else { c.from };
                cache.truncate(b, from)?;
                (c.placement.clone(), from)
            }
            None => {
                // Already at its end: the walk is done and feeds nothing.
                let p = &base[b].placement;
                let last = x.len() - 1;
                (p.clone(), p.position(last, usize::from(p.counts[last])))
            }
        };
        walks.push(Walk::resume(x.clone(), placement, None, base[b].ll.clone(), base[b].slots.clone(), fed));
    }
    let cost = drive_cached(model, cache, &mut walks, chunk)?;
    let out = walks
        .into_iter()
        .zip(changes)
        .map(|(w, c)| {
            c.as_ref().map(|_| Scored { placement: w.placement, inserted: Vec::new(), ll: w.ll, slots: w.slots })
        })
        .collect();
    Ok((out, cost))
}
