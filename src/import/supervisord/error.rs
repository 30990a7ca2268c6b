//! Why a line or a value of a supervisord file cannot be read as
//! supervisord reads it: configparser's lines, `shlex.split` of a
//! `command=`, `dict_of_key_value_pairs` of an `environment=`. The caller
//! says where (the file, the line, the setting).

/// Why a line or a value cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfError {
    /// A `key = value` line before any `[section]` header.
    #[error("{0:?} comes before the first [section] header")]
    BeforeSection(String),
    #[error("{0:?} is not a `key = value` line")]
    NotAnAssignment(String),
    /// A line whose `=` or `:` (`separator`) has nothing before it.
    #[error("{text:?} has no key before its `{separator}`")]
    NoKey { text: String, separator: String },
    #[error("a backslash ends the command")]
    TrailingBackslash,
    /// A `'` or `"` quote (the character) without its closing one.
    #[error("a {0} quote is not closed")]
    UnclosedQuote(char),
    /// Tokens of `environment=` that are not `KEY=value`.
    #[error("{0:?} is not KEY=\"value\" — write the pairs as KEY=\"value\",KEY2=\"value2\"")]
    NotAPair(String),
    /// A pair followed by something (`found`) other than a comma.
    #[error(
        "{found:?} after {key}={value}: pairs are separated by commas, and a value with spaces or other characters is quoted (KEY=\"a b\")"
    )]
    NoComma { found: String, key: String, value: String },
}
