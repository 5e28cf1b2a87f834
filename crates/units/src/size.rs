//! Byte sizes: `1048576`, `512KiB`, `1 MiB`, `2GB`.

use super::{multiplier, split_number, Quantity, UnitError};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;

/// Byte-size units and their multipliers. Binary units are listed first so [`format_size`] prefers
/// them (config values such as buffer limits are conventionally powers of two).
pub const SIZE_UNITS: [(&str, u64); 7] = [
    ("GiB", GIB),
    ("MiB", MIB),
    ("KiB", KIB),
    ("GB", 1_000_000_000),
    ("MB", 1_000_000),
    ("KB", 1_000),
    ("B", 1),
];

/// How many of [`SIZE_UNITS`] (from the front) [`size_with_unit`] may use: the binary ones only,
/// since `"1000B"` or `"1KB"` read worse than `1000`.
const FORMAT_UNITS: usize = 3;

/// Parses a byte size: bare digits are bytes, else `<digits>[ ]<unit>`.
pub fn parse_size(text: &str) -> Result<u64, UnitError> {
    let (number, unit) = split_number(text, Quantity::Size, &SIZE_UNITS)?;
    let multiplier = match unit {
        "" => 1,
        _ => multiplier(&SIZE_UNITS, unit, Quantity::Size, text)?,
    };
    number
        .checked_mul(multiplier)
        .ok_or_else(|| UnitError::TooLarge(Quantity::Size, text.trim().to_string()))
}

/// The shortest exact binary-unit form of a size (`1048576` -> `"1MiB"`), or `None` when none
/// divides it (and for 0), in which case the plain integer is the clearest form.
pub fn size_with_unit(bytes: u64) -> Option<String> {
    if bytes == 0 {
        return None;
    }
    SIZE_UNITS
        .iter()
        .take(FORMAT_UNITS)
        .find(|(_, m)| bytes.is_multiple_of(*m))
        .map(|(name, m)| format!("{}{name}", bytes / m))
}

/// Formats a size for humans and for the effective config: `"16KiB"`, `"1MiB"`, or plain digits.
pub fn format_size(bytes: u64) -> String {
    size_with_unit(bytes).unwrap_or_else(|| bytes.to_string())
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
        let err = parse_size("10 parsecs").unwrap_err().to_string();
        assert!(err.contains("parsecs") && err.contains("KiB"), "{err}");
        let err = parse_size("99999999999GiB").unwrap_err().to_string();
        assert!(err.contains("too large"), "{err}");
        let err = parse_size("1.5MiB").unwrap_err().to_string();
        assert!(
            err.contains("not a whole number") && err.contains("1536KiB"),
            "{err}"
        );
        // Not a fraction followed by a unit: reported as the unknown unit it is.
        assert!(matches!(
            parse_size("1.5.3"),
            Err(UnitError::UnknownUnit(..))
        ));
    }

    #[test]
    fn formatting_picks_the_largest_exact_binary_unit() {
        assert_eq!(format_size(0), "0");
        assert_eq!(format_size(1000), "1000");
        assert_eq!(format_size(1024), "1KiB");
        assert_eq!(format_size(16 * KIB), "16KiB");
        assert_eq!(format_size(MIB), "1MiB");
        assert_eq!(format_size(512 * MIB), "512MiB");
        assert_eq!(format_size(3 * GIB), "3GiB");
        assert_eq!(format_size(GIB + 1), (GIB + 1).to_string());
    }

    #[test]
    fn formatting_round_trips() {
        for bytes in [1, 999, 1000, 1024, 1536, 4096, MIB, 5 * GIB, u64::MAX] {
            assert_eq!(parse_size(&format_size(bytes)), Ok(bytes));
        }
    }
}
