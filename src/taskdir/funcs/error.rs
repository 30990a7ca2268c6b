//! Why a function of a template failed; the template's error says it
//! after the function's name (`base64Decode: …`).

use super::MAX_PIECES;

/// What a consul-template function of supd's refused, or could not make.
#[derive(Debug, thiserror::Error)]
pub enum FuncError {
    /// `base64Decode` or `base64URLDecode` of text that is not base64.
    #[error(transparent)]
    Base64(#[from] base64::DecodeError),
    /// Decoded bytes that are not UTF-8 text.
    #[error("the decoded bytes are not UTF-8 text")]
    NotUtf8,
    /// `split` of more pieces than one render may make.
    #[error("the result would have {pieces} pieces; at most {max}", max = MAX_PIECES)]
    TooManyPieces { pieces: u64 },
    /// `regexMatch` of a regular expression that does not compile.
    #[error(transparent)]
    Regex(#[from] regex::Error),
    /// `printf` of a format with a `[` that is not an argument index.
    #[error("the format has a `[` that is not an argument index such as `%[1]d` — write `%%[` for a literal one")]
    PrintfIndex,
}
