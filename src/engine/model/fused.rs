//! Fused CPU custom ops on top of `gemm`, each one node (with its own backward) in candle's autograd graph:
//! a linear layer with bias, and causal multi-head attention straight on `c_attn`'s packed (B, T, 3·D) output.
//!
//! Why: candle's backward pass adds every node's gradient into a fresh zero tensor, so a layer built from ten
//! small ops (reshape, transpose, matmul, broadcast add, …) pays ten full-size copies; and its batched matmul
//! runs the 72 small per-head products one after another, each split over the threads. Here the heads run in
//! parallel, the attention matrix exists only per query block (never as a graph tensor), and the backward
//! recomputes it (as flash attention does).

use candle_core::{CpuStorage, CustomOp1, CustomOp3, Layout, Result, Shape, Tensor};
use gemm::Parallelism;
use rayon::prelude::*;

use super::storage::{from_vec, storage_slice, with_slice};

/// Query rows per block of the attention kernels: keys past a block's last query are skipped (causality).
pub(super) const QUERY_BLOCK: usize = 64;

/// A raw pointer that parallel tasks use to write disjoint parts of one buffer.
#[derive(Clone, Copy)]
pub(super) struct SharedMut(pub(super) *mut f32);
// SAFETY: every task that receives it writes a region no other task touches (see each use).
unsafe impl Send for SharedMut {}
unsafe impl Sync for SharedMut {}

impl SharedMut {
    /// The pointer (a method, so that closures capture the whole `Send` wrapper, not its field).
    pub(super) fn get(self) -> *mut f32 {
        self.0
    }
}

/// A row-major view: element (i, j) at `ptr + i·rs + j·cs`.
#[derive(Clone, Copy)]
pub(super) struct Mat {
    ptr: *const f32,
    rs: usize,
    cs: usize,
}

impl Mat {
    pub(super) fn rows(ptr: *const f32, rs: usize) -> Self {
        Self { ptr, rs, cs: 1 }
    }
    pub(super) fn t(self) -> Self {
        Self { ptr: self.ptr, rs: self.cs, cs: self.rs }
    }
}

/// dst (m×n, row stride `dst_rs`) = [dst +] beta · lhs (m×k) · rhs (k×n).
///
/// # Safety
/// Every pointer must cover the elements its strides and sizes address, and `dst` must not alias the inputs.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn matmul(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_rs: usize,
    accumulate: bool,
    lhs: Mat,
    rhs: Mat,
    beta: f32,
    par: Parallelism,
) {
    gemm::gemm(
        m,
        n,
        k,
        dst,
        1,
        dst_rs as isize,
        accumulate,
        lhs.ptr,
        lhs.cs as isize,
        lhs.rs as isize,
        rhs.ptr,
        rhs.cs as isize,
        rhs.rs as isize,
        1.0,
        beta,
        false,
        false,
        false,
        par,
    )
}

/// The matmul parallelism of the fused ops, read once (candle re-derives the thread count on every call).
fn threads() -> Parallelism {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    match *THREADS.get_or_init(candle_core::utils::get_num_threads) {
        0 | 1 => Parallelism::None,
        n => Parallelism::Rayon(n),
    }
}

/// y = x·w + b over the last dimension of `x`; `w` is (in, out), GPT-2's Conv1D layout, which is also the one
/// `gemm` takes without repacking the weight on every call (what small inference chunks would pay most).
pub struct LinearOp;

impl LinearOp {
    fn dims(x: &Layout, w: &Layout, b: &Layout) -> Result<(usize, usize, usize)> {
        let (inp, out) = w.shape().dims2()?;
        if b.shape().dims() != [out] || x.dims().last() != Some(&inp) || inp == 0 || out == 0 {
            candle_core::bail!("linear: input {:?}, weight {:?}, bias {:?}", x.shape(), w.shape(), b.shape());
        }
        Ok((x.shape().elem_count() / inp, inp, out))
    }
}

