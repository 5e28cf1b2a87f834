//! What can be wrong with a written duration or size. Each message quotes the text and lists the
//! accepted forms; callers add *where* (the config key and line, or the command-line flag).

use std::fmt;

/// Which grammar a text was read with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantity {
    Duration,
    Size,
}

impl Quantity {
    fn name(self) -> &'static str {
        match self {
            Quantity::Duration => "duration",
            Quantity::Size => "byte size",
        }
    }

    /// The accepted forms, for every message.
    fn forms(self) -> &'static str {
        match self {
            Quantity::Duration => "a whole number with a unit: ms, s, m or h, e.g. \"250ms\", \"10s\"",
            Quantity::Size => {
                "bytes, or a whole number with a unit: B, KB, KiB, MB, MiB, GB or GiB, e.g. \"512KiB\""
            }
        }
    }

    /// How to write a fraction exactly.
    fn fraction_hint(self) -> &'static str {
        match self {
            Quantity::Duration => "use a smaller unit, e.g. \"1500ms\" for 1.5s",
            Quantity::Size => "use a smaller unit, e.g. \"1536KiB\" for 1.5MiB",
        }
    }
}

/// A text that is not a valid duration or size; the `String`s are the offending text (trimmed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnitError {
    /// Does not start with a digit: `""`, `"-1"`, `"MiB"`.
    NotANumber(Quantity, String),
    /// `"1.5s"`: only whole numbers are exact.
    Fraction(Quantity, String),
    /// The unit (second field) is not one of the quantity's units.
    UnknownUnit(Quantity, String, String),
    /// A duration without a unit: it meant milliseconds in node configs and seconds in cache-client.
    MissingUnit(String),
    /// Does not fit in a u64 (bytes or milliseconds).
    TooLarge(Quantity, String),
}

impl fmt::Display for UnitError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            UnitError::NotANumber(q, text) => write!(
                f,
                "expected a {} starting with a whole non-negative number, got {text:?} ({})",
                q.name(),
                q.forms()
            ),
            UnitError::Fraction(q, text) => write!(
                f,
                "the {} {text:?} is not a whole number: {}",
                q.name(),
                q.fraction_hint()
            ),
            UnitError::UnknownUnit(q, unit, text) => {
                let kind = if *q == Quantity::Size {
                    "size"
                } else {
                    "duration"
                };
                write!(
                    f,
                    "unknown {kind} unit {unit:?} in {text:?} (expected {})",
                    q.forms()
                )
            }
            UnitError::MissingUnit(text) => write!(
                f,
                "the duration {text:?} has no unit: write \"{text}ms\" or \"{text}s\" (a bare \
                 number is refused: it meant milliseconds in node configs, seconds in cache-client)"
            ),
            UnitError::TooLarge(q, text) => write!(f, "the {} {text:?} is too large", q.name()),
        }
    }
}

impl std::error::Error for UnitError {}
