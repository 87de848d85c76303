//! Built-in generated tasks, deterministic by seed: `sum3`, `multiply`, `addition`.
//!
//! Each example is a prompt and an answer in plain text (`384920=` → `T`); loss and accuracy cover the answer only.

use super::Role;
use crate::engine::rng::Rng;
use crate::plan::TaskKind;

/// One generated example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    pub prompt: String,
    pub answer: String,
}

/// `count` examples of `task` for `role`, deterministic in `seed`.
pub fn generate(task: &TaskKind, count: usize, seed: u64, role: Role) -> Vec<Example> {
    let mut rng = Rng::derive(seed, &format!("task/{}", name(task)));
    (0..count)
        .map(|i| match *task {
            TaskKind::Sum3 { digits } => sum3(&mut rng, digits, i % 2 == 0),
            TaskKind::Multiply { digits } => multiply(&mut rng, digits, role),
            TaskKind::Addition { terms, digits } => addition(&mut rng, terms, digits),
        })
        .collect()
}

/// The task's name as written in specs and on the command line.
pub fn name(task: &TaskKind) -> &'static str {
    match task {
        TaskKind::Sum3 { .. } => "sum3",
        TaskKind::Multiply { .. } => "multiply",
        TaskKind::Addition { .. } => "addition",
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
            return Example { prompt: format!("{prompt}="), answer: answer.to_string() };
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
        return Example { prompt: format!("{a}*{b}="), answer: reversed_digits(a * b, 2 * digits as usize) };
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
    let digits = digits.clamp(1, 18);
    let high = 10u64.pow(digits as u32);
    let numbers: Vec<u64> = (0..terms.max(1)).map(|_| rng.below(high as usize) as u64).collect();
    let sum: u128 = numbers.iter().map(|&x| u128::from(x)).sum();
    // Zero-padded to a fixed width, so each digit's place is a fixed position in every prompt.
    let prompt: Vec<String> = numbers.iter().map(|x| format!("{x:0digits$}")).collect();
    Example {
        prompt: format!("{}=", prompt.join("+")),
        answer: reversed_digits_u128(sum, addition_answer_digits(terms.max(1), digits)),
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
}
