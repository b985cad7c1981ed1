//! Bytes on the wire: standard base64 (RFC 4648 §4) with padding.
//!
//! Terminal data and seal signatures are bytes; JSON carries them as base64 text. Used through
//! `#[serde(with = "crate::base64_bytes")]` and `#[schemars(with = "crate::base64_bytes::Base64")]`.
//!
//! Invariants: encoding is canonical and decoding is strict (padding required, no whitespace,
//! no stray trailing bits), so one byte string has exactly one accepted spelling; the text is
//! hashed, and two spellings of the same bytes would verify differently in other languages.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serializer};

/// Encodes `bytes` as standard base64 with padding.
pub fn encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes canonical standard base64 with padding.
pub fn decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    STANDARD.decode(text)
}

/// Serde adapter: serializes bytes as base64 text.
pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&encode(bytes))
}

/// Serde adapter: deserializes bytes from base64 text.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
    decode(&text).map_err(serde::de::Error::custom)
}

/// The JSON Schema of base64-encoded bytes, for `#[schemars(with = ...)]`.
pub struct Base64;

impl JsonSchema for Base64 {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Base64".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "contentEncoding": "base64",
            "pattern": "^[A-Za-z0-9+/]*={0,2}$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_rfc4648_vectors() {
        for (raw, text) in [
            (&b""[..], ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode(raw), text);
            assert_eq!(decode(text).unwrap(), raw);
        }
    }

    #[test]
    fn decoding_is_strict() {
        for text in ["Zg", "Zg=", "Zh==", "Zm9v\n", "Zm9v YmFy", "Zm9v_w=="] {
            assert!(decode(text).is_err(), "{text:?} was accepted");
        }
    }
}
