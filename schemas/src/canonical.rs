//! The canonical encoding: RFC 8785 (JCS) JSON, restricted to integers.
//!
//! Hashes are computed over canonical bytes, so that any implementation, in any language,
//! derives the same hash from the same event. `Event::canonical_bytes` applies this to an
//! event without its `hash` and `seal`; the archive stores each body in this form too.
//!
//! Invariants (RFC 8785 §3.2): no whitespace; object members sorted by the UTF-16 code units
//! of their names (not by UTF-8 bytes — they differ for names beyond U+FFFF); strings escape
//! only `"`, `\`, and U+0000..U+001F (`\b \f \n \r \t` by name, the rest as lowercase
//! `\u00xx`), everything else is literal UTF-8; numbers must be integers, written as exact
//! decimal digits. Events never carry floats, so a non-integer is an error rather than
//! something to format: ES6 number formatting is not implemented. For integers beyond ±2^53
//! RFC 8785 would round through a double; this encoder writes the exact value instead (see
//! CHAIN.md), which agrees with RFC 8785 wherever RFC 8785 is exact.
//!
//! Not here: which members are hashed and how the chain links (`event`, `chain`, CHAIN.md).

use serde::Serialize;
use serde_json::{Map, Number, Value};

mod direct;

pub use direct::{to_canonical_text, to_canonical_vec};

/// Why a value has no canonical encoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CanonicalError {
    /// A number that is not an integer; events carry integers only.
    #[error("{number} is not an integer: the canonical encoding admits integers only")]
    NonInteger {
        /// The number as serde_json wrote it.
        number: String,
    },
    /// The value could not be turned into JSON at all.
    #[error("not representable as JSON: {reason}")]
    NotJson {
        /// What serde_json reported.
        reason: String,
    },
}

/// The canonical bytes of a JSON value.
pub fn to_canonical_bytes(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    let mut out = String::new();
    write_value(&mut out, value)?;
    Ok(out.into_bytes())
}

/// The canonical text of any serializable value.
pub fn to_canonical_string<T: Serialize + ?Sized>(value: &T) -> Result<String, CanonicalError> {
    let value = serde_json::to_value(value).map_err(|err| CanonicalError::NotJson {
        reason: err.to_string(),
    })?;
    let mut out = String::new();
    write_value(&mut out, &value)?;
    Ok(out)
}

fn write_value(out: &mut String, value: &Value) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => write_number(out, number)?,
        Value::String(text) => write_string(out, text),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_value(out, item)?;
            }
            out.push(']');
        }
        Value::Object(members) => write_object(out, members)?,
    }
    Ok(())
}

fn write_number(out: &mut String, number: &Number) -> Result<(), CanonicalError> {
    if let Some(n) = number.as_u64() {
        out.push_str(&n.to_string());
    } else if let Some(n) = number.as_i64() {
        out.push_str(&n.to_string());
    } else {
        return Err(CanonicalError::NonInteger {
            number: number.to_string(),
        });
    }
    Ok(())
}

fn write_object(out: &mut String, members: &Map<String, Value>) -> Result<(), CanonicalError> {
    let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
    sorted.sort_by(|(a, _), (b, _)| utf16_order(a, b));
    out.push('{');
    for (index, (name, value)) in sorted.into_iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        write_string(out, name);
        out.push(':');
        write_value(out, value)?;
    }
    out.push('}');
    Ok(())
}

