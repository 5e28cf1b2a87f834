//! `pin_threads`: `true`, `false`, or `auto` (the default: pinned unless the co-located members
//! of the cluster outnumber the CPUs, `cpus::pins_by_default`). The config keeps the resolved
//! answer (`Config::pin_threads`); `to_yaml` writes it back as `true` or `false`.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `pin_threads` as written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum PinThreads {
    #[default]
    Auto,
    Written(bool),
}

impl PinThreads {
    /// The answer: as written, else `auto()`'s.
    pub(super) fn resolve(self, auto: impl FnOnce() -> bool) -> bool {
        match self {
            PinThreads::Written(pin) => pin,
            PinThreads::Auto => auto(),
        }
    }
}

impl Serialize for PinThreads {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            PinThreads::Auto => s.serialize_str("auto"),
            PinThreads::Written(pin) => s.serialize_bool(*pin),
        }
    }
}

impl<'de> Deserialize<'de> for PinThreads {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Words;
        impl Visitor<'_> for Words {
            type Value = PinThreads;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true, false or auto")
            }

            fn visit_bool<E: de::Error>(self, pin: bool) -> Result<PinThreads, E> {
                Ok(PinThreads::Written(pin))
            }

            fn visit_str<E: de::Error>(self, word: &str) -> Result<PinThreads, E> {
                match word {
                    "auto" => Ok(PinThreads::Auto),
                    _ => Err(E::invalid_value(de::Unexpected::Str(word), &self)),
                }
            }
        }
        d.deserialize_any(Words)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_the_resolved_answer() {
        let read = |text: &str| serde_yaml::from_str::<PinThreads>(text);
        assert_eq!(read("auto").ok(), Some(PinThreads::Auto));
        assert_eq!(read("true").ok(), Some(PinThreads::Written(true)));
        assert_eq!(read("false").ok(), Some(PinThreads::Written(false)));
        let bad = read("maybe").expect_err("not a pinning word");
        assert!(bad.to_string().contains("true, false or auto"), "{bad}");
        assert!(read("1").is_err());
        assert!(PinThreads::Auto.resolve(|| true));
        assert!(!PinThreads::Auto.resolve(|| false));
        assert!(!PinThreads::Written(false).resolve(|| true));
        assert_eq!(
            serde_yaml::to_string(&PinThreads::Written(true)).ok(),
            Some("true\n".into())
        );
    }
}
