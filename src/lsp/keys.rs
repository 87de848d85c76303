//! Keys and functions by name, from the schema tables: the scope a block opens, dotted keys resolved through blocks
//! and call arguments (`learn.optimizer.lr`), a function among a type's choices.

use crate::check::schema::{BlockSpec, Default, FnSpec, KeySpec, Ty, DISTRIBUTIONS, EXPERIMENT};

/// The kind of block an item stands in.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    /// The file's top level: `import`, `version`, `experiment`, `sweep`.
    Top,
    Block(&'static BlockSpec),
    /// `sweep { … }` and its `product`, `zip` and `concat` parts: keys are dotted paths from the experiment.
    Sweep,
    /// `sample(…) { … }` inside a sweep: keys as in a sweep, values distributions.
    Sample,
    /// A block the language does not have (no keys to offer).
    Unknown,
}

impl Scope {
    /// The scope of a block named `name` (with `label`, which may select a variant: `model pretrained`) opened
    /// in this one.
    pub(super) fn child(self, name: &str, label: Option<&str>) -> Scope {
        match (self, name) {
            (Scope::Top, "experiment") => Scope::Block(&EXPERIMENT),
            (Scope::Top, "sweep") => Scope::Sweep,
            (Scope::Block(b), _) => match b.key(name).map(|k| k.ty) {
                Some(Ty::Block(inner)) => Scope::Block(label.and_then(|l| inner.with_label(l)).unwrap_or(inner)),
                _ => Scope::Unknown,
            },
            (Scope::Sweep, "product" | "zip" | "concat") => Scope::Sweep,
            (Scope::Sweep, "sample") => Scope::Sample,
            _ => Scope::Unknown,
        }
    }

    /// The block a (dotted) key written in this scope starts from.
    pub fn root(self) -> Option<&'static BlockSpec> {
        match self {
            Scope::Block(b) => Some(b),
            Scope::Sweep | Scope::Sample => Some(&EXPERIMENT),
            Scope::Top | Scope::Unknown => None,
        }
    }

    /// The type of a value written for `key` in this scope (a sweep axis takes a list or range of the key's own
    /// values; a `sample` line takes a distribution).
    pub(super) fn value_type(self, key: &str) -> Option<Ty> {
        match self {
            Scope::Sample => Some(Ty::Choice(DISTRIBUTIONS)),
            _ => resolve(self.root()?, key).map(|k| k.ty),
        }
    }
}

/// What can follow a key with a dot: a block's keys, or the arguments of a function-valued key's default.
pub fn members(key: &KeySpec) -> &'static [KeySpec] {
    match (key.ty, key.default) {
        (Ty::Block(b), _) => b.keys,
        (Ty::Choice(fns), Default::Call(name)) => fns.iter().find(|f| f.name == name).map_or(&[], |f| f.args),
        _ => &[],
    }
}

/// The key a dotted path names, from `root` (`learn.optimizer.lr`: through a block, then a function's argument).
pub fn resolve(root: &'static BlockSpec, path: &str) -> Option<&'static KeySpec> {
    let mut segments = path.split('.');
    let mut key = root.key(segments.next()?)?;
    for segment in segments {
        key = match members(key).iter().find(|k| k.name == segment) {
            Some(k) => k,
            // Not an argument of the default function: of any function the key can take.
            None => match key.ty {
                Ty::Choice(fns) => fns.iter().find_map(|f| f.arg(segment))?,
                _ => return None,
            },
        };
    }
    Some(key)
}

/// The function `name` among a type's choices.
pub fn function(ty: Option<Ty>, name: &str) -> Option<&'static FnSpec> {
    match ty? {
        Ty::Choice(fns) => fns.iter().find(|f| f.name == name),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_dotted_keys() {
        assert_eq!(resolve(&EXPERIMENT, "episode.cull").map(|k| k.name), Some("cull"));
        assert_eq!(resolve(&EXPERIMENT, "learn.optimizer.lr").map(|k| k.name), Some("lr"));
        assert_eq!(resolve(&EXPERIMENT, "episode.insertion.fallback").map(|k| k.name), Some("fallback"));
        assert!(resolve(&EXPERIMENT, "episode.nope").is_none());
    }
}
