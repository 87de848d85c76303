//! The plan's data settings: training and held-out sources, built-in tasks and their argument types.

use serde::{Deserialize, Serialize};

/// Training and held-out data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataConfig {
    pub train: DataSource,
    pub test: DataSource,
}

/// Where sequences come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DataSource {
    /// A built-in generated task, deterministic by seed.
    Task { task: TaskKind, count: usize, seed: u64 },
    /// JSONL with `{"text": …}` or `{"prompt": …, "answer": …}` per line.
    Jsonl { path: String },
    /// A text file or a folder of `.txt` files, packed into fixed-length sequences.
    /// `split` selects the part of the deterministic train/held-out split this source reads.
    Text { path: String, split: TextSplit, holdout: f64 },
}

/// Which part of a text source's deterministic split to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TextSplit {
    Train,
    Test,
}

/// Built-in generated tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TaskKind {
    /// n digits; answer TRUE iff some triple i<j<l sums to 0 mod 10; classes balanced.
    Sum3 { digits: usize },
    /// a×b with `digits`-digit operands, product least-significant digit first; held-out pairs never trained on.
    Multiply { digits: usize },
    /// The sum of `terms` numbers of `digits` digits (a sanity task).
    Addition { terms: usize, digits: usize },
    /// Addition with the number of terms drawn per example from `terms` (`task.addition(terms = a..b)`); the
    /// example's group is `terms=k`; the answer is padded to the width of the largest sum.
    AdditionMixed { terms: IntRange, digits: usize },
    /// Pointer chasing: a random permutation f of the first `letters` letters written as pairs `xy` (f(x) = y),
    /// then `?`, a start letter and k; the answer is f^k(start), k drawn per example from `hops` (group `hops=k`).
    Hops { letters: usize, hops: IntRange, order: PairOrder },
    /// Permutation composition (state tracking): k uniformly random permutations of the first `letters` letters,
    /// each as its pairs `xy` in key order, separated by `|`, then `?` and a start letter; the answer is the letter
    /// reached by applying them left to right, k drawn per example from `steps` (group `steps=k`).
    Compose { letters: usize, steps: IntRange },
}

/// An integer range as the language writes it, `start..end`: start included, end excluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntRange {
    pub start: usize,
    pub end: usize,
}

impl IntRange {
    /// The largest value in the range (`end - 1`).
    pub fn last(&self) -> usize {
        self.end.saturating_sub(1).max(self.start)
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Display for IntRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

/// The order in which `hops` writes its pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PairOrder {
    /// Key order `a`, `b`, `c`, …: each hop reads a fixed position.
    Sorted,
    /// A random order per example: each hop is a search.
    Shuffled,
}
