//! `${NAME}` in a config file: replaced by the environment variable `NAME` before the YAML is
//! parsed, so one file serves every pod of a StatefulSet (`node_id: "${HOSTNAME}"`).
//!
//! The grammar is small on purpose: `${NAME}` with `NAME` = `[A-Za-z_][A-Za-z0-9_]*` is a
//! reference; `$${` is a literal `${`; any other `$` (a lone `$`, `$$`, `$HOME`) is left as
//! written, so files without `${` load exactly as before. Whole-line comments are not expanded
//! (they may mention variables that are not set). An unset variable, or a `${` that is not a
//! reference, is an error naming the file, the line, the key and the variable.
//!
//! Expanding the text rather than the parsed values keeps every other error's line number right
//! (a value may not hold a line break) and covers every string key, mapping keys included. A
//! value is inserted into YAML, so it may hold only characters that cannot change the document's
//! structure ([`is_value_char`]): ids, host names, ports, paths.

use std::borrow::Cow;

/// A `${...}` that could not be expanded, before the file name is attached.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct EnvError {
    /// 1-based line of the reference.
    pub line: usize,
    /// Dotted key path of that line, when it holds a key.
    pub key: Option<String>,
    pub message: String,
}

/// Characters an expanded value may hold: none of them ends a scalar, starts a comment, quotes,
/// escapes or opens a collection in YAML, so a value can never add keys or documents.
fn is_value_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._-:/@+=~%".contains(c)
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Replaces every `${NAME}` in `text` by `lookup(NAME)`; borrows `text` when it has no `${`.
pub(super) fn expand<'t>(
    text: &'t str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Cow<'t, str>, EnvError> {
    if !text.contains("${") {
        return Ok(Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len());
    for (index, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_start().starts_with('#') || !line.contains("${") {
            out.push_str(line);
            continue;
        }
        expand_line(line, lookup, &mut out).map_err(|message| EnvError {
            line: index + 1,
            key: key_path_at(text, index),
            message,
        })?;
    }
    Ok(Cow::Owned(out))
}

/// Expands one line into `out`; the error is the message only (the caller adds the position).
fn expand_line(
    line: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    out: &mut String,
) -> Result<(), String> {
    let bytes = line.as_bytes();
    let mut i = 0;
    let mut copied = 0; // bytes of `line` before this are already in `out`
    while i < bytes.len() {
        if bytes[i..].starts_with(b"$${") {
            out.push_str(&line[copied..i]);
            out.push_str("${");
            i += 3;
            copied = i;
        } else if bytes[i..].starts_with(b"${") {
            out.push_str(&line[copied..i]);
            let start = i + 2;
            let len = bytes[start..]
                .iter()
                .take_while(|&&b| is_name_char(b))
                .count();
            let end = start + len;
            if len == 0 || !is_name_start(bytes[start]) || bytes.get(end) != Some(&b'}') {
                let shown: String = line[i..].trim_end().chars().take(24).collect();
                return Err(format!(
                    "{shown:?} is not a variable reference: write ${{NAME}} with NAME made of \
                     letters, digits and '_' (not starting with a digit), or $${{ for a literal ${{"
                ));
            }
            let name = &line[start..end];
            let Some(value) = lookup(name) else {
                return Err(format!(
                    "environment variable `{name}` is not set (referenced as ${{{name}}})"
                ));
            };
            if let Some(c) = value.chars().find(|&c| !is_value_char(c)) {
                return Err(format!(
                    "environment variable `{name}` holds {c:?}, which a config value taken from \
                     the environment may not contain (allowed: letters, digits and ._-:/@+=~%)"
                ));
            }
            out.push_str(&value);
            i = end + 1;
            copied = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&line[copied..]);
    Ok(())
}

/// The key a line sets (`key:` or `- key:`), unquoted; `None` for lines without one.
fn line_key(line: &str) -> Option<(usize, String)> {
    let body = line.trim_start_matches(' ');
    let indent = line.len() - body.len();
    let body = body.strip_prefix("- ").unwrap_or(body).trim_end();
    let colon = body
        .find(": ")
        .or_else(|| body.strip_suffix(':').map(str::len))?;
    let key = body[..colon].trim();
    let key = key
        .strip_prefix('"')
        .and_then(|k| k.strip_suffix('"'))
        .or_else(|| key.strip_prefix('\'').and_then(|k| k.strip_suffix('\'')))
        .unwrap_or(key);
    (!key.is_empty() && !key.starts_with('#')).then(|| (indent, key.to_owned()))
}

/// The dotted key path of line `index` in block-style YAML: its own key, then each less indented
/// key above it (`cluster.discovery`). Best effort: flow style gives the enclosing block key.
fn key_path_at(text: &str, index: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let (mut indent, key) = line_key(lines.get(index)?)?;
    let mut path = vec![key];
    for line in lines[..index].iter().rev() {
        if indent == 0 {
            break;
        }
        let is_content = !line.trim().is_empty() && !line.trim_start().starts_with('#');
        match line_key(line) {
            Some((i, key)) if i < indent => {
                indent = i;
                path.push(key);
            }
            // A less indented line without a key (a list item's value) ends the search.
            None if is_content && line.len() - line.trim_start_matches(' ').len() < indent => {
                break;
            }
            _ => {}
        }
    }
    path.reverse();
    Some(path.join("."))
}

#[cfg(test)]
#[path = "env_tests.rs"]
mod tests;
