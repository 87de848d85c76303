//! AdamW with state that can be saved and restored, so a resumed run continues bit-identically.
//!
//! The update is candle-nn's `AdamW` op for op (decoupled weight decay on every variable, bias-corrected moments);
//! candle's own optimiser keeps its moments private, so they could not go into a checkpoint. The thought-token logic
//! never reaches this file: it sees variables and gradients only.

use std::collections::HashMap;

use candle_core::{DType, Result, Tensor, Var};
use candle_nn::VarMap;

/// AdamW hyper-parameters (the learning rate is passed per step by the schedule).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWParams {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

/// One trained variable with its two moments.
#[derive(Debug)]
struct Slot {
    name: String,
    var: Var,
    m: Tensor,
    v: Tensor,
}

/// AdamW over the variables of a `VarMap`, in name order.
#[derive(Debug)]
pub struct AdamW {
    params: AdamWParams,
    /// Optimiser steps taken (bias correction uses it).
    step_t: u64,
    slots: Vec<Slot>,
}

impl AdamW {
    /// An optimiser over every float variable of `varmap`, moments at zero.
    pub fn new(varmap: &VarMap, params: AdamWParams) -> Result<Self> {
        let data = varmap.data().lock().map_err(|_| candle_core::Error::Msg("the VarMap lock is poisoned".into()))?;
        let mut named: Vec<(&String, &Var)> = data.iter().filter(|(_, v)| v.dtype().is_float()).collect();
        named.sort_by(|a, b| a.0.cmp(b.0));
        let slots = named
            .into_iter()
            .map(|(name, var)| {
                Ok(Slot { name: name.clone(), var: var.clone(), m: var.zeros_like()?, v: var.zeros_like()? })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { params, step_t: 0, slots })
    }

    /// The trained variables, in the order [`AdamW::step`] expects their gradients.
    pub fn vars(&self) -> impl Iterator<Item = (&str, &Var)> {
        self.slots.iter().map(|s| (s.name.as_str(), &s.var))
    }

    pub fn steps_taken(&self) -> u64 {
        self.step_t
    }

    /// One update at learning rate `lr`; `grads[i]` belongs to the i-th of [`AdamW::vars`] (`None`: left alone).
    pub fn step(&mut self, grads: &[Option<Tensor>], lr: f64) -> Result<()> {
        if grads.len() != self.slots.len() {
            candle_core::bail!("{} gradients for {} variables", grads.len(), self.slots.len());
        }
        self.step_t += 1;
        let AdamWParams { beta1, beta2, eps, weight_decay } = self.params;
        let t = i32::try_from(self.step_t).unwrap_or(i32::MAX);
        let scale_m = 1f64 / (1f64 - beta1.powi(t));
        let scale_v = 1f64 / (1f64 - beta2.powi(t));
        for (slot, grad) in self.slots.iter_mut().zip(grads) {
            let Some(g) = grad else { continue };
            if slot.var.device().is_cpu() && slot.var.dtype() == DType::F32 {
                let consts = Consts::new(&self.params, lr, scale_m, scale_v);
                fused_cpu_update(slot, g, &consts)?;
                continue;
            }
            let next_m = ((&slot.m * beta1)? + (g * (1.0 - beta1))?)?;
            let next_v = ((&slot.v * beta2)? + (g.sqr()? * (1.0 - beta2))?)?;
            let m_hat = (&next_m * scale_m)?;
            let v_hat = (&next_v * scale_v)?;
            let theta = (slot.var.as_tensor() * (1f64 - lr * weight_decay))?;
            let adjusted = (m_hat / (v_hat.sqrt()? + eps)?)?;
            slot.var.set(&(theta - (adjusted * lr)?)?)?;
            slot.m = next_m;
            slot.v = next_v;
        }
        Ok(())
    }

    /// The moments as named tensors (`m.NAME`, `v.NAME`), for a checkpoint.
    pub fn state(&self) -> HashMap<String, Tensor> {
        let mut out = HashMap::new();
        for slot in &self.slots {
            out.insert(format!("m.{}", slot.name), slot.m.clone());
            out.insert(format!("v.{}", slot.name), slot.v.clone());
        }
        out
    }

    /// Restore moments saved by [`AdamW::state`] after `step_t` steps. Every variable's moments must be present with
    /// its shape.
    pub fn load_state(&mut self, tensors: &HashMap<String, Tensor>, step_t: u64) -> anyhow::Result<()> {
        for slot in &mut self.slots {
            for (kind, target) in [("m", &mut slot.m), ("v", &mut slot.v)] {
                let key = format!("{kind}.{}", slot.name);
                let saved = tensors.get(&key).ok_or_else(|| anyhow::anyhow!("optimiser state lacks `{key}`"))?;
                if saved.dims() != slot.var.dims() {
                    anyhow::bail!(
                        "optimiser state `{key}` has shape {:?}, the model's variable has {:?}",
                        saved.dims(),
                        slot.var.dims()
                    );
                }
                *target = saved.to_device(slot.var.device())?.to_dtype(slot.var.dtype())?;
            }
        }
        self.step_t = step_t;
        Ok(())
    }
}

/// The update's scalars, cast to f32 as candle's `affine` casts them.
struct Consts {
    beta1: f32,
    one_minus_beta1: f32,
    beta2: f32,
    one_minus_beta2: f32,
    scale_m: f32,
    scale_v: f32,
    eps: f32,
    decay: f32,
    lr: f32,
}

impl Consts {
    fn new(p: &AdamWParams, lr: f64, scale_m: f64, scale_v: f64) -> Self {
        Self {
            beta1: p.beta1 as f32,
            one_minus_beta1: (1.0 - p.beta1) as f32,
            beta2: p.beta2 as f32,
            one_minus_beta2: (1.0 - p.beta2) as f32,
            scale_m: scale_m as f32,
            scale_v: scale_v as f32,
            eps: p.eps as f32,
            decay: (1.0 - lr * p.weight_decay) as f32,
            lr: lr as f32,
        }
    }
}

/// The same update as the tensor path in one pass over host memory (the tensor path costs a dozen allocating passes
/// per variable). Each line mirrors one candle op, including `affine`'s `x * mul + add`, so the results are
/// bit-identical to candle's `AdamW` (tested).
fn fused_cpu_update(slot: &mut Slot, g: &Tensor, c: &Consts) -> Result<()> {
    let shape = slot.var.shape().clone();
    let mut theta: Vec<f32> = slot.var.as_tensor().flatten_all()?.to_vec1()?;
    let mut m: Vec<f32> = slot.m.flatten_all()?.to_vec1()?;
    let mut v: Vec<f32> = slot.v.flatten_all()?.to_vec1()?;
    let g: Vec<f32> = g.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
    for i in 0..theta.len() {
        let next_m = (m[i] * c.beta1 + 0.0) + (g[i] * c.one_minus_beta1 + 0.0);
        let next_v = (v[i] * c.beta2 + 0.0) + ((g[i] * g[i]) * c.one_minus_beta2 + 0.0);
        let m_hat = next_m * c.scale_m + 0.0;
        let v_hat = next_v * c.scale_v + 0.0;
        let decayed = theta[i] * c.decay + 0.0;
        let adjusted = m_hat / (v_hat.sqrt() * 1.0 + c.eps);
        theta[i] = decayed - (adjusted * c.lr + 0.0);
        m[i] = next_m;
        v[i] = next_v;
    }
    let device = slot.var.device().clone();
    slot.var.set(&Tensor::from_vec(theta, &shape, &device)?)?;
    slot.m = Tensor::from_vec(m, &shape, &device)?;
    slot.v = Tensor::from_vec(v, &shape, &device)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::Optimizer;

    #[test]
    fn matches_candle_adamw_bit_for_bit() {
        let device = Device::Cpu;
        let varmap = VarMap::new();
        let init = Tensor::new(&[[0.5f32, -1.0], [2.0, 0.25]], &device).unwrap();
        let w = varmap.get((2, 2), "w", candle_nn::Init::Const(0.0), DType::F32, &device).unwrap();
        let var = varmap.data().lock().unwrap()["w"].clone();
        var.set(&init).unwrap();
        let reference = Var::from_tensor(&init).unwrap();
        let params = AdamWParams { beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.1 };
        let mut ours = AdamW::new(&varmap, params).unwrap();
        let mut theirs = candle_nn::AdamW::new(
            vec![reference.clone()],
            candle_nn::ParamsAdamW { lr: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.1 },
        )
        .unwrap();
        for _ in 0..3 {
            let loss = w.sqr().unwrap().sum_all().unwrap();
            let grads = loss.backward().unwrap();
            ours.step(&[grads.get(&w).cloned()], 0.01).unwrap();
            let loss_ref = reference.sqr().unwrap().sum_all().unwrap();
            theirs.backward_step(&loss_ref).unwrap();
        }
        let a: Vec<f32> = var.flatten_all().unwrap().to_vec1().unwrap();
        let b: Vec<f32> = reference.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(a, b);
        assert_eq!(ours.steps_taken(), 3);
    }

    #[test]
    fn saved_state_round_trips_and_shape_mismatch_is_refused() {
        let device = Device::Cpu;
        let varmap = VarMap::new();
        varmap.get((3,), "b", candle_nn::Init::Const(1.0), DType::F32, &device).unwrap();
        let params = AdamWParams { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 };
        let mut opt = AdamW::new(&varmap, params).unwrap();
        let g = Tensor::new(&[1f32, 2.0, 3.0], &device).unwrap();
        opt.step(&[Some(g)], 0.1).unwrap();
        let state = opt.state();
        let mut other = AdamW::new(&varmap, params).unwrap();
        other.load_state(&state, 1).unwrap();
        let m: Vec<f32> = other.state()["m.b"].to_vec1().unwrap();
        assert_eq!(m, vec![0.1, 0.2, 0.3]);
        let mut bad = state.clone();
        bad.insert("m.b".into(), Tensor::zeros(4, DType::F32, &device).unwrap());
        assert!(other.load_state(&bad, 1).is_err());
    }
}
