//! CPU kernels (f32, contiguous slices) behind the model's custom ops in [`super::ops`]: GELU, masked softmax
//! and layer norm, each with its backward, parallel over rows with rayon.
//!
//! candle's own versions are either fused without a backward or composite (a dozen full-size temporaries in the
//! backward of GELU alone); these compute each direction in one pass.

use rayon::prelude::*;

/// Elements per parallel task of the elementwise kernels: large enough to amortise scheduling.
const ELEMS_PER_TASK: usize = 1 << 14;
/// Rows per parallel task of the row kernels.
const ROWS_PER_TASK: usize = 32;

const SQRT_2_OVER_PI: f32 = 0.797_884_6;
const GELU_C: f32 = 0.044_715;

/// tanh as a rational function on a clamped range (Eigen's `generic_fast_tanh_float`): a few ulp from the
/// true value, branch-free, so the loops around it vectorise.
#[inline(always)]
pub fn tanh_fast(x: f32) -> f32 {
    const CLAMP: f32 = 7.905_311;
    let x = x.clamp(-CLAMP, CLAMP);
    let x2 = x * x;
    let p = -2.760_768_5e-16_f32;
    let p = p * x2 + 2.000_188e-13;
    let p = p * x2 - 8.604_672e-11;
    let p = p * x2 + 5.122_297e-8;
    let p = p * x2 + 1.485_722_4e-5;
    let p = p * x2 + 6.372_619_3e-4;
    let p = (p * x2 + 4.893_524_6e-3) * x;
    let q = 1.198_258_4e-6_f32;
    let q = q * x2 + 1.185_347_1e-4;
    let q = q * x2 + 2.268_434_7e-3;
    let q = q * x2 + 4.893_525e-3;
    p / q
}

/// e^x for x <= 0 (softmax after subtracting the row maximum): Cephes' `expf` polynomial after a range
/// reduction, branch-free so that loops over it vectorise; within 2 ulp of the true value, and tiny (not 0)
/// below -87.
#[inline(always)]
pub fn exp_fast(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // 1.5·2²³: adding and subtracting it rounds to the nearest integer without a libm call.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 0.166_666_65;
    let p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    y * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// softmax of `row` in place: e^(v − max) / Σ, in passes that vectorise.
#[inline]
pub fn softmax_in_place(row: &mut [f32]) {
    let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    row.iter_mut().for_each(|v| *v = exp_fast(*v - max));
    let inv = 1.0 / row.iter().sum::<f32>();
    row.iter_mut().for_each(|v| *v *= inv);
}

/// GELU, tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
pub fn gelu_fwd(x: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0; x.len()];
    out.par_chunks_mut(ELEMS_PER_TASK).zip(x.par_chunks(ELEMS_PER_TASK)).for_each(|(o, x)| {
        for (o, &x) in o.iter_mut().zip(x) {
            let t = tanh_fast(SQRT_2_OVER_PI * (x + GELU_C * x * x * x));
            *o = 0.5 * x * (1.0 + t);
        }
    });
    out
}

/// Gradient of GELU at `x` times the incoming gradient `g`.
pub fn gelu_bwd(x: &[f32], g: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0; x.len()];
    out.par_chunks_mut(ELEMS_PER_TASK).zip(x.par_chunks(ELEMS_PER_TASK).zip(g.par_chunks(ELEMS_PER_TASK))).for_each(
        |(o, (x, g))| {
            for ((o, &x), &g) in o.iter_mut().zip(x).zip(g) {
                let x2 = x * x;
                let t = tanh_fast(SQRT_2_OVER_PI * (x + GELU_C * x2 * x));
                let dt = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_C * x2) * (1.0 - t * t);
                *o = g * (0.5 * (1.0 + t) + 0.5 * x * dt);
            }
        },
    );
    out
}

/// Shape of a masked softmax input: (batch, heads, queries, keys); query i of batch row b sees keys
/// `0..=offsets[b] + i` (capped at `keys`).
#[derive(Debug, Clone, Copy)]
pub struct SoftmaxDims {
    pub heads: usize,
    pub queries: usize,
    pub keys: usize,
}

impl SoftmaxDims {
    /// The number of visible keys of flat row `r`.
    #[inline]
    fn visible(&self, offsets: &[usize], r: usize) -> usize {
        let b = r / (self.heads * self.queries);
        let i = r % self.queries;
        (offsets[b] + i + 1).min(self.keys)
    }
}

/// softmax(scale·x) over the visible keys of each row; masked entries are exactly 0.
pub fn masked_softmax_fwd(x: &[f32], dims: SoftmaxDims, offsets: &[usize], scale: f32) -> Vec<f32> {
    let k = dims.keys;
    let mut out = vec![0.0; x.len()];
    out.par_chunks_mut(k * ROWS_PER_TASK).zip(x.par_chunks(k * ROWS_PER_TASK)).enumerate().for_each(
        |(task, (o, x))| {
            for (j, (o, x)) in o.chunks_mut(k).zip(x.chunks(k)).enumerate() {
                let n = dims.visible(offsets, task * ROWS_PER_TASK + j);
                let o = &mut o[..n];
                o.iter_mut().zip(&x[..n]).for_each(|(o, &v)| *o = v * scale);
                softmax_in_place(o);
            }
        },
    );
    out
}

