//! Where `eval`, `generate` and `debug tokens` get their model: a thinktok checkpoint folder (`--ckpt`), or a
//! pretrained checkpoint as it was published (`--model`: a `.gguf` file or a Hugging Face folder), compiled as a
//! one-run spec so that it is checked (and diagnosed) exactly as `model pretrained { … }` in a spec is.

use std::path::{Path, PathBuf};

use crate::engine::device::{device, parse_device};
use crate::engine::error::invalid;
use crate::engine::learn::{build_run_model, checkpoint, Built};
use crate::plan::RunPlan;

/// A model ready to use, and what it is.
pub struct Loaded {
    pub run: RunPlan,
    pub built: Built,
    /// Optimiser steps of a thinktok checkpoint; 0 for a pretrained model as published.
    pub step: usize,
    /// The checkpoint folder, for a thinktok checkpoint.
    pub ckpt: Option<PathBuf>,
}

/// The one run of `model pretrained { path = PATH, context = CONTEXT }` (no thoughts; its data is a placeholder:
/// the commands give their own).
/// `context`: as given, or `default` cut to the checkpoint's own context.
pub fn pretrained_run(path: &Path, context: Option<usize>, default: usize) -> anyhow::Result<RunPlan> {
    let own = crate::pretrained::inspect(path).map(|i| i.shape.max_context).unwrap_or(default);
    let context = context.unwrap_or(default.min(own));
    let spec = format!(
        "version = 1\nexperiment \"pretrained\" {{\n  model pretrained {{\n    path = {:?}\n    context = {context}\n  }}\n  \
         data {{\n    train = task.sum3(count = 2)\n    test = task.sum3(count = 2, seed = 1)\n  }}\n  \
         episode {{\n    thought_budget = 0\n  }}\n}}\n",
        path.display().to_string()
    );
    let plan = crate::compile_str_with("--model", &spec, &[])
        .map_err(|diags| invalid(diags.render(super::check::stderr_color()).trim_end().to_string()))?;
    plan.runs.into_iter().next().ok_or_else(|| invalid("the model compiles to no run"))
}

/// The model of `--ckpt DIR` or of `--model PATH` (with `--context`), on `--device` (default: the run's).
pub fn load(
    ckpt: Option<&Path>,
    model: Option<&Path>,
    context: Option<usize>,
    default_context: usize,
    device_arg: Option<&str>,
    adjust: impl FnOnce(&mut RunPlan) -> anyhow::Result<()>,
) -> anyhow::Result<Loaded> {
    let (mut run, step, dir) = match (ckpt, model) {
        (Some(ckpt), None) => {
            let (dir, meta) = checkpoint::read_meta(ckpt)?;
            let name = dir.join("meta.json").display().to_string();
            let estimates = crate::plan_file::validate_run(&name, "its run", &meta.run).map_err(|problems| {
                invalid(format!("the checkpoint's `{name}` is not a run thinktok wrote:\n\n{}", problems.join("\n")))
            })?;
            let mut run = meta.run;
            run.estimates = estimates;
            (run, meta.step, Some(dir))
        }
        (None, Some(model)) => (pretrained_run(model, context, default_context)?, 0, None),
        _ => {
            return Err(invalid(
                "give either `--ckpt DIR` (a thinktok checkpoint) or `--model PATH` (a pretrained model)",
            ))
        }
    };
    adjust(&mut run)?;
    let spec = match device_arg {
        Some(text) => parse_device(text).map_err(|e| invalid(format!("{e:#}")))?,
        None => run.params.device,
    };
    // The master weights are f32: on the CPU, which computes in f32 only, a reduced-dtype run is evaluated in f32.
    if spec == crate::plan::DeviceSpec::Cpu && !run.params.dtype.is_f32() {
        eprintln!("note: `{}` trained with dtype = {}; the CPU computes in f32", run.id, run.params.dtype.name());
        run.params.dtype = crate::plan::Precision::F32;
    }
    if let Some(message) = crate::engine::device::memory_shortfall(std::slice::from_ref(&run), Some(spec)) {
        return Err(invalid(message));
    }
    let device = device(spec)?;
    let built = build_run_model(&run.params, &device)?;
    if let Some(dir) = &dir {
        checkpoint::load_weights(dir, &built.varmap, &device)?;
    }
    Ok(Loaded { run, built, step, ckpt: dir })
}
