//! What every model's cached chunk forward shares: a continuous thought's input read from the cache, the chunk's
//! positions, and attention over each row's cached prefix (the fused kernels on the CPU, candle ops elsewhere).

use candle_core::{DType, Device, Result, Tensor};

use super::ops;
use super::{InputVectors, KvCache};
use crate::engine::profile::{timed, Phase};
use crate::plan::THOUGHT_ID;

/// A chunk (B, C) for `cache` is well formed: one row per cache row, at least one position, a cache made for a
/// model of `layers` layers and `context` positions, and room for every row's `valid` tokens.
pub(super) fn check(b: usize, c: usize, valid: &[usize], cache: &KvCache, layers: usize, context: usize) -> Result<()> {
    if b != cache.batch() {
        candle_core::bail!("chunk of {b} rows for a cache of {} rows", cache.batch());
    }
    if c == 0 {
        candle_core::bail!("empty chunk: at least one position per row is needed");
    }
    if cache.layers() != layers || cache.capacity() != context {
        candle_core::bail!("the KV cache was made for another model shape");
    }
    cache.check_append(valid, c)
}

/// Each row's positions in a chunk of `c` after its cached `lens`, flattened (B·C) u32; padding past `context` is
/// clamped (its outputs are unspecified anyway).
pub(super) fn positions(lens: &[usize], c: usize, context: usize, device: &Device) -> Result<Tensor> {
    let last = context.saturating_sub(1);
    let positions: Vec<u32> = lens.iter().flat_map(|&l| (0..c).map(move |i| (l + i).min(last) as u32)).collect();
    Tensor::from_vec(positions, lens.len() * c, device)
}

/// With continuous thoughts, the inputs of a chunk's thoughts: a thought may only be a row's first position in the
/// chunk, and its input is the row's cached hidden state of the position before it. `None` without thoughts.
pub(super) fn thought_inputs(
    tokens: &Tensor,
    valid: &[usize],
    cache: &KvCache,
    width: usize,
    device: &Device,
) -> Result<Option<InputVectors>> {
    let (b, c) = tokens.dims2()?;
    let host: Vec<u32> = tokens.flatten_all()?.to_vec1()?;
    let d = width;
    let (mut mask, mut vectors) = (vec![0f32; b * c], vec![0f32; b * c * d]);
    let mut any = false;
    for (row, &n) in valid.iter().enumerate() {
        for i in 0..n {
            if host[row * c + i] != THOUGHT_ID {
                continue;
            }
            let at = cache.len(row);
            if i > 0 {
                candle_core::bail!(
                    "row {row}: a continuous thought at chunk position {i}; its input is the previous position's \
                     output, so it must start the chunk"
                );
            }
            let prev = at.checked_sub(1).and_then(|p| cache.hidden(row, p)).ok_or_else(|| {
                candle_core::Error::Msg(format!(
                    "row {row}: a continuous thought at position {at} needs the cached hidden state before it"
                ))
            })?;
            mask[row * c] = 1.0;
            vectors[row * c * d..(row * c + 1) * d].copy_from_slice(prev);
            any = true;
        }
    }
    if !any {
        return Ok(None);
    }
    Ok(Some(InputVectors {
        mask: Tensor::from_vec(mask, (b, c, 1), device)?,
        vectors: Tensor::from_vec(vectors, (b, c, d), device)?,
    }))
}

/// Scaled dot-product attention of `q` (B, H, Tq, Dh) over `k`, `v` (B, H, Tk, Dh), where query i of row b
/// (at position offsets[b] + i) sees keys at positions <= offsets[b] + i.
fn attention(q: &Tensor, k: &Tensor, v: &Tensor, offsets: &[usize], compute: DType) -> Result<Tensor> {
    let scale = 1.0 / (q.dim(3)? as f64).sqrt();
    let weights = ops::masked_softmax(&ops::matmul_in(q, &k.t()?, compute)?, offsets, scale)?;
    ops::matmul_in(&weights, v, compute)
}

/// Attention of a chunk in layer `layer` on the packed `qkv` (B, C, 3·H·Dh) of `heads` heads: writes the chunk's
/// keys and values into the cache, then attends over each row's cached prefix. `lens` are the row lengths before
/// the chunk; its matmuls compute in `compute` (the cache stays f32).
pub(super) fn cached_attention(
    qkv: &Tensor,
    heads: usize,
    layer: usize,
    cache: &KvCache,
    lens: &[usize],
    valid: &[usize],
    compute: DType,
) -> Result<Tensor> {
    let (keys, values) = cache.layer(layer);
    #[cfg(target_arch = "x86_64")]
    if ops::use_kernels(qkv) && compute == DType::F32 {
        use super::cached::{CacheWriteOp, CachedAttentionOp, ChunkRows};
        let cache_rows = cache.stored_rows().to_vec();
        let rows = ChunkRows { heads, offsets: lens.to_vec(), valid: valid.to_vec(), cache_rows };
        let qkv = qkv.contiguous()?;
        timed(Phase::CacheWrite, || -> Result<()> {
            keys.inplace_op2(&qkv, &CacheWriteOp { rows: rows.clone(), part: 1 })?;
            values.inplace_op2(&qkv, &CacheWriteOp { rows: rows.clone(), part: 2 })
        })?;
        return timed(Phase::Attention, || qkv.apply_op3_no_bwd(keys, values, &CachedAttentionOp { rows }));
    }
    let c = qkv.dim(1)?;
    let (q, k, v) = ops::split_heads(qkv, heads)?;
    timed(Phase::CacheWrite, || cache.write(layer, &k, &v, valid))?;
    // Keys visible to any row: up to the longest row after this chunk. Padding queries see the row's
    // prefix plus stale entries: finite, and unspecified.
    let span = lens.iter().zip(valid).map(|(l, n)| l + n).max().unwrap_or(0).max(1);
    timed(Phase::Attention, || {
        // A narrowed view: gather its rows (one call per layer, with the index the view made once).
        let (keys, values) = match cache.view_index() {
            None => (keys.clone(), values.clone()),
            Some(idx) => (keys.index_select(idx, 0)?, values.index_select(idx, 0)?),
        };
        let (keys, values) = (keys.narrow(2, 0, span)?, values.narrow(2, 0, span)?);
        let y = attention(&q, &keys, &values, lens, compute)?;
        ops::merge_heads(&y, c)
    })
}
