//! Rows for people and for programs: an aligned table, CSV, or JSON.
//!
//! Every CLI command that prints rows goes through [`render`]. JSON is one array of objects
//! (arrow's JSON writer: timestamps as RFC 3339 text, lists as arrays); CSV has a header row.

use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::util::pretty::pretty_format_batches;

use crate::Error;

/// How rows are printed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Format {
    /// An aligned text table.
    #[default]
    Table,
    /// Comma-separated values with a header.
    Csv,
    /// A JSON array of objects.
    Json,
}

/// `batches` in `format`.
pub fn render(batches: &[RecordBatch], format: Format) -> Result<String, Error> {
    match format {
        Format::Table => Ok(format!("{}\n", pretty_format_batches(batches)?)),
        Format::Csv => {
            let mut out = Vec::new();
            {
                let mut writer = datafusion::arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(&mut out);
                for batch in batches {
                    writer.write(&nested_as_text(batch)?)?;
                }
            }
            Ok(String::from_utf8_lossy(&out).into_owned())
        }
        Format::Json => {
            let mut out = Vec::new();
            {
                let mut writer = datafusion::arrow::json::ArrayWriter::new(&mut out);
                for batch in batches {
                    writer.write(batch)?;
                }
                writer.finish()?;
            }
            if out.is_empty() {
                out.extend_from_slice(b"[]");
            }
            out.push(b'\n');
            Ok(String::from_utf8_lossy(&out).into_owned())
        }
    }
}

/// CSV has no lists or bytes: such columns become their display text (`[a, b]`, hex).
fn nested_as_text(batch: &RecordBatch) -> Result<RecordBatch, Error> {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let flat = !(field.data_type().is_nested()
            || matches!(
                field.data_type(),
                DataType::Binary
                    | DataType::LargeBinary
                    | DataType::BinaryView
                    | DataType::FixedSizeBinary(_)
            ));
        if flat {
            fields.push(field.as_ref().clone());
            columns.push(Arc::clone(column));
            continue;
        }
        let formatter = ArrayFormatter::try_new(column.as_ref(), &FormatOptions::default())?;
        let text: StringArray = (0..column.len())
            .map(|row| (!column.is_null(row)).then(|| formatter.value(row).to_string()))
            .collect();
        fields.push(Field::new(field.name(), DataType::Utf8, true));
        columns.push(Arc::new(text));
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// Rows counted over batches.
pub fn row_count(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

/// Rows of text built in code (not by a query), as one batch to [`render`]: `None` is null.
pub fn text_rows(columns: &[&str], rows: &[Vec<Option<String>>]) -> Result<RecordBatch, Error> {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    let fields: Vec<Field> = columns
        .iter()
        .map(|name| Field::new(*name, DataType::Utf8, true))
        .collect();
    let arrays: Vec<ArrayRef> = (0..columns.len())
        .map(|i| {
            let column: StringArray = rows
                .iter()
                .map(|row| row.get(i).cloned().flatten())
                .collect();
            Arc::new(column) as ArrayRef
        })
        .collect();
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}
