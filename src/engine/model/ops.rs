//! The tensor ops of the GPT, in one place so that faster kernels can replace them without touching the model.
//!
//! Every op here has a backward: candle-nn's fused `layer_norm` / `softmax_last_dim` have none, and a model
//! built on them trains only a fraction of its parameters without any warning.

use candle_core::{CpuStorage, CustomOp1, CustomOp3, DType, Device, Layout, Module, Result, Shape, Tensor, D};

use super::kernels::{self, SoftmaxDims};
use super::storage::{from_vec, storage_slice, with_slice};

/// A linear layer, weight (in, out) as GPT-2's Conv1D stores it (the transpose of `candle_nn::Linear`).
#[derive(Debug, Clone)]
pub struct Linear {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    /// The dtype its matmul computes in (see [`matmul_in`]); `F32` takes the fused CPU kernel where it applies.
    pub compute: DType,
}

impl Linear {
    /// An f32 layer.
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        Self { weight, bias, compute: DType::F32 }
    }

    /// The same weights outside the autograd graph.
    pub fn detach(&self) -> Self {
        Self { weight: self.weight.detach(), bias: self.bias.as_ref().map(Tensor::detach), compute: self.compute }
    }
}

/// `a · b` with both operands cast to `compute` and the product cast back to f32: mixed precision as autocast
/// does it (the matmul in bf16 or f16, everything around it, and every gradient that reaches an f32 weight, in
/// f32; `to_dtype` has a backward). With `compute = F32`, a plain matmul.
pub fn matmul_in(a: &Tensor, b: &Tensor, compute: DType) -> Result<Tensor> {
    if compute == DType::F32 || a.dtype() != DType::F32 {
        return a.matmul(b);
    }
    a.to_dtype(compute)?.matmul(&b.to_dtype(compute)?)?.to_dtype(DType::F32)
}

impl Module for Linear {
    /// (…, in) -> (…, out) as one 2-D matmul over all leading positions.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let (rows, inp) = match dims.split_last() {
            Some((&inp, lead)) => (lead.iter().product::<usize>(), inp),
            None => candle_core::bail!("linear layer on a scalar"),
        };
        let out = self.weight.dim(1)?;
        #[cfg(target_arch = "x86_64")]
        if let (true, Some(b)) = (use_kernels(x) && self.compute == DType::F32, &self.bias) {
            return x.contiguous()?.apply_op3(&self.weight.contiguous()?, &b.contiguous()?, super::fused::LinearOp);
        }
        let y = matmul_in(&x.reshape((rows, inp))?, &self.weight, self.compute)?;
        let y = match &self.bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        };
        let mut shape = dims;
        if let Some(last) = shape.last_mut() {
            *last = out;
        }
        y.reshape(shape)
    }
}

