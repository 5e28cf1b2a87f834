//! Start-up configuration errors: the file, line and key they point at, and the translation of
//! serde_yaml's errors and our own validation failures into that form.
//!
//! serde_yaml formats its errors as `path.to.key: message at line L column C` and exposes the location
//! but not the path, so the path is recovered from the text. Validation runs after deserialising, when
//! positions are gone, so the offending key's line is found again by scanning the source text
//! ([`find_key_line`]); that scan understands block-style mappings, which is what config files use, and
//! falls back to the enclosing section's line for anything else (flow style, defaulted keys).

use std::fmt;

/// Why the node refused its configuration. Displayed as `file:line: key `k`: message`; the line and key
/// are left out when they are unknown or do not apply (e.g. an unreadable file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    /// 1-based line in `file`.
    pub line: Option<usize>,
    /// Dotted key path, e.g. `limits.max_header_bytes` or `cluster_nodes.node2`.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        f.write_str(": ")?;
        if let Some(key) = &self.key {
            write!(f, "key `{key}`: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// A semantic validation failure, before its line is known. `section` is the top-level key the
/// offending key lives under (`None` for a top-level key; `cluster_nodes` for a node entry).
#[derive(Debug)]
pub(crate) struct Invalid {
    pub section: Option<&'static str>,
    pub key: String,
    pub message: String,
}

impl Invalid {
    pub(crate) fn top(key: &str, message: impl Into<String>) -> Invalid {
        Invalid {
            section: None,
            key: key.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn at(section: &'static str, key: &str, message: impl Into<String>) -> Invalid {
        Invalid {
            section: Some(section),
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

impl ConfigError {
    /// An error about the file as a whole (unreadable, empty, too large).
    pub(crate) fn whole_file(file: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: file.to_owned(),
            line: None,
            key: None,
            message: message.into(),
        }
    }

    pub(crate) fn from_invalid(invalid: Invalid, text: &str, file: &str) -> ConfigError {
        let (key, line) = match invalid.section {
            Some(section) => (
                format!("{section}.{}", invalid.key),
                find_key_line(text, &[section, &invalid.key], 0),
            ),
            None => (invalid.key.clone(), find_key_line(text, &[&invalid.key], 0)),
        };
        ConfigError {
            file: file.to_owned(),
            line,
            key: Some(key),
            message: invalid.message,
        }
    }

    pub(crate) fn from_yaml(err: &serde_yaml::Error, text: &str, file: &str) -> ConfigError {
        let location = err.location().map(|l| (l.line(), l.column()));
        let full = err.to_string();
        let message = match location {
            Some((line, column)) => {
                let suffix = format!(" at line {line} column {column}");
                full.strip_suffix(&suffix).unwrap_or(&full).to_owned()
            }
            None => full,
        };
        let (path, message) = split_path(&message);
        let mut line = location.map(|(line, _)| line);
        let mut key = path.map(str::to_owned);
        // Messages naming a key inside `path`: report that key, and for duplicates the line of the
        // second occurrence (serde reports the start of the mapping, or nothing useful).
        if let Some((kind, name)) = named_key(message) {
            let parent: Vec<&str> = path.map(|p| p.splitn(2, '.').collect()).unwrap_or_default();
            let mut full_path = parent.clone();
            full_path.push(name);
            key = Some(full_path.join("."));
            match kind {
                NamedKey::Duplicate => line = find_key_line(text, &full_path, 1).or(line),
                // A missing top-level key has no line of its own, and serde's (1, 1) is not one.
                NamedKey::Missing if parent.is_empty() => line = None,
                _ => {}
            }
        }
        ConfigError {
            file: file.to_owned(),
            line,
            key,
            message: friendly(message),
        }
    }
}

/// Splits serde_yaml's `path: message` prefix. A path is dotted keys without spaces, which no serde
/// message prefix (`invalid type: ...`, `unknown field ...`) nor any of our messages looks like.
fn split_path(message: &str) -> (Option<&str>, &str) {
    match message.split_once(": ") {
        Some((path, rest))
            if !path.is_empty() && !path.contains(|c: char| c.is_whitespace() || c == '`') =>
        {
            (Some(path), rest)
        }
        _ => (None, message),
    }
}

enum NamedKey {
    Unknown,
    Missing,
    Duplicate,
}

/// Recognises serde's messages that name a key in backticks.
fn named_key(message: &str) -> Option<(NamedKey, &str)> {
    const PREFIXES: [(&str, NamedKey); 4] = [
        ("unknown field `", NamedKey::Unknown),
        ("missing field `", NamedKey::Missing),
        ("duplicate field `", NamedKey::Duplicate),
        // Our own message for a repeated `cluster_nodes` id (see `address::de_cluster_nodes`).
        ("duplicate node id `", NamedKey::Duplicate),
    ];
    PREFIXES.into_iter().find_map(|(prefix, kind)| {
        let rest = message.strip_prefix(prefix)?;
        let end = rest.find('`')?;
        Some((kind, &rest[..end]))
    })
}

/// Replaces Rust type names in serde's messages with words an operator understands.
fn friendly(message: &str) -> String {
    let mut out = message.to_owned();
    for ty in ["usize", "u64", "u32", "u16", "u8"] {
        out = out.replace(&format!("expected {ty}"), "expected an integer");
    }
    out
}

/// The 1-based line of the `nth` (0-based) occurrence of the key `path` (a top-level key, then keys
/// nested under it) in block-style YAML. When a nested key is not found, the line of its deepest
/// ancestor that was found is returned; `None` when the top-level key itself is absent.
pub(crate) fn find_key_line(text: &str, path: &[&str], nth: usize) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let (mut start, mut end) = (0, lines.len());
    let mut found = None;
    for (depth, key) in path.iter().enumerate() {
        let want = if depth + 1 == path.len() { nth } else { 0 };
        let Some((index, indent)) = find_child(&lines[start..end], key, want) else {
            break;
        };
        let absolute = start + index;
        found = Some(absolute + 1);
        start = absolute + 1;
        end = block_end(&lines, start, indent);
    }
    found
}

/// Indentation and body of a line that holds YAML content (not blank, not a comment).
fn content(line: &str) -> Option<(usize, &str)> {
    let body = line.trim_start_matches(' ');
    let body_trimmed = body.trim_end();
    if body_trimmed.is_empty() || body_trimmed.starts_with('#') {
        return None;
    }
    Some((line.len() - body.len(), body))
}

/// Finds the `nth` line among direct children (the indentation of the first content line) that
/// starts with `key:`; returns its index in `lines` and its indentation.
fn find_child(lines: &[&str], key: &str, nth: usize) -> Option<(usize, usize)> {
    let mut child_indent = None;
    let mut seen = 0;
    for (index, line) in lines.iter().enumerate() {
        let Some((indent, body)) = content(line) else {
            continue;
        };
        if indent != *child_indent.get_or_insert(indent) || !key_matches(body, key) {
            continue;
        }
        if seen == nth {
            return Some((index, indent));
        }
        seen += 1;
    }
    None
}

/// The first line at or after `start` that is indented no deeper than `indent` (end of a block).
fn block_end(lines: &[&str], start: usize, indent: usize) -> usize {
    (start..lines.len())
        .find(|&i| content(lines[i]).is_some_and(|(ind, _)| ind <= indent))
        .unwrap_or(lines.len())
}

/// Whether a line body is the mapping key `key` (`key:`, `"key":`, `'key' :`).
fn key_matches(body: &str, key: &str) -> bool {
    let unquoted = ['"', '\''].iter().find_map(|q| {
        body.strip_prefix(*q)
            .and_then(|b| b.strip_prefix(key))
            .and_then(|b| b.strip_prefix(*q))
    });
    let Some(rest) = unquoted.or_else(|| body.strip_prefix(key)) else {
        return false;
    };
    let Some(after) = rest.trim_start_matches(' ').strip_prefix(':') else {
        return false;
    };
    after.is_empty() || after.starts_with([' ', '\t'])
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# comment\nnode_id: a\nlimits:\n  # note\n  max_pipeline: 1\n\n  \"quoted\": 2\n\
                        cluster_nodes:\n  a.b: x:1\n  a: y:2\n  a: z:3\ntimeouts: {header: 1}\nmax_pipeline: 3\n";

    #[test]
    fn finds_top_level_and_nested_keys() {
        assert_eq!(find_key_line(TEXT, &["node_id"], 0), Some(2));
        assert_eq!(find_key_line(TEXT, &["limits"], 0), Some(3));
        assert_eq!(find_key_line(TEXT, &["limits", "max_pipeline"], 0), Some(5));
        assert_eq!(find_key_line(TEXT, &["limits", "quoted"], 0), Some(7));
        assert_eq!(find_key_line(TEXT, &["max_pipeline"], 0), Some(13));
        assert_eq!(find_key_line(TEXT, &["cluster_nodes", "a.b"], 0), Some(9));
        assert_eq!(find_key_line(TEXT, &["cluster_nodes", "a"], 0), Some(10));
        assert_eq!(find_key_line(TEXT, &["cluster_nodes", "a"], 1), Some(11));
    }

    #[test]
    fn falls_back_to_the_section_or_none() {
        // Flow style and defaulted keys: the section's own line.
        assert_eq!(find_key_line(TEXT, &["timeouts", "header"], 0), Some(12));
        assert_eq!(
            find_key_line(TEXT, &["limits", "max_connections"], 0),
            Some(3)
        );
        assert_eq!(find_key_line(TEXT, &["storage", "sweep_budget"], 0), None);
        assert_eq!(find_key_line(TEXT, &["node"], 0), None);
        assert_eq!(find_key_line("", &["node_id"], 0), None);
    }

    #[test]
    fn key_matching_is_exact() {
        assert!(key_matches("a: 1", "a"));
        assert!(key_matches("a:", "a"));
        assert!(key_matches("a :\t1", "a"));
        assert!(key_matches("'a': 1", "a"));
        assert!(!key_matches("ab: 1", "a"));
        assert!(!key_matches("a:b", "a"));
        assert!(!key_matches("\"a': 1", "a"));
    }

    #[test]
    fn display_includes_only_known_parts() {
        let mut e = ConfigError {
            file: "f.yaml".into(),
            line: Some(3),
            key: Some("cache_size".into()),
            message: "bad".into(),
        };
        assert_eq!(e.to_string(), "f.yaml:3: key `cache_size`: bad");
        e.line = None;
        assert_eq!(e.to_string(), "f.yaml: key `cache_size`: bad");
        e.key = None;
        assert_eq!(e.to_string(), "f.yaml: bad");
    }

    #[test]
    fn path_prefix_is_split_only_when_it_looks_like_a_path() {
        assert_eq!(
            split_path("limits.a: invalid type: x"),
            (Some("limits.a"), "invalid type: x")
        );
        assert_eq!(
            split_path("invalid type: sequence"),
            (None, "invalid type: sequence")
        );
        assert_eq!(
            split_path("unknown field `x`, expected: y"),
            (None, "unknown field `x`, expected: y")
        );
        assert_eq!(friendly("expected usize"), "expected an integer");
    }
}
