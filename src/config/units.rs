//! Byte sizes and durations in the config file: serde glue around the one grammar shared with
//! `cache-client`, the `dcache-units` crate (`crates/units`; the table is at the top of
//! `config/example.yaml`). Sizes: an integer (bytes) or `"512KiB"`; durations: `"250ms"`, `"10s"`,
//! `"2m"`, `"1h"`, always with a unit (a bare integer is refused with a message naming both
//! spellings, since it used to mean milliseconds here and seconds in the client).

use serde::de::{self, Deserializer, Unexpected, Visitor};
use serde::Serializer;
use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

pub use dcache_units::{format_duration, format_size, parse_duration, parse_size};
use dcache_units::{size_with_unit, UnitError};

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

/// Durations arrive as YAML strings (`10s`) or, when written bare, as integers; the latter are
/// refused through the shared grammar's own message so both spellings get the same answer.
struct DurationVisitor;

impl<'de> Visitor<'de> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a duration with a unit, such as \"250ms\", \"10s\" or \"2m\"")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        Err(E::custom(UnitError::MissingUnit(v.to_string())))
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
pub(super) mod size {
    use super::*;

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<u64, D::Error> {
        de.deserialize_any(SizeVisitor(PhantomData))
    }

    pub(crate) fn serialize<S: Serializer>(bytes: &u64, ser: S) -> Result<S::Ok, S::Error> {
        serialize_size(*bytes, ser)
    }
}

/// `#[serde(with = "units::size_usize")]` for `usize` byte sizes (buffer lengths).
pub(super) mod size_usize {
    use super::*;

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<usize, D::Error> {
        de.deserialize_any(SizeVisitor(PhantomData))
    }

    pub(crate) fn serialize<S: Serializer>(bytes: &usize, ser: S) -> Result<S::Ok, S::Error> {
        serialize_size(u64::try_from(*bytes).unwrap_or(u64::MAX), ser)
    }
}

/// `#[serde(with = "units::duration")]` for `Duration` fields.
pub(super) mod duration {
    use super::*;

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Duration, D::Error> {
        de.deserialize_any(DurationVisitor)
    }

    pub(crate) fn serialize<S: Serializer>(duration: &Duration, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(&format_duration(*duration))
    }
}
