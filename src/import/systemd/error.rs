//! Why a value of a unit cannot be read as systemd reads it: its words
//! (quotes and C-style escapes, systemd.syntax(7)) or an `Exec*=` command
//! made of them (systemd.service(5) "COMMAND LINES"). The caller puts the
//! setting and its value in front (`ExecStart=...: `).

/// Why a value's words, or the command they make, cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// A `'` or `"` quote (the character) without its closing one.
    #[error("a {0} quote is not closed")]
    UnclosedQuote(char),
    #[error("a backslash ends the value")]
    TrailingBackslash,
    /// `\NNN` (after `\` and the first digit) with fewer than three digits.
    #[error("\\{0} needs three octal digits")]
    ShortOctal(char),
    #[error("an octal escape out of range")]
    OctalOutOfRange,
    #[error("a NUL character (\\0) cannot be passed to a program")]
    Nul,
    /// `\x`, `\u` or `\U` (`escape`) with fewer hexadecimal digits than it
    /// takes (`digits`).
    #[error("\\{escape} needs {digits} hexadecimal digits")]
    ShortHex { escape: char, digits: usize },
    /// `\x`, `\u` or `\U` (`escape`) and its `digits`, which name no character.
    #[error("\\{escape}{digits} is not a character")]
    NotACharacter { escape: char, digits: String },
    /// Only prefixes (`-`, `@`, `:`, `+`, `!`), no program.
    #[error("no program after the prefixes")]
    NoProgram,
    /// The `@` prefix without the word for argv[0].
    #[error("the @ prefix needs the word for argv[0] after the program")]
    NoArgv0,
    /// The program is a variable the unit does not set (it expands to nothing).
    #[error("the program is a variable this unit does not set")]
    UnsetProgram,
}
