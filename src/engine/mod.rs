//! The engine: runs execution plans with candle. It never sees spec text, only [`crate::plan`] types.

pub mod checkpoint;
pub mod data;
pub mod device;
pub mod episode;
pub mod episodic;
pub mod error;
pub mod eval;
pub mod learn;
pub mod model;
pub mod optim;
pub mod plot;
pub mod report;
pub mod rng;
pub mod runner;
pub mod thought_eval;
pub mod tokenizer;
pub mod train;
