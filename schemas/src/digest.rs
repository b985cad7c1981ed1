//! [`Digest`]: a SHA-256 value, the link of the hash chain.
//!
//! Every event carries its own `hash` and (after seq 0) the `prev` hash of the event before it;
//! both are `Digest`s. The chain module computes them over the canonical encoding.
//!
//! Invariants: exactly 32 bytes; on the wire, 64 *lowercase* hex characters. Parsing rejects
//! uppercase, because `prev` is part of the hashed text and one value must have one spelling.
//!
//! Not here: what is hashed (see `canonical`) and how links are checked (see `chain`).

use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// A SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest([u8; 32]);

/// Why a text is not a valid [`Digest`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    /// Not 64 characters long.
    #[error("a digest is 64 hex characters, found {found}")]
    Length {
        /// The length of the rejected text, in bytes.
        found: usize,
    },
    /// Raw bytes of the wrong length.
    #[error("a digest is 32 bytes, found {found}")]
    ByteLength {
        /// The number of bytes given.
        found: usize,
    },
    /// A character other than `0-9a-f`.
    #[error("a digest is lowercase hex; found {found:?} at position {position}")]
    Character {
        /// The offending character.
        found: char,
        /// Its byte position in the text.
        position: usize,
    },
}

impl Digest {
    /// Length in bytes.
    pub const LEN: usize = 32;

    /// SHA-256 of `bytes`.
    pub fn sha256(bytes: &[u8]) -> Self {
        Digest(Sha256::digest(bytes).into())
    }

    /// Wraps raw digest bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Digest(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex, 64 characters.
    pub fn to_hex(&self) -> String {
        let mut out = String::with_capacity(64);
        self.write_hex(&mut out);
        out
    }

    /// Appends the 64 lowercase hex digits to `out`.
    pub fn write_hex(&self, out: &mut String) {
        // Every event carries two digests: a table beats the general encoder's char iterator.
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        for byte in self.0 {
            out.push(char::from(DIGITS[usize::from(byte >> 4)]));
            out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
        }
    }
}

impl From<[u8; 32]> for Digest {
    fn from(bytes: [u8; 32]) -> Self {
        Digest(bytes)
    }
}

impl TryFrom<&[u8]> for Digest {
    type Error = DigestError;

    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        <[u8; 32]>::try_from(bytes)
            .map(Digest)
            .map_err(|_| DigestError::ByteLength { found: bytes.len() })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let hex = text.as_bytes();
        if hex.len() != 64 {
            return Err(DigestError::Length { found: text.len() });
        }
        let mut bytes = [0u8; 32];
        let (pairs, _) = hex.as_chunks::<2>();
        for (i, (byte, [high, low])) in bytes.iter_mut().zip(pairs).enumerate() {
            match (nibble(*high), nibble(*low)) {
                (Some(high), Some(low)) => *byte = (high << 4) | low,
                (high, _) => {
                    let position = 2 * i + usize::from(high.is_some());
                    let found = text.get(position..).and_then(|t| t.chars().next());
                    let found = found.unwrap_or(char::REPLACEMENT_CHARACTER);
                    return Err(DigestError::Character { found, position });
                }
            }
        }
        Ok(Digest(bytes))
    }
}

/// The value of a lowercase hex digit: the one spelling the canonical encoding allows.
const fn nibble(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Digest {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Digest".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A SHA-256 digest as 64 lowercase hex characters.",
            "type": "string",
            "pattern": "^[0-9a-f]{64}$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn sha256_of_empty_input_is_the_known_value() {
        assert_eq!(Digest::sha256(b"").to_string(), EMPTY);
    }

    #[test]
    fn round_trips_through_hex_and_serde() {
        let digest: Digest = EMPTY.parse().unwrap();
        assert_eq!(digest, Digest::sha256(b""));
        let json = serde_json::to_string(&digest).unwrap();
        assert_eq!(json, format!("\"{EMPTY}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), digest);
        assert_eq!(Digest::try_from(&digest.as_bytes()[..]), Ok(digest));
    }

    #[test]
    fn rejects_uppercase_and_bad_lengths() {
        assert_eq!(
            EMPTY.to_uppercase().parse::<Digest>(),
            Err(DigestError::Character {
                found: 'E',
                position: 0
            })
        );
        assert_eq!(
            "abc".parse::<Digest>(),
            Err(DigestError::Length { found: 3 })
        );
        assert_eq!(
            format!("{}é", &EMPTY[..62]).parse::<Digest>(),
            Err(DigestError::Character {
                found: 'é',
                position: 62
            })
        );
        assert!(Digest::try_from(&[0u8; 31][..]).is_err());
    }
}
