//! The baseline placements: pure functions of the plan's [`Insertion`] rule, the sequence and (for some rules)
//! the prompt length or per-token confidences. None of them looks at gains.

use super::placement::Placement;
use crate::engine::rng::Rng;
use crate::plan::Insertion;

/// What a baseline rule may look at besides the sequence length.
#[derive(Debug, Clone, Copy, Default)]
pub struct BaselineInput<'a> {
    /// Real tokens of the prompt (`answer_pause` puts its thoughts at this slot).
    pub prompt_len: Option<usize>,
    /// `ll[s] = log p(x[s])` of a no-thought pass (`dit` puts thoughts before the least confident tokens).
    pub ll: Option<&'a [f32]>,
}

/// The baseline placement for a sequence of `len` real tokens, or an error for a rule that is not a baseline
/// or lacks its input.
///
/// - `None`: no thoughts.
/// - `Random { per_sequence }`: that many distinct uniformly random slots (all slots if fewer exist).
/// - `Interval { every }`: a thought after every `every` real tokens (slots every, 2·every, … < len).
/// - `AnswerPause { count }`: `count` thoughts at slot `prompt_len` (between prompt and answer).
/// - `Dit { count }`: one thought before each of the `count` real tokens with the lowest `ll` (ties: earlier).
pub fn place(rule: &Insertion, len: usize, input: BaselineInput<'_>, rng: &mut Rng) -> anyhow::Result<Placement> {
    let mut p = Placement::empty(len);
    let slots = len.saturating_sub(1); // slots 1..len
    match rule {
        Insertion::None => {}
        Insertion::Random { per_sequence } => {
            let mut all: Vec<usize> = (1..len).collect();
            rng.shuffle(&mut all);
            for &s in all.iter().take((*per_sequence).min(slots)) {
                p.counts[s] = 1;
            }
        }
        Insertion::Interval { every } => {
            anyhow::ensure!(*every > 0, "interval(every = 0): `every` must be at least 1");
            for s in (*every..len).step_by(*every) {
                p.counts[s] = 1;
            }
        }
        Insertion::AnswerPause { count } => {
            let at = input.prompt_len.ok_or_else(|| {
                anyhow::anyhow!("answer_pause needs prompt/answer data (a prompt length per sequence)")
            })?;
            anyhow::ensure!(
                at >= 1 && at < len,
                "answer_pause: prompt of {at} tokens leaves no slot before the answer in {len} tokens"
            );
            p.counts[at] = u16::try_from(*count).unwrap_or(u16::MAX);
        }
        Insertion::Dit { count } => {
            let ll =
                input.ll.ok_or_else(|| anyhow::anyhow!("dit needs per-token log-likelihoods of a no-thought pass"))?;
            anyhow::ensure!(ll.len() == len, "dit: {} log-likelihoods for {len} tokens", ll.len());
            let mut order: Vec<usize> = (1..len).collect();
            order.sort_by(|&a, &b| ll[a].total_cmp(&ll[b]).then(a.cmp(&b)));
            for &s in order.iter().take(*count) {
                p.counts[s] = 1;
            }
        }
        Insertion::FastForward { .. } => {
            anyhow::bail!("fast_forward is the model's own placement, not a baseline rule")
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(rule: Insertion, len: usize, input: BaselineInput<'_>) -> Vec<u16> {
        place(&rule, len, input, &mut Rng::new(1)).map(|p| p.counts).unwrap_or_default()
    }

    #[test]
    fn rules_place_what_they_say() {
        let none = BaselineInput::default();
        assert_eq!(counts(Insertion::None, 4, none), vec![0; 4]);
        assert_eq!(counts(Insertion::Interval { every: 2 }, 7, none), vec![0, 0, 1, 0, 1, 0, 1]);
        let r = counts(Insertion::Random { per_sequence: 3 }, 10, none);
        assert_eq!((r.iter().sum::<u16>(), r[0], r.iter().max()), (3, 0, Some(&1)));
        assert_eq!(counts(Insertion::Random { per_sequence: 30 }, 4, none), vec![0, 1, 1, 1]);
        let ap = BaselineInput { prompt_len: Some(3), ll: None };
        assert_eq!(counts(Insertion::AnswerPause { count: 2 }, 5, ap), vec![0, 0, 0, 2, 0]);
        let ll = [0.0, -1.0, -3.0, -0.5, -3.0];
        let dit = BaselineInput { prompt_len: None, ll: Some(&ll) };
        assert_eq!(counts(Insertion::Dit { count: 2 }, 5, dit), vec![0, 0, 1, 0, 1]);
        assert!(place(&Insertion::AnswerPause { count: 1 }, 5, none, &mut Rng::new(0)).is_err());
    }

    #[test]
    fn random_is_seeded() {
        let a = place(&Insertion::Random { per_sequence: 4 }, 50, BaselineInput::default(), &mut Rng::new(9));
        let b = place(&Insertion::Random { per_sequence: 4 }, 50, BaselineInput::default(), &mut Rng::new(9));
        assert_eq!(a.ok(), b.ok());
    }
}
