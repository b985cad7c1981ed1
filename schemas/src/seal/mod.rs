//! Seals: Ed25519 signatures over the last hash of a session, and the keys that make them.
//!
//! The chain builder seals a session's `session.ended` event with the proxy's [`SealingKey`];
//! the verifier checks the seal against the [`PublicKeys`] an auditor trusts. Because the
//! sealed hash covers every earlier event through `prev`, one signature proves the whole
//! session complete and unmodified.
//!
//! Invariants: the signed message is [`sealed_message`] — the domain string
//! [`SEAL_DOMAIN`], the session id, the seq and the hash — never the event text itself; a
//! [`KeyId`] is derived from the public key (never chosen), so a key file cannot lie about
//! it; verification is strict (RFC 8032 with no malleable or small-order encodings).
//! Private key bytes never appear in `Debug` output.
//!
//! Not here: reading and writing key files (the binary; this crate only formats them), key
//! rotation policy (configuration), and which events carry a seal (`chain`).

mod key;
mod public;

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signature, VerifyingKey};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::digest::Digest;

pub use key::{KeyFileError, SealingKey};
pub use public::{PublicKeys, SealCheck};

/// Prefix of every signed message: names the purpose and version of the signature.
pub const SEAL_DOMAIN: &[u8; 18] = b"blastwall-seal-v1\0";

/// Length of [`sealed_message`]'s output: domain (18) + session id (16) + seq (8) + hash (32).
pub const SEALED_MESSAGE_LEN: usize = 74;

/// The bytes a seal signs: `SEAL_DOMAIN || session_id (16 bytes) || seq (u64 big-endian) || hash (32 bytes)`.
pub fn sealed_message(session_id: Uuid, seq: u64, hash: &Digest) -> [u8; SEALED_MESSAGE_LEN] {
    let mut message = [0u8; SEALED_MESSAGE_LEN];
    let (domain, rest) = message.split_at_mut(SEAL_DOMAIN.len());
    domain.copy_from_slice(SEAL_DOMAIN);
    let (session, rest) = rest.split_at_mut(16);
    session.copy_from_slice(session_id.as_bytes());
    let (seq_bytes, hash_bytes) = rest.split_at_mut(8);
    seq_bytes.copy_from_slice(&seq.to_be_bytes());
    hash_bytes.copy_from_slice(hash.as_bytes());
    message
}

/// The signature on a session's last event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Seal {
    /// Which key signed.
    pub key_id: KeyId,
    /// The Ed25519 signature over [`sealed_message`], 64 bytes, base64 on the wire.
    #[serde(with = "signature_base64")]
    #[schemars(with = "crate::base64_bytes::Base64")]
    pub signature: Signature,
}

impl Seal {
    /// A seal from its key id and the 64 signature bytes; `None` for any other length.
    pub fn from_signature_bytes(key_id: KeyId, signature: &[u8]) -> Option<Seal> {
        Some(Seal {
            key_id,
            signature: Signature::from_slice(signature).ok()?,
        })
    }
}

/// Why a seal does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The seal names a key that is not among the trusted public keys.
    #[error("key {0} is not among the trusted public keys")]
    UnknownKey(KeyId),
    /// The signature does not verify under the named key.
    #[error("the signature does not verify under key {0}")]
    InvalidSignature(KeyId),
}

/// A key's identifier: the first 8 bytes of SHA-256 of the 32-byte public key, as 16
/// lowercase hex characters.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(String);

/// Why a text is not a [`KeyId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a key id: expected 16 lowercase hex characters")]
pub struct InvalidKeyId(pub String);

impl KeyId {
    /// The id of `key`.
    pub fn of(key: &VerifyingKey) -> Self {
        let digest = Digest::sha256(key.as_bytes());
        KeyId(hex::encode(&digest.as_bytes()[..8]))
    }

    /// The 16 hex characters.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.0)
    }
}

impl FromStr for KeyId {
    type Err = InvalidKeyId;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let valid =
            text.len() == 16 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if valid {
            Ok(KeyId(text.to_owned()))
        } else {
            Err(InvalidKeyId(text.to_owned()))
        }
    }
}

impl Serialize for KeyId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for KeyId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for KeyId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "KeyId".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "First 8 bytes of SHA-256 of the Ed25519 public key, as lowercase hex.",
            "type": "string",
            "pattern": "^[0-9a-f]{16}$"
        })
    }
}

/// Serde adapter for an Ed25519 signature as base64 of its 64 bytes.
mod signature_base64 {
    use ed25519_dalek::Signature;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        signature: &Signature,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        crate::base64_bytes::serialize(&signature.to_bytes(), serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Signature, D::Error> {
        let bytes = crate::base64_bytes::deserialize(deserializer)?;
        Signature::from_slice(&bytes).map_err(|_| {
            serde::de::Error::custom(format!("a signature is 64 bytes, found {}", bytes.len()))
        })
    }
}

#[cfg(test)]
mod tests;
