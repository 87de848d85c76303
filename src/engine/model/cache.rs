//! A KV cache with one length per batch row, so that rows can be extended, cut back and copied independently
//! (what the episode phase's fast-forward needs; candle-nn's `KvCache` keeps one offset for the whole batch).

use candle_core::{DType, Device, Result, Tensor};

/// Keys and values of every layer, preallocated as (B, H, T_max, Dh) and written in place at per-row offsets.
///
/// Positions at or beyond a row's length hold stale values that attention masks out. Not `Clone`: the tensors
/// are written in place, so a shallow copy would alias.
///
/// Every row-indexed method works on the cache's *view*: the rows a chunk runs on, in order (all rows, unless
/// [`KvCache::set_view`] narrowed it). A narrowed view is how the episode phase drops finished rows from its
/// working batch without copying any cache row.
#[derive(Debug)]
pub struct KvCache {
    keys: Vec<Tensor>,
    values: Vec<Tensor>,
    /// Per stored row.
    lens: Vec<usize>,
    /// The stored rows the view shows, in order.
    view: Vec<usize>,
    /// The same rows as a u32 index on the cache's device, while the view is narrowed (`None`: every row, in
    /// order): the composite path gathers with it, made once per [`KvCache::set_view`], not per layer.
    view_index: Option<Tensor>,
    /// The composite path's gather and scatter indices of the chunk being written, made by its first layer's
    /// write and reused by the others (checked against the chunk's rows, so a chunk that failed midway is never
    /// mistaken for the next).
    write_index: std::sync::Mutex<Option<WriteIndex>>,
    capacity: usize,
    /// With continuous thoughts: each row's final hidden state per cached position, host-side (row-major,
    /// `capacity × width`), so a thought's input (the previous position's output) is at hand when it is fed.
    hidden: Option<Hidden>,
}

/// What a [`WriteIndex`] was made for: the view's stored rows, their lengths, the valid counts, (heads, C, Dh).
type WriteKey = (Vec<usize>, Vec<usize>, Vec<usize>, (usize, usize, usize));

/// Where a chunk's keys and values go on the composite path, for one set of rows (see [`KvCache::write`]).
#[derive(Debug)]
struct WriteIndex {
    key: WriteKey,
    from: Tensor,
    to: Tensor,
}

#[derive(Debug, Clone)]
struct Hidden {
    width: usize,
    rows: Vec<Vec<f32>>,
}

impl KvCache {
    /// An empty cache for `batch` rows of `layers` layers, each (batch, heads, capacity, head_dim).
    pub fn new(
        layers: usize,
        batch: usize,
        heads: usize,
        capacity: usize,
        head_dim: usize,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        let shape = (batch, heads, capacity, head_dim);
        let mut keys = Vec::with_capacity(layers);
        let mut values = Vec::with_capacity(layers);
        for _ in 0..layers {
            keys.push(Tensor::zeros(shape, dtype, device)?);
            values.push(Tensor::zeros(shape, dtype, device)?);
        }
        Ok(Self {
            keys,
            values,
            lens: vec![0; batch],
            view: (0..batch).collect(),
            view_index: None,
            write_index: Default::default(),
            capacity,
            hidden: None,
        })
    }

    /// This cache, also keeping each position's final hidden state of `width` floats (continuous thoughts).
    pub fn with_hidden(mut self, width: usize) -> Self {
        let rows = vec![vec![0f32; self.capacity * width]; self.lens.len()];
        self.hidden = Some(Hidden { width, rows });
        self
    }

    /// Row `b`'s final hidden state at cached position `pos`, if this cache keeps them and holds it.
    pub fn hidden(&self, b: usize, pos: usize) -> Option<&[f32]> {
        let h = self.hidden.as_ref()?;
        (pos < self.len(b)).then(|| &h.rows[self.view[b]][pos * h.width..(pos + 1) * h.width])
    }

