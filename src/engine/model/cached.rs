//! Fused CPU ops of the cached chunk forward: writing a chunk's keys and values into the KV cache straight from
//! `c_attn`'s packed output, and attention of the chunk's queries over each row's own cached prefix.
//! Inference only (no backward); rows work at their own positions, padding queries are skipped (output 0).

use candle_core::{CpuStorage, CustomOp3, InplaceOp2, Layout, Result, Shape};
use gemm::Parallelism;
use rayon::prelude::*;

use super::fused::{causal_softmax_rows, matmul, Mat, SharedMut, QUERY_BLOCK};
use super::kernels::softmax_in_place;
use super::storage::storage_slice;

/// Where a chunk goes: row b's `valid[b]` real tokens at positions `offsets[b]..` of the cache's stored row
/// `cache_rows[b]` (distinct rows).
#[derive(Debug, Clone)]
pub struct ChunkRows {
    pub heads: usize,
    pub offsets: Vec<usize>,
    pub valid: Vec<usize>,
    pub cache_rows: Vec<usize>,
}

/// Shapes of packed qkv (B, C, 3·D) and a cache (B, H, T_max, Dh), checked against each other.
#[derive(Clone, Copy)]
struct Dims {
    c: usize,
    d: usize,
    hd: usize,
    heads: usize,
    t_max: usize,
}

impl ChunkRows {
    fn dims(&self, qkv: &Layout, cache: &Layout) -> Result<Dims> {
        let (b, c, d3) = qkv.shape().dims3()?;
        let (cb, heads, t_max, hd) = cache.shape().dims4()?;
        let d = d3 / 3;
        let fits = self.offsets.iter().zip(&self.valid).all(|(o, v)| o + v <= t_max);
        if self.cache_rows.len() != b
            || self.cache_rows.iter().any(|&r| r >= cb)
            || heads != self.heads
            || d != heads * hd
            || d3 % 3 != 0
            || self.offsets.len() != b
            || self.valid.len() != b
            || self.valid.iter().any(|&v| v > c)
            || !fits
        {
            candle_core::bail!(
                "cached attention: qkv {:?}, cache {:?}, offsets {:?}, valid {:?}",
                qkv.shape(),
                cache.shape(),
                self.offsets,
                self.valid
            );
        }
        Ok(Dims { c, d, hd, heads, t_max })
    }
}

/// Writes the keys (`part` 1) or values (`part` 2) of a chunk into a cache tensor, in place.
pub struct CacheWriteOp {
    pub rows: ChunkRows,
    pub part: usize,
}

impl InplaceOp2 for CacheWriteOp {
    fn name(&self) -> &'static str {
        "thinktok-cache-write"
    }

    fn cpu_fwd(&self, dst: &mut CpuStorage, dst_l: &Layout, src: &CpuStorage, src_l: &Layout) -> Result<()> {
        let dims = self.rows.dims(src_l, dst_l)?;
        let qkv = storage_slice(src, src_l, self.name())?;
        let cache = match (dst, dst_l.contiguous_offsets()) {
            (CpuStorage::F32(v), Some((start, end))) => &mut v[start..end],
            _ => candle_core::bail!("{}: expects a contiguous f32 CPU cache", self.name()),
        };
        let Dims { c, d, hd, heads, t_max } = dims;
        for (b, (&off, &n)) in self.rows.offsets.iter().zip(&self.rows.valid).enumerate() {
            let row = self.rows.cache_rows[b];
            for h in 0..heads {
                for i in 0..n {
                    let from = (b * c + i) * 3 * d + self.part * d + h * hd;
                    let to = ((row * heads + h) * t_max + off + i) * hd;
                    cache[to..to + hd].copy_from_slice(&qkv[from..from + hd]);
                }
            }
        }
        Ok(())
    }
}

/// Attention of a chunk's queries (from packed qkv) over the cached keys and values of their own row, which
/// must already hold the chunk. Output (B, C, D), zero at padding queries.
pub struct CachedAttentionOp {
    pub rows: ChunkRows,
}

