//! `If-Match` / `If-None-Match` field values → a [`Condition`]: a pure parser, run only when one
//! of the headers is present (a request without them pays nothing).
//!
//! Grammar (RFC 9110 §13.1.1-2, §5.6.1 lists): `"*"` alone, or a comma-separated list of
//! `[W/]"<etagc>*"` with optional whitespace and empty elements tolerated; `etagc` is any visible
//! byte but `"` (a comma may sit inside a tag, so the list is scanned tag by tag, not split).
//! The tags of this cache are `"` + 16 lower-case hex digits + `"` (the entry's version,
//! `respond::etag`): those become versions; any other well-formed tag can never match an entry
//! and is dropped. `If-Match` compares strongly, so its weak tags are dropped too.

use crate::storage::cond::{Condition, Tags, VersionList, MAX_TAGS};
use crate::storage::version::HEX_DIGITS;

/// A malformed condition header: 400, naming the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct BadCondition {
    pub header: &'static str,
    pub why: &'static str,
}

impl BadCondition {
    /// The text of the 400 answer.
    pub(super) fn message(&self) -> String {
        format!(
            "invalid {} header: {}; send * or a list of entity tags as returned in ETag, e.g. \"0123456789abcdef\"",
            self.header, self.why
        )
    }
}

/// The conditions of a request from its header values (`None` = header absent).
pub(super) fn parse(
    if_match: Option<&[u8]>,
    if_none_match: Option<&[u8]>,
) -> Result<Condition, BadCondition> {
    let field = |value: Option<&[u8]>, header, strong| {
        value
            .map(|v| parse_field(v, strong).map_err(|why| BadCondition { header, why }))
            .transpose()
    };
    Ok(Condition {
        if_match: field(if_match, "If-Match", true)?,
        if_none_match: field(if_none_match, "If-None-Match", false)?,
    })
}

/// One field value. `strong`: weak tags never match (`If-Match`), so they are left out.
fn parse_field(v: &[u8], strong: bool) -> Result<Tags, &'static str> {
    let v = trim(v);
    if v == b"*" {
        return Ok(Tags::Any);
    }
    let mut list = VersionList::default();
    let (mut rest, mut tags) = (v, 0usize);
    loop {
        rest = trim_start(rest);
        match rest.first() {
            None => break,
            Some(b',') => {
                rest = &rest[1..];
                continue;
            }
            Some(_) => {}
        }
        let (weak, opaque, after) = entity_tag(rest)?;
        tags += 1;
        if let Some(version) = our_version(opaque).filter(|_| !(weak && strong)) {
            if !list.push(version) {
                return Err(TOO_MANY);
            }
        }
        rest = trim_start(after);
        match rest.first() {
            None => break,
            Some(b',') => rest = &rest[1..],
            Some(_) => return Err("entity tags must be separated by commas"),
        }
    }
    if tags == 0 {
        return Err("it names no entity tag");
    }
    Ok(Tags::Versions(list))
}

const TOO_MANY: &str = "it names more than 8 of this cache's entity tags (storage::cond::MAX_TAGS)";
const _: () = assert!(MAX_TAGS == 8, "keep TOO_MANY's text in step with MAX_TAGS");

/// `[W/]"opaque"` at the start of `s`: (weak, the bytes between the quotes, what follows).
fn entity_tag(s: &[u8]) -> Result<(bool, &[u8], &[u8]), &'static str> {
    let (weak, s) = match s.strip_prefix(b"W/") {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let Some(body) = s.strip_prefix(b"\"") else {
        return Err(if s.first() == Some(&b'*') {
            "* must stand alone"
        } else {
            "an entity tag must be in double quotes"
        });
    };
    let Some(end) = body.iter().position(|&b| b == b'"') else {
        return Err("an entity tag is missing its closing double quote");
    };
    let opaque = &body[..end];
    // etagc = %x21 / %x23-7E / obs-text: no controls, spaces or DEL inside a tag.
    if opaque.iter().any(|&b| b <= b' ' || b == 0x7f) {
        return Err("an entity tag holds a space or control character");
    }
    Ok((weak, opaque, &body[end + 1..]))
}

/// The version one of our tags names: exactly 16 lower-case hex digits.
fn our_version(opaque: &[u8]) -> Option<u64> {
    if opaque.len() != HEX_DIGITS
        || !opaque
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    {
        return None;
    }
    crate::storage::version::parse_hex(opaque)
}

fn trim_start(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
    &s[n..]
}

