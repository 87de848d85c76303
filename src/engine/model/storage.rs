//! Borrowing f32 data from candle CPU tensors and storages, for the custom ops in [`super::ops`], [`super::fused`]
//! and [`super::cached`] (one place, so those modules depend on it rather than on each other).

use candle_core::{CpuStorage, Layout, Result, Storage, Tensor};

/// The f32 slice of a contiguous CPU tensor, or an error naming `op`.
pub(super) fn with_slice<R>(t: &Tensor, op: &str, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    let (storage, layout) = t.storage_and_layout();
    match (&*storage, layout.contiguous_offsets()) {
        (Storage::Cpu(CpuStorage::F32(v)), Some((start, end))) => Ok(f(&v[start..end])),
        _ => candle_core::bail!("{op}: expects a contiguous f32 CPU tensor, got {:?} on {:?}", t.dtype(), t.device()),
    }
}

/// The f32 slice of a contiguous CPU storage, as custom ops receive it.
pub(super) fn storage_slice<'a>(s: &'a CpuStorage, l: &Layout, op: &str) -> Result<&'a [f32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::F32(v), Some((start, end))) => Ok(&v[start..end]),
        _ => candle_core::bail!("{op}: expects a contiguous f32 CPU tensor"),
    }
}

/// A tensor of `like`'s shape and device holding `v`.
pub(super) fn from_vec(v: Vec<f32>, like: &Tensor) -> Result<Tensor> {
    Tensor::from_vec(v, like.shape(), like.device())
}
