//! `verify` over an archive of known content: clean as recorded, and every kind of tampering
//! detected and named with the exact session, seq and file.

// A panic in a test is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, RecordBatch, StringArray, UInt32Array,
};
use datafusion::arrow::compute::{concat_batches, take};
use datafusion::arrow::datatypes::UInt64Type;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::properties::WriterProperties;
use query::verify::{Finding, Problem, VerifyReport, verify};
use schemas::{BreakKind, PublicKeys, SealingKey};
use uuid::Uuid;

fn read(path: &Path) -> RecordBatch {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
    let schema = builder.schema().clone();
    let batches: Vec<RecordBatch> = builder.build().unwrap().map(Result::unwrap).collect();
    concat_batches(&schema, &batches).unwrap()
}

/// Rewrites a Parquet file with `change` applied to its rows, keeping its footer metadata.
fn rewrite(path: &Path, change: impl FnOnce(RecordBatch) -> RecordBatch) {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
    let metadata = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .cloned();
    let batch = change(read(path));
    let props = WriterProperties::builder()
        .set_key_value_metadata(metadata)
        .build();
    let mut writer =
        ArrowWriter::try_new(File::create(path).unwrap(), batch.schema(), Some(props)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

/// The file and row holding `seq` of `session`.
fn locate(archive: &Path, session: Uuid, seq: u64) -> (PathBuf, usize) {
    for path in common::event_files(archive) {
        let batch = read(&path);
        let sessions = batch
            .column_by_name("session_id")
            .unwrap()
            .as_string::<i32>()
            .clone();
        let seqs = batch
            .column_by_name("seq")
            .unwrap()
            .as_primitive::<UInt64Type>()
            .clone();
        for row in 0..batch.num_rows() {
            if sessions.value(row) == session.to_string() && seqs.value(row) == seq {
                return (path, row);
            }
        }
    }
    panic!("no row for {session} seq {seq}");
}

fn replace_text(batch: RecordBatch, column: &str, row: usize, value: &str) -> RecordBatch {
    let index = batch.schema().index_of(column).unwrap();
    let old = batch.column(index).as_string::<i32>();
    let new: StringArray = (0..old.len())
        .map(|i| {
            (!old.is_null(i)).then(|| {
                if i == row {
                    value.to_owned()
                } else {
                    old.value(i).to_owned()
                }
            })
        })
        .collect();
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    columns[index] = Arc::new(new);
    RecordBatch::try_new(batch.schema(), columns).unwrap()
}

fn reorder(batch: RecordBatch, rows: Vec<u32>) -> RecordBatch {
    let indices = UInt32Array::from(rows);
    let columns: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .map(|c| take(c, &indices, None).unwrap())
        .collect();
    RecordBatch::try_new(batch.schema(), columns).unwrap()
}

fn check(fixture: &common::Fixture) -> VerifyReport {
    verify(&fixture.archive(), &fixture.keys, None).unwrap()
}

fn chain_break(report: &VerifyReport, session: Uuid) -> &Finding {
    report
        .findings
        .iter()
        .find(|f| f.session_id == Some(session) && matches!(f.problem, Problem::Chain(_)))
        .unwrap_or_else(|| panic!("no chain finding for {session}: {:#?}", report.findings))
}

#[tokio::test]
async fn the_archive_as_recorded_verifies_clean() {
    let fixture = common::record(5).await;
    let report = check(&fixture);
    assert!(report.is_clean(), "{:#?}", report.findings);
    let total: usize = fixture.events.iter().map(Vec::len).sum();
    assert_eq!(report.events, total as u64);
    assert_eq!((report.sealed, report.open, report.not_judged), (3, 1, 0));
}

#[tokio::test]
async fn a_changed_value_in_a_parquet_file_is_named() {
    let fixture = common::record(50).await;
    let (path, row) = locate(&fixture.archive, common::ALICE_SQL, 2);
    let body = r#"{"parameters":[],"protocol":"postgres","summary":{"action":"sql:select","functions":[],"reads":["public.orders"],"statements":1,"writes":[]},"text":"SELECT id, phone FROM public.orders"}"#;
    rewrite(&path, |b| {
        let b = replace_text(b, "body", row, body);
        replace_text(
            b,
            "command_text",
            row,
            "SELECT id, phone FROM public.orders",
        )
    });
    let report = check(&fixture);
    let finding = chain_break(&report, common::ALICE_SQL);
    assert_eq!(finding.seq, Some(2));
    assert_eq!(finding.file.as_deref(), Some(path.as_path()));
    assert!(
        matches!(&finding.problem, Problem::Chain(b) if matches!(b.kind, BreakKind::HashMismatch { .. }))
    );
    assert!(
        finding.to_string().contains("the event was modified"),
        "{finding}"
    );
    assert_eq!(report.findings.len(), 1, "{:#?}", report.findings);
}

#[tokio::test]
async fn a_changed_copy_column_is_named_though_it_is_not_hashed() {
    let fixture = common::record(50).await;
    let (path, row) = locate(&fixture.archive, common::BOB_APPROVED, 2);
    rewrite(&path, |b| replace_text(b, "command_text", row, "SELECT 1"));
    let report = check(&fixture);
    assert_eq!(report.findings.len(), 1, "{:#?}", report.findings);
    let finding = &report.findings[0];
    assert_eq!(
        (finding.session_id, finding.seq),
        (Some(common::BOB_APPROVED), Some(2))
    );
    assert!(
        finding
            .to_string()
            .contains("command_text column was altered"),
        "{finding}"
    );
}

#[tokio::test]
async fn a_deleted_row_is_named() {
    let fixture = common::record(50).await;
    let (path, row) = locate(&fixture.archive, common::BOB_APPROVED, 4);
    rewrite(&path, |b| {
        let keep: Vec<u32> = (0..b.num_rows() as u32)
            .filter(|r| *r as usize != row)
            .collect();
        reorder(b, keep)
    });
    let report = check(&fixture);
    let finding = chain_break(&report, common::BOB_APPROVED);
    assert_eq!(finding.seq, Some(4));
    assert!(
        matches!(&finding.problem, Problem::Chain(b) if b.kind == BreakKind::SeqGap { found: 5 })
    );
    assert!(
        report.findings.iter().any(
            |f| matches!(f.problem, Problem::RowCount { found, expected } if expected == found + 1)
        ),
        "{:#?}",
        report.findings
    );
}

#[tokio::test]
async fn a_removed_file_is_named() {
    let fixture = common::record(5).await;
    let files = common::event_files(&fixture.archive);
    let (victim, _) = locate(&fixture.archive, common::ALICE_SSH, 10);
    assert!(files.len() > 3 && victim != files[0]);
    std::fs::remove_file(&victim).unwrap();
    let report = check(&fixture);
    let missing = report
        .findings
        .iter()
        .find(|f| matches!(f.problem, Problem::MissingOffsets { .. }))
        .unwrap_or_else(|| panic!("{:#?}", report.findings));
    let name = victim.file_name().unwrap().to_str().unwrap();
    let schemas::archive::PartName { first, last, .. } =
        schemas::archive::PartName::parse(name).unwrap();
    assert!(
        matches!(missing.problem, Problem::MissingOffsets { first: f, last: l, .. } if f == first && l == last)
    );
    assert!(
        missing.to_string().contains("a file was removed"),
        "{missing}"
    );
    let broken = chain_break(&report, common::ALICE_SSH);
    assert!(
        matches!(&broken.problem, Problem::Chain(b) if matches!(b.kind, BreakKind::SeqGap { .. }))
    );
}

#[tokio::test]
async fn a_swapped_pair_of_events_is_named() {
    let fixture = common::record(100).await;
    let (path, first) = locate(&fixture.archive, common::ALICE_SQL, 5);
    let (same, second) = locate(&fixture.archive, common::ALICE_SQL, 6);
    assert_eq!(path, same);
    rewrite(&path, |b| {
        let order: Vec<u32> = (0..b.num_rows())
            .map(|r| if r == first { second } else if r == second { first } else { r } as u32)
            .collect();
        reorder(b, order)
    });
    let report = check(&fixture);
    let finding = chain_break(&report, common::ALICE_SQL);
    assert_eq!(finding.seq, Some(5));
    assert!(
        matches!(&finding.problem, Problem::Chain(b) if b.kind == BreakKind::SeqOutOfOrder { found: 6 })
    );
    assert!(finding.to_string().contains("reordered"), "{finding}");
}

#[tokio::test]
async fn a_forged_seal_is_named() {
    let fixture = common::record(50).await;
    let ended = fixture.events[1].last().unwrap();
    let (path, row) = locate(&fixture.archive, common::BOB_APPROVED, ended.seq);
    // A seal made with another key, claiming the trusted key's id.
    let forger = SealingKey::from_seed(&[9; 32]);
    let forged = forger
        .seal(ended.session_id, ended.seq, &ended.hash)
        .signature
        .to_bytes();
    rewrite(&path, |b| {
        let index = b.schema().index_of("seal_signature").unwrap();
        let old = b.column(index).as_binary::<i32>();
        let new: BinaryArray = (0..old.len())
            .map(|i| {
                if i == row {
                    Some(&forged[..])
                } else {
                    (!old.is_null(i)).then(|| old.value(i))
                }
            })
            .collect();
        let mut columns: Vec<ArrayRef> = b.columns().to_vec();
        columns[index] = Arc::new(new);
        RecordBatch::try_new(b.schema(), columns).unwrap()
    });
    let report = check(&fixture);
    let finding = chain_break(&report, common::BOB_APPROVED);
    assert_eq!(finding.seq, Some(ended.seq));
    assert!(
        matches!(&finding.problem, Problem::Chain(b) if matches!(b.kind, BreakKind::SealInvalid { .. }))
    );
    assert!(finding.to_string().contains("forged"), "{finding}");
}

#[tokio::test]
async fn seals_by_an_untrusted_key_are_named() {
    let fixture = common::record(50).await;
    let other = PublicKeys::from(&SealingKey::from_seed(&[1; 32]));
    let report = verify(&fixture.archive(), &other, None).unwrap();
    let unknown = report
        .findings
        .iter()
        .filter(|f| matches!(&f.problem, Problem::Chain(b) if matches!(b.kind, BreakKind::UnknownKey { .. })))
        .count();
    assert_eq!(unknown, 3, "{:#?}", report.findings);
}

#[tokio::test]
async fn an_unreadable_file_is_named() {
    let fixture = common::record(50).await;
    let victim = common::event_files(&fixture.archive).remove(0);
    std::fs::write(&victim, b"PAR1 not really").unwrap();
    let report = check(&fixture);
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.file.as_deref() == Some(victim.as_path())
                && matches!(f.problem, Problem::Unreadable(_))),
        "{:#?}",
        report.findings
    );
}