    /// Narrow the view to the stored rows `rows` (of all the cache holds, in this order, no repeats): the next
    /// chunks run on those rows only, row `i` of a chunk on stored row `rows[i]`.
    pub fn set_view(&mut self, rows: &[usize]) -> Result<()> {
        let mut seen = vec![false; self.lens.len()];
        for &r in rows {
            match seen.get_mut(r) {
                Some(s) if !*s => *s = true,
                Some(_) => candle_core::bail!("cache row {r} appears twice in a view"),
                None => candle_core::bail!("cache row {r} out of range: the cache stores {} rows", self.lens.len()),
            }
        }
        let full = rows.len() == self.lens.len() && rows.iter().enumerate().all(|(i, &r)| i == r);
        self.view_index = match full {
            true => None,
            false => {
                let idx: Vec<u32> = rows.iter().map(|&r| r as u32).collect();
                Some(Tensor::from_vec(idx, rows.len(), &self.device())?)
            }
        };
        self.view = rows.to_vec();
        Ok(())
    }

    /// Show every stored row again, in order.
    pub fn reset_view(&mut self) {
        self.view = (0..self.lens.len()).collect();
        self.view_index = None;
    }

    /// The stored row behind each row of the view.
    pub(crate) fn stored_rows(&self) -> &[usize] {
        &self.view
    }

    /// The view's stored rows as an index for `index_select`, or `None` when it shows every row in order.
    pub(crate) fn view_index(&self) -> Option<&Tensor> {
        self.view_index.as_ref()
    }

    /// Whether this cache keeps hidden states.
    pub fn keeps_hidden(&self) -> bool {
        self.hidden.is_some()
    }

    /// Store a chunk's hidden states `values` (B, C, width, row-major) for each row's first `valid[b]` positions at
    /// its current length; call before [`KvCache::advance`]. A no-op for a cache that keeps none.
    pub(crate) fn write_hidden(&mut self, values: &[f32], chunk: usize, valid: &[usize]) -> Result<()> {
        let Some(h) = self.hidden.as_mut() else { return Ok(()) };
        let w = h.width;
        if values.len() != valid.len() * chunk * w {
            candle_core::bail!("hidden states of {} floats for {} rows × {chunk} × {w}", values.len(), valid.len());
        }
        for (b, &n) in valid.iter().enumerate() {
            let (row, at) = (self.view[b], self.lens[self.view[b]]);
            let src = &values[b * chunk * w..(b * chunk + n) * w];
            h.rows[row][at * w..(at + n) * w].copy_from_slice(src);
        }
        Ok(())
    }

    /// The number of cached positions of every row of the view.
    pub fn lens(&self) -> Vec<usize> {
        self.view.iter().map(|&r| self.lens[r]).collect()
    }

    /// The number of cached positions of row `b` (0 for a row that does not exist).
    pub fn len(&self, b: usize) -> usize {
        self.view.get(b).map_or(0, |&r| self.lens[r])
    }

    /// Whether every row of the view is empty.
    pub fn is_empty(&self) -> bool {
        self.view.iter().all(|&r| self.lens[r] == 0)
    }

    /// The rows of the view.
    pub fn batch(&self) -> usize {
        self.view.len()
    }