fn trim(s: &[u8]) -> &[u8] {
    let s = trim_start(s);
    let n = s
        .iter()
        .rev()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    &s[..s.len() - n]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tag(v: u64) -> String {
        format!("\"{}\"", crate::storage::version::to_hex(v))
    }

    fn versions(t: Tags) -> Vec<u64> {
        match t {
            Tags::Versions(l) => l.as_slice().to_vec(),
            Tags::Any => panic!("unexpected *"),
        }
    }

    #[test]
    fn star_and_lists_of_our_tags() {
        assert_eq!(parse_field(b"*", true), Ok(Tags::Any));
        assert_eq!(parse_field(b" * ", false), Ok(Tags::Any));
        let one = tag(0xab);
        assert_eq!(versions(parse_field(one.as_bytes(), true).unwrap()), [0xab]);
        let two = format!(" {} ,\t{}, ,", tag(1), tag(u64::MAX));
        assert_eq!(
            versions(parse_field(two.as_bytes(), true).unwrap()),
            [1, u64::MAX]
        );
    }

    #[test]
    fn weak_tags_match_only_weakly() {
        let weak = format!("W/{}", tag(5));
        assert!(versions(parse_field(weak.as_bytes(), true).unwrap()).is_empty());
        assert_eq!(versions(parse_field(weak.as_bytes(), false).unwrap()), [5]);
    }

    #[test]
    fn foreign_tags_are_well_formed_but_match_nothing() {
        for v in [
            &b"\"abc\""[..],
            b"\"00000000000000AB\"",
            b"\"\"",
            b"\"a,b\", \"x\"",
            b"\"0000000000000000a\"",
        ] {
            assert_eq!(
                parse_field(v, true).map(versions),
                Ok(vec![]),
                "{}",
                String::from_utf8_lossy(v)
            );
        }
    }

    #[test]
    fn malformed_values_are_refused_with_a_reason() {
        for (v, why) in [
            (&b""[..], "names no entity tag"),
            (b" , ,", "names no entity tag"),
            (b"abc", "double quotes"),
            (b"\"abc", "closing double quote"),
            (b"\"a\" \"b\"", "separated by commas"),
            (b"*, \"a\"", "* must stand alone"),
            (b"\"a\", *", "* must stand alone"),
            (b"\"a b\"", "space or control"),
            (b"w/\"a\"", "double quotes"),
        ] {
            let got = parse_field(v, true).expect_err(&String::from_utf8_lossy(v));
            assert!(got.contains(why), "{:?}: {got}", String::from_utf8_lossy(v));
        }
    }

    #[test]
    fn the_list_of_our_tags_is_bounded() {
        let ok: Vec<String> = (0..MAX_TAGS as u64).map(tag).collect();
        assert!(parse_field(ok.join(",").as_bytes(), true).is_ok());
        let repeated: Vec<String> = (0..3 * MAX_TAGS).map(|_| tag(1)).collect();
        assert!(parse_field(repeated.join(",").as_bytes(), true).is_ok());
        let many: Vec<String> = (0..=MAX_TAGS as u64).map(tag).collect();
        assert_eq!(parse_field(many.join(",").as_bytes(), true), Err(TOO_MANY));
    }

    #[test]
    fn errors_name_the_header() {
        let e = parse(Some(b"\"0000000000000001\""), Some(b"nope")).unwrap_err();
        assert_eq!(e.header, "If-None-Match");
        assert!(e.message().starts_with("invalid If-None-Match header: "));
        assert_eq!(parse(None, None), Ok(Condition::default()));
    }

    proptest! {
        /// Any list of our tags (weak or strong, in any spacing) parses to exactly its versions.
        #[test]
        fn lists_of_our_tags_round_trip(
            tags in proptest::collection::vec((any::<u64>(), any::<bool>()), 1..MAX_TAGS),
            sep in "[ \t]{0,2},[ \t]{0,2}",
        ) {
            let text: Vec<String> = tags
                .iter()
                .map(|&(v, weak)| format!("{}{}", if weak { "W/" } else { "" }, tag(v)))
                .collect();
            let value = text.join(&sep);
            let strong = versions(parse_field(value.as_bytes(), true).unwrap());
            let weak = versions(parse_field(value.as_bytes(), false).unwrap());
            for &(v, is_weak) in &tags {
                prop_assert!(weak.contains(&v));
                prop_assert_eq!(strong.contains(&v), !is_weak || tags.contains(&(v, false)));
            }
        }

        /// Whatever the bytes, the parser answers (no panic), and `*` only alone.
        #[test]
        fn any_bytes_parse_or_are_refused(v in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(Tags::Any) = parse_field(&v, true) {
                prop_assert_eq!(trim(&v), b"*");
            }
        }
    }
}
