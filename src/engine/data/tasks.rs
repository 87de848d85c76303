//! Built-in generated tasks, deterministic by seed: `sum3`, `multiply`, `addition` (a fixed or a mixed number of
//! terms), `hops` and `compose`.
//!
//! Each example is a prompt and an answer in plain text (`384920=` → `T`); loss and accuracy cover the answer only.
//! The depth-bound tasks (`hops`, `compose`, `addition` with a range of terms) draw their difficulty per example and name it
//! in the example's group (`hops=3`, `terms=4`), so evaluation can report each difficulty apart.

use super::Role;
use crate::engine::rng::Rng;
use crate::plan::{IntRange, PairOrder, TaskKind};

/// One generated example; serialised (fields in this order) it is a JSONL record `jsonl("…")` reads back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Example {
    pub prompt: String,
    pub answer: String,
    /// The example's difficulty group (`None` for tasks without one).
    pub group: Option<String>,
}

/// `count` examples of `task` for `role`, deterministic in `seed`.
pub fn generate(task: &TaskKind, count: usize, seed: u64, role: Role) -> Vec<Example> {
    let mut rng = Rng::derive(seed, &format!("task/{}", name(task)));
    (0..count)
        .map(|i| match *task {
            TaskKind::Sum3 { digits } => sum3(&mut rng, digits, i % 2 == 0),
            TaskKind::Multiply { digits } => multiply(&mut rng, digits, role),
            TaskKind::Addition { terms, digits } => addition(&mut rng, terms, digits),
            TaskKind::AdditionMixed { terms, digits } => addition_mixed(&mut rng, terms, digits),
            TaskKind::Hops { letters, hops: range, order } => hops(&mut rng, letters, range, order),
            TaskKind::Compose { letters, steps } => compose(&mut rng, letters, steps),
        })
        .collect()
}

/// The task's name as written in specs and on the command line.
pub fn name(task: &TaskKind) -> &'static str {
    match task {
        TaskKind::Sum3 { .. } => "sum3",
        TaskKind::Multiply { .. } => "multiply",
        TaskKind::Addition { .. } | TaskKind::AdditionMixed { .. } => "addition",
        TaskKind::Hops { .. } => "hops",
        TaskKind::Compose { .. } => "compose",
    }
}

/// Tokens of the longest example of `task` (prompt, answer and the closing end-of-text), to check against the context.
pub fn max_tokens(task: &TaskKind) -> usize {
    match *task {
        // digits, '=', answer, EOT
        TaskKind::Sum3 { digits } => digits + 3,
        // a '*' b '=' product(2·digits) EOT
        TaskKind::Multiply { digits } => 4 * digits + 3,
        // terms·digits + (terms-1) '+' + '=' + answer + EOT
        TaskKind::Addition { terms, digits } => {
            terms * digits + terms.saturating_sub(1) + 2 + addition_answer_digits(terms, digits)
        }
        // the longest example has the most terms
        TaskKind::AdditionMixed { terms, digits } => {
            let terms = terms.last().max(1);
            terms * digits + terms - 1 + 2 + addition_answer_digits(terms, digits)
        }
        // letters pairs of 2 and (letters-1) spaces, '?' start k '=', the answer letter, EOT
        TaskKind::Hops { letters, .. } => 3 * letters.clamp(1, 26) + 5,
        // k blocks of `letters` pairs (2 per letter) and k − 1 `|`, '?' start '=', the answer, EOT
        TaskKind::Compose { letters, steps } => {
            let k = steps.last().max(1);
            2 * k * letters.clamp(2, 26) + k + 4
        }
    }
}

/// Whether some triple i<j<l of `digits` sums to 0 mod 10.
pub fn has_zero_triple(digits: &[u8]) -> bool {
    let n = digits.len();
    (0..n).any(|i| (i + 1..n).any(|j| (j + 1..n).any(|l| (digits[i] + digits[j] + digits[l]) % 10 == 0)))
}

