//! Argument groups shared by several key commands (`set`, `cas`, `add`) and `put`'s.

use std::path::PathBuf;

use crate::commands::raw::RawPut;
use crate::commands::write::NewValue;

/// A key and the JSON value to store under it.
#[derive(clap::Args, Debug)]
pub struct ValueArgs {
    pub key: String,
    /// Stored as a JSON string, unless --json-value.
    pub value: String,
    /// Time to live in seconds (default: no expiry).
    #[arg(long)]
    pub ttl: Option<u64>,
    /// VALUE is JSON text (number, object, array, ...), stored as written.
    #[arg(short = 'J', long)]
    pub json_value: bool,
}

impl ValueArgs {
    pub fn new_value(&self) -> NewValue<'_> {
        NewValue {
            text: &self.value,
            is_json: self.json_value,
            ttl: self.ttl,
        }
    }
}

/// `put KEY --file FILE [--content-type TYPE]`.
#[derive(clap::Args, Debug)]
pub struct PutArgs {
    pub key: String,
    /// The bytes to store, sent unchanged (- for standard input).
    #[arg(short = 'f', long, value_name = "FILE")]
    pub file: PathBuf,
    /// Content type stored with the bytes and sent back by GET. Nothing is guessed from the file
    /// name or its contents: the default is application/octet-stream. application/json and
    /// application/x-www-form-urlencoded are refused (the node reads them as the
    /// {"value":..} envelope; store JSON with set --json-value).
    #[arg(
        short = 't',
        long,
        value_name = "TYPE",
        default_value = crate::commands::raw::DEFAULT_RAW_TYPE
    )]
    pub content_type: String,
    /// Time to live in seconds (default: no expiry).
    #[arg(long)]
    pub ttl: Option<u64>,
    /// Only if the key is still at this ETag (exit 3 otherwise).
    #[arg(long, value_name = "ETAG", conflicts_with = "if_absent")]
    pub if_match: Option<String>,
    /// Only if the key does not exist (exit 3 when it does).
    #[arg(long)]
    pub if_absent: bool,
}

impl PutArgs {
    pub fn raw_put(&self) -> RawPut<'_> {
        RawPut {
            file: &self.file,
            content_type: &self.content_type,
            ttl: self.ttl,
            if_match: self.if_match.as_deref(),
            if_absent: self.if_absent,
        }
    }
}
