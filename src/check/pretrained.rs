//! `model pretrained { path = "…" }`: the checkpoint inspected when the spec is checked (once per path), so that a
//! missing or unreadable file, an unsupported architecture or quantisation, or a context longer than the model's is a
//! diagnostic at the spec's span, and the plan's estimates come from the checkpoint's own configuration.

use std::collections::HashMap;
use std::path::Path;

use super::resolve::Ctx;
use super::tree::{RBlock, RVal};
use crate::plan::{ModelConfig, PretrainedConfig, TrainPart, SPECIAL_TOKENS};
use crate::pretrained::{inspect, InspectError, InspectErrorKind, Inspected};

/// Checkpoints inspected so far in one check, by path (a sweep of 100 runs reads a header once).
#[derive(Default)]
pub struct Inspections(HashMap<String, Result<Inspected, InspectError>>);

/// The run's model when its `model` block is `pretrained`: `Some(Some(config))`, or `Some(None)` after reporting an
/// error; `None` for any other model kind.
pub fn model(ctx: &mut Ctx, root: &RBlock, seen: &mut Inspections) -> Option<Option<ModelConfig>> {
    let block = root.block("model")?;
    if block.label.as_deref() != Some("pretrained") {
        return None;
    }
    let at = |key: &str| root.span_of(&["model", key]).or(block.span).unwrap_or_default();
    let path = match block.entries.get("path").map(|n| &n.val) {
        Some(RVal::Str(s)) => s.clone(),
        _ => return Some(None), // missing or mistyped: already reported
    };
    let inspected = seen.0.entry(path.clone()).or_insert_with(|| inspect(Path::new(&path))).clone();
    let inspected = match inspected {
        Ok(i) => i,
        Err(e) => {
            let (code, label) = match e.kind {
                InspectErrorKind::Unreadable => ("E0320", "cannot be read"),
                InspectErrorKind::Corrupt => ("E0321", "not a valid checkpoint"),
                InspectErrorKind::Unsupported => ("E0322", "not supported"),
            };
            ctx.err(code, at("path"), e.message, label).push_hint(e.hint);
            return Some(None);
        }
    };
    let context = match block.entries.get("context").map(|n| &n.val) {
        Some(RVal::Int(c)) => usize::try_from(*c).ok()?,
        _ => return Some(None),
    };
    let shape = inspected.shape;
    let mut ok = true;
    if context > shape.max_context {
        ctx.err(
            "E0323",
            at("context"),
            format!("`context = {context}` is longer than the checkpoint's context of {}", shape.max_context),
            "longer than the model was trained for",
        )
        .push_hint(format!("use at most {}", shape.max_context));
        ok = false;
    }
    let train = match block.entries.get("train").map(|n| &n.val) {
        Some(RVal::Call(c)) if c.func.name == "last" => match c.args.get("layers").map(|n| &n.val) {
            Some(RVal::Int(n)) => TrainPart::Last { layers: usize::try_from(*n).ok()? },
            _ => return Some(None),
        },
        Some(RVal::Call(_)) => TrainPart::All,
        _ => return Some(None),
    };
    if let TrainPart::Last { layers } = train {
        if layers > shape.layers {
            ctx.err(
                "E0324",
                at("train"),
                format!("`last(layers = {layers})` trains more blocks than the checkpoint's {}", shape.layers),
                "more blocks than the model has",
            )
            .push_hint(format!("use `last(layers = {})` or `all()`", shape.layers));
            ok = false;
        }
    }
    let vocab_size = shape.vocab + SPECIAL_TOKENS;
    let model =
        ModelConfig::Pretrained(PretrainedConfig { path, format: inspected.format, shape, context, train, vocab_size });
    Some(ok.then_some(model))
}
