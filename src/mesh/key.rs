//! A key as it travels in a cross-core call: inline when short, so the call allocates nothing.
//!
//! A `Bytes` copy of the request's key cost every hop an allocation, and its clone (the caller
//! keeps one for the answer) turned that copy into a shared one: a second allocation and a
//! reference count that both cores then write, one cache line moving between their caches per
//! call. Most keys are short (`user:1234`, the benchmarks' 16 bytes): those travel inside the
//! message itself, copied into it and read in place on the owning core, and the caller's own copy
//! for the answer (`server::handlers::Deferred`) is one of these too.

use bytes::Bytes;

/// Longest key carried inline: with its length byte it stays within the 24 bytes in front of
/// `Bytes`'s vtable pointer, so the enum keeps `Bytes`'s 32-byte size (the pointer's niche tells
/// the two apart) and the message does not grow.
pub(super) const INLINE_KEY_MAX: usize = 22;

/// The key of a [`super::Msg::Key`].
#[derive(Clone, Debug)]
pub enum CallKey {
    Inline {
        len: u8,
        bytes: [u8; INLINE_KEY_MAX],
    },
    Shared(Bytes),
}

impl CallKey {
    /// `key` inline when it fits, else in a `Bytes` copy.
    #[inline]
    pub fn new(key: &[u8]) -> CallKey {
        let mut bytes = [0u8; INLINE_KEY_MAX];
        match bytes.get_mut(..key.len()) {
            Some(head) => {
                head.copy_from_slice(key);
                // At most INLINE_KEY_MAX (22): fits a u8.
                let len = key.len() as u8;
                CallKey::Inline { len, bytes }
            }
            None => CallKey::Shared(Bytes::copy_from_slice(key)),
        }
    }

    /// The key as `Bytes`, for what keeps it (a write's copies, a hot key's copy): a copy of an
    /// inline key, another reference to a shared one.
    pub fn to_bytes(&self) -> Bytes {
        match self {
            CallKey::Inline { .. } => Bytes::copy_from_slice(self.as_slice()),
            CallKey::Shared(b) => b.clone(),
        }
    }

    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match self {
            CallKey::Inline { len, bytes } => &bytes[..usize::from(*len)],
            CallKey::Shared(b) => b,
        }
    }
}

impl std::ops::Deref for CallKey {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

const _: () = assert!(std::mem::size_of::<CallKey>() == std::mem::size_of::<Bytes>());

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_keys_travel_inline_and_long_ones_shared() {
        for len in [0, 1, 16, INLINE_KEY_MAX, INLINE_KEY_MAX + 1, 250, 4096] {
            let key: Vec<u8> = (0..len).map(|i| (i * 7 + 1) as u8).collect();
            let k = CallKey::new(&key);
            assert_eq!(k.as_slice(), &key[..], "a {len}-byte key");
            assert_eq!(&k.to_bytes()[..], &key[..], "a {len}-byte key as Bytes");
            assert_eq!(
                matches!(k, CallKey::Inline { .. }),
                len <= INLINE_KEY_MAX,
                "a {len}-byte key's form"
            );
        }
    }
}
