//! The tensor ops of the GPT, in one place so that faster kernels can replace them without touching the model.
//!
//! Every op here has a backward: candle-nn's fused `layer_norm` / `softmax_last_dim` have none, and a model
//! built on them trains only a fraction of its parameters without any warning.

use candle_core::{DType, Device, Module, Result, Tensor, D};

/// A linear layer, weight (out, in) as candle stores it (GPT-2's Conv1D stores the transpose).
#[derive(Debug, Clone)]
pub struct Linear {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

impl Module for Linear {
    /// (…, in) -> (…, out) as one 2-D matmul over all leading positions.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let (rows, inp) = match dims.split_last() {
            Some((&inp, lead)) => (lead.iter().product::<usize>(), inp),
            None => candle_core::bail!("linear layer on a scalar"),
        };
        let out = self.weight.dim(0)?;
        let y = x.reshape((rows, inp))?.matmul(&self.weight.t()?)?;
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

/// Layer norm over the last dimension with weight and bias, from ops that have a backward.
pub fn layer_norm(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<Tensor> {
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

/// GELU with the tanh approximation (GPT-2's `gelu_new`).
pub fn gelu(x: &Tensor) -> Result<Tensor> {
    x.gelu()
}

/// A large negative score for masked attention entries: exp() of it is exactly 0 in f32, and unlike -inf it
/// never yields NaN when subtracted from itself.
pub const MASKED: f32 = -1e30;

/// The (T, T) additive causal mask: 0 where key <= query, [`MASKED`] above the diagonal.
pub fn causal_mask(t: usize, device: &Device) -> Result<Tensor> {
    let mask: Vec<f32> = (0..t).flat_map(|i| (0..t).map(move |j| if j <= i { 0.0 } else { MASKED })).collect();
    Tensor::from_vec(mask, (t, t), device)?.to_dtype(DType::F32)
}
