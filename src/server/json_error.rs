//! serde_json's errors, said in the terms of the person who sent the JSON.
//!
//! serde_json describes what the *Rust type* wanted ("expected struct PutBody", "expected a
//! borrowed string", "expected u64"): true, but it leaks our internals and means nothing to a
//! curl user. [`describe`] keeps the facts (which field, what was found, the position) and
//! renames the Rust vocabulary to JSON's.

/// `e` as "what is wrong, at line L, column C", without Rust type names.
pub(super) fn describe(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    let msg = full.strip_suffix(&position).unwrap_or(&full);
    let what = reword(msg);
    if e.line() == 0 {
        what
    } else {
        format!("{what} at line {}, column {}", e.line(), e.column())
    }
}

/// Reword one serde_json message (without its position).
fn reword(msg: &str) -> String {
    if let Some(rest) = msg.strip_prefix("unknown field ") {
        let (field, allowed) = rest.split_once(", expected ").unwrap_or((rest, ""));
        let allowed = allowed.trim_start_matches("one of ").replace('`', "");
        if allowed.is_empty() {
            return format!("unknown field {}", quoted(field));
        }
        return format!("unknown field {} (allowed: {allowed})", quoted(field));
    }
    if let Some(field) = msg.strip_prefix("missing field ") {
        return format!("missing field {}", quoted(field));
    }
    for (prefix, label) in [
        ("invalid type: ", "wrong type"),
        ("invalid value: ", "invalid value"),
    ] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            let (found, expected) = rest.rsplit_once(", expected ").unwrap_or((rest, "?"));
            return format!(
                "{label}: found {}, expected {}",
                found_term(found),
                expected_term(expected)
            );
        }
    }
    if let Some(what) = msg.strip_prefix("EOF while parsing ") {
        return format!("the JSON ends too early (inside {what}; truncated?)");
    }
    msg.to_string()
}

/// "`ttl`" → "\"ttl\"" (JSON's quotes, not Rust's backticks).
fn quoted(field: &str) -> String {
    format!("\"{}\"", field.trim_matches('`'))
}

/// serde's description of the value it saw ("sequence", "integer `-1`") in JSON words.
fn found_term(found: &str) -> String {
    let plain = found.replace('`', "");
    match plain.split_once(' ') {
        _ if plain == "sequence" => "an array".into(),
        _ if plain == "map" => "an object".into(),
        _ if plain == "null" || plain == "unit value" => "null".into(),
        Some(("integer" | "floating", n)) => {
            format!("the number {}", n.trim_start_matches("point "))
        }
        Some(("boolean", b)) => b.to_string(),
        Some(("string", s)) => format!("the string {s}"),
        _ => plain,
    }
}

/// What the Rust type wanted, as the JSON a user should send instead.
fn expected_term(expected: &str) -> String {
    match expected {
        e if e.starts_with("struct ") || e == "a map" => "an object".into(),
        e if e.contains("string") || e.contains("str") => "a string".into(),
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number >= 0".into(),
        "i32" | "i64" => "a whole number".into(),
        "a sequence" => "an array".into(),
        "a boolean" => "true or false".into(),
        "any valid JSON value" => "a JSON value".into(),
        e => e.replace('`', ""),
    }
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body<'a> {
        #[serde(borrow)]
        name: &'a str,
        #[serde(default)]
        ttl: Option<u64>,
    }

    fn err(text: &str) -> String {
        describe(&serde_json::from_str::<Body<'_>>(text).expect_err(text))
    }

    #[test]
    fn no_rust_type_names_and_the_position_stays() {
        let cases = [
            (
                r#"{"name":"a","x":1}"#,
                "unknown field \"x\" (allowed: name or ttl) at line 1, column 15",
            ),
            (r#"{"ttl":1}"#, "missing field \"name\""),
            (
                r#"{"name":["a"]}"#,
                "wrong type: found an array, expected a string at line 1, column 8",
            ),
            (
                r#"{"name":"a","ttl":-1}"#,
                "invalid value: found the number -1, expected a whole number >= 0",
            ),
            (
                r#"{"name":"a","ttl":"5"}"#,
                "wrong type: found the string \"5\", expected a whole number >= 0",
            ),
            (
                r#""5""#,
                "wrong type: found the string \"5\", expected an object",
            ),
            (r#"{"name":"a""#, "the JSON ends too early"),
        ];
        for (text, want) in cases {
            let got = err(text);
            assert!(
                got.contains(want),
                "{text}: {got:?} should contain {want:?}"
            );
            for leak in ["struct", "borrowed", "u64", "`"] {
                assert!(!got.contains(leak), "{text}: {got:?} leaks {leak:?}");
            }
        }
    }
}
