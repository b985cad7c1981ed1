//! Rows of the `quarantine` table: records of the log that are not events this recorder can
//! read, kept byte for byte with where they came from and why they were set aside.
//!
//! An event of a future schema version lands here until a recorder that knows the version
//! moves it; damage or a foreign producer's record lands here for a person to look at. The
//! recorder reports each one (a warning naming the position and the reason, and a count in
//! its status). Rows are in offset order.
//!
//! Not here: deciding what is rejected (`encode::decode`).

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, StringBuilder, TimestampMillisecondBuilder, UInt32Builder, UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use eventlog::Entry;

use super::Rejection;
use crate::Error;

/// Column names of the `quarantine` table, in schema order.
pub mod columns {
    /// `partition`: the log partition the record was read from.
    pub const PARTITION: &str = "partition";
    /// `offset`: the record's offset in its partition.
    pub const OFFSET: &str = "offset";
    /// `log_time`: when the log stored the record.
    pub const LOG_TIME: &str = "log_time";
    /// `key`: the record's key, as stored.
    pub const KEY: &str = "key";
    /// `value`: the record's value, as stored.
    pub const VALUE: &str = "value";
    /// `reason`: why it is not in the events table (`not_json`, `unknown_schema_version`,
    /// `not_an_event`).
    pub const REASON: &str = "reason";
    /// `detail`: the decoder's message.
    pub const DETAIL: &str = "detail";
    /// `schema_version`: the version the record claims, when it is an unknown one.
    pub const SCHEMA_VERSION: &str = "schema_version";
}

/// The Arrow schema of the `quarantine` table.
pub fn quarantine_schema() -> SchemaRef {
    use columns::*;
    let field = |name: &str, data_type: DataType, nullable: bool, description: &str| {
        Field::new(name, data_type, nullable).with_metadata(HashMap::from([(
            schemas::arrow::DESCRIPTION_KEY.to_owned(),
            description.to_owned(),
        )]))
    };
    Arc::new(Schema::new(vec![
        field(PARTITION, DataType::UInt32, false, "The log partition."),
        field(
            OFFSET,
            DataType::UInt64,
            false,
            "The record's offset in its partition.",
        ),
        field(
            LOG_TIME,
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
            "When the log stored the record.",
        ),
        field(
            KEY,
            DataType::Binary,
            false,
            "The record's key, byte for byte.",
        ),
        field(
            VALUE,
            DataType::Binary,
            false,
            "The record's value, byte for byte.",
        ),
        field(
            REASON,
            DataType::Utf8,
            false,
            "not_json, unknown_schema_version or not_an_event.",
        ),
        field(DETAIL, DataType::Utf8, false, "What the decoder reported."),
        field(
            SCHEMA_VERSION,
            DataType::UInt64,
            true,
            "The schema version the record claims, when it is one this recorder does not know.",
        ),
    ]))
}

/// Builds the `quarantine` rows of `rejected`, in the given order.
pub fn batch(rejected: &[(&Entry, Rejection)]) -> Result<RecordBatch, Error> {
    let n = rejected.len();
    let mut partition = UInt32Builder::with_capacity(n);
    let mut offset = UInt64Builder::with_capacity(n);
    let mut log_time = TimestampMillisecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut key = BinaryBuilder::new();
    let mut value = BinaryBuilder::new();
    let mut reason = StringBuilder::new();
    let mut detail = StringBuilder::new();
    let mut version = UInt64Builder::with_capacity(n);
    for (entry, rejection) in rejected {
        partition.append_value(entry.position.partition);
        offset.append_value(entry.position.offset);
        log_time.append_value(entry.timestamp_ms);
        key.append_value(&entry.key);
        value.append_value(&entry.value);
        reason.append_value(rejection.code());
        detail.append_value(rejection.to_string());
        version.append_option(rejection.version());
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(partition.finish()),
        Arc::new(offset.finish()),
        Arc::new(log_time.finish()),
        Arc::new(key.finish()),
        Arc::new(value.finish()),
        Arc::new(reason.finish()),
        Arc::new(detail.finish()),
        Arc::new(version.finish()),
    ];
    RecordBatch::try_new(quarantine_schema(), columns)
        .map_err(|e| Error::encode("a quarantine batch", e))
}