/// Gradient of the masked softmax from its output `y` and incoming gradient `g`:
/// scale·y·(g − Σ g·y) on visible entries, 0 elsewhere.
pub fn masked_softmax_bwd(y: &[f32], g: &[f32], dims: SoftmaxDims, offsets: &[usize], scale: f32) -> Vec<f32> {
    let k = dims.keys;
    let mut out = vec![0.0; y.len()];
    out.par_chunks_mut(k * ROWS_PER_TASK)
        .zip(y.par_chunks(k * ROWS_PER_TASK).zip(g.par_chunks(k * ROWS_PER_TASK)))
        .enumerate()
        .for_each(|(task, (o, (y, g)))| {
            let rows = o.chunks_mut(k).zip(y.chunks(k).zip(g.chunks(k)));
            for (j, (o, (y, g))) in rows.enumerate() {
                let n = dims.visible(offsets, task * ROWS_PER_TASK + j);
                let dot: f32 = y[..n].iter().zip(&g[..n]).map(|(a, b)| a * b).sum();
                for ((o, &y), &g) in o[..n].iter_mut().zip(&y[..n]).zip(&g[..n]) {
                    *o = scale * y * (g - dot);
                }
            }
        });
    out
}

/// Mean and 1/sqrt(var + eps) of one row (two passes, as the composite form computes them).
#[inline]
fn moments(x: &[f32], eps: f32) -> (f32, f32) {
    let n = x.len() as f32;
    let mean = x.iter().sum::<f32>() / n;
    let var = x.iter().map(|&v| (v - mean) * (v - mean)).sum::<f32>() / n;
    (mean, 1.0 / (var + eps).sqrt())
}

/// Layer norm of each row of length `w.len()`: (x − mean)·rstd·w + b.
pub fn layer_norm_fwd(x: &[f32], w: &[f32], b: &[f32], eps: f32) -> Vec<f32> {
    let d = w.len();
    let mut out = vec![0.0; x.len()];
    out.par_chunks_mut(d * ROWS_PER_TASK).zip(x.par_chunks(d * ROWS_PER_TASK)).for_each(|(o, x)| {
        for (o, x) in o.chunks_mut(d).zip(x.chunks(d)) {
            let (mean, rstd) = moments(x, eps);
            for (((o, &x), &w), &b) in o.iter_mut().zip(x).zip(w).zip(b) {
                *o = (x - mean) * rstd * w + b;
            }
        }
    });
    out
}

/// Gradients of the layer norm with respect to its input, weight and bias.
pub fn layer_norm_bwd(x: &[f32], w: &[f32], g: &[f32], eps: f32) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let d = w.len();
    let mut dx = vec![0.0; x.len()];
    let zero = || (vec![0.0f32; d], vec![0.0f32; d]);
    let (dw, db) = dx
        .par_chunks_mut(d * ROWS_PER_TASK)
        .zip(x.par_chunks(d * ROWS_PER_TASK).zip(g.par_chunks(d * ROWS_PER_TASK)))
        .map(|(dx, (x, g))| {
            let (mut dw, mut db) = zero();
            let mut gw = vec![0.0f32; d];
            for (dx, (x, g)) in dx.chunks_mut(d).zip(x.chunks(d).zip(g.chunks(d))) {
                let (mean, rstd) = moments(x, eps);
                let (mut sum_gw, mut sum_gwx) = (0.0f32, 0.0f32);
                for i in 0..d {
                    let xh = (x[i] - mean) * rstd;
                    gw[i] = g[i] * w[i];
                    sum_gw += gw[i];
                    sum_gwx += gw[i] * xh;
                    dw[i] += g[i] * xh;
                    db[i] += g[i];
                }
                let (m1, m2) = (sum_gw / d as f32, sum_gwx / d as f32);
                for i in 0..d {
                    let xh = (x[i] - mean) * rstd;
                    dx[i] = rstd * (gw[i] - m1 - xh * m2);
                }
            }
            (dw, db)
        })
        .reduce(zero, |(mut aw, mut ab), (bw, bb)| {
            aw.iter_mut().zip(&bw).for_each(|(a, b)| *a += b);
            ab.iter_mut().zip(&bb).for_each(|(a, b)| *a += b);
            (aw, ab)
        });
    (dx, dw, db)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tanh_fast_is_within_a_few_ulp() {
        let mut worst = 0.0f64;
        for i in -20_000..=20_000 {
            let x = i as f32 * 0.001;
            let err = (tanh_fast(x) as f64 - (x as f64).tanh()).abs();
            worst = worst.max(err);
        }
        assert!(worst < 1e-6, "worst error {worst}");
        assert_eq!(tanh_fast(100.0), tanh_fast(7.905_311));
        assert!((tanh_fast(100.0) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn exp_fast_is_within_a_few_ulp() {
        let mut worst = 0.0f64;
        for i in 0..=86_000 {
            let x = -(i as f32) * 0.001;
            let want = (x as f64).exp();
            worst = worst.max((exp_fast(x) as f64 - want).abs() / want);
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        assert_eq!(exp_fast(0.0), 1.0);
        assert!(exp_fast(-1e30) >= 0.0 && exp_fast(-1e30) < 1e-37);
    }

    #[test]
    fn softmax_rows_sum_to_one_over_visible_keys() {
        let dims = SoftmaxDims { heads: 1, queries: 3, keys: 4 };
        let x: Vec<f32> = (0..24).map(|i| (i as f32 * 0.37).sin()).collect();
        let y = masked_softmax_fwd(&x, dims, &[0, 1], 0.5);
        for (r, row) in y.chunks(4).enumerate() {
            let n = dims.visible(&[0, 1], r);
            assert!((row[..n].iter().sum::<f32>() - 1.0).abs() < 1e-6);
            assert!(row[n..].iter().all(|&v| v == 0.0));
        }
        assert_eq!(dims.visible(&[0, 1], 5), 4, "row 1, query 2 sees 1 + 2 + 1 keys");
    }
}