#[tokio::test]
async fn since_skips_earlier_days_and_does_not_judge_sessions_begun_before() {
    let fixture = common::record(50).await;
    let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
    let report = verify(&fixture.archive(), &fixture.keys, Some(day)).unwrap();
    assert!(report.is_clean(), "{:#?}", report.findings);
    let total: usize = fixture.events.iter().map(Vec::len).sum();
    assert_eq!(report.events, total as u64 - 8);
    assert_eq!((report.sealed, report.open), (2, 1));
}

#[tokio::test]
async fn a_session_removed_whole_is_named_from_the_session_index() {
    let fixture = common::record(100).await;
    // Remove every row of Dave's session and Bob's session end, rewriting the counts so that
    // no file looks short: only the session index still knows.
    for path in common::event_files(&fixture.archive) {
        rewrite(&path, |b| {
            let sessions = b
                .column_by_name("session_id")
                .unwrap()
                .as_string::<i32>()
                .clone();
            let seqs = b
                .column_by_name("seq")
                .unwrap()
                .as_primitive::<UInt64Type>()
                .clone();
            let keep: Vec<u32> = (0..b.num_rows())
                .filter(|&r| {
                    let session = sessions.value(r);
                    session != common::DAVE_OPEN.to_string()
                        && !(session == common::BOB_APPROVED.to_string() && seqs.value(r) == 7)
                })
                .map(|r| r as u32)
                .collect();
            reorder(b, keep)
        });
    }
    let report = check(&fixture);
    let missing = report
        .findings
        .iter()
        .find(|f| matches!(f.problem, Problem::SessionMissing { indexed: 4 }))
        .unwrap_or_else(|| panic!("{:#?}", report.findings));
    assert_eq!(missing.session_id, Some(common::DAVE_OPEN));
    assert!(
        missing.to_string().contains("the session was removed"),
        "{missing}"
    );
    let tail = report
        .findings
        .iter()
        .find(|f| {
            matches!(
                f.problem,
                Problem::TailMissing {
                    indexed: 8,
                    found: 7
                }
            )
        })
        .unwrap_or_else(|| panic!("{:#?}", report.findings));
    assert_eq!(tail.session_id, Some(common::BOB_APPROVED));
}

