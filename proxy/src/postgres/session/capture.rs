//! Recording a statement's result: columns, rows up to a byte limit, totals, timing, error.
//!
//! Rows arrive here exactly as they go to the client (after masking, when masking applies), so
//! the record never holds a value the client did not see. Past the limit only the count goes
//! on and the event says `truncated`. Pure: decoding never panics on a malformed row.

use std::time::Instant;

use bytes::Buf;
use pgwire::messages::data::{DataRow, RowDescription};
use schemas::body::{Column, MaskCount, ResultError, ResultReturned};

use super::pending::Command;

/// A result being recorded.
#[derive(Debug)]
pub struct Capture {
    seq: u64,
    started: Instant,
    columns: Vec<Column>,
    formats: Vec<i16>,
    rows: Vec<Vec<Option<String>>>,
    bytes: usize,
    limit: usize,
    truncated: bool,
    counted: u64,
    masked: Vec<MaskCount>,
}

impl Capture {
    /// Starts recording the result of `command`, keeping at most `limit` bytes of rows;
    /// `columns` are those a Describe told in advance, if any.
    pub fn new(command: &Command, columns: Vec<Column>, limit: usize) -> Self {
        Capture {
            seq: command.seq,
            started: command.started,
            columns,
            formats: command.formats.clone(),
            rows: Vec::new(),
            bytes: 0,
            limit,
            truncated: false,
            counted: 0,
            masked: Vec::new(),
        }
    }

    /// The command this result belongs to.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// A RowDescription starts a row set (in a simple Query, one per statement).
    pub fn describe(&mut self, description: &RowDescription) {
        self.columns = columns(description);
        self.formats = description.fields.iter().map(|f| f.format_code).collect();
    }

    /// One row, as sent to the client.
    pub fn row(&mut self, row: &DataRow) {
        self.counted += 1;
        if self.truncated {
            return;
        }
        let size = row.data.len();
        if self.bytes + size > self.limit {
            self.truncated = true;
            return;
        }
        self.bytes += size;
        self.rows.push(self.decode(row));
    }

    /// One line of a COPY TO, recorded as a one-column row.
    pub fn copy_data(&mut self, data: &[u8]) {
        self.counted += 1;
        if self.truncated || self.bytes + data.len() > self.limit {
            self.truncated = true;
            return;
        }
        self.bytes += data.len();
        let line = text(data);
        self.rows
            .push(vec![Some(line.trim_end_matches('\n').to_owned())]);
    }

    /// Whether the row limit is reached (rows past it are only counted).
    pub fn is_full(&self) -> bool {
        self.truncated
    }

    /// What masking did to this result, for the event.
    pub fn set_masked(&mut self, masked: Vec<MaskCount>) {
        self.masked = masked;
    }

    /// The `result.returned` body, with the server's tag or error.
    pub fn finish(self, tag: Option<String>, error: Option<ResultError>) -> ResultReturned {
        let row_count = tag
            .as_deref()
            .and_then(count_from_tag)
            .unwrap_or(self.counted);
        ResultReturned {
            command_seq: self.seq,
            command_tag: tag,
            columns: self.columns,
            rows: self.rows,
            row_count,
            truncated: self.truncated,
            duration_ns: u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX),
            error,
            masked: self.masked,
        }
    }

    fn decode(&self, row: &DataRow) -> Vec<Option<String>> {
        let mut data = &row.data[..];
        let mut values = Vec::with_capacity(usize::try_from(row.field_count).unwrap_or(0));
        for index in 0..row.field_count.max(0) as usize {
            if data.remaining() < 4 {
                break;
            }
            let len = data.get_i32();
            if len < 0 {
                values.push(None);
                continue;
            }
            let len = (len as usize).min(data.remaining());
            let value = &data[..len];
            data.advance(len);
            let binary = self.format_of(index) == 1;
            values.push(Some(if binary { hex(value) } else { text(value) }));
        }
        values
    }

    fn format_of(&self, index: usize) -> i16 {
        match self.formats.len() {
            0 => 0,
            1 => self.formats[0],
            _ => self.formats.get(index).copied().unwrap_or(0),
        }
    }
}

/// Column names and type names of a RowDescription.
pub fn columns(description: &RowDescription) -> Vec<Column> {
    description
        .fields
        .iter()
        .map(|f| Column {
            name: f.name.clone(),
            type_name: type_name(f.type_id),
        })
        .collect()
}