/// `sum3`: `n` random digits; answer `T` iff some triple sums to 0 mod 10, else `F`. Classes alternate, so they are
/// balanced; each example is drawn by rejection until it has the wanted class.
fn sum3(rng: &mut Rng, n: usize, want_true: bool) -> Example {
    // With n < 3 no triple exists: the only class is F (the rejection loop would never end).
    let want_true = want_true && n >= 3;
    loop {
        let digits: Vec<u8> = (0..n).map(|_| rng.below(10) as u8).collect();
        if has_zero_triple(&digits) == want_true {
            let prompt: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
            let answer = if want_true { "T" } else { "F" };
            return Example { prompt: format!("{prompt}="), answer: answer.to_string(), group: None };
        }
    }
}

/// Whether the pair (a, b) belongs to `multiply`'s held-out set: about one pair in ten, fixed by a hash, never
/// trained on (for operands of at least two digits).
pub fn multiply_held_out(a: u64, b: u64) -> bool {
    crate::plan::fnv1a64(format!("{a}*{b}").as_bytes()) % 10 == 0
}

/// `multiply`: a×b with `digits`-digit operands; product as 2·digits digits, least-significant first.
fn multiply(rng: &mut Rng, digits: usize, role: Role) -> Example {
    let digits = digits.clamp(1, 9) as u32;
    let low = if digits == 1 { 0 } else { 10u64.pow(digits - 1) };
    let high = 10u64.pow(digits);
    loop {
        let a = low + rng.below((high - low) as usize) as u64;
        let b = low + rng.below((high - low) as usize) as u64;
        // One-digit operands have too few pairs to hold some out.
        if digits >= 2 && multiply_held_out(a, b) != (role == Role::Test) {
            continue;
        }
        return Example {
            prompt: format!("{a}*{b}="),
            answer: reversed_digits(a * b, 2 * digits as usize),
            group: None,
        };
    }
}

fn addition_answer_digits(terms: usize, digits: usize) -> usize {
    let mut max_sum = (terms as u128) * (10u128.pow(digits.min(30) as u32) - 1);
    let mut n = 1;
    while max_sum >= 10 {
        max_sum /= 10;
        n += 1;
    }
    n
}

/// `addition`: `terms` numbers of `digits` digits (zero-padded, e.g. `007+120=`); their sum least-significant digit
/// first, zero-padded to the widest possible sum.
fn addition(rng: &mut Rng, terms: usize, digits: usize) -> Example {
    let width = addition_answer_digits(terms.max(1), digits.clamp(1, 18));
    addition_padded(rng, terms, digits, width)
}

/// `addition` with the sum written as `width` digits.
fn addition_padded(rng: &mut Rng, terms: usize, digits: usize, width: usize) -> Example {
    let digits = digits.clamp(1, 18);
    let high = 10u64.pow(digits as u32);
    let numbers: Vec<u64> = (0..terms.max(1)).map(|_| rng.below(high as usize) as u64).collect();
    let sum: u128 = numbers.iter().map(|&x| u128::from(x)).sum();
    // Zero-padded to a fixed width, so each digit's place is a fixed position in every prompt.
    let prompt: Vec<String> = numbers.iter().map(|x| format!("{x:0digits$}")).collect();
    Example { prompt: format!("{}=", prompt.join("+")), answer: reversed_digits_u128(sum, width), group: None }
}

/// `addition` with `terms` drawn per example from the range; the answer is padded to the widest sum of the range's
/// largest count, so every answer has the same length; group `terms=k`.
fn addition_mixed(rng: &mut Rng, terms: IntRange, digits: usize) -> Example {
    let k = draw(rng, terms).max(1);
    let width = addition_answer_digits(terms.last().max(1), digits.clamp(1, 18));
    Example { group: Some(format!("terms={k}")), ..addition_padded(rng, k, digits, width) }
}

/// A value drawn uniformly from `range` (its start when it is empty).
fn draw(rng: &mut Rng, range: IntRange) -> usize {
    range.start + rng.below(range.len())
}

/// The letter `i` (0 = `a`).
fn letter(i: usize) -> char {
    char::from(b'a' + i as u8)
}