#[tokio::test]
async fn files_a_compaction_merged_are_read_once_while_they_wait_out_their_grace() {
    let fixture = common::record(5).await;
    let before = common::event_files(&fixture.archive).len();
    let layout = recorder::archive::Layout::new(&fixture.archive);
    let keep = recorder::compaction::CompactionSettings {
        grace: std::time::Duration::from_secs(3600),
        ..Default::default()
    };
    let encoding = recorder::Settings::new(&fixture.archive).encoding;
    let report = recorder::compaction::compact(&layout, encoding, &keep, &mut |_| {}).unwrap();
    assert!(!report.merged.is_empty(), "nothing to merge: {report:?}");
    assert_eq!(
        common::event_files(&fixture.archive).len(),
        before + report.merged.len(),
        "the merged files sit beside the files they merged"
    );

    let total: usize = fixture.events.iter().map(Vec::len).sum();
    let ctx = query::context::open(&fixture.archive()).await.unwrap();
    let counts = ctx
        .sql("SELECT count(*) AS n, count(DISTINCT event_id) AS ids FROM events")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let n = counts[0]
        .column(0)
        .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
    let ids = counts[0]
        .column(1)
        .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
    assert_eq!((n.value(0), ids.value(0)), (total as i64, total as i64));

    let report = check(&fixture);
    assert!(report.is_clean(), "{:#?}", report.findings);
    assert_eq!(report.events, total as u64);
}

