//! The engine's one error kind that is the user's to fix: invalid input (data, checkpoint, plan, output folder).
//!
//! Everything else (I/O failures mid-run, tensor errors) is a runtime failure. The CLI maps an error whose chain holds
//! an [`InvalidInput`] to exit code 1 and any other error to 3.

use std::fmt;

/// A user-fixable problem with the input, with a message that says what is wrong and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidInput(pub String);

impl fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidInput {}

/// An `anyhow::Error` carrying an [`InvalidInput`] with `message`.
pub fn invalid(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(InvalidInput(message.into()))
}

/// Whether `err` (or any cause in its chain) is invalid input.
pub fn is_invalid_input(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| cause.is::<InvalidInput>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_input_survives_added_context() {
        let err = invalid("bad line 3").context("loading `train.jsonl`");
        assert!(is_invalid_input(&err));
        assert!(!is_invalid_input(&anyhow::anyhow!("disk full")));
        assert_eq!(format!("{err:#}"), "loading `train.jsonl`: bad line 3");
    }
}
