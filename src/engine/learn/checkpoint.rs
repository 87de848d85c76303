//! Checkpoints: a folder with `model.safetensors` (GPT-2 weight names), `optimizer.safetensors` (AdamW moments) and
//! `meta.json` (the run's plan, step, RNG and data position).
//!
//! A checkpoint is written into a temporary folder and renamed into place, so a crash mid-save leaves the previous
//! checkpoint intact (at worst under `NAME.old`, which readers fall back to).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use serde::{Deserialize, Serialize};

use super::optim::AdamW;
use crate::engine::data::SamplerState;
use crate::engine::error::invalid;
use crate::engine::eval::EvalReport;
use crate::plan::RunPlan;

/// Version of the checkpoint layout.
pub const CHECKPOINT_VERSION: u32 = 1;
/// The tokenizer every checkpoint of this engine uses.
pub const TOKENIZER: &str = "byte-260";

/// The tokenizer a checkpoint of `model` records: [`TOKENIZER`] for the own GPT, `checkpoint` for a pretrained
/// model (its own tokenizer, read from the checkpoint the run names).
pub fn tokenizer_name(model: &crate::plan::ModelConfig) -> &'static str {
    match model {
        crate::plan::ModelConfig::Gpt(_) => TOKENIZER,
        crate::plan::ModelConfig::Pretrained(_) => "checkpoint",
    }
}

pub const MODEL_FILE: &str = "model.safetensors";
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
pub const META_FILE: &str = "meta.json";

/// What `meta.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    pub checkpoint_version: u32,
    pub tokenizer: String,
    /// The run this checkpoint belongs to (its parameters build the model).
    pub run: RunPlan,
    /// Optimiser steps completed.
    pub step: usize,
    /// State of the run's general RNG.
    pub rng: u64,
    /// Where the training data order stands.
    pub sampler: SamplerState,
    /// Real target tokens trained on so far.
    pub tokens_seen: u64,
    /// Positions processed in training so far (forward = 1, backward = 2, padding excluded; see `learn::train`).
    /// 0 in checkpoints written before it was recorded.
    #[serde(default)]
    pub positions: u64,
    /// Whether the run's last step is done.
    pub finished: bool,
    /// The latest held-out figures, if any.
    pub eval: Option<EvalReport>,
}

fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    dir.with_file_name(format!("{name}{suffix}"))
}

/// The folder that holds the checkpoint `dir`: itself, or `dir.old` left by a save interrupted after its first rename.
pub fn resolve(dir: &Path) -> Option<PathBuf> {
    if dir.join(META_FILE).is_file() {
        return Some(dir.to_path_buf());
    }
    let old = sibling(dir, ".old");
    old.join(META_FILE).is_file().then_some(old)
}

/// Write a checkpoint to `dir`, replacing any previous one only once the new one is complete.
pub fn save(dir: &Path, varmap: &VarMap, optimizer: Option<&AdamW>, meta: &Meta) -> anyhow::Result<()> {
    let tmp = sibling(dir, ".tmp");
    let old = sibling(dir, ".old");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)?;
    }
    let fault = fault::next_save();
    std::fs::create_dir_all(&tmp)?;
    varmap.save(tmp.join(MODEL_FILE))?;
    fault.at(fault::Point::Written);
    if let Some(opt) = optimizer {
        candle_core::safetensors::save(&opt.state(), tmp.join(OPTIMIZER_FILE))?;
    }
    std::fs::write(tmp.join(META_FILE), serde_json::to_string_pretty(meta)?)?;
    for name in [MODEL_FILE, OPTIMIZER_FILE, META_FILE] {
        // On disk before the rename makes the folder the checkpoint (a crash of the machine, not only of us).
        if let Ok(file) = std::fs::File::open(tmp.join(name)) {
            file.sync_all()?;
        }
    }
    if dir.exists() {
        if old.exists() {
            std::fs::remove_dir_all(&old)?;
        }
        std::fs::rename(dir, &old)?;
    }
    fault.at(fault::Point::Renamed);
    std::fs::rename(&tmp, dir)?;
    if old.exists() {
        std::fs::remove_dir_all(&old)?;
    }
    Ok(())
}

