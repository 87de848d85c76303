//! thinktok: a declarative experiment-spec interpreter for episodic thought-token learning.
//!
//! The pipeline (see `ARCHITECTURE.md`):
//!
//! ```text
//! spec text ──syntax──▶ Ast ──check──▶ Plan ──print──▶ dry-run tree
//!                                        └──engine──▶ runs, metrics, checkpoints
//! ```
//!
//! The engine never sees spec text, only [`plan::Plan`]s; the front end never touches tensors.

pub mod cli;
pub mod engine;
pub mod plan;
