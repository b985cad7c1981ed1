//! [`PublicKeys`]: the verifying keys an auditor trusts, and their export format.
//!
//! The binary exports the proxy's public keys with `to_json`; `blastwall verify` and the query
//! crate load them with `from_json` and hand them to the chain verifier. Invariants: a key id
//! is always derived from its key — an import whose stated id differs is refused — and a set
//! never holds two keys with one id. The format is specified in CHAIN.md §6.

use std::collections::BTreeMap;

use ed25519_dalek::VerifyingKey;
use serde::Deserialize;
use uuid::Uuid;

use super::key::{ALGORITHM, KeyFileError};
use super::{KeyId, Seal, SealError, SealingKey, sealed_message};
use crate::digest::Digest;

/// A set of trusted Ed25519 public keys, by key id.
///
/// Exported as `{"keys":[{"key_id":"…","algorithm":"Ed25519","public_key":"<base64>"}]}`,
/// sorted by key id; that document is what auditors receive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublicKeys {
    keys: BTreeMap<KeyId, VerifyingKey>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublicKeysFile {
    keys: Vec<PublicKeyEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublicKeyEntry {
    key_id: String,
    algorithm: String,
    public_key: String,
}

impl PublicKeys {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `key` and returns its id.
    pub fn insert(&mut self, key: VerifyingKey) -> KeyId {
        let id = KeyId::of(&key);
        self.keys.insert(id.clone(), key);
        id
    }

    /// The key with id `key_id`.
    pub fn get(&self, key_id: &KeyId) -> Option<&VerifyingKey> {
        self.keys.get(key_id)
    }

    /// The keys, in key id order.
    pub fn iter(&self) -> impl Iterator<Item = (&KeyId, &VerifyingKey)> {
        self.keys.iter()
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Checks `seal` on event `seq` of `session_id` with hash `hash`.
    pub fn verify(
        &self,
        seal: &Seal,
        session_id: Uuid,
        seq: u64,
        hash: &Digest,
    ) -> Result<(), SealError> {
        let key = self
            .get(&seal.key_id)
            .ok_or_else(|| SealError::UnknownKey(seal.key_id.clone()))?;
        key.verify_strict(&sealed_message(session_id, seq, hash), &seal.signature)
            .map_err(|_| SealError::InvalidSignature(seal.key_id.clone()))
    }

    /// [`PublicKeys::verify`], with its verdict kept beside what it was taken over, so the
    /// check can run ahead of the chain (on another thread) and a [`ChainVerifier`] use it.
    ///
    /// [`ChainVerifier`]: crate::ChainVerifier
    pub fn check(&self, seal: &Seal, session_id: Uuid, seq: u64, hash: &Digest) -> SealCheck {
        SealCheck {
            seal: seal.clone(),
            session_id,
            seq,
            hash: *hash,
            key: self.get(&seal.key_id).copied(),
            verdict: self.verify(seal, session_id, seq, hash),
        }
    }

    /// The verdict of `check` if it was taken over exactly this seal, event and hash with the
    /// key this set holds under the seal's id; `None` otherwise (then verify afresh).
    pub(crate) fn recall(
        &self,
        check: &SealCheck,
        seal: &Seal,
        session_id: Uuid,
        seq: u64,
        hash: &Digest,
    ) -> Option<Result<(), SealError>> {
        let same = check.seal == *seal
            && check.session_id == session_id
            && check.seq == seq
            && check.hash == *hash
            && check.key.as_ref() == self.get(&seal.key_id);
        same.then(|| check.verdict.clone())
    }

    /// The export document (pretty JSON and a newline), keys in key id order.
    pub fn to_json(&self) -> String {
        // Every value is from a fixed alphabet (hex, base64, the algorithm name), so no JSON
        // escaping is needed, and the text does not depend on serde_json's map ordering.
        let entries: Vec<String> = self
            .keys
            .iter()
            .map(|(key_id, key)| {
                format!(
                    "    {{\n      \"key_id\": \"{key_id}\",\n      \"algorithm\": \"{ALGORITHM}\",\n      \"public_key\": \"{}\"\n    }}",
                    crate::base64_bytes::encode(key.as_bytes())
                )
            })
            .collect();
        if entries.is_empty() {
            "{\n  \"keys\": []\n}\n".to_owned()
        } else {
            format!("{{\n  \"keys\": [\n{}\n  ]\n}}\n", entries.join(",\n"))
        }
    }

    /// Reads an export document, checking every key and key id.
    pub fn from_json(text: &str) -> Result<Self, KeyFileError> {
        let file: PublicKeysFile =
            serde_json::from_str(text).map_err(|err| KeyFileError::Syntax {
                reason: err.to_string(),
            })?;
        let mut keys = PublicKeys::new();
        for entry in file.keys {
            if entry.algorithm != ALGORITHM {
                return Err(KeyFileError::UnsupportedAlgorithm(entry.algorithm));
            }
            let bytes: [u8; 32] = crate::base64_bytes::decode(&entry.public_key)
                .ok()
                .and_then(|bytes| bytes.try_into().ok())
                .ok_or(KeyFileError::KeyEncoding {
                    field: "public_key",
                })?;
            let key =
                VerifyingKey::from_bytes(&bytes).map_err(|_| KeyFileError::InvalidPublicKey {
                    key_id: entry.key_id.clone(),
                })?;
            let derived = KeyId::of(&key);
            if derived.as_str() != entry.key_id {
                return Err(KeyFileError::KeyIdMismatch {
                    stated: entry.key_id,
                    derived,
                });
            }
            if keys.keys.insert(derived.clone(), key).is_some() {
                return Err(KeyFileError::DuplicateKey(derived));
            }
        }
        Ok(keys)
    }
}

impl From<&SealingKey> for PublicKeys {
    fn from(key: &SealingKey) -> Self {
        let mut keys = PublicKeys::new();
        keys.insert(key.verifying_key());
        keys
    }
}

impl FromIterator<VerifyingKey> for PublicKeys {
    fn from_iter<I: IntoIterator<Item = VerifyingKey>>(iter: I) -> Self {
        let mut keys = PublicKeys::new();
        for key in iter {
            keys.insert(key);
        }
        keys
    }
}

/// A seal checked ahead of its chain by [`PublicKeys::check`]: the seal, the event it was
/// checked on, the key used, and the verdict. Only `PublicKeys::check` makes one, and a
/// verifier trusts it only for exactly those inputs and that key.
#[derive(Debug, Clone)]
pub struct SealCheck {
    seal: Seal,
    session_id: Uuid,
    seq: u64,
    hash: Digest,
    key: Option<VerifyingKey>,
    verdict: Result<(), SealError>,
}

impl SealCheck {
    /// The seal checked.
    pub fn seal(&self) -> &Seal {
        &self.seal
    }
}