/// Read `meta.json` of the checkpoint in `dir`; a missing or unreadable one is invalid input.
pub fn read_meta(dir: &Path) -> anyhow::Result<(PathBuf, Meta)> {
    let found = resolve(dir)
        .ok_or_else(|| invalid(format!("`{}` is not a checkpoint folder (no `{META_FILE}` in it)", dir.display())))?;
    let path = found.join(META_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| invalid(format!("cannot read `{}`: {e}", path.display())))?;
    let meta: Meta = serde_json::from_str(&text)
        .map_err(|e| invalid(format!("`{}` is not a thinktok checkpoint: {e}", path.display())))?;
    let expected = tokenizer_name(&meta.run.params.model);
    if meta.tokenizer != expected {
        return Err(invalid(format!(
            "checkpoint `{}` uses tokenizer `{}`; this thinktok has `{expected}` for its model",
            found.display(),
            meta.tokenizer
        )));
    }
    if meta.checkpoint_version != CHECKPOINT_VERSION {
        return Err(invalid(format!(
            "checkpoint `{}` has layout version {}; this thinktok reads version {CHECKPOINT_VERSION}",
            found.display(),
            meta.checkpoint_version
        )));
    }
    Ok((found, meta))
}

/// Fault injection for the crash-safety test: `THINKTOK_FAULT_CHECKPOINT=N:written` aborts the process during the
/// N-th checkpoint save of the process (1-based) once the model file is written to the temporary folder;
/// `N:renamed` once the previous checkpoint is renamed away and before the new one takes its place. Read per save;
/// unset (always, outside that test) it costs one environment lookup per checkpoint.
mod fault {
    use std::sync::atomic::{AtomicUsize, Ordering};

    static SAVES: AtomicUsize = AtomicUsize::new(0);

    #[derive(Clone, Copy, PartialEq, Eq)]
    pub enum Point {
        Written,
        Renamed,
    }

    pub struct Fault(Option<Point>);

    /// This save's fault, if the environment asks for one now.
    pub fn next_save() -> Fault {
        let n = SAVES.fetch_add(1, Ordering::Relaxed) + 1;
        let wanted = std::env::var("THINKTOK_FAULT_CHECKPOINT").ok().and_then(|v| {
            let (at, point) = v.split_once(':')?;
            let point = match point {
                "written" => Point::Written,
                "renamed" => Point::Renamed,
                _ => return None,
            };
            (at.parse::<usize>().ok()? == n).then_some(point)
        });
        Fault(wanted)
    }

    impl Fault {
        pub fn at(&self, point: Point) {
            if self.0 == Some(point) {
                eprintln!("THINKTOK_FAULT_CHECKPOINT: aborting mid-checkpoint, as asked");
                std::process::abort();
            }
        }
    }
}

/// The tensors of a safetensors file, or an invalid-input error naming it.
fn read_tensors(path: &Path, device: &Device) -> anyhow::Result<HashMap<String, Tensor>> {
    candle_core::safetensors::load(path, device).map_err(|e| {
        invalid(format!("cannot read checkpoint file `{}` (corrupt or not safetensors): {e}", path.display()))
    })
}

/// Overwrite the variables of `varmap` with the weights in `dir`: the same names and shapes, or invalid input.
pub fn load_weights(dir: &Path, varmap: &VarMap, device: &Device) -> anyhow::Result<()> {
    let path = dir.join(MODEL_FILE);
    let tensors = read_tensors(&path, device)?;
    let vars = varmap.data().lock().map_err(|_| anyhow::anyhow!("the VarMap lock is poisoned"))?;
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    let shape_error =
        |what: String| invalid(format!("checkpoint `{}` is of another model shape: {what}", path.display()));
    for name in &names {
        let var = &vars[*name];
        let saved = tensors.get(*name).ok_or_else(|| shape_error(format!("it lacks `{name}`")))?;
        if saved.dims() != var.dims() {
            return Err(shape_error(format!("`{name}` is {:?} there, the model's is {:?}", saved.dims(), var.dims())));
        }
    }
    if let Some(extra) = tensors.keys().find(|k| !vars.contains_key(*k)) {
        return Err(shape_error(format!("it holds `{extra}`, which the model lacks")));
    }
    for name in names {
        let var = &vars[name];
        var.set(&tensors[name].to_dtype(var.dtype())?)?;
    }
    Ok(())
}

/// Restore the optimiser moments saved in `dir` after `step` steps.
pub fn load_optimizer(dir: &Path, optimizer: &mut AdamW, step: usize, device: &Device) -> anyhow::Result<()> {
    let path = dir.join(OPTIMIZER_FILE);
    let tensors = read_tensors(&path, device)?;
    optimizer
        .load_state(&tensors, step as u64)
        .map_err(|e| invalid(format!("checkpoint file `{}`: {e}", path.display())))
}