/// The count at the end of a command tag: `SELECT 5`, `INSERT 0 5`, `COPY 10`.
fn count_from_tag(tag: &str) -> Option<u64> {
    tag.rsplit(' ').next().and_then(|n| n.parse().ok())
}

/// Text values are UTF-8 (client_encoding is passed through; anything else is shown as hex).
fn text(value: &[u8]) -> String {
    match std::str::from_utf8(value) {
        Ok(text) => text.to_owned(),
        Err(_) => hex(value),
    }
}

/// Binary values as bytea's hex form.
fn hex(value: &[u8]) -> String {
    let mut out = String::with_capacity(2 + value.len() * 2);
    out.push_str("\\x");
    for byte in value {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// Names of the built-in types results commonly carry; others by OID.
fn type_name(oid: u32) -> String {
    let name = match oid {
        16 => "bool",
        17 => "bytea",
        18 => "char",
        19 => "name",
        20 => "int8",
        21 => "int2",
        23 => "int4",
        25 => "text",
        26 => "oid",
        114 => "json",
        700 => "float4",
        701 => "float8",
        1042 => "bpchar",
        1043 => "varchar",
        1082 => "date",
        1083 => "time",
        1114 => "timestamp",
        1184 => "timestamptz",
        1186 => "interval",
        1700 => "numeric",
        2950 => "uuid",
        3802 => "jsonb",
        _ => return format!("oid:{oid}"),
    };
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, BytesMut};
    use pgwire::messages::data::FieldDescription;

    fn command() -> Command {
        Command {
            seq: 7,
            started: Instant::now(),
            formats: Vec::new(),
            source: None,
            copies: std::sync::Arc::from([]),
        }
    }

    fn row(values: &[Option<&[u8]>]) -> DataRow {
        let mut data = BytesMut::new();
        for value in values {
            match value {
                Some(v) => {
                    data.put_i32(v.len() as i32);
                    data.put_slice(v);
                }
                None => data.put_i32(-1),
            }
        }
        DataRow::new(data, values.len() as i16)
    }

    #[test]
    fn rows_and_tag() {
        let mut capture = Capture::new(&command(), Vec::new(), 1024);
        let field = FieldDescription::new("id".into(), 0, 0, 23, 4, -1, 0);
        capture.describe(&RowDescription::new(vec![field]));
        capture.row(&row(&[Some(b"1")]));
        capture.row(&row(&[None]));
        let result = capture.finish(Some("SELECT 2".into()), None);
        assert_eq!(result.command_seq, 7);
        assert_eq!(
            result.columns,
            vec![Column {
                name: "id".into(),
                type_name: "int4".into()
            }]
        );
        assert_eq!(result.rows, vec![vec![Some("1".into())], vec![None]]);
        assert_eq!((result.row_count, result.truncated), (2, false));
    }

    #[test]
    fn past_the_limit_only_the_count_goes_on() {
        let mut capture = Capture::new(&command(), Vec::new(), 20);
        for _ in 0..10 {
            capture.row(&row(&[Some(b"0123456789")]));
        }
        let result = capture.finish(None, None);
        assert_eq!(result.rows.len(), 1);
        assert!(result.truncated);
        assert_eq!(result.row_count, 10);
    }

    #[test]
    fn binary_values_are_hex_and_malformed_rows_do_not_panic() {
        let mut capture = Capture::new(
            &Command {
                formats: vec![1],
                ..command()
            },
            Vec::new(),
            1024,
        );
        capture.row(&row(&[Some(&[0xde, 0xad])]));
        capture.row(&DataRow::new(BytesMut::from(&[0, 0, 0, 9, 1][..]), 3));
        capture.row(&DataRow::new(BytesMut::new(), -4));
        let result = capture.finish(Some("SELECT 3".into()), None);
        assert_eq!(result.rows[0], vec![Some("\\xdead".to_owned())]);
        assert_eq!(result.rows[1], vec![Some("\\x01".to_owned())]);
    }

    #[test]
    fn counts_from_tags() {
        assert_eq!(count_from_tag("INSERT 0 5"), Some(5));
        assert_eq!(count_from_tag("COPY 10"), Some(10));
        assert_eq!(count_from_tag("CREATE TABLE"), None);
    }
}