impl CustomOp3 for CachedAttentionOp {
    fn name(&self) -> &'static str {
        "thinktok-cached-attention"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let dims = self.rows.dims(l1, l2)?;
        if l2.shape() != l3.shape() {
            candle_core::bail!("cached attention: keys {:?} and values {:?} differ", l2.shape(), l3.shape());
        }
        let (qkv, keys, values) = (
            storage_slice(s1, l1, self.name())?,
            storage_slice(s2, l2, self.name())?,
            storage_slice(s3, l3, self.name())?,
        );
        let Dims { c, d, hd, heads, t_max } = dims;
        let batch = self.rows.valid.len();
        let mut y = vec![0.0f32; batch * c * d];
        let yp = SharedMut(y.as_mut_ptr());
        let scale = 1.0 / (hd as f32).sqrt();
        let (qp, kp, vp) = (qkv.as_ptr() as usize, keys.as_ptr() as usize, values.as_ptr() as usize);
        (0..batch * heads).into_par_iter().for_each_init(Vec::<f32>::new, |p, task| {
            let (b, h) = (task / heads, task % heads);
            let (off, n) = (self.rows.offsets[b], self.rows.valid[b]);
            let kv = ((self.rows.cache_rows[b] * heads + h) * t_max) * hd;
            if n <= SMALL_CHUNK {
                // SAFETY: as below; this task alone writes rows 0..n of row b's head-h columns of y.
                unsafe {
                    let q = (qp as *const f32).add(b * c * 3 * d + h * hd);
                    let (k, v) = ((kp as *const f32).add(kv), (vp as *const f32).add(kv));
                    let dst = yp.get().add(b * c * d + h * hd);
                    let qs = Queries { q, q_rs: 3 * d, n, first: off + 1 };
                    few_queries(&qs, &HeadKv { k, v, hd, scale }, p, &Outputs { dst, dst_rs: d });
                }
                return;
            }
            for i0 in (0..n).step_by(QUERY_BLOCK) {
                let i1 = (i0 + QUERY_BLOCK).min(n);
                let (m, keys_seen) = (i1 - i0, off + i1);
                p.resize(m * keys_seen, 0.0);
                // SAFETY: every offset stays inside its buffer (checked shapes); this task alone writes rows
                // i0..i1 of row b's head-h columns of y.
                unsafe {
                    let q = Mat::rows((qp as *const f32).add((b * c + i0) * 3 * d + h * hd), 3 * d);
                    let k = Mat::rows((kp as *const f32).add(kv), hd);
                    matmul(m, keys_seen, hd, p.as_mut_ptr(), keys_seen, false, q, k.t(), scale, Parallelism::None);
                    causal_softmax_rows(p, keys_seen, off + i0);
                    let v = Mat::rows((vp as *const f32).add(kv), hd);
                    let dst = yp.get().add((b * c + i0) * d + h * hd);
                    matmul(
                        m,
                        hd,
                        keys_seen,
                        dst,
                        d,
                        false,
                        Mat::rows(p.as_ptr(), keys_seen),
                        v,
                        1.0,
                        Parallelism::None,
                    );
                }
            }
        });
        Ok((CpuStorage::F32(y), Shape::from((batch, c, d))))
    }
}

/// Chunks of at most this many queries per row attend with [`few_queries`] (one pass over the row's keys for all
/// its queries) instead of two `gemm` calls, whose fixed cost dominates at the fast-forward's chunk sizes.
const SMALL_CHUNK: usize = 16;

/// `n` queries of one head, row r at `q + r·q_rs`, where query r sees the first `first + r` keys.
struct Queries {
    q: *const f32,
    q_rs: usize,
    n: usize,
    first: usize,
}

/// One head of one cached row: keys and values (rows of `hd` floats from `k`, `v`) and the score scale.
struct HeadKv {
    k: *const f32,
    v: *const f32,
    hd: usize,
    scale: f32,
}

/// Where each query's output goes: `hd` floats at `dst + r·dst_rs`.
struct Outputs {
    dst: *mut f32,
    dst_rs: usize,
}

/// Attention of a few queries over one head's cached keys and values. Dispatches to an AVX2+FMA build of the
/// same code where the CPU has it.
///
/// # Safety
/// The head holds at least `first + n - 1` rows; the queries and outputs lie inside their buffers.
unsafe fn few_queries(qs: &Queries, kv: &HeadKv, p: &mut Vec<f32>, out: &Outputs) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        return few_queries_avx2(qs, kv, p, out);
    }
    few_queries_body(qs, kv, p, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn few_queries_avx2(qs: &Queries, kv: &HeadKv, p: &mut Vec<f32>, out: &Outputs) {
    few_queries_body(qs, kv, p, out)
}

/// Keys and values are read once for all queries (key-major loops): the queries' rows and scores stay in L1 while
/// each row's cached prefix streams past once, where one pass per query read the whole prefix `n` times.
#[inline(always)]
unsafe fn few_queries_body(qs: &Queries, kv: &HeadKv, p: &mut Vec<f32>, out: &Outputs) {
    let (hd, n, first) = (kv.hd, qs.n, qs.first);
    if n == 0 {
        return;
    }
    // Query r sees keys 0..first + r; row r of `p` holds its scores, `keys` wide.
    let keys = first + n - 1;
    p.resize(n * keys, 0.0);
    let query = |r: usize| std::slice::from_raw_parts(qs.q.add(r * qs.q_rs), hd);
    for j in 0..keys {
        let kj = std::slice::from_raw_parts(kv.k.add(j * hd), hd);
        // The queries that see key j: r ≥ j + 1 − first.
        for r in (j + 1).saturating_sub(first)..n {
            p[r * keys + j] = kv.scale * dot(query(r), kj);
        }
    }
    for r in 0..n {
        softmax_in_place(&mut p[r * keys..r * keys + first + r]);
        std::slice::from_raw_parts_mut(out.dst.add(r * out.dst_rs), hd).fill(0.0);
    }
    for j in 0..keys {
        let vj = std::slice::from_raw_parts(kv.v.add(j * hd), hd);
        for r in (j + 1).saturating_sub(first)..n {
            let pj = p[r * keys + j];
            let y = std::slice::from_raw_parts_mut(out.dst.add(r * out.dst_rs), hd);
            y.iter_mut().zip(vj).for_each(|(o, &x)| *o = pj.mul_add(x, *o));
        }
    }
}

/// A dot product in eight independent lanes (which the compiler keeps in one vector register).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ac.remainder().iter().zip(bc.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ac.zip(bc) {
        for l in 0..8 {
            acc[l] = x[l].mul_add(y[l], acc[l]);
        }
    }
    acc.iter().sum::<f32>() + tail
}
