//! Durations: `250ms`, `10s`, `2m`, `1h`. A unit is required (see the crate docs for why).

use std::time::Duration;

use super::{multiplier, split_number, Quantity, UnitError};

/// Duration units in milliseconds, largest first so [`format_duration`] picks the shortest form.
pub const DURATION_UNITS: [(&str, u64); 4] =
    [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];

/// Parses a duration `<digits>[ ]<unit>`; bare digits are refused with [`UnitError::MissingUnit`].
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let (number, unit) = split_number(text, Quantity::Duration, &DURATION_UNITS)?;
    if unit.is_empty() {
        return Err(UnitError::MissingUnit(text.trim().to_string()));
    }
    let multiplier = multiplier(&DURATION_UNITS, unit, Quantity::Duration, text)?;
    number
        .checked_mul(multiplier)
        .map(Duration::from_millis)
        .ok_or_else(|| UnitError::TooLarge(Quantity::Duration, text.trim().to_string()))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_every_unit() {
        let cases: [(&str, u64); 8] = [
            ("250ms", 250),
            ("1h", 3_600_000),
            ("10s", 10_000),
            ("2m", 120_000),
            ("0ms", 0),
            ("5 s", 5_000),
            (" 7ms ", 7),
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
            "5min",
            "18446744073709551616",
            "999999999999999999m",
        ] {
            assert!(parse_duration(text).is_err(), "{text:?} should be rejected");
        }
        let err = parse_duration("999999999999999999m")
            .unwrap_err()
            .to_string();
        assert!(err.contains("too large"), "{err}");
        let err = parse_duration("10 parsecs").unwrap_err().to_string();
        assert!(
            err.contains("unknown duration unit \"parsecs\"") && err.contains("ms, s, m or h"),
            "{err}"
        );
        let err = parse_duration("1.5s").unwrap_err().to_string();
        assert!(
            err.contains("not a whole number") && err.contains("1500ms"),
            "{err}"
        );
    }

    /// The one rule that differs from both old parsers: a bare number names neither unit.
    #[test]
    fn bare_numbers_are_refused_naming_both_readings() {
        for text in ["0", "5", "1500", " 10 "] {
            let err = parse_duration(text).unwrap_err();
            assert_eq!(err, UnitError::MissingUnit(text.trim().to_string()));
            let message = err.to_string();
            let n = text.trim();
            assert!(
                message.contains(&format!("\"{n}ms\" or \"{n}s\"")),
                "{message}"
            );
        }
    }

    #[test]
    fn formatting_picks_the_largest_exact_unit() {
        let cases: [(u64, &str); 7] = [
            (0, "0ms"),
            (250, "250ms"),
            (10_000, "10s"),
            (90_000, "90s"),
            (120_000, "2m"),
            (90 * 60_000, "90m"),
            (2 * 3_600_000, "2h"),
        ];
        for (ms, want) in cases {
            assert_eq!(format_duration(Duration::from_millis(ms)), want);
        }
    }

    #[test]
    fn formatting_round_trips() {
        for ms in [0, 1, 999, 1000, 59_999, 60_000, 61_000, u64::MAX] {
            let d = Duration::from_millis(ms);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
    }
}
