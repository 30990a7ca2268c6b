//! The errors of `text.rs` and `place.rs`: a value that cannot go into a
//! string, and an evaluated value whose text does not read back as an
//! expression.

/// Why a value cannot be put into a string by an interpolation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum TextError {
    #[error("the value is null, which cannot go into a string")]
    Null,
    /// A list or a map (`kind` names which).
    #[error("a {kind} cannot go into a string — use join() or jsonencode() to make it text")]
    Collection { kind: &'static str },
}

/// Why the text of an evaluated value does not read back as an expression.
#[derive(Debug, thiserror::Error)]
pub(super) enum ReadBackError {
    #[error(transparent)]
    Syntax(#[from] hcl_edit::parser::Error),
    /// The text parsed to no attribute.
    #[error("no value")]
    NoValue,
}
