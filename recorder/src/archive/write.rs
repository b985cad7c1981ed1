//! Writing one flush's files so that they appear whole or not at all.
//!
//! A flush of a partition's offsets `first..=last` becomes a *group*: one Parquet file per
//! (table, day) its records fall in, each named `part-<partition>-<first>-<last>.parquet` and
//! each carrying the group's provenance in its footer (see [`meta`]). The steps, in order:
//! every file is written under a temporary name (`.part-….parquet.tmp`) and fsynced; then each
//! is renamed to its final name; then every directory touched is fsynced (and the parent of any
//! directory created). Only after [`write_group`] returns may the caller commit the log position.
//!
//! A crash before the renames leaves temporary files (removed at the next start); a crash
//! during the renames leaves an incomplete group, which the survey recognises from the
//! `group_files` count in the footers and removes (its records were never committed, so they
//! are read again). Not here: choosing the rows (`flush`), recognising damage (`survey`).

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use chrono::NaiveDate;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use schemas::arrow::columns;

use super::merge::SortedMerge;
use super::name::{Layout, PartName, Table};
use crate::Error;

/// The footer metadata keys every file of the archive carries.
pub mod meta {
    /// The archive format version, `1`.
    pub const FORMAT: &str = "blastwall.archive.format";
    /// The log partition of the group.
    pub const PARTITION: &str = "blastwall.partition";
    /// The group's first offset.
    pub const FIRST_OFFSET: &str = "blastwall.first_offset";
    /// The group's last offset (inclusive).
    pub const LAST_OFFSET: &str = "blastwall.last_offset";
    /// How many files the group has, across tables and days.
    pub const GROUP_FILES: &str = "blastwall.group_files";
    /// The table, `events` or `quarantine`.
    pub const TABLE: &str = "blastwall.table";
    /// On a compacted file: the ranges `first-last` of the groups it merged, comma-separated.
    pub const COMPACTED_FROM: &str = "blastwall.compacted_from";
    /// The value of [`FORMAT`] this version writes.
    pub const FORMAT_VERSION: &str = "1";
}

/// How Parquet files are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encoding {
    /// The zstd level, 1 to 22.
    pub zstd_level: i32,
    /// Rows per row group at most.
    pub row_group_rows: usize,
}

/// One file of a group: its table, its day and its rows (already in their final order).
#[derive(Debug)]
pub struct GroupFile {
    /// The table it belongs to.
    pub table: Table,
    /// The day directory it goes in.
    pub day: NaiveDate,
    /// Its rows.
    pub batch: RecordBatch,
}

/// What a written group consists of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrittenGroup {
    /// The offsets it covers.
    pub name: PartName,
    /// The final paths of its files.
    pub files: Vec<PathBuf>,
    /// Bytes written, all files together.
    pub bytes: u64,
}

/// Writes `files` as the group `name` and makes it durable (see the module documentation).
pub fn write_group(
    layout: &Layout,
    name: PartName,
    files: Vec<GroupFile>,
    encoding: Encoding,
) -> Result<WrittenGroup, Error> {
    let group_files = files.len();
    let mut dirs = BTreeSet::new();
    let mut staged = Vec::with_capacity(group_files);
    let mut bytes = 0;
    for file in files {
        let dir = layout.day_dir(file.table, file.day);
        create_dir_durably(&dir)?;
        let temp = dir.join(name.temp_name());
        let properties = properties(name, file.table, group_files, encoding)?;
        bytes += write_parquet(&temp, &file.batch, properties)?;
        staged.push((temp, dir.join(name.file_name())));
        dirs.insert(dir);
    }
    for (temp, path) in &staged {
        fs::rename(temp, path).map_err(|e| Error::io("renaming", temp, e))?;
    }
    for dir in &dirs {
        sync_dir(dir)?;
    }
    Ok(WrittenGroup {
        name,
        files: staged.into_iter().map(|(_, path)| path).collect(),
        bytes,
    })
}

/// Writes the rows of `inputs` (files of `table` and `day`, in offset order) as the one-file
/// group `name`, durably, and returns its size. The rows are merged in session and seq order
/// (`merge`), as a flush sorts them. The footer lists the merged ranges under
/// [`meta::COMPACTED_FROM`]. `on_rows` hears of every batch written.
pub fn write_merged(
    layout: &Layout,
    (table, day): (Table, NaiveDate),
    name: PartName,
    inputs: &[(PartName, PathBuf)],
    encoding: Encoding,
    on_rows: &mut dyn FnMut(u64),
) -> Result<u64, Error> {
    let dir = layout.day_dir(table, day);
    let temp = dir.join(name.temp_name());
    let provenance: Vec<String> = inputs
        .iter()
        .map(|(range, _)| format!("{}-{}", range.first, range.last))
        .collect();
    let extra = [(meta::COMPACTED_FROM, provenance.join(","))];
    let mut props = Some(properties_with(name, table, 1, encoding, &extra)?);
    let paths: Vec<PathBuf> = inputs.iter().map(|(_, path)| path.clone()).collect();
    let mut merge = SortedMerge::open(&paths)?;
    let mut writer: Option<ArrowWriter<File>> = None;
    while let Some(batch) = merge.next_batch()? {
        let writer = match &mut writer {
            Some(writer) => writer,
            None => {
                let file = File::create(&temp).map_err(|e| Error::io("creating", &temp, e))?;
                let created = ArrowWriter::try_new(file, batch.schema(), props.take())
                    .map_err(|e| Error::encode("a Parquet file", e))?;
                writer.insert(created)
            }
        };
        writer
            .write(&batch)
            .map_err(|e| parquet_write_error(&temp, e))?;
        on_rows(batch.num_rows() as u64);
    }
    let Some(writer) = writer else {
        return Err(Error::encode(
            "a compaction",
            "the files to merge hold no rows",
        ));
    };
    let file = writer
        .into_inner()
        .map_err(|e| parquet_write_error(&temp, e))?;
    let bytes = finish(&temp, &file)?;
    let path = dir.join(name.file_name());
    fs::rename(&temp, &path).map_err(|e| Error::io("renaming", &temp, e))?;
    sync_dir(&dir)?;
    Ok(bytes)
}

