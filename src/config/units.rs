//! Byte sizes and durations as written in the config file: parsing a YAML scalar into a number, and
//! formatting a number back into the shortest exact string (for `--print-config` and the start-up log).
//!
//! Sizes: an integer (bytes) or a string `<digits>[ ]<unit>` with unit B, KB, MB, GB (powers of 1000)
//! or KiB, MiB, GiB (powers of 1024). Durations: an integer (milliseconds) or `<digits>[ ]<unit>` with
//! unit ms, s, m, h. Only whole numbers are accepted, so every value is exact and round-trips through
//! [`format_size`] / [`format_duration`]. A leading `+` or `-` is rejected: Rust's integer parsers accept
//! `+5`, so every byte is checked to be a digit before conversion.

use serde::de::{self, Deserializer, Unexpected, Visitor};
use serde::Serializer;
use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;

/// Byte-size units and their multipliers. Binary units are listed first so [`format_size`] prefers
/// them (config values such as buffer limits are conventionally powers of two).
const SIZE_UNITS: [(&str, u64); 7] = [
    ("GiB", GIB),
    ("MiB", MIB),
    ("KiB", KIB),
    ("GB", 1_000_000_000),
    ("MB", 1_000_000),
    ("KB", 1_000),
    ("B", 1),
];

/// Duration units in milliseconds, largest first so [`format_duration`] picks the shortest form.
const DURATION_UNITS: [(&str, u64); 4] = [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];

/// Splits `"512 MiB"` into `(512, "MiB")`. The number must be plain ASCII digits (no sign, no
/// fraction, no exponent) and fit in a u64.
fn split_number<'a>(text: &'a str, what: &str) -> Result<(u64, &'a str), String> {
    let text = text.trim();
    let digits_end = text
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(digits_end);
    if digits.is_empty() {
        return Err(format!(
            "expected a {what} starting with a whole non-negative number, got {text:?}"
        ));
    }
    let number = digits
        .parse::<u64>()
        .map_err(|_| format!("the {what} {text:?} is too large"))?;
    Ok((number, unit.trim_start()))
}

/// Parses a byte size such as `"1048576"`, `"512KiB"`, `"1 MiB"` or `"2GB"`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let (number, unit) = split_number(text, "byte size")?;
    let multiplier = match unit {
        "" => 1,
        _ => match SIZE_UNITS.iter().find(|(name, _)| *name == unit) {
            Some((_, m)) => *m,
            None => {
                return Err(format!(
                    "unknown size unit {unit:?} in {:?} (use B, KB, KiB, MB, MiB, GB or GiB)",
                    text.trim()
                ))
            }
        },
    };
    number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("the byte size {:?} is too large", text.trim()))
}

/// Parses a duration such as `"250ms"`, `"10s"`, `"2m"` or `"1h"`; bare digits are milliseconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = split_number(text, "duration")?;
    let multiplier = match unit {
        "" => 1,
        _ => match DURATION_UNITS.iter().find(|(name, _)| *name == unit) {
            Some((_, m)) => *m,
            None => {
                return Err(format!(
                    "unknown duration unit {unit:?} in {:?} (use ms, s, m or h)",
                    text.trim()
                ))
            }
        },
    };
    number
        .checked_mul(multiplier)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("the duration {:?} is too large", text.trim()))
}

/// The shortest exact unit form of a size (`1048576` -> `"1MiB"`), or `None` when no unit divides it
/// (and for 0), in which case the plain integer is the clearest form.
fn size_with_unit(bytes: u64) -> Option<String> {
    if bytes == 0 {
        return None;
    }
    SIZE_UNITS
        .iter()
        .take(3) // binary units only: "1000B" reads worse than 1000
        .find(|(_, m)| bytes % m == 0)
        .map(|(name, m)| format!("{}{name}", bytes / m))
}

/// Formats a size for humans and for the effective config: `"16KiB"`, `"1MiB"`, or plain digits.
pub fn format_size(bytes: u64) -> String {
    size_with_unit(bytes).unwrap_or_else(|| bytes.to_string())
}

/// Formats a duration in its largest exact unit: `"2m"`, `"10s"`, `"250ms"` (sub-millisecond parts,
/// which the parser never produces, are dropped).
pub fn format_duration(duration: Duration) -> String {
    let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    match DURATION_UNITS.iter().find(|(_, m)| ms != 0 && ms % m == 0) {
        Some((name, m)) => format!("{}{name}", ms / m),
        None => format!("{ms}ms"),
    }
}

/// Visitor shared by the size fields. Parsing happens *inside* the visitor so that serde_yaml attaches
/// the key path and line to our error (an error raised after `deserialize_*` returns has no location).
struct SizeVisitor<T>(PhantomData<T>);

impl<'de, T: TryFrom<u64>> Visitor<'de> for SizeVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a byte size: an integer or a string such as \"512KiB\" or \"1MiB\"")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::custom(format_args!("the byte size {v} is too large")))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        let v = u64::try_from(v).map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))?;
        self.visit_u64(v)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        self.visit_u64(parse_size(v).map_err(E::custom)?)
    }
}

struct DurationVisitor;

