//! Rewriting one DataRow's values by its plan, in text or binary format, with new lengths.
//!
//! A value a rule covers is rewritten when its type is text-like (the bytes are its text in
//! either format) and replaced by NULL otherwise: a token in an `int8` or a `jsonb` value would
//! not be a valid value, and an unknown binary layout cannot be rewritten safely. A detected
//! value in a text-like column (or the text form of an array, record or JSON value) has the
//! detector's token put in place of what was found; in any other column it becomes NULL.

use bytes::{BufMut, BytesMut};

use super::counts::{ColumnCounts, ResultCounts};
use super::detect::Found;
use super::plan::{Action, ColumnPlan, Plan};
use super::{Masking, MaskingError, Strategy};

/// Type OIDs whose text and binary forms are both the value's text.
fn text_like(oid: u32) -> bool {
    // text, varchar, bpchar, name, char, json, xml, unknown
    matches!(oid, 25 | 1043 | 1042 | 19 | 18 | 114 | 142 | 705)
}

/// Type OIDs whose text form can take a token in place of a detected part and stay readable:
/// text-like types, arrays of them, JSON, records, and columns of unknown type.
fn token_safe_text(oid: u32) -> bool {
    text_like(oid)
        || matches!(
            oid,
            0 | 3802 | 1009 | 1015 | 1014 | 1003 | 199 | 3807 | 2249 | 143
        )
}

const JSONB: u32 = 3802;
const BYTEA: u32 = 17;

/// What becomes of a value.
enum Masked {
    /// Passed as it is.
    Same,
    /// Replaced by NULL.
    Null,
    /// A rule's strategy rewrites it.
    Rule(Strategy),
    /// Detectors found something: the value with tokens in place of what was found, after
    /// `prefix` (the version byte of a binary `jsonb`).
    Detected { found: Found, prefix: Option<u8> },
}

/// Rewrites a DataRow's `data` (`field_count` values) by `plan`; `formats` are the result's
/// format codes as Bind or RowDescription gave them. `Ok(None)` means nothing changed: a row
/// with nothing to mask is read once and not copied; a changed row is written once, its new
/// values straight into the new row.
pub fn rewrite_row(
    masking: &Masking,
    plan: &Plan,
    formats: &[i16],
    data: &[u8],
    field_count: i16,
    counts: &mut ResultCounts,
) -> Result<Option<BytesMut>, MaskingError> {
    let count = usize::try_from(field_count)
        .map_err(|_| MaskingError::Malformed("negative field count"))?;
    if count != plan.columns.len() {
        return Err(MaskingError::Malformed(
            "the row's column count differs from its description",
        ));
    }
    if counts.columns.len() < count {
        counts.columns.resize_with(count, Default::default);
    }
    let mut out: Option<BytesMut> = None;
    let mut at = 0;
    for (index, (column, column_counts)) in plan.columns.iter().zip(&mut counts.columns).enumerate()
    {
        let start = at;
        let len_bytes = data
            .get(at..at + 4)
            .ok_or(MaskingError::Malformed("a value length is cut short"))?;
        let len = i32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
        at += 4;
        let masked = if len < 0 {
            Masked::Same
        } else {
            let end = at + len as usize;
            let value = data
                .get(at..end)
                .ok_or(MaskingError::Malformed("a value is cut short"))?;
            at = end;
            let binary = format_of(formats, index) == 1;
            mask_value(masking, column, binary, value, column_counts)
        };
        let value = data.get(start + 4..at).unwrap_or_default();
        match masked {
            Masked::Same => {
                if let Some(out) = out.as_mut() {
                    out.put_slice(&data[start..at]);
                }
            }
            Masked::Null => {
                let out = out.get_or_insert_with(|| begin(data, start));
                out.put_i32(-1);
            }
            Masked::Rule(strategy) => {
                let out = out.get_or_insert_with(|| begin(data, start));
                put_value(out, |out| {
                    strategy.write(value, masking.key(), |piece| out.put_slice(piece))
                })?;
            }
            Masked::Detected { found, prefix } => {
                let out = out.get_or_insert_with(|| begin(data, start));
                let text = value
                    .get(usize::from(prefix.is_some())..)
                    .unwrap_or_default();
                put_value(out, |out| {
                    if let Some(prefix) = prefix {
                        out.put_u8(prefix);
                    }
                    let found = found.write(text, |piece| out.put_slice(piece));
                    column_counts.detected.add(&found);
                    true
                })?;
            }
        }
    }
    if at != data.len() {
        return Err(MaskingError::Malformed(
            "a row has bytes past its last value",
        ));
    }
    Ok(out)
}