impl CustomOp3 for LinearOp {
    fn name(&self) -> &'static str {
        "thinktok-linear"
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
        let (rows, inp, out) = Self::dims(l1, l2, l3)?;
        let (x, w, b) = (
            storage_slice(s1, l1, self.name())?,
            storage_slice(s2, l2, self.name())?,
            storage_slice(s3, l3, self.name())?,
        );
        let mut y: Vec<f32> = Vec::with_capacity(rows * out);
        for _ in 0..rows {
            y.extend_from_slice(b);
        }
        if rows > 0 {
            // SAFETY: y is rows×out, x rows×inp, w inp×out, all contiguous and distinct.
            unsafe {
                matmul(
                    rows,
                    out,
                    inp,
                    y.as_mut_ptr(),
                    out,
                    true,
                    Mat::rows(x.as_ptr(), inp),
                    Mat::rows(w.as_ptr(), out),
                    1.0,
                    threads(),
                )
            };
        }
        let mut shape = l1.dims().to_vec();
        if let Some(last) = shape.last_mut() {
            *last = out;
        }
        Ok((CpuStorage::F32(y), Shape::from(shape)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (rows, inp, out) = Self::dims(x.layout(), w.layout(), b.layout())?;
        let grad = grad.contiguous()?;
        let name = self.name();
        let (dx, dw, db) = with_slice(x, name, |x| {
            with_slice(w, name, |w| {
                with_slice(&grad, name, |g| {
                    let mut dx = vec![0.0f32; rows * inp];
                    let mut dw = vec![0.0f32; inp * out];
                    let mut db = vec![0.0f32; out];
                    for row in g.chunks(out) {
                        db.iter_mut().zip(row).for_each(|(d, &v)| *d += v);
                    }
                    if rows > 0 {
                        let gm = Mat::rows(g.as_ptr(), out);
                        // SAFETY: sizes as above; outputs are fresh buffers.
                        unsafe {
                            matmul(
                                rows,
                                inp,
                                out,
                                dx.as_mut_ptr(),
                                inp,
                                false,
                                gm,
                                Mat::rows(w.as_ptr(), out).t(),
                                1.0,
                                threads(),
                            );
                            matmul(
                                inp,
                                out,
                                rows,
                                dw.as_mut_ptr(),
                                out,
                                false,
                                Mat::rows(x.as_ptr(), inp).t(),
                                gm,
                                1.0,
                                threads(),
                            );
                        }
                    }
                    (dx, dw, db)
                })
            })
        })???;
        Ok((Some(from_vec(dx, x)?), Some(from_vec(dw, w)?), Some(from_vec(db, b)?)))
    }
}

/// Causal multi-head attention on packed `qkv` (B, T, 3·D) = [q | k | v], heads of width D/H inside each;
/// returns (B, T, D) with the heads side by side, ready for `c_proj`.
pub struct CausalAttentionOp {
    pub heads: usize,
}

/// Sizes of one attention call.
#[derive(Clone, Copy)]
struct AttnDims {
    batch: usize,
    t: usize,
    d: usize,
    hd: usize,
    heads: usize,
    scale: f32,
}

impl AttnDims {
    fn new(l: &Layout, heads: usize) -> Result<Self> {
        let (batch, t, d3) = l.shape().dims3()?;
        if heads == 0 || d3 % (3 * heads) != 0 || t == 0 {
            candle_core::bail!("attention: packed qkv {:?} with {heads} heads", l.shape());
        }
        let d = d3 / 3;
        let hd = d / heads;
        Ok(Self { batch, t, d, hd, heads, scale: 1.0 / (hd as f32).sqrt() })
    }

    /// Offsets of q, k, v of (batch row, head) in the packed input.
    fn qkv(&self, task: usize) -> (usize, usize, usize) {
        let (b, h) = (task / self.heads, task % self.heads);
        let base = b * self.t * 3 * self.d + h * self.hd;
        (base, base + self.d, base + 2 * self.d)
    }

    /// Offset of (batch row, head) in a (B, T, D) tensor.
    fn out(&self, task: usize) -> usize {
        let (b, h) = (task / self.heads, task % self.heads);
        b * self.t * self.d + h * self.hd
    }

