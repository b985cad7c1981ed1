//! The events' JSON Schema, generated from the Rust types, for consumers in other languages.
//!
//! `schemas/event.schema.json` is this module's output, checked in; a test fails when it is
//! stale (`BLASTWALL_BLESS=1 cargo test -p schemas` rewrites it). SIEM and analytics consumers
//! validate against it; CHAIN.md explains how to verify what it describes.
//!
//! Invariants: the schema describes the serialized shape, not the Rust one — digests as hex,
//! bytes as base64, times as canonical RFC 3339 strings — because those types implement
//! `JsonSchema` by hand beside their serde code. Every member is listed as required (absent
//! members are never written, and readers reject them; see `nullable`), and unknown members are
//! not allowed.
//!
//! Not here: OCSF mapping (a SIEM concern), the Arrow schema (`arrow`).

use schemars::Schema;
use schemars::generate::SchemaSettings;
use schemars::transform::{Transform, transform_subschemas};
use serde_json::Value;

use crate::event::Event;

/// The JSON Schema (draft 2020-12) of one [`Event`].
pub fn event_schema() -> Schema {
    SchemaSettings::draft2020_12()
        .with_transform(RequireEveryMember)
        .into_generator()
        .into_root_schema_for::<Event>()
}

/// [`event_schema`] as pretty JSON with a trailing newline: the text of `event.schema.json`.
/// Members are sorted, so the text is the same whether or not another crate in the build
/// turned on serde_json's `preserve_order`.
pub fn event_schema_json() -> String {
    format!("{:#}\n", sorted(event_schema().as_value().clone()))
}

/// `value` with every object's members in key order.
fn sorted(value: Value) -> Value {
    match value {
        Value::Object(object) => {
            let mut members: Vec<(String, Value)> = object.into_iter().collect();
            members.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(members.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// Marks every property of every object schema as required.
#[derive(Debug, Clone, Copy)]
struct RequireEveryMember;

impl Transform for RequireEveryMember {
    fn transform(&mut self, schema: &mut Schema) {
        if let Some(object) = schema.as_object_mut()
            && let Some(Value::Object(properties)) = object.get("properties")
        {
            let mut names: Vec<String> = properties.keys().cloned().collect();
            names.sort();
            let names: Vec<Value> = names.into_iter().map(Value::String).collect();
            object.insert("required".to_owned(), Value::Array(names));
        }
        transform_subschemas(self, schema);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/event.schema.json");

    /// Compares as JSON values, so a change of serde_json's map ordering is not staleness.
    #[test]
    fn checked_in_schema_is_current() {
        let generated = event_schema_json();
        if std::env::var_os("BLASTWALL_BLESS").is_some_and(|v| v == "1") {
            std::fs::write(PATH, &generated).unwrap();
            return;
        }
        let checked_in = std::fs::read_to_string(PATH).unwrap_or_default();
        let checked_in: Value = serde_json::from_str(&checked_in).unwrap_or(Value::Null);
        let generated: Value = serde_json::from_str(&generated).unwrap();
        assert!(
            checked_in == generated,
            "schemas/event.schema.json is stale or missing; \
             run `BLASTWALL_BLESS=1 cargo test -p schemas` to rewrite it, and review the diff"
        );
    }

    #[test]
    fn describes_the_serialized_shape() {
        let schema = event_schema();
        let text = event_schema_json();
        let defs = schema.get("$defs").unwrap();
        assert_eq!(defs["Digest"]["pattern"], "^[0-9a-f]{64}$");
        assert_eq!(defs["Timestamp"]["format"], "date-time");
        assert_eq!(
            defs["TerminalData"]["properties"]["data"]["contentEncoding"],
            "base64"
        );
        assert_eq!(
            defs["Seal"]["properties"]["signature"]["contentEncoding"],
            "base64"
        );
        for kind in crate::body::EventKind::ALL {
            assert!(
                text.contains(&format!("\"{}\"", kind.as_str())),
                "{kind} missing"
            );
        }
        let required = schema.get("required").unwrap().as_array().unwrap();
        for member in ["prev", "seal", "client_addr", "hash", "seq"] {
            assert!(
                required.contains(&Value::from(member)),
                "{member} not required"
            );
        }
        assert_eq!(
            schema.get("unevaluatedProperties"),
            Some(&Value::Bool(false))
        );
    }
}