#[tokio::test]
async fn sessions_whose_days_retention_removed_are_pruned_not_missing() {
    use eventlog::{EmbeddedLog, EmbeddedOptions, EventLog};

    let fixture = common::record(5).await;
    let sessions = fixture.events.len() as u64;
    let last = fixture
        .events
        .iter()
        .flatten()
        .map(|e| e.time.to_datetime())
        .max()
        .unwrap();
    // Every day of the fixture is older than the retention window: all of it goes.
    let now = last + chrono::Duration::days(10);
    let log: Arc<dyn EventLog> = Arc::new(
        EmbeddedLog::open(fixture.dir.path().join("log"), EmbeddedOptions::default()).unwrap(),
    );
    let settings = recorder::retention::RetentionSettings {
        max_age: std::time::Duration::from_secs(5 * 86_400),
        interval: std::time::Duration::from_secs(3600),
    };
    let layout = recorder::archive::Layout::new(&fixture.archive);
    let pruned = recorder::retention::prune(
        &layout,
        &settings,
        log.as_ref(),
        &common::sealing_key(),
        now,
    )
    .await
    .unwrap();
    assert!(!pruned.is_empty());

    // Before the removal is archived, the index's sessions look removed.
    let report = check(&fixture);
    assert_eq!(
        report.findings.len() as u64,
        sessions,
        "{:#?}",
        report.findings
    );

    // The recorder archives the retention session; now they are pruned by rule.
    let mut settings = recorder::Settings::new(&fixture.archive);
    settings.flush_interval = std::time::Duration::from_millis(50);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = recorder::start(settings, Arc::new(Arc::clone(&log)), stopped)
        .await
        .unwrap();
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        running
            .status()
            .wait_for(|s| s.events >= 2 + pruned.len() as u64),
    )
    .await
    .unwrap()
    .unwrap();
    stop.send(true).unwrap();
    running.wait().await.unwrap();
    let report = check(&fixture);
    assert!(report.is_clean(), "{:#?}", report.findings);
    // started, one archive.pruned per table and day, ended.
    let recorded = 2 + pruned.len() as u64;
    assert_eq!(
        (report.pruned, report.sealed, report.events),
        (sessions, 1, recorded)
    );
}

