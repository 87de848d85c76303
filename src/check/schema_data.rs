//! The `data` block's tables: the built-in tasks, JSONL and text sources, and their arguments. Part of
//! [`super::schema`].

use super::table::{closed, func, ge, key, open, BlockSpec, Default, FnSpec, KeySpec, Ty};

const COUNT: KeySpec = key("count", Ty::Int(ge(1.0)), Default::Int(10000), "Number of generated sequences.");
const TASK_SEED: KeySpec =
    key("seed", Ty::Int(ge(0.0)), Default::Int(0), "Generator seed (give train and test different seeds).");

/// The letters a depth-bound task permutes, with the task's default count.
const fn letters(default: i64) -> KeySpec {
    key("letters", Ty::Int(closed(2.0, 26.0)), Default::Int(default), "Letters permuted (`a` onwards).")
}

/// A depth-bound task's difficulty: an integer or a range of k, drawn per example (group `{name}=k`).
const fn difficulty(name: &'static str, max: f64, doc: &'static str) -> KeySpec {
    key(name, Ty::IntOrRange(closed(1.0, max)), Default::Range(1, 5), doc)
}

pub static SOURCES: &[FnSpec] = &[
    func(
        "task.sum3",
        &[key("digits", Ty::Int(ge(3.0)), Default::Int(6), "Digits per sequence."), COUNT, TASK_SEED],
        "3SUM mod 10: TRUE iff some triple of digits sums to 0 mod 10; classes balanced.",
    ),
    func(
        "task.multiply",
        &[key("digits", Ty::Int(ge(1.0)), Default::Int(3), "Digits per operand."), COUNT, TASK_SEED],
        "a×b, product least-significant digit first; held-out pairs never trained on.",
    ),
    func(
        "task.addition",
        &[
            key(
                "terms",
                Ty::IntOrRange(ge(2.0)),
                Default::Int(2),
                "Numbers summed; a range `a..b` draws the count per example (group `terms=k`).",
            ),
            key("digits", Ty::Int(ge(1.0)), Default::Int(3), "Digits per number."),
            COUNT,
            TASK_SEED,
        ],
        "The sum of `terms` numbers, least-significant digit first, padded to the widest sum (a range of terms: \
         depth-bound, each term one more carry chain).",
    ),
    func(
        "task.hops",
        &[
            letters(8),
            difficulty("hops", 9.0, "Hops k, drawn per example from the range (group `hops=k`); `1..5` is 1 to 4."),
            key("order", Ty::Choice(PAIR_ORDERS), Default::Call("sorted"), "`sorted` or `shuffled`."),
            COUNT,
            TASK_SEED,
        ],
        "Pointer chasing: a random single cycle f through the letters, as pairs `xy` (f(x) = y), `?`, a start letter, k, `=`; the answer is \
         f^k(start) (`ad bf ch db eg fc ga he?c3=` → `g`).",
    ),
    func(
        "task.compose",
        &[
            letters(5),
            difficulty(
                "steps",
                16.0,
                "Permutations composed, drawn per example from the range (group `steps=k`); `1..5` is 1 to 4.",
            ),
            COUNT,
            TASK_SEED,
        ],
        "Permutation composition (state tracking): k random permutations, each as its pairs `xy` (p(x) = y) in key \
         order with nothing between them, separated by `|`, then `?`, a start letter, `=`; the answer is the \
         letter reached by applying them left to right (`abbcca|aabccb|acbacb?b=` → `a`).",
    ),
    func("jsonl", &[key("path", Ty::Str, Default::Required, "File path, as written (a relative one is read from the working directory).")], "JSONL with `{\"text\": …}` or `{\"prompt\": …, \"answer\": …}` per line."),
    func(
        "text",
        &[
            key("path", Ty::Str, Default::Required, "A text file or a folder of `.txt` files."),
            key("holdout", Ty::Float(open(0.0, 1.0)), Default::Float(0.1), "Fraction held out for testing."),
        ],
        "Text packed into fixed-length sequences; `train` reads the training part of the split, `test` the held-out part.",
    ),
];

pub static PAIR_ORDERS: &[FnSpec] = &[
    func("sorted", &[], "Pairs in key order `a`, `b`, `c`, …: each hop reads a fixed position."),
    func("shuffled", &[], "Pairs in a random order per example: each hop is a search."),
];

pub static DATA: BlockSpec = BlockSpec {
    name: "data",
    labels: &[],
    doc: "Training and held-out data.",
    variants: &[],
    keys: &[
        key("train", Ty::Choice(SOURCES), Default::Required, "Training data."),
        key("test", Ty::Choice(SOURCES), Default::Required, "Held-out data (must differ from `train`)."),
    ],
};