thread_local! {
    static KERNELS_OFF: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Run `f` with the custom kernels switched off on this thread: the model then takes the composite path that
/// other devices take. For parity tests and benchmarks.
pub fn with_composite_ops<R>(f: impl FnOnce() -> R) -> R {
    let before = KERNELS_OFF.with(|k| k.replace(true));
    let out = f();
    KERNELS_OFF.with(|k| k.set(before));
    out
}

/// Whether the custom CPU kernels apply; elsewhere (CUDA, other dtypes) the composite forms run.
pub(super) fn use_kernels(x: &Tensor) -> bool {
    x.device().is_cpu() && x.dtype() == DType::F32 && !KERNELS_OFF.with(|k| k.get())
}

/// Layer norm over the last dimension with weight and bias; every input receives a gradient.
pub fn layer_norm(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<Tensor> {
    if use_kernels(x) {
        x.contiguous()?.apply_op3(&weight.contiguous()?, &bias.contiguous()?, LayerNormOp { eps: eps as f32 })
    } else {
        layer_norm_composite(x, weight, bias, eps)
    }
}

/// Layer norm from candle ops that have a backward (any device).
pub fn layer_norm_composite(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let xc = x.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
    let xn = xc.broadcast_div(&(var + eps)?.sqrt()?)?;
    xn.broadcast_mul(weight)?.broadcast_add(bias)
}

/// Softmax over the last dimension, from ops that have a backward.
pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?;
    let e = x.broadcast_sub(&max)?.exp()?;
    let sum = e.sum_keepdim(D::Minus1)?;
    e.broadcast_div(&sum)
}

/// Attention weights softmax(scale·scores) of `scores` (B, H, Tq, Tk), where query i of batch row b sees
/// keys `0..=offsets[b] + i`: causal within a chunk that starts at position `offsets[b]`. Has a backward.
pub fn masked_softmax(scores: &Tensor, offsets: &[usize], scale: f64) -> Result<Tensor> {
    let (b, heads, queries, keys) = scores.dims4()?;
    if offsets.len() != b {
        candle_core::bail!("masked softmax: {} offsets for {b} rows", offsets.len());
    }
    if use_kernels(scores) {
        let op = MaskedSoftmaxOp {
            dims: SoftmaxDims { heads, queries, keys },
            offsets: offsets.to_vec(),
            scale: scale as f32,
        };
        scores.contiguous()?.apply_op1(op)
    } else {
        let mask = offset_mask(offsets, queries, keys, scores.device())?;
        softmax_last_dim(&(scores * scale)?.broadcast_add(&mask)?)
    }
}

/// Causal multi-head self-attention on `c_attn`'s packed output `qkv` (B, T, 3·D) -> (B, T, D), heads side by
/// side, its two matmuls in `compute` (the softmax in f32). Has a backward.
pub fn causal_attention(qkv: &Tensor, heads: usize, compute: DType) -> Result<Tensor> {
    #[cfg(target_arch = "x86_64")]
    if use_kernels(qkv) && compute == DType::F32 {
        return qkv.contiguous()?.apply_op1(super::fused::CausalAttentionOp { heads });
    }
    let (b, t, d3) = qkv.dims3()?;
    let (q, k, v) = split_heads(qkv, heads)?;
    let scale = 1.0 / ((d3 / 3 / heads) as f64).sqrt();
    let weights = masked_softmax(&matmul_in(&q, &k.t()?, compute)?, &vec![0; b], scale)?;
    merge_heads(&matmul_in(&weights, &v, compute)?, t)
}

/// q, k, v, each (B, H, T, Dh), from packed (B, T, 3·D).
pub fn split_heads(qkv: &Tensor, heads: usize) -> Result<(Tensor, Tensor, Tensor)> {
    let (b, t, d3) = qkv.dims3()?;
    // (B, T, 3D) -> (B, T, 3, H, Dh); each of q, k, v -> (B, H, T, Dh)
    let qkv = qkv.reshape((b, t, 3, heads, d3 / 3 / heads))?;
    let part = |i: usize| -> Result<Tensor> { qkv.narrow(2, i, 1)?.squeeze(2)?.transpose(1, 2)?.contiguous() };
    Ok((part(0)?, part(1)?, part(2)?))
}

/// (B, H, T, Dh) -> (B, T, H·Dh): a copy.
pub fn merge_heads(y: &Tensor, t: usize) -> Result<Tensor> {
    let (b, h, _, hd) = y.dims4()?;
    y.transpose(1, 2)?.reshape((b, t, h * hd))
}

/// GELU with the tanh approximation (GPT-2's `gelu_new`). Has a backward.
pub fn gelu(x: &Tensor) -> Result<Tensor> {
    if use_kernels(x) {
        x.contiguous()?.apply_op1(GeluOp)
    } else {
        x.gelu()
    }
}

/// A large negative score for masked attention entries: exp() of it is exactly 0 in f32, and unlike -inf it
/// never yields NaN when subtracted from itself.
pub const MASKED: f32 = -1e30;

/// The (B, 1, Tq, Tk) additive mask of [`masked_softmax`]: 0 where key p <= offsets[b] + i, else [`MASKED`].
pub fn offset_mask(offsets: &[usize], queries: usize, keys: usize, device: &Device) -> Result<Tensor> {
    let mask: Vec<f32> = offsets
        .iter()
        .flat_map(|&l| (0..queries).flat_map(move |i| (0..keys).map(move |p| if p <= l + i { 0.0 } else { MASKED })))
        .collect();
    Tensor::from_vec(mask, (offsets.len(), 1, queries, keys), device)
}

struct GeluOp;

impl CustomOp1 for GeluOp {
    fn name(&self) -> &'static str {
        "thinktok-gelu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = storage_slice(s, l, self.name())?;
        Ok((CpuStorage::F32(kernels::gelu_fwd(x)), l.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        let dx = with_slice(arg, self.name(), |x| with_slice(&grad, self.name(), |g| kernels::gelu_bwd(x, g)))??;
        Ok(Some(from_vec(dx, arg)?))
    }
}

struct MaskedSoftmaxOp {
    dims: SoftmaxDims,
    offsets: Vec<usize>,
    scale: f32,
}

impl CustomOp1 for MaskedSoftmaxOp {
    fn name(&self) -> &'static str {
        "thinktok-masked-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = storage_slice(s, l, self.name())?;
        let y = kernels::masked_softmax_fwd(x, self.dims, &self.offsets, self.scale);
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        let dx = with_slice(res, self.name(), |y| {
            with_slice(&grad, self.name(), |g| kernels::masked_softmax_bwd(y, g, self.dims, &self.offsets, self.scale))
        })??;
        Ok(Some(from_vec(dx, arg)?))
    }
}

struct LayerNormOp {
    eps: f32,
}

impl CustomOp3 for LayerNormOp {
    fn name(&self) -> &'static str {
        "thinktok-layer-norm"
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
        let x = storage_slice(s1, l1, self.name())?;
        let w = storage_slice(s2, l2, self.name())?;
        let b = storage_slice(s3, l3, self.name())?;
        if w.len() != b.len() || w.is_empty() || x.len() % w.len() != 0 || l1.dims().last() != Some(&w.len()) {
            candle_core::bail!(
                "layer norm: input {:?} with weight {:?} and bias {:?}",
                l1.shape(),
                l2.shape(),
                l3.shape()
            );
        }
        Ok((CpuStorage::F32(kernels::layer_norm_fwd(x, w, b, self.eps)), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let (dx, dw, db) = with_slice(x, self.name(), |xs| {
            with_slice(w, self.name(), |ws| {
                with_slice(&grad, self.name(), |g| kernels::layer_norm_bwd(xs, ws, g, self.eps))
            })
        })???;
        Ok((Some(from_vec(dx, x)?), Some(from_vec(dw, w)?), Some(from_vec(db, b)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Var;

    /// Output and input gradients of `f` at `inputs`, through the loss sum(f(inputs) · r) for a fixed random r.
    fn value_and_grads(inputs: &[Tensor], f: impl Fn(&[Tensor]) -> Result<Tensor>) -> (Vec<f32>, Vec<Vec<f32>>) {
        let vars: Vec<Var> = inputs.iter().map(|t| Var::from_tensor(t).unwrap()).collect();
        let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
        let y = f(&ts).unwrap();
        let r: Vec<f32> = (0..y.elem_count()).map(|i| (i * 7919 % 1009) as f32 / 1009.0 - 0.5).collect();
        let r = Tensor::from_vec(r, y.shape(), &Device::Cpu).unwrap();
        let grads = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        (flat(&y), ts.iter().map(|t| flat(grads.get(t).expect("a gradient"))).collect())
    }

    fn assert_close(a: &[f32], b: &[f32], tol: f32, what: &str) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        let scale = b.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
        let worst = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
        assert!(worst <= tol * scale, "{what}: max diff {worst} (scale {scale})");
    }

    fn compare(
        inputs: &[Tensor],
        fast: impl Fn(&[Tensor]) -> Result<Tensor>,
        slow: impl Fn(&[Tensor]) -> Result<Tensor>,
        what: &str,
    ) {
        let (yf, gf) = value_and_grads(inputs, fast);
        let (ys, gs) = value_and_grads(inputs, slow);
        assert_close(&yf, &ys, 1e-5, &format!("{what} forward"));
        for (i, (f, s)) in gf.iter().zip(&gs).enumerate() {
            assert_close(f, s, 1e-4, &format!("{what} gradient of input {i}"));
        }
    }

    fn randn(shape: &[usize], seed: u64) -> Tensor {
        let mut rng = crate::engine::rng::Rng::new(seed);
        let n = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| (rng.next_f64() * 2.0 - 1.0) as f32).collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    #[test]
    fn kernels_match_composite_forms_and_their_gradients() {
        let x = randn(&[2, 5, 8], 1);
        let (w, b) = (randn(&[8], 2), randn(&[8], 3));
        compare(
            &[x.clone(), w, b],
            |t| layer_norm(&t[0], &t[1], &t[2], 1e-5),
            |t| layer_norm_composite(&t[0], &t[1], &t[2], 1e-5),
            "layer norm",
        );
        compare(&[(x.clone() * 3.0).unwrap()], |t| gelu(&t[0]), |t| t[0].gelu(), "gelu");
        let s = randn(&[2, 3, 4, 6], 4);
        let offsets = [2, 0];
        compare(
            &[s],
            |t| masked_softmax(&t[0], &offsets, 0.7),
            |t| softmax_last_dim(&(&t[0] * 0.7)?.broadcast_add(&offset_mask(&offsets, 4, 6, &Device::Cpu)?)?),
            "masked softmax",
        );
    }

    #[test]
    fn fused_linear_and_attention_match_composite_forms_and_their_gradients() {
        let x = randn(&[2, 70, 12], 5);
        let (w, b) = (randn(&[12, 36], 6), randn(&[36], 7));
        let fast = |t: &[Tensor]| Linear::new(t[1].clone(), Some(t[2].clone())).forward(&t[0]);
        let slow = |t: &[Tensor]| t[0].broadcast_matmul(&t[1])?.broadcast_add(&t[2]);
        compare(&[x.clone(), w, b], fast, slow, "linear");
        // 70 positions: two query blocks, the second partial.
        let qkv = randn(&[2, 70, 36], 8);
        let composite = |t: &[Tensor]| -> Result<Tensor> {
            let (q, k, v) = split_heads(&t[0], 3)?;
            let scores = (q.matmul(&k.t()?)? * 0.5)?.broadcast_add(&offset_mask(&[0, 0], 70, 70, &Device::Cpu)?)?;
            merge_heads(&softmax_last_dim(&scores)?.matmul(&v)?, 70)
        };
        compare(&[qkv], |t| causal_attention(&t[0], 3, DType::F32), composite, "attention");
    }
}