/// `hops`: a uniformly random permutation f of the first `letters` letters as pairs `xy` (f(x) = y), in key order
/// or shuffled, then `?`, a start letter, the hop count k (one digit) and `=`; the answer is f^k(start). Group
/// `hops=k`.
fn hops(rng: &mut Rng, letters: usize, range: IntRange, order: PairOrder) -> Example {
    let n = letters.clamp(1, 26);
    // f is one random n-cycle (not any permutation): in a random permutation a letter lies on a cycle whose length
    // divides k often enough that "answer = the start letter" scores 1/3 at k = 2 and 3 with 6 letters, a shortcut
    // that needs no hop at all. On one n-cycle f^k(x) ≠ x for every 1 ≤ k < n: each hop must be followed.
    let mut cycle: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut cycle);
    let mut image = vec![0usize; n];
    for (i, &x) in cycle.iter().enumerate() {
        image[x] = cycle[(i + 1) % n];
    }
    let mut keys: Vec<usize> = (0..n).collect();
    if order == PairOrder::Shuffled {
        rng.shuffle(&mut keys);
    }
    let start = rng.below(n);
    let k = draw(rng, range).min(9);
    let answer = (0..k).fold(start, |x, _| image[x]);
    let pairs: Vec<String> = keys.iter().map(|&x| format!("{}{}", letter(x), letter(image[x]))).collect();
    Example {
        prompt: format!("{}?{}{k}=", pairs.join(" "), letter(start)),
        answer: letter(answer).to_string(),
        group: Some(format!("hops={k}")),
    }
}

/// `compose`: k uniformly random permutations p1 … pk of the first `letters` letters, each written as its pairs `xy`
/// (p(x) = y) in key order with nothing between them, the permutations separated by `|`, then `?`, a start letter
/// and `=`; the answer is pk(…p1(start)…), the state after applying them left to right. Group `steps=k`.
///
/// Uniform permutations leave no shortcut: the answer is uniform whatever the start and whatever any k − 1 of the
/// permutations are, so every permutation must be applied, in order. The keys are written out (not one-line
/// notation, `bca`) because a lookup by letter is what attention does well: in one-line notation a 2-layer and a
/// 4-layer model stayed at chance on every step count, one step included (5 letters, 8,000 steps). The pairs are not
/// space-separated because length is what the models here struggle with: a lookup the 2-layer model learns in
/// 2,000 steps at 19 tokens stays at chance through 4,000 steps once the same example is padded to 49 (with `task.hops`
/// as well), and without the spaces 5 letters and 3 steps make 37 tokens rather than 49.
fn compose(rng: &mut Rng, letters: usize, range: IntRange) -> Example {
    let n = letters.clamp(2, 26);
    let k = draw(rng, range).max(1);
    let start = rng.below(n);
    let mut state = start;
    let mut blocks = Vec::with_capacity(k);
    for _ in 0..k {
        let mut image: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut image);
        state = image[state];
        blocks.push(image.iter().enumerate().map(|(x, &y)| format!("{}{}", letter(x), letter(y))).collect::<String>());
    }
    Example {
        prompt: format!("{}?{}=", blocks.join("|"), letter(start)),
        answer: letter(state).to_string(),
        group: Some(format!("steps={k}")),
    }
}

fn reversed_digits(value: u64, width: usize) -> String {
    reversed_digits_u128(u128::from(value), width)
}

