//! Masking COPY TO STDOUT output, one CopyData line at a time, in text and CSV formats.
//!
//! Each line is split into its fields by the format's rules (text: delimiter and backslash
//! escapes, `\N` for NULL; CSV: delimiter, quotes, an unquoted empty field for NULL), each field
//! is masked as its column's plan says, and the line is put back together. A line whose field
//! count differs from the plan is an error: the caller withholds the rest. Binary COPY is not
//! masked here; the gateway refuses it whenever masking applies.

use super::counts::ResultCounts;
use super::plan::{Action, Plan};
use super::{Masking, MaskingError, Strategy};

/// The format of a COPY's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyFormat {
    /// The text format.
    Text {
        /// Field delimiter (tab by default).
        delimiter: u8,
    },
    /// CSV.
    Csv {
        /// Field delimiter (comma by default).
        delimiter: u8,
        /// Quote character (`"` by default).
        quote: u8,
        /// Whether the first line is a header of column names.
        header: bool,
    },
}

impl CopyFormat {
    /// Text with a tab delimiter.
    pub const TEXT: CopyFormat = CopyFormat::Text { delimiter: b'\t' };
    /// CSV with a comma, double quotes and no header.
    pub const CSV: CopyFormat = CopyFormat::Csv {
        delimiter: b',',
        quote: b'"',
        header: false,
    };
}

/// A field as read from a line: `None` is NULL.
type FieldValue = Option<Vec<u8>>;

/// A field's bytes as written in the line, and its value.
type Field = (std::ops::Range<usize>, FieldValue);

/// Masks one line (`line_number` counts from 0). `Ok(None)`: the line is unchanged.
pub fn mask_line(
    masking: &Masking,
    plan: &Plan,
    format: CopyFormat,
    line_number: u64,
    line: &[u8],
    counts: &mut ResultCounts,
) -> Result<Option<Vec<u8>>, MaskingError> {
    if plan.passes_all() {
        return Ok(None);
    }
    if let CopyFormat::Csv { header: true, .. } = format
        && line_number == 0
    {
        // Column names: only content detection.
        return Ok(masking.detectors().mask(line).map(|(masked, _)| masked));
    }
    let (body, newline) = match line.strip_suffix(b"\n") {
        Some(body) => (body, true),
        None => (line, false),
    };
    let fields = match format {
        CopyFormat::Text { delimiter } => split_text(body, delimiter),
        CopyFormat::Csv {
            delimiter, quote, ..
        } => split_csv(body, delimiter, quote)?,
    };
    if fields.len() != plan.columns.len() {
        return Err(MaskingError::Malformed(
            "a COPY line's field count differs from its columns",
        ));
    }
    let mut changed = false;
    // `Err(range)`: the field as written; `Ok(value)`: a new value.
    let mut masked: Vec<Result<FieldValue, std::ops::Range<usize>>> =
        Vec::with_capacity(fields.len());
    for (index, ((range, field), column)) in fields.into_iter().zip(&plan.columns).enumerate() {
        let counts = counts.column(index);
        let Some(value) = field else {
            masked.push(Err(range));
            continue;
        };
        let new = match column.action {
            Action::Pass | Action::Apply(Strategy::Clear) => None,
            Action::Apply(strategy) => {
                counts.rule += 1;
                Some(strategy.apply(&value, masking.key()))
            }
            Action::Detect => masking.detectors().mask(&value).map(|(new, found)| {
                counts.detected.add(&found);
                Some(new)
            }),
        };
        match new {
            Some(new) => {
                changed = true;
                masked.push(Ok(new));
            }
            None => masked.push(Err(range)),
        }
    }
    if !changed {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(line.len() + 16);
    for (index, field) in masked.iter().enumerate() {
        let field = match field {
            Err(range) => {
                if index > 0 {
                    out.push(delimiter_of(format));
                }
                out.extend_from_slice(&body[range.clone()]);
                continue;
            }
            Ok(field) => field,
        };
        match format {
            CopyFormat::Text { delimiter } => {
                if index > 0 {
                    out.push(delimiter);
                }
                match field {
                    None => out.extend_from_slice(b"\\N"),
                    Some(value) => escape_text(value, delimiter, &mut out),
                }
            }
            CopyFormat::Csv {
                delimiter, quote, ..
            } => {
                if index > 0 {
                    out.push(delimiter);
                }
                if let Some(value) = field {
                    out.push(quote);
                    for byte in value {
                        if *byte == quote {
                            out.push(quote);
                        }
                        out.push(*byte);
                    }
                    out.push(quote);
                }
            }
        }
    }
    if newline {
        out.push(b'\n');
    }
    Ok(Some(out))
}

fn delimiter_of(format: CopyFormat) -> u8 {
    match format {
        CopyFormat::Text { delimiter } | CopyFormat::Csv { delimiter, .. } => delimiter,
    }
}

fn split_text(body: &[u8], delimiter: u8) -> Vec<Field> {
    let mut fields = Vec::new();
    let mut start = 0;
    for raw in body.split(|b| *b == delimiter) {
        let range = start..start + raw.len();
        start = range.end + 1;
        let value = if raw == b"\\N" {
            None
        } else {
            Some(unescape_text(raw))
        };
        fields.push((range, value));
    }
    fields
}

fn unescape_text(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let byte = raw[i];
        if byte != b'\\' || i + 1 >= raw.len() {
            out.push(byte);
            i += 1;
            continue;
        }
        let next = raw[i + 1];
        i += 2;
        match next {
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'0'..=b'7' => {
                let mut value = u32::from(next - b'0');
                let mut taken = 0;
                while taken < 2 && i < raw.len() && (b'0'..=b'7').contains(&raw[i]) {
                    value = value * 8 + u32::from(raw[i] - b'0');
                    i += 1;
                    taken += 1;
                }
                out.push((value & 0xff) as u8);
            }
            other => out.push(other),
        }
    }
    out
}