/// RFC 8785's order of member names: by their UTF-16 code units.
fn utf16_order(a: &str, b: &str) -> std::cmp::Ordering {
    // Below U+0080 (nearly every name) UTF-8 bytes and UTF-16 units order alike.
    if a.is_ascii() && b.is_ascii() {
        return a.cmp(b);
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

/// Writes `text` as a canonical JSON string (quoted and escaped).
pub(crate) fn write_string(out: &mut String, text: &str) {
    out.push('"');
    // Most text needs no escape at all: one pass the compiler can vectorise decides that.
    if !text.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.push_str(text);
        out.push('"');
        return;
    }
    // Copy runs that need no escaping in one go: event text is mostly plain.
    let mut plain_from = 0;
    for (at, byte) in text.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            0x0c => "\\f",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x00..=0x1f => "",
            _ => continue,
        };
        // Escaped bytes are ASCII, so `at` is always a char boundary and `get` always succeeds.
        out.push_str(text.get(plain_from..at).unwrap_or_default());
        if escape.is_empty() {
            out.push_str(&format!("\\u{byte:04x}"));
        } else {
            out.push_str(escape);
        }
        plain_from = at + 1;
    }
    out.push_str(text.get(plain_from..).unwrap_or_default());
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canonical(json_text: &str) -> String {
        let value: Value = serde_json::from_str(json_text).unwrap();
        String::from_utf8(to_canonical_bytes(&value).unwrap()).unwrap()
    }

    /// RFC 8785 §3.2.2, without the `numbers` member (floats are outside this profile).
    #[test]
    fn rfc8785_string_and_literal_example() {
        let input = r#"{
            "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
            "literals": [null, true, false]
        }"#;
        assert_eq!(
            canonical(input),
            r#"{"literals":[null,true,false],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        );
    }

    /// RFC 8785 §3.2.3: sorting by UTF-16 code units, including a non-BMP name.
    #[test]
    fn rfc8785_sorting_example() {
        let input = r#"{
            "\u20ac": "Euro Sign",
            "\r": "Carriage Return",
            "\ufb33": "Hebrew Letter Dalet With Dagesh",
            "1": "One",
            "\ud83d\ude00": "Emoji: Grinning Face",
            "\u0080": "Control",
            "\u00f6": "Latin Small Letter O With Diaeresis"
        }"#;
        let expected = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\
            \"ö\":\"Latin Small Letter O With Diaeresis\",\"€\":\"Euro Sign\",\
            \"😀\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
        assert_eq!(canonical(input), expected);
    }

    #[test]
    fn utf16_order_differs_from_utf8_order() {
        // U+1F600 (UTF-16 D83D DE00) sorts before U+FB33 in UTF-16, after it in UTF-8.
        let value = json!({"\u{fb33}": 1, "\u{1f600}": 2});
        let text = String::from_utf8(to_canonical_bytes(&value).unwrap()).unwrap();
        assert_eq!(text, "{\"\u{1f600}\":2,\"\u{fb33}\":1}");
    }

    /// RFC 8785 Appendix B, the integer rows; and exact digits beyond 2^53. (`-0` is left out:
    /// serde_json reads it as a float, and events never contain it.)
    #[test]
    fn integers_are_exact() {
        assert_eq!(
            canonical("[0, 1, -1, 9007199254740991, -9007199254740991]"),
            "[0,1,-1,9007199254740991,-9007199254740991]"
        );
        assert_eq!(
            canonical("[18446744073709551615, -9223372036854775808]"),
            "[18446744073709551615,-9223372036854775808]"
        );
    }

    #[test]
    fn rejects_non_integers() {
        for text in ["1.5", "1.0", "1e3", "-0.0"] {
            let value: Value = serde_json::from_str(text).unwrap();
            assert!(
                matches!(
                    to_canonical_bytes(&value),
                    Err(CanonicalError::NonInteger { .. })
                ),
                "{text} was accepted"
            );
        }
        assert!(to_canonical_string(&[0.5f64]).is_err());
    }

    #[test]
    fn escapes_exactly_the_control_characters() {
        let value = json!("\u{0}\u{1f}\u{7f}\u{2028}\u{8}\u{c}\t\"\\/é");
        let text = String::from_utf8(to_canonical_bytes(&value).unwrap()).unwrap();
        assert_eq!(text, "\"\\u0000\\u001f\u{7f}\u{2028}\\b\\f\\t\\\"\\\\/é\"");
    }

    /// Written directly from `Serialize`, exactly as through `serde_json::to_value`.
    #[test]
    fn direct_writer_matches_the_value_route() {
        use std::collections::{BTreeMap, HashMap};

        #[derive(Serialize)]
        enum Shape {
            Unit,
            Newtype(u8),
            Tuple(i32, String),
            Struct { z: bool, a: Option<u8> },
        }
        #[derive(Serialize)]
        struct Inner(Vec<u8>);
        #[derive(Serialize)]
        struct Outer {
            zeta: Vec<Shape>,
            alpha: Option<String>,
            #[serde(with = "serde_bytes_as_slice")]
            bytes: Vec<u8>,
            inner: Inner,
            by_number: BTreeMap<i64, &'static str>,
            by_name: HashMap<String, Value>,
            nan: f64,
            tuple: (u64, i64, char, ()),
            text: &'static str,
        }
        mod serde_bytes_as_slice {
            pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(v)
            }
        }
        let value = Outer {
            zeta: vec![
                Shape::Unit,
                Shape::Newtype(7),
                Shape::Tuple(-3, "x".into()),
                Shape::Struct { z: true, a: None },
            ],
            alpha: Some("\u{1f600}\u{fb33}\n\"q\"".into()),
            bytes: vec![0, 255],
            inner: Inner(vec![1, 2]),
            by_number: BTreeMap::from([(10, "ten"), (-2, "minus two"), (9, "nine")]),
            by_name: HashMap::from([
                (
                    "\u{fb33}".to_owned(),
                    json!({"b": [1, {"z": null, "a": []}], "a": {}}),
                ),
                ("\u{1f600}".to_owned(), json!(u64::MAX)),
                ("\r".to_owned(), json!(i64::MIN)),
            ]),
            nan: f64::NAN,
            tuple: (u64::MAX, i64::MIN, '\u{7}', ()),
            text: "plain",
        };
        let expected = to_canonical_string(&value).unwrap();
        let direct = String::from_utf8(to_canonical_vec(&value, &[]).unwrap()).unwrap();
        assert_eq!(direct, expected);
        let skipped =
            String::from_utf8(to_canonical_vec(&value, &["zeta", "text"]).unwrap()).unwrap();
        assert!(!skipped.contains("\"zeta\"") && !skipped.contains("plain"));
        assert!(to_canonical_vec(&[0.5f64], &[]).is_err());
        assert!(matches!(
            to_canonical_vec(&1.0f64, &[]),
            Err(CanonicalError::NonInteger { .. })
        ));
    }

    #[test]
    fn nested_containers_have_no_whitespace() {
        let value = json!({"b": [1, {"z": null, "a": []}], "a": {}});
        assert_eq!(
            String::from_utf8(to_canonical_bytes(&value).unwrap()).unwrap(),
            r#"{"a":{},"b":[1,{"a":[],"z":null}]}"#
        );
    }
}
