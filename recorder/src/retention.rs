//! Retention: days older than the configured age removed from the archive, each removal on
//! the record before any file goes.
//!
//! A pass ([`prune`]) finds the day directories of every table older than `max_age`, appends
//! one sealed session of its own to the events stream — `session.started`, one
//! `archive.pruned` per table and day, `session.ended` — waits until the log holds it durably,
//! and only then removes the directories. If the event cannot be recorded nothing is removed:
//! history never shrinks without a record of it. The removal takes the archive's maintenance
//! lock, so it never races a compaction.
//!
//! The binary runs [`spawn`] where it can append to the log (`blastwall up`, or a recorder on
//! Kafka); a recorder reading another process's embedded log cannot, and says so.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use eventlog::{Durability, EventLog, Record, Stream};
use schemas::body::{ArchivePruned, EndReason, SessionCounters, SessionEnded, SessionStarted};
use schemas::chain::{ChainBuilder, SessionContext};
use schemas::seal::SealingKey;
use schemas::{Actor, EventBody, Protocol, Target, Timestamp};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::Error;
use crate::archive::{self, Layout, Strays, Table, write::sync_dir};

/// How long the archive keeps a day, and how often that is applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetentionSettings {
    /// Days whose end is older than this are removed.
    pub max_age: Duration,
    /// How often the running recorder looks.
    pub interval: Duration,
}

/// One table's day that a pass removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pruned {
    /// The table.
    pub table: Table,
    /// The day.
    pub day: NaiveDate,
    /// Files removed.
    pub files: u64,
    /// Rows they held.
    pub rows: u64,
    /// Bytes they took.
    pub bytes: u64,
    /// The directory removed.
    pub path: PathBuf,
}

/// The subject of the recorder's own sessions.
pub const RECORDER_SUBJECT: &str = "blastwall-recorder";

/// One retention pass at `now` (see the module documentation); returns what it removed.
pub async fn prune(
    layout: &Layout,
    settings: &RetentionSettings,
    log: &dyn EventLog,
    key: &SealingKey,
    now: chrono::DateTime<Utc>,
) -> Result<Vec<Pruned>, Error> {
    let _lock = archive::lock_maintenance(layout)?;
    let expired = {
        let (layout, max_age) = (layout.clone(), settings.max_age);
        tokio::task::spawn_blocking(move || expired(&layout, max_age, now))
            .await
            .map_err(|e| Error::task("retention", e))??
    };
    if expired.is_empty() {
        return Ok(expired);
    }
    let records = announcement(&expired, settings, key, now)?;
    log.append(Stream::Events, records, Durability::Durable)
        .await?;
    let removed = expired.clone();
    tokio::task::spawn_blocking(move || remove(&removed))
        .await
        .map_err(|e| Error::task("retention", e))??;
    for day in &expired {
        tracing::info!(table = %day.table, day = %day.day, files = day.files, rows = day.rows, "removed a day of the archive under retention");
    }
    Ok(expired)
}

/// Runs a pass every `interval` until `stopped` turns true.
pub fn spawn(
    layout: Layout,
    settings: RetentionSettings,
    log: Arc<dyn EventLog>,
    key: Arc<SealingKey>,
    mut stopped: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match prune(&layout, &settings, log.as_ref(), &key, Utc::now()).await {
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "retention pass failed; nothing was removed without its event")
                }
            }
            tokio::select! {
                _ = stopped.wait_for(|stop| *stop) => return,
                () = tokio::time::sleep(settings.interval) => {}
            }
        }
    })
}

/// Every table's days that end more than `max_age` before `now`.
fn expired(
    layout: &Layout,
    max_age: Duration,
    now: chrono::DateTime<Utc>,
) -> Result<Vec<Pruned>, Error> {
    let max_age = chrono::Duration::from_std(max_age).unwrap_or(chrono::Duration::MAX);
    let Some(cutoff) = now.checked_sub_signed(max_age) else {
        return Ok(Vec::new());
    };
    let mut out: Vec<Pruned> = Vec::new();
    for table in Table::ALL {
        for file in archive::list(layout, table, &mut Strays::default())? {
            let day_end = file.day.succ_opt().and_then(|d| d.and_hms_opt(0, 0, 0));
            if day_end.is_none_or(|end| end.and_utc() > cutoff) {
                continue;
            }
            let footer = file.footer.as_ref().ok();
            let path = layout.day_dir(table, file.day);
            let (rows, bytes) = footer.map_or((0, 0), |f| (f.rows, f.bytes));
            match out.iter_mut().find(|p| p.path == path) {
                Some(entry) => {
                    entry.files += 1;
                    entry.rows += rows;
                    entry.bytes += bytes;
                }
                None => out.push(Pruned {
                    table,
                    day: file.day,
                    files: 1,
                    rows,
                    bytes,
                    path,
                }),
            }
        }
    }
    Ok(out)
}

/// The sealed session that records a pass, as log records.
fn announcement(
    pruned: &[Pruned],
    settings: &RetentionSettings,
    key: &SealingKey,
    now: chrono::DateTime<Utc>,
) -> Result<Vec<Record>, Error> {
    let session_id = uuid::Uuid::now_v7();
    let mut chain = ChainBuilder::new(SessionContext {
        session_id,
        actor: Actor {
            subject: RECORDER_SUBJECT.to_owned(),
            agents: Vec::new(),
            groups: Vec::new(),
            issuer: "blastwall".to_owned(),
            token_id: None,
        },
        target: Target {
            name: "archive".to_owned(),
            protocol: Protocol::Archive,
        },
        client_addr: None,
    });
    let time = Timestamp::from_unix_nanos(now.timestamp_nanos_opt().unwrap_or(i64::MAX));
    let chain_error = |e: schemas::chain::ChainError| Error::encode("a retention event", e);
    let mut events = vec![
        chain
            .next(
                time,
                EventBody::SessionStarted(SessionStarted {
                    application_name: Some("blastwall recorder retention".to_owned()),
                    tls: false,
                    parameters: Default::default(),
                }),
            )
            .map_err(chain_error)?,
    ];
    for day in pruned {
        let body = EventBody::ArchivePruned(ArchivePruned {
            table: day.table.dir_name().to_owned(),
            day: day.day.format("%Y-%m-%d").to_string(),
            files: day.files,
            rows: day.rows,
            bytes: day.bytes,
            max_age_secs: settings.max_age.as_secs(),
        });
        events.push(chain.next(time, body).map_err(chain_error)?);
    }
    let ended = SessionEnded {
        reason: EndReason::ClientClosed,
        counters: SessionCounters::default(),
    };
    events.push(chain.end(time, ended, key).map_err(chain_error)?);
    events
        .iter()
        .map(|event| {
            serde_json::to_vec(event)
                .map(|value| Record::new(session_id.to_string(), value))
                .map_err(|e| Error::encode("a retention event", e))
        })
        .collect()
}

/// Removes the days' directories and makes the removals durable.
fn remove(pruned: &[Pruned]) -> Result<(), Error> {
    for day in pruned {
        match std::fs::remove_dir_all(&day.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("removing", &day.path, e)),
        }
        if let Some(table_dir) = day.path.parent() {
            sync_dir(table_dir)?;
        }
    }
    Ok(())
}
