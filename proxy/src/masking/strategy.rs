//! What a rule does to a column's value: `redact`, `partial`, `hash`, `null`, or `clear`
//! (leave it, and skip content detection).
//!
//! `hash` is HMAC-SHA256 under a key read from the environment or a file (never the
//! configuration), so equal values give equal outputs — joins and GROUP BY over masked values
//! still work — while the raw value cannot be recovered or guessed without the key
//! ([`HashKey`], in `hash_key`).

use serde::Deserialize;

use super::hash_key::HashKey;

/// The token `redact` puts in place of a value.
pub const REDACTED: &[u8] = b"[redacted]";

/// How a rule rewrites a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StrategyKind {
    /// The fixed token `[redacted]`.
    Redact,
    /// `*` for every character but the last `keep` (never more than half the value).
    Partial,
    /// `hmac:` and 32 hex digits of HMAC-SHA256 under the masking key.
    Hash,
    /// SQL NULL.
    Null,
    /// The value as it is, without content detection.
    Clear,
}

/// A rule's strategy, ready to apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// See [`StrategyKind::Redact`].
    Redact,
    /// See [`StrategyKind::Partial`].
    Partial {
        /// Characters kept at the end.
        keep: usize,
    },
    /// See [`StrategyKind::Hash`].
    Hash,
    /// See [`StrategyKind::Null`].
    Null,
    /// See [`StrategyKind::Clear`].
    Clear,
}

impl Strategy {
    /// The name used in events.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Redact => "redact",
            Strategy::Partial { .. } => "partial",
            Strategy::Hash => "hash",
            Strategy::Null => "null",
            Strategy::Clear => "clear",
        }
    }

    /// Writes the rewritten value to `put`, piece by piece; `false` (nothing written) is SQL
    /// NULL. The same values as [`Strategy::apply`], without a copy of its own.
    pub fn write(self, value: &[u8], key: Option<&HashKey>, mut put: impl FnMut(&[u8])) -> bool {
        match self {
            Strategy::Redact => put(REDACTED),
            Strategy::Partial { keep } => put(&partial(value, keep)),
            Strategy::Hash => match key {
                Some(key) => put(&key.tag(value)),
                None => return false,
            },
            Strategy::Null => return false,
            Strategy::Clear => put(value),
        }
        true
    }

    /// The rewritten value; `None` is SQL NULL. `key` is present whenever a rule hashes
    /// (checked when the configuration is read); without it a hash gives NULL.
    pub fn apply(self, value: &[u8], key: Option<&HashKey>) -> Option<Vec<u8>> {
        match self {
            Strategy::Redact => Some(REDACTED.to_vec()),
            Strategy::Partial { keep } => Some(partial(value, keep)),
            Strategy::Hash => key.map(|key| key.hash(value)),
            Strategy::Null => None,
            Strategy::Clear => Some(value.to_vec()),
        }
    }
}

fn partial(value: &[u8], keep: usize) -> Vec<u8> {
    let text = String::from_utf8_lossy(value);
    let count = text.chars().count();
    let keep = keep.min(count / 2);
    let mut out = String::with_capacity(value.len());
    for (i, c) in text.chars().enumerate() {
        out.push(if i + keep >= count { c } else { '*' });
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> HashKey {
        HashKey::new(text.as_bytes())
    }

    #[test]
    fn hash_is_keyed_hmac_sha256() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let out = key("Jefe").hash(b"what do ya want for nothing?");
        assert_eq!(out, b"hmac:5bdcc146bf60754e6a042426089575c7".to_vec());
        assert_eq!(key("k").hash(b"a"), key("k").hash(b"a"));
        assert_ne!(key("k").hash(b"a"), key("other").hash(b"a"));
    }

    #[test]
    fn partial_keeps_the_end_but_never_more_than_half() {
        assert_eq!(
            Strategy::Partial { keep: 4 }.apply(b"4111111111111111", None),
            Some(b"************1111".to_vec())
        );
        assert_eq!(
            Strategy::Partial { keep: 4 }.apply(b"abcd", None),
            Some(b"**cd".to_vec())
        );
        assert_eq!(
            Strategy::Partial { keep: 2 }.apply("héllo".as_bytes(), None),
            Some("***lo".as_bytes().to_vec())
        );
    }

    #[test]
    fn redact_null_clear() {
        assert_eq!(Strategy::Redact.apply(b"x", None), Some(REDACTED.to_vec()));
        assert_eq!(Strategy::Null.apply(b"x", None), None);
        assert_eq!(Strategy::Clear.apply(b"x", None), Some(b"x".to_vec()));
        assert_eq!(Strategy::Hash.apply(b"x", None), None);
    }
}
