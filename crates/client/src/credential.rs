//! The bearer token every request of this process carries, when the nodes require one.
//!
//! Set once at start from `--token-file`, else `$CACHE_TOKEN_FILE`, else `$CACHE_TOKEN` (never a
//! command-line value: `ps` shows arguments to every user). The file has the node's format: the
//! first line that is not blank or a `#` comment is the token (a node's rotation file with two
//! lines works as is: the first is the current one). Kept process-wide because every path that
//! talks to a node (commands, the test suite, `top`'s threads, the load generator's templates)
//! must send it, and it never changes while the client runs.

use std::path::Path;
use std::sync::OnceLock;

/// Longest token accepted (the node's own bound).
const MAX_TOKEN_BYTES: usize = 4096;

static HEADER: OnceLock<Option<String>> = OnceLock::new();

/// The `Authorization` header line (with CRLF) to add to every request, if a token is set.
pub fn header() -> Option<&'static str> {
    HEADER.get().and_then(|h| h.as_deref())
}

/// Resolve the token from the flag or the environment and remember it for [`header`].
pub fn init(token_file: Option<&Path>) -> Result<(), String> {
    let token = match token_file {
        Some(p) => Some(read_file(p)?),
        None => from_env()?,
    };
    let line = token.map(|t| format!("Authorization: Bearer {t}\r\n"));
    let _ = HEADER.set(line);
    Ok(())
}

fn from_env() -> Result<Option<String>, String> {
    if let Some(p) = std::env::var_os("CACHE_TOKEN_FILE").filter(|p| !p.is_empty()) {
        return read_file(Path::new(&p)).map(Some);
    }
    match std::env::var("CACHE_TOKEN") {
        Ok(t) if !t.trim().is_empty() => check(t.trim(), "$CACHE_TOKEN").map(Some),
        _ => Ok(None),
    }
}

fn read_file(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read token file {}: {e}", path.display()))?;
    first_token(&text)
        .ok_or_else(|| format!("token file {} holds no token", path.display()))
        .and_then(|t| check(t, &path.display().to_string()))
}

/// The first line that is neither blank nor a `#` comment.
fn first_token(text: &str) -> Option<&str> {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
}

fn check(token: &str, from: &str) -> Result<String, String> {
    if token.len() > MAX_TOKEN_BYTES || !token.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(format!(
            "the token in {from} must be at most {MAX_TOKEN_BYTES} visible ASCII characters without spaces"
        ));
    }
    Ok(token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_token_line_wins_comments_and_blanks_skipped() {
        assert_eq!(first_token("# current\n\n  abc \nnext\n"), Some("abc"));
        assert_eq!(first_token("# only a comment\n\n"), None);
    }

    #[test]
    fn tokens_with_spaces_or_control_bytes_are_refused() {
        assert!(check("good-token", "x").is_ok());
        let err = check("a b", "f.txt").unwrap_err();
        assert!(err.contains("f.txt"), "{err}");
        assert!(check("a\u{7f}", "x").is_err());
    }

    #[test]
    fn a_token_file_is_read_and_a_missing_one_named() {
        let dir = std::env::temp_dir().join(format!("cc-cred-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let f = dir.join("token");
        std::fs::write(&f, "# rotation\nnew-token-123\nold-token\n").expect("write");
        assert_eq!(read_file(&f).expect("read"), "new-token-123");
        let err = read_file(&dir.join("absent")).unwrap_err();
        assert!(err.contains("absent"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