impl<'de> Visitor<'de> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(
            "a duration: integer milliseconds or a string such as \"250ms\", \"10s\" or \"2m\"",
        )
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        Ok(Duration::from_millis(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        let v = u64::try_from(v).map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))?;
        self.visit_u64(v)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        parse_duration(v).map_err(E::custom)
    }
}

/// Serializes a size in its unit form when exact, else as a plain integer.
fn serialize_size<S: Serializer>(bytes: u64, ser: S) -> Result<S::Ok, S::Error> {
    match size_with_unit(bytes) {
        Some(text) => ser.serialize_str(&text),
        None => ser.serialize_u64(bytes),
    }
}

/// `#[serde(with = "units::size")]` for `u64` byte sizes.
pub mod size {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<u64, D::Error> {
        de.deserialize_any(SizeVisitor(PhantomData))
    }

    pub fn serialize<S: Serializer>(bytes: &u64, ser: S) -> Result<S::Ok, S::Error> {
        serialize_size(*bytes, ser)
    }
}

/// `#[serde(with = "units::size_usize")]` for `usize` byte sizes (buffer lengths).
pub mod size_usize {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<usize, D::Error> {
        de.deserialize_any(SizeVisitor(PhantomData))
    }

    pub fn serialize<S: Serializer>(bytes: &usize, ser: S) -> Result<S::Ok, S::Error> {
        serialize_size(u64::try_from(*bytes).unwrap_or(u64::MAX), ser)
    }
}

/// `#[serde(with = "units::duration")]` for `Duration` fields.
pub mod duration {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Duration, D::Error> {
        de.deserialize_any(DurationVisitor)
    }

    pub fn serialize<S: Serializer>(duration: &Duration, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(&format_duration(*duration))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_every_unit() {
        let cases: [(&str, u64); 12] = [
            ("0", 0),
            ("1048576", 1_048_576),
            ("7B", 7),
            ("2KB", 2_000),
            ("2KiB", 2_048),
            ("3MB", 3_000_000),
            ("3MiB", 3 * MIB),
            ("4GB", 4_000_000_000),
            ("4GiB", 4 * GIB),
            ("512 MiB", 512 * MIB),
            (" 16KiB ", 16 * KIB),
            ("18446744073709551615", u64::MAX),
        ];
        for (text, want) in cases {
            assert_eq!(parse_size(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn sizes_rejected() {
        for text in [
            "",
            "-1",
            "+5",
            "1.5.3",
            "1.5MiB",
            "10 parsecs",
            "MiB",
            "1mib",
            "1 K",
            "1e3",
            "0x10",
            "1MiBB",
            "18446744073709551616",
            "99999999999GiB",
        ] {
            assert!(parse_size(text).is_err(), "{text:?} should be rejected");
        }
        let err = parse_size("10 parsecs").unwrap_err();
        assert!(err.contains("parsecs") && err.contains("KiB"), "{err}");
        assert!(parse_size("99999999999GiB")
            .unwrap_err()
            .contains("too large"));
    }

    #[test]
    fn durations_in_every_unit() {
        let cases: [(&str, u64); 8] = [
            ("250ms", 250),
            ("1h", 3_600_000),
            ("10s", 10_000),
            ("2m", 120_000),
            ("0ms", 0),
            ("1500", 1_500),
            ("5 s", 5_000),
            ("18446744073709551615ms", u64::MAX),
        ];
        for (text, want) in cases {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(want)),
                "{text}"
            );
        }
    }

    #[test]
    fn durations_rejected() {
        for text in [
            "",
            "-1",
            "-1s",
            "+1s",
            "1.5s",
            "1.5.3",
            "10 parsecs",
            "s",
            "10S",
            "1d",
            "10sec",
            "18446744073709551616",
            "999999999999999999m",
        ] {
            assert!(parse_duration(text).is_err(), "{text:?} should be rejected");
        }
        assert!(parse_duration("999999999999999999m")
            .unwrap_err()
            .contains("too large"));
    }

    #[test]
    fn formatting_picks_the_largest_exact_unit() {
        assert_eq!(format_size(0), "0");
        assert_eq!(format_size(1000), "1000");
        assert_eq!(format_size(1024), "1KiB");
        assert_eq!(format_size(16 * KIB), "16KiB");
        assert_eq!(format_size(MIB), "1MiB");
        assert_eq!(format_size(512 * MIB), "512MiB");
        assert_eq!(format_size(3 * GIB), "3GiB");
        assert_eq!(format_size(GIB + 1), (GIB + 1).to_string());
        assert_eq!(format_duration(Duration::from_millis(0)), "0ms");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::from_millis(10_000)), "10s");
        assert_eq!(format_duration(Duration::from_millis(90_000)), "90s");
        assert_eq!(format_duration(Duration::from_millis(120_000)), "2m");
        assert_eq!(format_duration(Duration::from_millis(90 * 60_000)), "90m");
        assert_eq!(format_duration(Duration::from_millis(2 * 3_600_000)), "2h");
    }

    #[test]
    fn formatting_round_trips() {
        for bytes in [1, 999, 1000, 1024, 1536, 4096, MIB, 5 * GIB, u64::MAX] {
            assert_eq!(parse_size(&format_size(bytes)), Ok(bytes));
        }
        for ms in [0, 1, 999, 1000, 59_999, 60_000, 61_000, u64::MAX] {
            let d = Duration::from_millis(ms);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
    }
}
