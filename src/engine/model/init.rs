//! Deterministic initialisation of a GPT's variables from a seed (candle's own CPU random init cannot be seeded).

use candle_core::{Result, Tensor};
use candle_nn::VarMap;

use crate::engine::rng::Rng;

pub(super) const INIT_STD: f64 = 0.02;

/// Overwrite every variable of a GPT in `varmap` with values drawn from `seed`: layer norms 1 and 0, biases and
/// the gated thought mix 0,
/// `c_proj` weights normal with std 0.02/sqrt(2·layers), other weights normal with std 0.02. Each variable has
/// its own stream (derived from its name), so the result does not depend on creation order.
pub fn init_seeded(varmap: &VarMap, layers: usize, seed: u64) -> Result<()> {
    let vars = varmap.data().lock().map_err(|_| candle_core::Error::Msg("the VarMap lock is poisoned".into()))?;
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    for name in names {
        let var = &vars[name];
        let n = var.elem_count();
        let is_ln = name.contains("ln_");
        let values: Vec<f32> = if name.ends_with(".bias") || name.starts_with(super::gpt::THOUGHT_MIX) {
            vec![0.0; n]
        } else if is_ln {
            vec![1.0; n]
        } else {
            let std = if name.contains("c_proj") { INIT_STD / (2.0 * layers as f64).sqrt() } else { INIT_STD };
            normals(&mut Rng::derive(seed, name), n, std)
        };
        let t = Tensor::from_vec(values, var.shape(), var.device())?.to_dtype(var.dtype())?;
        var.set(&t)?;
    }
    Ok(())
}

/// `n` draws from N(0, std²) by Box–Muller.
fn normals(rng: &mut Rng, n: usize, std: f64) -> Vec<f32> {
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        let u1 = rng.next_f64().max(f64::MIN_POSITIVE);
        let u2 = rng.next_f64();
        let r = (-2.0 * u1.ln()).sqrt() * std;
        let a = std::f64::consts::TAU * u2;
        out.push((r * a.cos()) as f32);
        out.push((r * a.sin()) as f32);
    }
    out.truncate(n);
    out
}
