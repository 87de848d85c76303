//! Property tests of the tokenizer and of batching: any text stays bytes, and a padded batch holds exactly each
//! sequence's inputs, next-token targets and loss weights.

use proptest::prelude::*;
use thinktok::engine::data::tokenizer::{decode, encode, is_byte};
use thinktok::engine::data::{HostBatch, Sequence};
use thinktok::plan::{PAD_ID, THOUGHT_ID};

proptest! {
    #[test]
    fn any_text_encodes_to_bytes_and_round_trips(prefix in ".{0,20}", suffix in ".{0,20}") {
        let text = format!("{prefix}<|thought|>{suffix}");
        let ids = encode(&text);
        prop_assert!(ids.iter().all(|&id| is_byte(id)));
        prop_assert!(!ids.contains(&THOUGHT_ID));
        prop_assert_eq!(ids.len(), text.len());
        prop_assert_eq!(decode(&ids), text);
    }

    #[test]
    fn padded_batch_holds_each_sequence_exactly(
        specs in prop::collection::vec(("[0-9]{1,6}", prop::option::of("[A-Z]{1,3}")), 1..6)
    ) {
        let seqs: Vec<Sequence> = specs
            .iter()
            .map(|(prompt, answer)| match answer {
                Some(a) => Sequence::answer(&format!("{prompt}="), a),
                None => Sequence::text(encode(&format!("{prompt}!"))),
            })
            .collect();
        let refs: Vec<&Sequence> = seqs.iter().collect();
        let batch = HostBatch::new(&refs);
        prop_assert_eq!(batch.len, seqs.iter().map(|s| s.tokens.len() - 1).max().unwrap());
        let mut expected_targets = 0;
        for (r, seq) in seqs.iter().enumerate() {
            let n = seq.tokens.len();
            for p in 0..batch.len {
                let at = r * batch.len + p;
                if p + 1 < n {
                    prop_assert_eq!(batch.tokens[at], seq.tokens[p]);
                    prop_assert_eq!(batch.targets[at], seq.tokens[p + 1]);
                    prop_assert_eq!(batch.loss_weights[at] > 0.0, seq.is_target(p + 1));
                    prop_assert_eq!(batch.answer[at], seq.is_answer(p + 1));
                    expected_targets += usize::from(seq.is_target(p + 1));
                } else {
                    prop_assert_eq!(batch.tokens[at], PAD_ID);
                    prop_assert_eq!(batch.loss_weights[at], 0.0);
                    prop_assert!(!batch.answer[at]);
                }
            }
            // An answer sequence counts its answer and the closing end-of-text; a text sequence every token after the first.
            let counted = (1..n).filter(|&i| seq.is_target(i)).count();
            prop_assert_eq!(counted, if seq.answer.is_some() { seq.answer_len + 1 } else { n - 1 });
        }
        prop_assert_eq!(batch.n_targets(), expected_targets);
    }
}