/// Appends a value that `write` puts after its length (which is filled in after); `write`
/// returning `false` makes it NULL.
fn put_value(
    out: &mut BytesMut,
    write: impl FnOnce(&mut BytesMut) -> bool,
) -> Result<(), MaskingError> {
    let length_at = out.len();
    out.put_i32(0);
    let len = if write(out) {
        i32::try_from(out.len() - length_at - 4)
            .map_err(|_| MaskingError::Malformed("a masked value is too long"))?
    } else {
        out.truncate(length_at + 4);
        -1
    };
    out[length_at..length_at + 4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

fn begin(data: &[u8], upto: usize) -> BytesMut {
    let mut out = BytesMut::with_capacity(data.len() + 32);
    out.put_slice(&data[..upto]);
    out
}

/// The format code of column `index`: none means text, one applies to all.
pub fn format_of(formats: &[i16], index: usize) -> i16 {
    match formats.len() {
        0 => 0,
        1 => formats[0],
        _ => formats.get(index).copied().unwrap_or(0),
    }
}

fn mask_value(
    masking: &Masking,
    column: &ColumnPlan,
    binary: bool,
    value: &[u8],
    counts: &mut ColumnCounts,
) -> Masked {
    let oid = column.type_oid;
    match column.action {
        Action::Pass | Action::Apply(Strategy::Clear) => Masked::Same,
        Action::Apply(strategy) => {
            counts.rule += 1;
            if !text_like(oid) || strategy == Strategy::Null {
                return Masked::Null;
            }
            Masked::Rule(strategy)
        }
        Action::Detect => detect(masking, oid, binary, value, counts),
    }
}

fn detect(
    masking: &Masking,
    oid: u32,
    binary: bool,
    value: &[u8],
    counts: &mut ColumnCounts,
) -> Masked {
    let detectors = masking.detectors();
    let replaceable = if binary {
        text_like(oid)
    } else {
        token_safe_text(oid) && oid != BYTEA
    };
    if replaceable {
        return match detectors.find(value) {
            Some(found) => Masked::Detected {
                found,
                prefix: None,
            },
            None => Masked::Same,
        };
    }
    if binary && oid == JSONB && value.first() == Some(&1) {
        return match detectors.find(&value[1..]) {
            Some(found) => Masked::Detected {
                found,
                prefix: Some(1),
            },
            None => Masked::Same,
        };
    }
    // Anything else is only checked: a hit withholds the whole value.
    let readable = readable_form(oid, binary, value);
    let text = readable.as_deref().unwrap_or(value);
    if detectors.finds_any(text) {
        counts.withheld += 1;
        Masked::Null
    } else {
        Masked::Same
    }
}

/// The form of a non-text value detectors can read: binary integers and floats as decimal,
/// bytea as its bytes. `None`: scan the value as it is.
fn readable_form(oid: u32, binary: bool, value: &[u8]) -> Option<Vec<u8>> {
    if !binary {
        if oid == BYTEA {
            return value.strip_prefix(b"\\x").and_then(decode_hex);
        }
        return None;
    }
    let number = match (oid, value.len()) {
        (20, 8) => i64::from_be_bytes(value.try_into().ok()?).to_string(),
        (23, 4) => i32::from_be_bytes(value.try_into().ok()?).to_string(),
        (21, 2) => i16::from_be_bytes(value.try_into().ok()?).to_string(),
        (701, 8) => format!("{:.0}", f64::from_be_bytes(value.try_into().ok()?)),
        (700, 4) => format!("{:.0}", f32::from_be_bytes(value.try_into().ok()?)),
        (1700, _) => return numeric_digits(value),
        _ => return None,
    };
    Some(number.into_bytes())
}

fn decode_hex(hex: &[u8]) -> Option<Vec<u8>> {
    let nibble = |b: u8| (b as char).to_digit(16);
    hex.chunks(2)
        .map(|pair| match pair {
            [hi, lo] => Some((nibble(*hi)? * 16 + nibble(*lo)?) as u8),
            _ => None,
        })
        .collect()
}

/// The integer digits of a binary `numeric` (base-10000 digit groups).
fn numeric_digits(value: &[u8]) -> Option<Vec<u8>> {
    let word = |i: usize| {
        value
            .get(i..i + 2)
            .map(|b| i16::from_be_bytes([b[0], b[1]]))
    };
    let ndigits = usize::try_from(word(0)?).ok()?;
    let weight = word(2)?;
    let mut out = String::new();
    for i in 0..ndigits {
        if i as i32 > i32::from(weight) {
            break;
        }
        let digit = word(8 + 2 * i)?;
        if out.is_empty() {
            out.push_str(&digit.to_string());
        } else {
            out.push_str(&format!("{digit:04}"));
        }
    }
    let missing = (i32::from(weight) + 1 - ndigits as i32).max(0);
    for _ in 0..missing {
        out.push_str("0000");
    }
    Some(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::masking::{ColumnSource, Field, MaskingConfig, Viewer};

    fn masking_with_file_key() -> Masking {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("key");
        std::fs::write(&path, "0123456789abcdef0123\n").expect("key");
        let config: MaskingConfig = toml::from_str(&format!(
            "hash_key = {{ file = {:?} }}\n\
             [[rules]]\ncolumn = \"email\"\nstrategy = \"hash\"\n\
             [[rules]]\ncolumn = \"card\"\nstrategy = \"partial\"\n\
             [[rules]]\ncolumn = \"balance\"\nstrategy = \"redact\"\n",
            path.display().to_string()
        ))
        .expect("config");
        Masking::from_config(&config).expect("ok").expect("on")
    }

    fn row(values: &[Option<&[u8]>]) -> Vec<u8> {
        let mut out = Vec::new();
        for v in values {
            match v {
                Some(v) => {
                    out.extend_from_slice(&(v.len() as i32).to_be_bytes());
                    out.extend_from_slice(v);
                }
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        out
    }

    fn values(data: &[u8], n: usize) -> Vec<Option<Vec<u8>>> {
        let mut out = Vec::new();
        let mut at = 0;
        for _ in 0..n {
            let len = i32::from_be_bytes(data[at..at + 4].try_into().expect("4"));
            at += 4;
            if len < 0 {
                out.push(None);
            } else {
                out.push(Some(data[at..at + len as usize].to_vec()));
                at += len as usize;
            }
        }
        out
    }

    fn plan(masking: &Masking) -> Plan {
        let src = |c: &str, t: &str| ColumnSource {
            schema: "public".into(),
            table: "people".into(),
            column: c.into(),
            type_name: t.into(),
        };
        let (email, card, balance) = (
            src("email", "text"),
            src("card", "text"),
            src("balance", "int8"),
        );
        Plan::new(
            masking,
            "app",
            &[],
            Viewer::Client,
            &[
                Field {
                    name: "email",
                    type_oid: 25,
                    source: Some(&email),
                },
                Field {
                    name: "card",
                    type_oid: 25,
                    source: Some(&card),
                },
                Field {
                    name: "balance",
                    type_oid: 20,
                    source: Some(&balance),
                },
                Field {
                    name: "note",
                    type_oid: 25,
                    source: None,
                },
                Field {
                    name: "n",
                    type_oid: 20,
                    source: None,
                },
            ],
        )
    }

    #[test]
    fn text_row_rewritten_with_new_lengths() {
        let masking = masking_with_file_key();
        let plan = plan(&masking);
        let data = row(&[
            Some(b"alice@example.com"),
            Some(b"4111111111111111"),
            Some(b"100"),
            Some(b"call 415-555-0132"),
            None,
        ]);
        let mut counts = ResultCounts::default();
        let out = rewrite_row(&masking, &plan, &[], &data, 5, &mut counts)
            .expect("ok")
            .expect("changed");
        let got = values(&out, 5);
        assert!(
            got[0]
                .as_deref()
                .is_some_and(|v| v.starts_with(b"hmac:") && v.len() == 37)
        );
        assert_eq!(got[1].as_deref(), Some(&b"************1111"[..]));
        assert_eq!(got[2], None, "a rule on an int8 withholds it");
        assert_eq!(got[3].as_deref(), Some(&b"call [masked:phone]"[..]));
        assert_eq!(got[4], None);
        assert_eq!(counts.columns[0].rule, 1);
        assert_eq!(counts.columns[3].detected.total(), 1);
    }

    #[test]
    fn binary_values_are_rewritten_or_withheld() {
        let masking = masking_with_file_key();
        let plan = plan(&masking);
        let card_as_int = 4_111_111_111_111_111i64.to_be_bytes();
        let data = row(&[
            Some(b"alice@example.com"),
            Some(b"4111111111111111"),
            Some(&100i64.to_be_bytes()),
            Some(b"x"),
            Some(&card_as_int),
        ]);
        let mut counts = ResultCounts::default();
        let out = rewrite_row(&masking, &plan, &[1], &data, 5, &mut counts)
            .expect("ok")
            .expect("changed");
        let got = values(&out, 5);
        assert_eq!(got[2], None);
        assert_eq!(got[3].as_deref(), Some(&b"x"[..]));
        assert_eq!(got[4], None, "a card number held in an int8 is withheld");
        assert_eq!(counts.columns[4].withheld, 1);
    }

    #[test]
    fn binary_jsonb_keeps_its_version_byte_and_loses_what_was_found() {
        let masking = masking_with_file_key();
        let plan = Plan {
            columns: vec![crate::masking::plan::ColumnPlan {
                name: "doc".into(),
                type_oid: JSONB,
                action: Action::Detect,
            }],
        };
        let data = row(&[Some(b"\x01{\"mail\": \"alice@example.com\"}")]);
        let mut counts = ResultCounts::default();
        let out = rewrite_row(&masking, &plan, &[1], &data, 1, &mut counts)
            .expect("ok")
            .expect("changed");
        assert_eq!(
            values(&out, 1)[0].as_deref(),
            Some(&b"\x01{\"mail\": \"[masked:email]\"}"[..])
        );
        assert_eq!(counts.columns[0].detected.total(), 1);
    }

    #[test]
    fn unchanged_rows_are_not_copied_and_malformed_rows_fail() {
        let masking = masking_with_file_key();
        let plan = Plan::detect_only(2);
        let data = row(&[Some(b"plain"), None]);
        let mut counts = ResultCounts::default();
        assert!(
            rewrite_row(&masking, &plan, &[], &data, 2, &mut counts)
                .expect("ok")
                .is_none()
        );
        assert!(rewrite_row(&masking, &plan, &[], &data[..6], 2, &mut counts).is_err());
        assert!(rewrite_row(&masking, &plan, &[], &data, 3, &mut counts).is_err());
        assert!(rewrite_row(&masking, &plan, &[], &data, -1, &mut counts).is_err());
    }

    #[test]
    fn numeric_digits_decodes_integers() {
        // 4111111111111111 = 4111 1111 1111 1111 in base 10000, weight 3.
        let mut v = Vec::new();
        for w in [4i16, 3, 0, 0, 4111, 1111, 1111, 1111] {
            v.extend_from_slice(&w.to_be_bytes());
        }
        assert_eq!(numeric_digits(&v), Some(b"4111111111111111".to_vec()));
    }
}