fn properties(
    name: PartName,
    table: Table,
    group_files: usize,
    encoding: Encoding,
) -> Result<WriterProperties, Error> {
    properties_with(name, table, group_files, encoding, &[])
}

fn properties_with(
    name: PartName,
    table: Table,
    group_files: usize,
    encoding: Encoding,
    extra: &[(&str, String)],
) -> Result<WriterProperties, Error> {
    let level =
        ZstdLevel::try_new(encoding.zstd_level).map_err(|e| Error::encode("the zstd level", e))?;
    let pairs: [(&str, String); 6] = [
        (meta::FORMAT, meta::FORMAT_VERSION.to_owned()),
        (meta::PARTITION, name.partition.to_string()),
        (meta::FIRST_OFFSET, name.first.to_string()),
        (meta::LAST_OFFSET, name.last.to_string()),
        (meta::GROUP_FILES, group_files.to_string()),
        (meta::TABLE, table.dir_name().to_owned()),
    ];
    let metadata = pairs
        .into_iter()
        .chain(extra.iter().cloned())
        .map(|(key, value)| KeyValue::new(key.to_owned(), value))
        .collect();
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_max_row_group_row_count(Some(encoding.row_group_rows.max(1)))
        .set_key_value_metadata(Some(metadata));
    // Values that never repeat: a dictionary would only be built to be thrown away.
    for column in UNIQUE_COLUMNS {
        builder = builder.set_column_dictionary_enabled(ColumnPath::from(column), false);
    }
    Ok(builder.build())
}

/// Columns of the `events` table whose values are (nearly) all distinct.
const UNIQUE_COLUMNS: [&str; 7] = [
    columns::EVENT_ID,
    columns::TIME,
    columns::BODY,
    columns::PREV,
    columns::HASH,
    columns::SEAL_SIGNATURE,
    columns::TERMINAL_DATA,
];

/// Writes `batch` as the lone file `name` in `dir`: temporary name, fsync, rename, directory
/// fsync, so it appears whole or not at all. Returns its path.
pub(crate) fn write_whole(
    dir: &Path,
    name: PartName,
    batch: &RecordBatch,
    props: WriterProperties,
) -> Result<PathBuf, Error> {
    create_dir_durably(dir)?;
    let temp = dir.join(name.temp_name());
    let path = dir.join(name.file_name());
    write_parquet(&temp, batch, props)?;
    fs::rename(&temp, &path).map_err(|e| Error::io("renaming", &temp, e))?;
    sync_dir(dir)?;
    Ok(path)
}

/// Writes one Parquet file and fsyncs it; returns its size.
fn write_parquet(path: &Path, batch: &RecordBatch, props: WriterProperties) -> Result<u64, Error> {
    let file = File::create(path).map_err(|e| Error::io("creating", path, e))?;
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props))
        .map_err(|e| Error::encode("a Parquet file", e))?;
    writer
        .write(batch)
        .map_err(|e| parquet_write_error(path, e))?;
    let file = writer
        .into_inner()
        .map_err(|e| parquet_write_error(path, e))?;
    finish(path, &file)
}

/// Fsyncs a written file and returns its size.
fn finish(path: &Path, file: &File) -> Result<u64, Error> {
    file.sync_all().map_err(|e| Error::io("syncing", path, e))?;
    Ok(file
        .metadata()
        .map_err(|e| Error::io("reading the size of", path, e))?
        .len())
}

/// Parquet reports a failed write (a full disk) as its own error; keep it an I/O fault.
fn parquet_write_error(path: &Path, error: parquet::errors::ParquetError) -> Error {
    match error {
        parquet::errors::ParquetError::External(inner) => {
            Error::io("writing", path, std::io::Error::other(inner))
        }
        other => Error::encode("a Parquet file", other),
    }
}

/// Creates `dir` (and its parents) if needed, fsyncing each parent that gained an entry.
pub fn create_dir_durably(dir: &Path) -> Result<(), Error> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dir_durably(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(Error::io("creating directory", dir, e)),
    }
    match dir.parent() {
        Some(parent) => sync_dir(parent),
        None => Ok(()),
    }
}

/// Makes a directory's entries (renames, creations, removals) durable.
pub fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("syncing directory", dir, e))
}
