//! Running a plan: [`runner`] runs every run into its output folder, [`results`] holds what a run returns and the
//! summary table, [`report`] writes `results.json`, `report.md`, `report.html` ([`html`]) and the charts
//! ([`charts`]); [`folders`] reads finished output folders back for `thinktok report`.

pub mod charts;
pub mod folders;
mod groups;
pub mod html;
pub mod lock;
pub mod report;
pub mod results;
pub mod runner;
pub mod status;
mod summary;

pub use crate::engine::files::write_atomic;
pub use results::{table, Results, RichResults, RunRecord, RunResult};
pub use runner::{check_out_folder, check_supported, run_plan, select_run, RunOptions, ERROR_FILE, PREEMPTED};