fn escape_text(value: &[u8], delimiter: u8, out: &mut Vec<u8>) {
    for byte in value {
        match *byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' if delimiter == b'\t' => out.extend_from_slice(b"\\t"),
            b if b == delimiter => {
                out.push(b'\\');
                out.push(b);
            }
            b => out.push(b),
        }
    }
}

fn split_csv(body: &[u8], delimiter: u8, quote: u8) -> Result<Vec<Field>, MaskingError> {
    let mut fields = Vec::new();
    let mut i = 0;
    loop {
        let start = i;
        if body.get(i) == Some(&quote) {
            let mut value = Vec::new();
            i += 1;
            loop {
                match body.get(i) {
                    None => return Err(MaskingError::Malformed("an unterminated CSV quote")),
                    Some(b) if *b == quote => {
                        if body.get(i + 1) == Some(&quote) {
                            value.push(quote);
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    }
                    Some(b) => {
                        value.push(*b);
                        i += 1;
                    }
                }
            }
            fields.push((start..i, Some(value)));
        } else {
            let end = body[i..]
                .iter()
                .position(|b| *b == delimiter)
                .map_or(body.len(), |p| i + p);
            let raw = &body[i..end];
            let value = if raw.is_empty() {
                None
            } else {
                Some(raw.to_vec())
            };
            fields.push((i..end, value));
            i = end;
        }
        match body.get(i) {
            None => break,
            Some(b) if *b == delimiter => i += 1,
            Some(_) => return Err(MaskingError::Malformed("text after a closing CSV quote")),
        }
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::masking::MaskingConfig;
    use crate::masking::plan::ColumnPlan;

    fn masking() -> Masking {
        let config: MaskingConfig = toml::from_str("").expect("config");
        Masking::from_config(&config).expect("ok").expect("on")
    }

    fn plan(actions: &[Action]) -> Plan {
        Plan {
            columns: actions
                .iter()
                .map(|a| ColumnPlan {
                    name: "c".into(),
                    type_oid: 25,
                    action: *a,
                })
                .collect(),
        }
    }

    #[test]
    fn text_lines_are_masked_per_field() {
        let masking = masking();
        let plan = plan(&[
            Action::Detect,
            Action::Apply(Strategy::Redact),
            Action::Detect,
        ]);
        let line = b"1\tsecret\\tvalue\ta@b.io and\\n 123-45-6789\n";
        let mut counts = ResultCounts::default();
        let out = mask_line(&masking, &plan, CopyFormat::TEXT, 0, line, &mut counts)
            .expect("ok")
            .expect("changed");
        assert_eq!(
            out,
            b"1\t[redacted]\t[masked:email] and\\n [masked:ssn]\n".to_vec()
        );
        let nulls = b"\\N\t\\N\t\\N\n";
        assert!(
            mask_line(&masking, &plan, CopyFormat::TEXT, 1, nulls, &mut counts)
                .expect("ok")
                .is_none()
        );
    }

    #[test]
    fn csv_lines_are_masked_per_field_and_headers_kept() {
        let masking = masking();
        let plan = plan(&[Action::Detect, Action::Apply(Strategy::Partial { keep: 4 })]);
        let line = b"\"x, a@b.io \"\"q\"\"\",4111111111111111\n";
        let mut counts = ResultCounts::default();
        let out = mask_line(&masking, &plan, CopyFormat::CSV, 0, line, &mut counts)
            .expect("ok")
            .expect("changed");
        assert_eq!(
            out,
            b"\"x, [masked:email] \"\"q\"\"\",\"************1111\"\n".to_vec()
        );
        let plan3 = super::tests::plan(&[Action::Pass, Action::Detect, Action::Detect]);
        let kept = mask_line(
            &masking,
            &plan3,
            CopyFormat::CSV,
            1,
            b"1,\"a\",a@b.io\n",
            &mut counts,
        )
        .expect("ok")
        .expect("changed");
        assert_eq!(
            kept,
            b"1,\"a\",\"[masked:email]\"\n".to_vec(),
            "unchanged fields stay as written"
        );
        let header = CopyFormat::Csv {
            delimiter: b',',
            quote: b'"',
            header: true,
        };
        assert!(
            mask_line(&masking, &plan, header, 0, b"email,card\n", &mut counts)
                .expect("ok")
                .is_none()
        );
    }

    #[test]
    fn a_line_of_the_wrong_shape_is_an_error() {
        let masking = masking();
        let plan = plan(&[Action::Detect, Action::Detect]);
        let mut counts = ResultCounts::default();
        assert!(
            mask_line(
                &masking,
                &plan,
                CopyFormat::TEXT,
                0,
                b"one field\n",
                &mut counts
            )
            .is_err()
        );
        assert!(
            mask_line(
                &masking,
                &plan,
                CopyFormat::CSV,
                0,
                b"\"open,x\n",
                &mut counts
            )
            .is_err()
        );
    }
}
