//! [`SealingKey`]: the private half, held by the proxy, and its text file format.
//!
//! The binary generates a key (`SealingKey::generate`), writes `to_file_contents` to a file only
//! the proxy can read, and loads it at start with `from_file_contents`; the chain builder calls
//! `seal` once per session. Invariants: the private bytes never reach `Debug` output or error
//! messages, and buffers holding them are zeroed on drop. The file format is specified in
//! CHAIN.md §6.

use std::fmt;

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::{KeyId, Seal, sealed_message};
use crate::digest::Digest;

/// The algorithm name written in key files.
pub(super) const ALGORITHM: &str = "Ed25519";

/// An Ed25519 private key that seals sessions.
///
/// `Debug` shows only the key id; the private bytes are zeroed when the key is dropped.
pub struct SealingKey {
    signing: SigningKey,
    key_id: KeyId,
}

/// Why a key file's text is not a valid key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// Not the expected JSON document.
    #[error("not a blastwall key file: {reason}")]
    Syntax {
        /// What the JSON parser reported (never includes key material).
        reason: String,
    },
    /// An algorithm other than Ed25519.
    #[error("unsupported key algorithm `{0}`: only Ed25519 is supported")]
    UnsupportedAlgorithm(String),
    /// The key is not valid base64 of the right length.
    #[error("the {field} is not base64 of 32 bytes")]
    KeyEncoding {
        /// `private_key` or `public_key`.
        field: &'static str,
    },
    /// The public key is not a valid Ed25519 point.
    #[error("public key {key_id} is not a valid Ed25519 key")]
    InvalidPublicKey {
        /// The id the file states for it.
        key_id: String,
    },
    /// The stated key id is not the one derived from the key.
    #[error("the file says key id {stated}, but the key's id is {derived}")]
    KeyIdMismatch {
        /// What the file states.
        stated: String,
        /// What the key hashes to.
        derived: KeyId,
    },
    /// The same key appears twice in a public key set.
    #[error("key {0} appears more than once")]
    DuplicateKey(KeyId),
}

/// The private key file: `{"algorithm":"Ed25519","key_id":"…","private_key":"<base64 seed>"}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrivateKeyFile {
    algorithm: String,
    key_id: String,
    #[serde(deserialize_with = "zeroizing_string")]
    private_key: Zeroizing<String>,
}

fn zeroizing_string<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Zeroizing<String>, D::Error> {
    String::deserialize(deserializer).map(Zeroizing::new)
}

impl SealingKey {
    /// A new random key from the operating system's generator.
    pub fn generate() -> Self {
        Self::from_signing_key(SigningKey::generate(&mut rand::rngs::OsRng))
    }

    /// The key with the given 32-byte RFC 8032 seed (the "private key" of most tools).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self::from_signing_key(SigningKey::from_bytes(seed))
    }

    fn from_signing_key(signing: SigningKey) -> Self {
        let key_id = KeyId::of(&signing.verifying_key());
        SealingKey { signing, key_id }
    }

    /// This key's id.
    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// The public half.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// Seals the event `seq` of `session_id` whose hash is `hash`.
    pub fn seal(&self, session_id: Uuid, seq: u64, hash: &Digest) -> Seal {
        let message = sealed_message(session_id, seq, hash);
        Seal {
            key_id: self.key_id.clone(),
            signature: self.signing.sign(&message),
        }
    }

    /// The key file's text (pretty JSON and a newline). It holds the private key: write it
    /// with owner-only permissions. The buffer is zeroed when dropped.
    pub fn to_file_contents(&self) -> Zeroizing<String> {
        let seed = Zeroizing::new(self.signing.to_bytes());
        let private_key = Zeroizing::new(crate::base64_bytes::encode(seed.as_slice()));
        // Every value is from a fixed alphabet (hex, base64), so no JSON escaping is needed;
        // building the text by hand keeps the secret out of intermediate buffers.
        let mut text = Zeroizing::new(String::with_capacity(160));
        text.push_str("{\n  \"algorithm\": \"");
        text.push_str(ALGORITHM);
        text.push_str("\",\n  \"key_id\": \"");
        text.push_str(self.key_id.as_str());
        text.push_str("\",\n  \"private_key\": \"");
        text.push_str(&private_key);
        text.push_str("\"\n}\n");
        text
    }

    /// Reads a key file's text, checking the algorithm and that the key id matches the key.
    pub fn from_file_contents(text: &str) -> Result<Self, KeyFileError> {
        let file: PrivateKeyFile =
            serde_json::from_str(text).map_err(|err| KeyFileError::Syntax {
                reason: err.to_string(),
            })?;
        if file.algorithm != ALGORITHM {
            return Err(KeyFileError::UnsupportedAlgorithm(file.algorithm));
        }
        let bytes =
            Zeroizing::new(crate::base64_bytes::decode(&file.private_key).map_err(|_| {
                KeyFileError::KeyEncoding {
                    field: "private_key",
                }
            })?);
        let seed: Zeroizing<[u8; 32]> = Zeroizing::new(bytes.as_slice().try_into().map_err(
            |_| KeyFileError::KeyEncoding {
                field: "private_key",
            },
        )?);
        let key = Self::from_seed(&seed);
        if key.key_id.as_str() != file.key_id {
            return Err(KeyFileError::KeyIdMismatch {
                stated: file.key_id,
                derived: key.key_id,
            });
        }
        Ok(key)
    }
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealingKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}