    fn blocks(&self) -> impl Iterator<Item = (usize, usize)> {
        let t = self.t;
        (0..t).step_by(QUERY_BLOCK).map(move |i0| (i0, (i0 + QUERY_BLOCK).min(t)))
    }
}

/// Softmax in place of rows of `p` (row stride `n`), row r of the block (query i0 + r) seeing keys 0..=i0 + r;
/// the rest of each row is set to 0.
pub(super) fn causal_softmax_rows(p: &mut [f32], n: usize, i0: usize) {
    for (r, row) in p.chunks_mut(n).enumerate() {
        let vis = (i0 + r + 1).min(n);
        let (head, tail) = row.split_at_mut(vis);
        super::kernels::softmax_in_place(head);
        tail.iter_mut().for_each(|v| *v = 0.0);
    }
}

/// P (rows i0..i1, keys 0..i1) of one head: softmax(scale · q kᵀ) with the causal mask.
///
/// # Safety
/// `qkv` must hold the packed input of `dims`; `p` has room for (i1 - i0)·i1 values.
unsafe fn probs(dims: &AttnDims, qkv: *const f32, (qo, ko): (usize, usize), (i0, i1): (usize, usize), p: &mut [f32]) {
    let rs = 3 * dims.d;
    let q = Mat::rows(qkv.add(qo + i0 * rs), rs);
    let k = Mat::rows(qkv.add(ko), rs);
    matmul(i1 - i0, i1, dims.hd, p.as_mut_ptr(), i1, false, q, k.t(), dims.scale, Parallelism::None);
    causal_softmax_rows(&mut p[..(i1 - i0) * i1], i1, i0);
}

impl CustomOp1 for CausalAttentionOp {
    fn name(&self) -> &'static str {
        "thinktok-causal-attention"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let dims = AttnDims::new(l, self.heads)?;
        let qkv = storage_slice(s, l, self.name())?;
        let mut y = vec![0.0f32; dims.batch * dims.t * dims.d];
        let (yp, qp) = (SharedMut(y.as_mut_ptr()), qkv.as_ptr() as usize);
        (0..dims.batch * dims.heads).into_par_iter().for_each_init(
            || vec![0.0f32; QUERY_BLOCK * dims.t],
            |p, task| {
                let (qo, ko, vo) = dims.qkv(task);
                let qkv = qp as *const f32;
                for (i0, i1) in dims.blocks() {
                    // SAFETY: offsets stay inside the packed input; this task alone writes rows i0..i1 of head
                    // `task`'s columns of y.
                    unsafe {
                        probs(&dims, qkv, (qo, ko), (i0, i1), p);
                        let v = Mat::rows(qkv.add(vo), 3 * dims.d);
                        let dst = yp.get().add(dims.out(task) + i0 * dims.d);
                        matmul(
                            i1 - i0,
                            dims.hd,
                            i1,
                            dst,
                            dims.d,
                            false,
                            Mat::rows(p.as_ptr(), i1),
                            v,
                            1.0,
                            Parallelism::None,
                        );
                    }
                }
            },
        );
        Ok((CpuStorage::F32(y), Shape::from((dims.batch, dims.t, dims.d))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let dims = AttnDims::new(arg.layout(), self.heads)?;
        let grad = grad.contiguous()?;
        let name = self.name();
        let dqkv = with_slice(arg, name, |qkv| with_slice(&grad, name, |g| attention_bwd(&dims, qkv, g)))??;
        Ok(Some(from_vec(dqkv, arg)?))
    }
}

/// Gradient of the packed input from the output gradient `g` (B, T, D), recomputing P block by block.
fn attention_bwd(dims: &AttnDims, qkv: &[f32], g: &[f32]) -> Vec<f32> {
    let rs = 3 * dims.d;
    let mut dqkv = vec![0.0f32; qkv.len()];
    let (dp_all, qp, gp) = (SharedMut(dqkv.as_mut_ptr()), qkv.as_ptr() as usize, g.as_ptr() as usize);
    (0..dims.batch * dims.heads).into_par_iter().for_each_init(
        || (vec![0.0f32; QUERY_BLOCK * dims.t], vec![0.0f32; QUERY_BLOCK * dims.t]),
        |(p, dp), task| {
            let (qo, ko, vo) = dims.qkv(task);
            let (qkv, g) = (qp as *const f32, gp as *const f32);
            for (i0, i1) in dims.blocks() {
                let (m, n) = (i1 - i0, i1);
                // SAFETY: as in the forward; this task alone writes head `task`'s q, k, v columns of dqkv.
                unsafe {
                    probs(dims, qkv, (qo, ko), (i0, i1), p);
                    let dy = Mat::rows(g.add(dims.out(task) + i0 * dims.d), dims.d);
                    let v = Mat::rows(qkv.add(vo), rs);
                    // dP = dY·Vᵀ
                    matmul(m, n, dims.hd, dp.as_mut_ptr(), n, false, dy, v.t(), 1.0, Parallelism::None);
                    // dV[0..i1] += Pᵀ·dY
                    let pm = Mat::rows(p.as_ptr(), n);
                    matmul(n, dims.hd, m, dp_all.get().add(vo), rs, true, pm.t(), dy, 1.0, Parallelism::None);
                    // dS = P ∘ (dP − rowsum(dP ∘ P))
                    for (prow, drow) in p[..m * n].chunks(n).zip(dp[..m * n].chunks_mut(n)) {
                        let dot: f32 = prow.iter().zip(drow.iter()).map(|(a, b)| a * b).sum();
                        drow.iter_mut().zip(prow).for_each(|(d, &p)| *d = p * (*d - dot));
                    }
                    let ds = Mat::rows(dp.as_ptr(), n);
                    // dQ = scale·dS·K ; dK[0..i1] += scale·dSᵀ·Q
                    let k = Mat::rows(qkv.add(ko), rs);
                    let q = Mat::rows(qkv.add(qo + i0 * rs), rs);
                    matmul(
                        m,
                        dims.hd,
                        n,
                        dp_all.get().add(qo + i0 * rs),
                        rs,
                        false,
                        ds,
                        k,
                        dims.scale,
                        Parallelism::None,
                    );
                    matmul(n, dims.hd, m, dp_all.get().add(ko), rs, true, ds.t(), q, dims.scale, Parallelism::None);
                }
            }
        },
    );
    dqkv
}
