//! `cache_control_no_ttl`: the `Cache-Control` a GET answer carries for a value without TTL
//! (issue 12; a value with a TTL always gets `max-age=<seconds left>`).

use super::error::Invalid;

/// Caches may keep a value without TTL but must revalidate it (a conditional GET with its
/// `ETag`, answered 304 while it is unchanged): the node cannot know when it will be
/// overwritten. `no-store` keeps it out of caches altogether; [`CACHE_CONTROL_NONE`] sends no
/// header (the caches' own heuristics then apply).
pub const DEFAULT_CACHE_CONTROL_NO_TTL: &str = "no-cache";
/// The `cache_control_no_ttl` value that means: send no `Cache-Control` header.
pub const CACHE_CONTROL_NONE: &str = "none";
/// Longest `cache_control_no_ttl`: a few directives; it is copied into every such answer.
pub const MAX_CACHE_CONTROL_BYTES: usize = 256;

pub(super) fn default_no_ttl() -> String {
    DEFAULT_CACHE_CONTROL_NO_TTL.to_owned()
}

/// `cache_control_no_ttl` is sent verbatim as a header value: visible ASCII and spaces, not
/// empty (`none` says "no header"), at most [`MAX_CACHE_CONTROL_BYTES`].
pub(super) fn check_no_ttl(v: &str) -> Result<(), Invalid> {
    let printable = v.bytes().all(|b| b == b' ' || b.is_ascii_graphic());
    let trimmed = v.trim();
    if v.len() > MAX_CACHE_CONTROL_BYTES || !printable || trimmed.is_empty() || trimmed != v {
        return Err(Invalid::top(
            "cache_control_no_ttl",
            format!(
                "{v:?} is not a Cache-Control value: expected directives such as no-cache, no-store or \"private, max-age=60\" (visible ASCII, at most {MAX_CACHE_CONTROL_BYTES} bytes), or none for no header"
            ),
        ));
    }
    Ok(())
}
