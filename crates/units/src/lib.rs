//! The one grammar for durations and byte sizes, shared by the node's config file
//! (`src/config`) and `cache-client`'s flags, so `10s` or `1MiB` mean the same thing everywhere.
//! The table operators read is at the top of `config/example.yaml`.
//!
//! | quantity | written as | units | bare number |
//! |---|---|---|---|
//! | duration | `<whole number>[ ]<unit>`: `250ms`, `10s`, `2m`, `1h` | `ms`, `s`, `m`, `h` | refused |
//! | size | `<whole number>[ ]<unit>`: `512KiB`, `1MiB`, `2GB` | `B`, `KB`, `MB`, `GB` (x1000), `KiB`, `MiB`, `GiB` (x1024) | bytes |
//!
//! Why a bare duration is refused: the node's config used to read `1500` as milliseconds and
//! `cache-client` read `5` as seconds. Giving it either meaning silently changes the other side's
//! values, so it is an error that names both spellings instead. A bare size has only ever meant
//! bytes, so it stays. Only whole numbers are accepted, so every value is exact and round-trips
//! through [`format_size`] / [`format_duration`]; a fraction gets a message suggesting the smaller
//! unit. A sign is refused: Rust's integer parsers accept `+5`, so every byte is checked to be a
//! digit before conversion.

// Everything public here is the crate's API: an item marked `pub` that callers cannot reach
// is dead weight or a missing re-export.
#![warn(unreachable_pub)]

mod duration;
mod error;
mod size;

pub use duration::{format_duration, parse_duration, DURATION_UNITS};
pub use error::{Quantity, UnitError};
pub use size::{format_size, parse_size, size_with_unit, SIZE_UNITS};

/// Splits `"512 MiB"` into `(512, "MiB")`; the number must be ASCII digits that fit in a u64.
/// A fraction (`"1.5s"`) is reported as one when the rest would otherwise be valid.
fn split_number<'a>(
    text: &'a str,
    what: Quantity,
    units: &[(&str, u64)],
) -> Result<(u64, &'a str), UnitError> {
    let text = text.trim();
    let digits_end = text
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(digits_end);
    let error = |make: fn(Quantity, String) -> UnitError| make(what, text.to_string());
    if digits.is_empty() {
        return Err(error(UnitError::NotANumber));
    }
    if is_fraction(unit, units) {
        return Err(error(UnitError::Fraction));
    }
    let number = digits
        .parse::<u64>()
        .map_err(|_| error(UnitError::TooLarge))?;
    Ok((number, unit.trim_start()))
}

/// `".5s"` after `"1"`: a decimal point, digits, then nothing or a known unit.
fn is_fraction(rest: &str, units: &[(&str, u64)]) -> bool {
    let Some(after_point) = rest.strip_prefix('.') else {
        return false;
    };
    let unit = after_point.trim_start_matches(|c: char| c.is_ascii_digit());
    unit.len() < after_point.len() && {
        let unit = unit.trim_start();
        unit.is_empty() || units.iter().any(|(name, _)| *name == unit)
    }
}

/// The multiplier of `unit` in `units`, or an error naming the unit and the accepted ones.
fn multiplier(
    units: &[(&str, u64)],
    unit: &str,
    what: Quantity,
    text: &str,
) -> Result<u64, UnitError> {
    units
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|(_, m)| *m)
        .ok_or_else(|| UnitError::UnknownUnit(what, unit.to_string(), text.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The operators' table (top of `config/example.yaml`, linked from `cache-client --help`)
    /// names every unit this crate accepts, and says that a bare duration is refused.
    #[test]
    fn the_documented_table_lists_every_unit() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/example.yaml");
        let text = std::fs::read_to_string(path).expect("config/example.yaml");
        let header: String = text.lines().take_while(|l| l.starts_with('#')).collect();
        let units = SIZE_UNITS.iter().chain(DURATION_UNITS.iter());
        for (unit, _) in units {
            let listed = header
                .split(|c: char| !c.is_ascii_alphabetic())
                .any(|word| word == *unit);
            assert!(
                listed,
                "config/example.yaml's header does not list the unit {unit}"
            );
        }
        assert!(header.contains("bare number"), "{header}");
    }
}