fn replace_list(batch: RecordBatch, column: &str, row: usize, value: &[&str]) -> RecordBatch {
    use datafusion::arrow::array::{ListBuilder, StringBuilder};
    let index = batch.schema().index_of(column).unwrap();
    let field = batch.schema().field(index).clone();
    let datafusion::arrow::datatypes::DataType::List(item) = field.data_type() else {
        panic!("{column} is a list");
    };
    let old = batch.column(index).as_list::<i32>().clone();
    let mut new = ListBuilder::new(StringBuilder::new()).with_field(item.clone());
    for i in 0..old.len() {
        if i == row {
            value.iter().for_each(|v| new.values().append_value(v));
            new.append(true);
        } else if old.is_null(i) {
            new.append_null();
        } else {
            let items = old.value(i);
            let items = items.as_string::<i32>();
            (0..items.len()).for_each(|j| new.values().append_value(items.value(j)));
            new.append(true);
        }
    }
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    columns[index] = Arc::new(new.finish());
    RecordBatch::try_new(batch.schema(), columns).unwrap()
}

#[tokio::test]
async fn a_changed_command_reads_column_is_named_though_it_is_not_hashed() {
    let fixture = common::record(50).await;
    let (path, row) = locate(&fixture.archive, common::ALICE_SQL, 2);
    rewrite(&path, |b| {
        replace_list(b, "command_reads", row, &["public.customers"])
    });
    let report = check(&fixture);
    assert_eq!(report.findings.len(), 1, "{:#?}", report.findings);
    let finding = &report.findings[0];
    assert_eq!(
        (finding.session_id, finding.seq),
        (Some(common::ALICE_SQL), Some(2))
    );
    assert!(
        finding
            .to_string()
            .contains("command_reads column was altered"),
        "{finding}"
    );
}

#[tokio::test]
async fn a_changed_command_seq_column_is_named_though_it_is_not_hashed() {
    use datafusion::arrow::array::UInt64Array;
    let fixture = common::record(50).await;
    let (path, row) = locate(&fixture.archive, common::ALICE_SQL, 3);
    rewrite(&path, |b| {
        let index = b.schema().index_of("command_seq").unwrap();
        let old = b.column(index).as_primitive::<UInt64Type>().clone();
        let new: UInt64Array = (0..old.len())
            .map(|i| {
                if i == row {
                    Some(1)
                } else {
                    (!old.is_null(i)).then(|| old.value(i))
                }
            })
            .collect();
        let mut columns: Vec<ArrayRef> = b.columns().to_vec();
        columns[index] = Arc::new(new);
        RecordBatch::try_new(b.schema(), columns).unwrap()
    });
    let report = check(&fixture);
    assert_eq!(report.findings.len(), 1, "{:#?}", report.findings);
    let finding = &report.findings[0];
    assert_eq!(
        (finding.session_id, finding.seq),
        (Some(common::ALICE_SQL), Some(3))
    );
    assert!(
        finding
            .to_string()
            .contains("command_seq column was altered"),
        "{finding}"
    );
}

#[tokio::test]
async fn an_archive_written_before_the_promoted_command_columns_verifies_clean() {
    let fixture = common::record(5).await;
    for path in common::event_files(&fixture.archive) {
        rewrite(&path, |b| {
            let keep: Vec<usize> = (0..b.num_columns())
                .filter(|&i| {
                    !["command_reads", "command_writes", "command_seq"]
                        .contains(&b.schema().field(i).name().as_str())
                })
                .collect();
            b.project(&keep).unwrap()
        });
        assert!(read(&path).column_by_name("command_reads").is_none());
    }
    let report = check(&fixture);
    assert!(report.is_clean(), "{:#?}", report.findings);
    let total: usize = fixture.events.iter().map(Vec::len).sum();
    assert_eq!(report.events, total as u64);
    assert_eq!((report.sealed, report.open), (3, 1));
}
