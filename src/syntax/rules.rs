//! Human names for grammar rules: pest's own messages would leak rule names ("expected ident_char").
//!
//! The match is exhaustive with no catch-all arm, so a new grammar rule does not compile until it has a name.

use super::Rule;

/// What a user would call the thing a rule matches, as it reads after "expected".
pub fn human_name(rule: Rule) -> &'static str {
    match rule {
        Rule::EOI => "the end of the file",
        Rule::WHITESPACE => "whitespace",
        Rule::COMMENT => "a comment",
        Rule::spec => "a spec",
        Rule::item => "an `import`, a block or a setting",
        Rule::import => "`import \"file.think\"`",
        Rule::block => "a block (`name { … }`)",
        Rule::label => "a block label (a name or a string)",
        Rule::block_args => "block arguments `(…)`",
        Rule::assign => "a setting (`key = value`)",
        Rule::key => "a key",
        Rule::value => "a value (a number, string, name, call, list or range)",
        Rule::list => "a list `[…]`",
        Rule::call => "a call `name(…)`",
        Rule::arg => "an argument",
        Rule::named_arg => "a named argument (`name = value`)",
        Rule::path => "a name",
        Rule::range => "a range `start..end`",
        Rule::float => "a number",
        Rule::exponent => "an exponent (`e-3`)",
        Rule::int => "an integer",
        Rule::digits => "digits",
        Rule::string => "a string",
        Rule::string_inner => "string characters",
        Rule::escape => "an escape (`\\\"`, `\\\\`, `\\n`, `\\t`)",
        Rule::ident => "a name",
    }
}
