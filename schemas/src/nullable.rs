//! Nullable members: always present on the wire, `null` when empty.
//!
//! Every `Option` field of an event is written as `null` rather than left out, and read back
//! with `#[serde(deserialize_with = "crate::nullable::deserialize")]`, which makes the member
//! required (serde otherwise reads a missing member as `None`).
//!
//! Why: the hash covers the JSON text. If a reader accepted a missing member as `null`, a
//! verifier that re-serializes typed events would accept an event that a verifier hashing the
//! received text (as other languages do) rejects. One shape, everywhere: the JSON Schema marks
//! every member required for the same reason.

use serde::{Deserialize, Deserializer};

/// Deserializes an `Option<T>` member that must be present (possibly as `null`).
pub fn deserialize<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer)
}