/// `value` as exactly `width` decimal digits, least-significant first.
fn reversed_digits_u128(mut value: u128, width: usize) -> String {
    (0..width)
        .map(|_| {
            let d = (value % 10) as u8;
            value /= 10;
            char::from(b'0' + d)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum3_is_balanced_correct_and_deterministic() {
        let task = TaskKind::Sum3 { digits: 6 };
        let a = generate(&task, 200, 3, Role::Train);
        assert_eq!(a, generate(&task, 200, 3, Role::Train));
        assert_ne!(a, generate(&task, 200, 4, Role::Train));
        let trues = a.iter().filter(|e| e.answer == "T").count();
        assert_eq!(trues, 100);
        for e in &a {
            let digits: Vec<u8> = e.prompt.trim_end_matches('=').bytes().map(|b| b - b'0').collect();
            assert_eq!(digits.len(), 6);
            assert_eq!(has_zero_triple(&digits), e.answer == "T");
            assert!(e.prompt.len() + e.answer.len() < max_tokens(&task));
        }
        assert!(has_zero_triple(&[1, 2, 7]));
        assert!(!has_zero_triple(&[1, 1, 1, 1]));
    }

    #[test]
    fn multiply_answers_are_reversed_products_and_test_pairs_are_never_trained() {
        let task = TaskKind::Multiply { digits: 2 };
        let train = generate(&task, 500, 0, Role::Train);
        let test = generate(&task, 100, 1, Role::Test);
        for e in train.iter().chain(&test) {
            let (a, b) = e.prompt.trim_end_matches('=').split_once('*').unwrap();
            let (a, b): (u64, u64) = (a.parse().unwrap(), b.parse().unwrap());
            assert!((10..100).contains(&a) && (10..100).contains(&b));
            let product: String = e.answer.chars().rev().collect();
            assert_eq!(product.parse::<u64>().unwrap(), a * b);
            assert_eq!(e.answer.len(), 4);
        }
        let held = |e: &Example| {
            let (a, b) = e.prompt.trim_end_matches('=').split_once('*').unwrap();
            multiply_held_out(a.parse().unwrap(), b.parse().unwrap())
        };
        assert!(train.iter().all(|e| !held(e)));
        assert!(test.iter().all(held));
        assert_eq!(reversed_digits(1081, 4), "1801");
    }

    #[test]
    fn addition_sums_and_fits_its_length_bound() {
        let task = TaskKind::Addition { terms: 3, digits: 3 };
        for e in generate(&task, 100, 5, Role::Train) {
            let sum: u64 = e.prompt.trim_end_matches('=').split('+').map(|x| x.parse::<u64>().unwrap()).sum();
            let got: String = e.answer.chars().rev().collect();
            assert_eq!(got.parse::<u64>().unwrap(), sum);
            assert_eq!(e.answer.len(), 4);
            assert_eq!(e.prompt.len() + e.answer.len() + 1, max_tokens(&task), "operands are zero-padded");
        }
    }

    /// The permutation written in a `hops` prompt (keys in written order, f as a map), the start letter and k,
    /// read back from the text alone.
    fn parse_hops(prompt: &str) -> (Vec<char>, std::collections::BTreeMap<char, char>, char, usize) {
        let (pairs, query) = prompt.split_once('?').expect("a `?`");
        let mut keys = Vec::new();
        let mut f = std::collections::BTreeMap::new();
        for pair in pairs.split(' ') {
            let [x, y]: [char; 2] = pair.chars().collect::<Vec<_>>().try_into().expect("two letters a pair");
            keys.push(x);
            assert!(f.insert(x, y).is_none(), "{x} written twice in {prompt}");
        }
        let q: Vec<char> = query.chars().collect();
        assert_eq!(q.len(), 3, "{prompt}");
        assert_eq!(q[2], '=');
        (keys, f, q[0], q[1].to_digit(10).expect("a digit") as usize)
    }

    #[test]
    fn hops_answers_are_the_kth_image_of_the_start() {
        let task = TaskKind::Hops { letters: 8, hops: IntRange { start: 1, end: 5 }, order: PairOrder::Sorted };
        let examples = generate(&task, 400, 2, Role::Train);
        let mut seen = std::collections::BTreeSet::new();
        for e in &examples {
            let (keys, f, start, k) = parse_hops(&e.prompt);
            let letters: Vec<char> = ('a'..='h').collect();
            assert_eq!(keys, letters, "sorted order is key order: {}", e.prompt);
            let mut images: Vec<char> = f.values().copied().collect();
            images.sort_unstable();
            assert_eq!(images, letters, "f is a permutation: {}", e.prompt);
            let mut x = start;
            for _ in 0..k {
                x = f[&x];
            }
            assert_eq!(e.answer, x.to_string(), "{}", e.prompt);
            // One 8-cycle: no hop count below 8 returns to the start (no "answer = start" shortcut).
            assert_ne!(x, start, "{}", e.prompt);
            let (mut y, mut len) = (f[&start], 1);
            while y != start {
                (y, len) = (f[&y], len + 1);
            }
            assert_eq!(len, 8, "f is a single cycle: {}", e.prompt);
            assert!((1..5).contains(&k));
            assert_eq!(e.group.as_deref(), Some(format!("hops={k}").as_str()));
            assert_eq!(e.prompt.len() + e.answer.len() + 1, max_tokens(&task), "every example has the same length");
            seen.insert(k);
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec![1, 2, 3, 4], "every k of the range occurs");
        assert_eq!(examples, generate(&task, 400, 2, Role::Train), "deterministic in the seed");
        assert_ne!(examples, generate(&task, 400, 3, Role::Train));
        // The brief's worked example reads back to its answer.
        let (_, f, start, k) = parse_hops("ad bf ch db eg fc ga he?c3=");
        assert_eq!((0..k).fold(start, |x, _| f[&x]), 'g');
    }

    #[test]
    fn hops_shuffled_pairs_are_the_same_permutation_in_other_orders() {
        let range = IntRange { start: 9, end: 10 };
        let task = TaskKind::Hops { letters: 26, hops: range, order: PairOrder::Shuffled };
        let examples = generate(&task, 50, 0, Role::Test);
        let mut unsorted = 0;
        for e in &examples {
            let (keys, f, start, k) = parse_hops(&e.prompt);
            let mut sorted = keys.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, ('a'..='z').collect::<Vec<_>>());
            unsorted += usize::from(sorted != keys);
            assert_eq!(k, 9);
            assert_eq!(e.answer, (0..k).fold(start, |x, _| f[&x]).to_string());
            assert_eq!(e.prompt.len() + e.answer.len() + 1, max_tokens(&task));
        }
        assert!(unsorted > 40, "shuffled pairs are mostly out of key order ({unsorted} of 50)");
        // Two letters, one hop: the smallest task still generates well-formed examples.
        let tiny = TaskKind::Hops { letters: 2, hops: IntRange { start: 1, end: 2 }, order: PairOrder::Shuffled };
        for e in generate(&tiny, 20, 1, Role::Train) {
            assert_eq!(e.prompt.len() + e.answer.len() + 1, max_tokens(&tiny));
        }
    }

    #[test]
    fn mixed_addition_sums_each_count_and_pads_to_the_largest() {
        let task = TaskKind::AdditionMixed { terms: IntRange { start: 2, end: 6 }, digits: 3 };
        let examples = generate(&task, 300, 4, Role::Train);
        let mut seen = std::collections::BTreeSet::new();
        let mut longest = 0;
        for e in &examples {
            let numbers: Vec<&str> = e.prompt.trim_end_matches('=').split('+').collect();
            assert!(numbers.iter().all(|x| x.len() == 3), "zero-padded operands: {}", e.prompt);
            let sum: u64 = numbers.iter().map(|x| x.parse::<u64>().unwrap()).sum();
            let got: String = e.answer.chars().rev().collect();
            assert_eq!(got.parse::<u64>().unwrap(), sum);
            assert_eq!(e.answer.len(), 4, "five 3-digit terms sum below 10^4: every answer has 4 digits");
            assert_eq!(e.group.as_deref(), Some(format!("terms={}", numbers.len()).as_str()));
            seen.insert(numbers.len());
            longest = longest.max(e.prompt.len() + e.answer.len() + 1);
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec![2, 3, 4, 5], "every count of the range occurs");
        assert_eq!(longest, max_tokens(&task), "the bound is the longest sequence");
        assert_eq!(examples, generate(&task, 300, 4, Role::Train));
    }

    /// `addition` as it was before ranges of terms (verbatim but for the returned type): a fixed count still makes
    /// exactly its examples, so existing runs train on the same data.
    fn addition_before_ranges(rng: &mut Rng, terms: usize, digits: usize) -> (String, String) {
        let digits = digits.clamp(1, 18);
        let high = 10u64.pow(digits as u32);
        let numbers: Vec<u64> = (0..terms.max(1)).map(|_| rng.below(high as usize) as u64).collect();
        let sum: u128 = numbers.iter().map(|&x| u128::from(x)).sum();
        let prompt: Vec<String> = numbers.iter().map(|x| format!("{x:0digits$}")).collect();
        (format!("{}=", prompt.join("+")), reversed_digits_u128(sum, addition_answer_digits(terms.max(1), digits)))
    }

    #[test]
    fn fixed_addition_is_unchanged() {
        for (terms, digits, seed) in [(2, 3, 0), (3, 3, 5), (2, 4, 1), (11, 1, 7), (5, 18, 2)] {
            let mut rng = Rng::derive(seed, "task/addition");
            let got = generate(&TaskKind::Addition { terms, digits }, 50, seed, Role::Train);
            for e in got {
                assert_eq!((e.prompt, e.answer), addition_before_ranges(&mut rng, terms, digits));
                assert_eq!(e.group, None);
            }
        }
    }
}
