//! The types of the language's tables (see [`super::schema`]): ranges, types, defaults, keys, functions, blocks.
/// One end of a numeric range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    Unbounded,
    Incl(f64),
    Excl(f64),
}

/// The allowed values of a number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    pub lo: Bound,
    pub hi: Bound,
}

impl Range {
    pub const ANY: Range = Range { lo: Bound::Unbounded, hi: Bound::Unbounded };

    pub fn contains(&self, x: f64) -> bool {
        let lo = match self.lo {
            Bound::Unbounded => true,
            Bound::Incl(a) => x >= a,
            Bound::Excl(a) => x > a,
        };
        let hi = match self.hi {
            Bound::Unbounded => true,
            Bound::Incl(b) => x <= b,
            Bound::Excl(b) => x < b,
        };
        lo && hi
    }

    /// `≥ 1`, `in (0, 1)`, `in [0, 1)`; empty when unbounded.
    pub fn describe(&self) -> String {
        match (self.lo, self.hi) {
            (Bound::Unbounded, Bound::Unbounded) => String::new(),
            (Bound::Incl(a), Bound::Unbounded) => format!("≥ {a}"),
            (Bound::Excl(a), Bound::Unbounded) => format!("> {a}"),
            (Bound::Unbounded, Bound::Incl(b)) => format!("≤ {b}"),
            (Bound::Unbounded, Bound::Excl(b)) => format!("< {b}"),
            (lo, hi) => {
                let (l, a) = match lo {
                    Bound::Incl(a) => ('[', a),
                    Bound::Excl(a) => ('(', a),
                    Bound::Unbounded => ('(', f64::NEG_INFINITY),
                };
                let (h, b) = match hi {
                    Bound::Incl(b) => (']', b),
                    Bound::Excl(b) => (')', b),
                    Bound::Unbounded => (')', f64::INFINITY),
                };
                format!("in {l}{a}, {b}{h}")
            }
        }
    }
}

pub(super) const fn ge(a: f64) -> Range {
    Range { lo: Bound::Incl(a), hi: Bound::Unbounded }
}
pub(super) const fn gt(a: f64) -> Range {
    Range { lo: Bound::Excl(a), hi: Bound::Unbounded }
}
pub(super) const fn open(a: f64, b: f64) -> Range {
    Range { lo: Bound::Excl(a), hi: Bound::Excl(b) }
}
pub(super) const fn closed_open(a: f64, b: f64) -> Range {
    Range { lo: Bound::Incl(a), hi: Bound::Excl(b) }
}
pub(super) const fn closed(a: f64, b: f64) -> Range {
    Range { lo: Bound::Incl(a), hi: Bound::Incl(b) }
}

/// The type of a key or argument.
#[derive(Debug, Clone, Copy)]
pub enum Ty {
    Int(Range),
    Float(Range),
    Bool,
    Str,
    /// An integer, or `none`.
    OptInt(Range),
    /// A number, or `none`.
    OptFloat(Range),
    /// An integer, or a range `a..b` (end excluded, not empty) of integers; every value in the range.
    IntOrRange(Range),
    /// One of these functions; a bare name `f` means `f()`.
    Choice(&'static [FnSpec]),
    /// A nested block.
    Block(&'static BlockSpec),
}

impl Ty {
    /// How the type reads in messages and docs.
    pub fn describe(&self) -> String {
        let with = |base: &str, r: &Range| {
            let d = r.describe();
            if d.is_empty() {
                base.to_string()
            } else {
                format!("{base} {d}")
            }
        };
        match self {
            Ty::Int(r) => with("an integer", r),
            Ty::Float(r) => with("a number", r),
            Ty::Bool => "`true` or `false`".into(),
            Ty::Str => "a string".into(),
            Ty::OptInt(r) => with("`none` or an integer", r),
            Ty::OptFloat(r) => with("`none` or a number", r),
            Ty::IntOrRange(r) => with("an integer or a range `a..b` (b excluded) of integers", r),
            Ty::Choice(fns) => {
                let names: Vec<String> = fns.iter().map(|f| format!("`{}`", f.signature())).collect();
                format!("one of {}", names.join(", "))
            }
            Ty::Block(b) => format!("the `{}` block", b.name),
        }
    }
}

/// A key's default.
#[derive(Debug, Clone, Copy)]
pub enum Default {
    /// The key must be given.
    Required,
    Int(i64),
    Float(f64),
    Bool(bool),
    None,
    /// The range `start..end` (end excluded).
    Range(i64, i64),
    /// This function with all its defaults.
    Call(&'static str),
    /// A nested block with all its defaults.
    Block,
}

impl Default {
    pub fn describe(&self) -> String {
        match self {
            Default::Required => "required".into(),
            Default::Int(i) => i.to_string(),
            Default::Float(f) => format!("{f:?}"),
            Default::Bool(b) => b.to_string(),
            Default::None => "none".into(),
            Default::Range(a, b) => format!("{a}..{b}"),
            Default::Call(name) => format!("{name}()"),
            Default::Block => "(defaults)".into(),
        }
    }
}

/// A key of a block, or an argument of a function.
#[derive(Debug, Clone, Copy)]
pub struct KeySpec {
    pub name: &'static str,
    pub ty: Ty,
    pub default: Default,
    pub doc: &'static str,
}

/// A function usable as a value, e.g. `fast_forward(fallback = best_rank)`.
#[derive(Debug)]
pub struct FnSpec {
    pub name: &'static str,
    /// In order: positional arguments fill them left to right.
    pub args: &'static [KeySpec],
    pub doc: &'static str,
}

impl FnSpec {
    pub fn signature(&self) -> String {
        if self.args.is_empty() {
            self.name.to_string()
        } else {
            let args: Vec<&str> = self.args.iter().map(|a| a.name).collect();
            format!("{}({})", self.name, args.join(", "))
        }
    }

    pub fn arg(&self, name: &str) -> Option<&'static KeySpec> {
        self.args.iter().find(|a| a.name == name)
    }
}

/// A block: its keys, and the labels it accepts after its name (`model gpt { … }`).
#[derive(Debug)]
pub struct BlockSpec {
    pub name: &'static str,
    pub keys: &'static [KeySpec],
    /// Allowed labels; empty: no label. The first is the default.
    pub labels: &'static [&'static str],
    pub doc: &'static str,
    /// Blocks of the same name with other labels and their own keys (`model pretrained { … }` beside
    /// `model gpt { … }`): a label of one of them selects its keys.
    pub variants: &'static [&'static BlockSpec],
}

impl BlockSpec {
    pub fn key(&self, name: &str) -> Option<&'static KeySpec> {
        self.keys.iter().find(|k| k.name == name)
    }

    /// The block spec that `label` selects: this one, or one of its variants.
    pub fn with_label(&'static self, label: &str) -> Option<&'static BlockSpec> {
        if self.labels.contains(&label) {
            return Some(self);
        }
        self.variants.iter().copied().find(|v| v.labels.contains(&label))
    }

    /// Every label this block accepts, its variants' included.
    pub fn all_labels(&self) -> Vec<&'static str> {
        self.labels.iter().chain(self.variants.iter().flat_map(|v| v.labels.iter())).copied().collect()
    }
}

/// A key of a table (for the `schema` files).
pub(super) const fn key(name: &'static str, ty: Ty, default: Default, doc: &'static str) -> KeySpec {
    KeySpec { name, ty, default, doc }
}

/// A function of a table (for the `schema` files).
pub(super) const fn func(name: &'static str, args: &'static [KeySpec], doc: &'static str) -> FnSpec {
    FnSpec { name, args, doc }
}