    /// The most positions a row can hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn layers(&self) -> usize {
        self.keys.len()
    }

    /// Cut row `b` back to its first `len` positions (a no-op cut to the current length is fine).
    pub fn truncate(&mut self, b: usize, len: usize) -> Result<()> {
        let cur = self.row_len(b)?;
        if len > cur {
            candle_core::bail!("cannot truncate cache row {b} to {len}: it holds only {cur} positions");
        }
        self.lens[self.view[b]] = len;
        Ok(())
    }

    /// Write `k`, `v` (B, H, C, Dh) of one layer: row b's first `valid[b]` positions at offset `lens[b]` of its
    /// stored row. Lengths are not advanced here (every layer writes at the same offsets); see
    /// [`KvCache::advance`]. Whole-tensor ops (what CUDA runs: a few launches per layer, none per row): the valid
    /// positions are gathered, then scattered into the cache seen as (B·H·T_max, Dh) rows.
    pub(crate) fn write(&self, layer: usize, k: &Tensor, v: &Tensor, valid: &[usize]) -> Result<()> {
        let (b_n, heads, c, hd) = k.dims4()?;
        if valid.len() != b_n || v.dims4()? != (b_n, heads, c, hd) {
            candle_core::bail!(
                "cache write: keys {:?}, values {:?}, {} valid lengths",
                k.shape(),
                v.shape(),
                valid.len()
            );
        }
        let key = (self.view.clone(), self.lens(), valid.to_vec(), (heads, c, hd));
        let mut memo = self.write_index.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if memo.as_ref().is_none_or(|m| m.key != key) {
            *memo = self.make_write_index(key, k.device())?;
        }
        let Some(index) = memo.as_ref() else { return Ok(()) };
        for (src, dst) in [(k, &self.keys[layer]), (v, &self.values[layer])] {
            let rows = src.contiguous()?.reshape((b_n * heads * c, hd))?.index_select(&index.from, 0)?;
            // A reshape of the contiguous cache shares its storage: the scatter writes the cache itself.
            dst.reshape((self.lens.len() * heads * self.capacity, hd))?.scatter_set(&index.to, &rows, 0)?;
        }
        Ok(())
    }

    /// The gather (chunk rows) and scatter (cache rows) indices of a chunk's valid positions; `None` if it has
    /// none.
    fn make_write_index(&self, key: WriteKey, device: &Device) -> Result<Option<WriteIndex>> {
        let (view, lens, valid, (heads, c, hd)) = &key;
        let (mut from, mut to) = (Vec::new(), Vec::new());
        for (b, (&n, (&row, &at))) in valid.iter().zip(view.iter().zip(lens)).enumerate() {
            for h in 0..*heads {
                for i in 0..n {
                    from.push(((b * heads + h) * c + i) as u32);
                    to.push(((row * heads + h) * self.capacity + at + i) as u32);
                }
            }
        }
        if from.is_empty() {
            return Ok(None);
        }
        let m = from.len();
        let from = Tensor::from_vec(from, m, device)?;
        let to = Tensor::from_vec(to, (m, 1), device)?.broadcast_as((m, *hd))?.contiguous()?;
        Ok(Some(WriteIndex { key, from, to }))
    }

    /// Keys and values of one layer, every stored row: (B_stored, H, T_max, Dh); see [`KvCache::stored_rows`].
    pub(crate) fn layer(&self, layer: usize) -> (&Tensor, &Tensor) {
        (&self.keys[layer], &self.values[layer])
    }

    /// Check that a chunk with `valid` real tokens per row fits, before anything is written.
    pub(crate) fn check_append(&self, valid: &[usize], chunk: usize) -> Result<()> {
        if valid.len() != self.batch() {
            candle_core::bail!(
                "chunk has {} rows of valid lengths but the cache has {} rows",
                valid.len(),
                self.batch()
            );
        }
        for (b, &n) in valid.iter().enumerate() {
            let at = self.lens[self.view[b]];
            if n > chunk {
                candle_core::bail!("row {b}: {n} valid tokens in a chunk of {chunk}");
            }
            if at + n > self.capacity {
                candle_core::bail!("row {b}: {at} cached + {n} new positions exceed the context of {}", self.capacity);
            }
        }
        Ok(())
    }

    /// Advance every row by its number of valid tokens, after all layers were written.
    pub(crate) fn advance(&mut self, valid: &[usize]) {
        for (&r, &n) in self.view.iter().zip(valid) {
            self.lens[r] += n;
        }
    }

    fn row_len(&self, b: usize) -> Result<usize> {
        match self.view.get(b) {
            Some(&r) => Ok(self.lens[r]),
            None => candle_core::bail!("cache row {b} out of range: the cache has {} rows", self.batch()),
        }
    }

    fn device(&self) -> Device {
        self.keys.first().map(|t| t.device().clone()).unwrap_or(Device::Cpu)
    }
}
