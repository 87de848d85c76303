//! The engine: runs execution plans with candle. It never sees spec text, only [`crate::plan`] types.

pub mod device;
pub mod rng;
