//! The language reference generated from the checker's tables; `docs/language.md` embeds it between markers and a
//! test fails when the two drift (`THINKTOK_UPDATE_DOCS=1 cargo test --test frontend_pipeline` rewrites it).

use std::fmt::Write as _;

use super::schema::{BlockSpec, FnSpec, KeySpec, Ty, DISTRIBUTIONS, EXPERIMENT};

/// Marks the start of the generated part of `docs/language.md`.
pub const START: &str = "<!-- reference:start (generated from src/check/schema.rs; do not edit by hand) -->";
/// Marks its end.
pub const END: &str = "<!-- reference:end -->";

/// Markdown for every block, key, type, range, default, function and argument.
pub fn reference() -> String {
    let mut out = String::new();
    block(&mut out, &EXPERIMENT, "experiment \"name\"");
    for key in EXPERIMENT.keys {
        if let Ty::Block(b) = key.ty {
            let head = match b.labels.first() {
                Some(l) => format!("{} {l}", b.name),
                None => b.name.to_string(),
            };
            block(&mut out, b, &head);
            for v in b.variants {
                let head = format!("{} {}", v.name, v.labels.first().copied().unwrap_or_default());
                block(&mut out, v, &head);
            }
        }
    }
    let _ = writeln!(out, "### Sweep distributions (inside `sample(count = N, seed = S) {{ … }}`)\n");
    for f in DISTRIBUTIONS {
        let _ = writeln!(out, "- `{}`: {}", f.signature(), f.doc);
    }
    out
}

fn block(out: &mut String, b: &BlockSpec, head: &str) {
    let _ = writeln!(out, "### `{head} {{ … }}`\n\n{}\n", b.doc);
    let _ = writeln!(out, "| key | type | default | meaning |\n|---|---|---|---|");
    for k in b.keys {
        row(out, k);
    }
    out.push('\n');
    for k in b.keys {
        if let Ty::Choice(fns) = k.ty {
            let _ = writeln!(out, "Values of `{}.{}`:\n", b.name, k.name);
            functions(out, fns, 0);
            out.push('\n');
        }
    }
}

fn row(out: &mut String, k: &KeySpec) {
    let ty = match k.ty {
        Ty::Choice(_) => "see below".to_string(),
        ty => ty.describe(),
    };
    let _ = writeln!(out, "| `{}` | {} | `{}` | {} |", k.name, ty, k.default.describe(), k.doc);
}

fn functions(out: &mut String, fns: &[FnSpec], depth: usize) {
    let pad = "  ".repeat(depth);
    for f in fns {
        let _ = writeln!(out, "{pad}- `{}`: {}", f.signature(), f.doc);
        for a in f.args {
            let ty = match a.ty {
                Ty::Choice(_) => "one of the functions below".to_string(),
                ty => ty.describe(),
            };
            let _ = writeln!(out, "{pad}  - `{}`: {ty}, default `{}`. {}", a.name, a.default.describe(), a.doc);
            if let Ty::Choice(inner) = a.ty {
                functions(out, inner, depth + 2);
            }
        }
    }
}
