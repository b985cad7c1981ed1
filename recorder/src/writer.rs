//! The archive writer: follows the events stream and writes it to the archive, exactly once.
//!
//! [`start`] surveys the archive (`archive::survey`), then a task rewrites what the survey set
//! aside (`repair`) and follows the log as the configured consumer. Records are buffered per
//! partition; a partition's buffer is flushed (`flush`) when it reaches `max_flush_events` or
//! `max_flush_bytes`, when its oldest record has waited `flush_interval`, when the log skips
//! offsets, and at shutdown.
//!
//! Exactly once: a flush's files are durable (temporary name, fsync, rename, directory fsync)
//! before the log position is committed, and every record below the archive's highest offset
//! per partition is dropped — those read again after a crash between the two steps included.
//! A failed poll or commit is ridden out (a commit only saves re-reading; a poll failure drops
//! the buffers and subscribes again from the committed position). A failed flush stops the
//! recorder with the error: the next start's survey clears what it left.
//!
//! Several recorders in one Kafka consumer group share its partitions: each writes only the
//! partitions it is assigned, forgets what it buffered of a partition taken away, and surveys a
//! partition it is given (`follow_assignment`) before reading it, so that it resumes after
//! whatever the previous owner made durable. Rebalances happen only inside a poll, so a flush
//! in progress always finishes before its partition can change hands.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use eventlog::{Assignment, Entry, Position, Subscription};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::archive::{self, Layout, Survey};
use crate::flush::{Flushed, flush_indexed};
use crate::repair::repair;
use crate::sessions::SessionIndex;
use crate::source::EventSource;
use crate::status::{Phase, Status};
use crate::{Error, Settings};

/// The longest a poll waits, so a stop or a due flush is noticed quickly.
const MAX_WAIT: Duration = Duration::from_millis(100);
/// Records asked for per poll at most.
const MAX_POLL: usize = 10_000;
/// After a poll that found only a few records, how long the follower lets more gather before
/// it reads again (never past a due flush): under load, reading the log for every handful of
/// records cost the proxy's process more than decoding them.
const GATHER: Duration = Duration::from_millis(20);
/// A poll that found fewer records than this is followed by a [`GATHER`] pause.
const FEW: usize = 1_000;
/// Backoff bounds after a failed poll.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(5));

/// A running recorder.
pub struct RunningRecorder {
    survey: Survey,
    status: watch::Receiver<Status>,
    task: JoinHandle<Result<Status, Error>>,
    compaction: Option<(watch::Sender<bool>, JoinHandle<()>)>,
}

impl RunningRecorder {
    /// What the survey at start found and did.
    pub fn survey(&self) -> &Survey {
        &self.survey
    }

    /// Follows the recorder's counters and positions.
    pub fn status(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// Waits until the recorder stopped (after the stop signal, once everything it held is
    /// durable) and returns its final status, or the error that stopped it.
    pub async fn wait(self) -> Result<Status, Error> {
        let status = self.task.await.map_err(|e| Error::task("recorder", e))?;
        if let Some((stop, compaction)) = self.compaction {
            // Stops after the merge it may be in the middle of.
            let _ = stop.send(true);
            let _ = compaction.await;
        }
        status
    }
}

/// Surveys the archive, then starts following `source` until `stopped` turns true.
pub async fn start(
    settings: Settings,
    source: Arc<dyn EventSource>,
    stopped: watch::Receiver<bool>,
) -> Result<RunningRecorder, Error> {
    let layout = Layout::new(&settings.archive);
    archive::write::create_dir_durably(layout.root())?;
    let sub = source.subscribe(&settings.consumer).await?;
    // A member of a group that shares partitions surveys a partition when it is given it
    // (`follow_assignment`), never another member's; a lone reader surveys everything now.
    let only = sub.assignment().map(|_| BTreeSet::new());
    let check = settings.check;
    let survey = {
        let layout = layout.clone();
        tokio::task::spawn_blocking(move || {
            archive::survey_partitions(&layout, check, only.as_ref())
        })
        .await
        .map_err(|e| Error::task("survey", e))??
    };
    report_survey(&survey);
    let sessions = {
        let (archive, refresh) = (settings.archive.clone(), settings.session_refresh);
        tokio::task::spawn_blocking(move || SessionIndex::open(&archive, refresh))
            .await
            .map_err(|e| Error::task("session index", e))??
    };
    let status = Status {
        next_offsets: survey.resume.clone(),
        damaged: survey.damaged.len() as u64,
        ..Status::default()
    };
    let (publish, watch) = watch::channel(status);
    let compaction = settings.compaction.clone().map(|compaction| {
        let (stop, stopped) = watch::channel(false);
        let task = crate::compaction::spawn(layout.clone(), settings.encoding, compaction, stopped);
        (stop, task)
    });
    let follower = Follower {
        settings,
        layout,
        source,
        next: survey.resume.clone(),
        pending: BTreeMap::new(),
        skipped: BTreeMap::new(),
        assignment: None,
        status: publish,
        stopped,
        sessions: Some(sessions),
    };
    let repairs = survey.repairs();
    let task = tokio::spawn(follower.run(repairs, sub));
    Ok(RunningRecorder {
        survey,
        status: watch,
        task,
        compaction,
    })
}

fn report_survey(survey: &Survey) {
    for path in &survey.removed_temps {
        tracing::info!(path = %path.display(), "removed a file a crash left half-written");
    }
    for path in &survey.removed_incomplete {
        tracing::info!(path = %path.display(), "removed a file of a flush a crash interrupted");
    }
    for damage in &survey.damaged {
        tracing::error!(
            range = %damage.name, reason = %damage.reason, moved = ?damage.moved,
            "damaged archive files set aside; rewriting them from the log"
        );
    }
    for gap in &survey.gaps {
        tracing::error!(range = %gap, "offsets missing from the archive; rewriting them from the log");
    }
    for path in &survey.foreign {
        tracing::warn!(path = %path.display(), "not an archive file; left alone");
    }
}

/// A partition's records read but not yet archived: gap-free offsets.
struct Pending {
    entries: Vec<Entry>,
    bytes: u64,
    since: Instant,
}

struct Follower {
    settings: Settings,
    layout: Layout,
    source: Arc<dyn EventSource>,
    /// Per partition, the offset after the highest archived one: records before it are dropped.
    next: BTreeMap<u32, u64>,
    pending: BTreeMap<u32, Pending>,
    /// Per partition, the highest dropped offset not yet committed (nothing pending there).
    skipped: BTreeMap<u32, u64>,
    /// In a consumer group that shares partitions: this member's, as last seen.
    assignment: Option<Assignment>,
    status: watch::Sender<Status>,
    stopped: watch::Receiver<bool>,
    /// The session index, lent to each flush (`None` only while a flush holds it).
    sessions: Option<SessionIndex>,
}

impl Follower {
    async fn run(
        mut self,
        repairs: Vec<archive::PartName>,
        mut sub: Box<dyn Subscription>,
    ) -> Result<Status, Error> {
        if !repairs.is_empty() {
            self.repair(&repairs).await?;
        }
        self.status.send_modify(|s| s.phase = Phase::Following);
        let mut backoff = BACKOFF.0;
        loop {
            let stopping = *self.stopped.borrow() || self.stopped.has_changed().is_err();
            if stopping {
                break;
            }
            let wait = self.wait();
            match sub
                .poll(MAX_POLL.min(self.settings.max_flush_events), wait)
                .await
            {
                Ok(batch) => {
                    backoff = BACKOFF.0;
                    let few = !batch.is_empty() && batch.len() < FEW;
                    self.follow_assignment(sub.assignment()).await?;
                    self.take(batch, sub.as_mut()).await?;
                    if few {
                        self.gather().await;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "reading the event log failed; subscribing again");
                    self.status
                        .send_modify(|s| s.last_error = Some(error.to_string()));
                    self.pending.clear();
                    self.skipped.clear();
                    if self.assignment.take().is_some() {
                        // A new member: each partition is surveyed again when given.
                        self.next.clear();
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF.1);
                    match self.source.subscribe(&self.settings.consumer).await {
                        Ok(fresh) => sub = fresh,
                        Err(error) => tracing::warn!(%error, "subscribing again failed"),
                    }
                    continue;
                }
            }
            self.flush_due(sub.as_mut()).await?;
        }
        let partitions: Vec<u32> = self.pending.keys().copied().collect();
        for partition in partitions {
            self.flush_partition(partition, sub.as_mut()).await?;
        }
        self.commit_skipped(sub.as_mut()).await;
        self.status.send_modify(|s| s.phase = Phase::Stopped);
        Ok(self.status.borrow().clone())
    }

    /// Lets records gather after a small batch, until a flush is due or the recorder stops.
    async fn gather(&mut self) {
        let pause = GATHER.min(self.wait());
        if pause.is_zero() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = self.stopped.changed() => {}
        }
    }

    /// How long the next poll may wait: until the oldest buffer is due, at most [`MAX_WAIT`].
    fn wait(&self) -> Duration {
        self.pending
            .values()
            .map(|p| {
                (p.since + self.settings.flush_interval).saturating_duration_since(Instant::now())
            })
            .min()
            .unwrap_or(MAX_WAIT)
            .min(MAX_WAIT)
    }

    /// Buffers a polled batch, dropping what the archive holds and flushing full buffers.
    async fn take(&mut self, batch: Vec<Entry>, sub: &mut dyn Subscription) -> Result<(), Error> {
        let mut skipped = 0;
        for entry in batch {
            let Position { partition, offset } = entry.position;
            if !self.owns(partition) {
                continue; // read before a rebalance took the partition away
            }
            let next = self.next.get(&partition).copied();
            if next.is_some_and(|next| offset < next) {
                skipped += 1;
                if !self.pending.contains_key(&partition) {
                    self.skipped.insert(partition, offset);
                }
                continue;
            }
            let follows = self
                .pending
                .get(&partition)
                .and_then(|p| p.entries.last())
                .is_none_or(|last| last.position.offset + 1 == offset);
            if !follows {
                self.flush_partition(partition, sub).await?;
            }
            if !self.pending.contains_key(&partition) {
                self.note_jump(partition, offset);
            }
            let bytes = (entry.key.len() + entry.value.len()) as u64;
            let pending = self.pending.entry(partition).or_insert_with(|| Pending {
                entries: Vec::new(),
                bytes: 0,
                since: Instant::now(),
            });
            pending.entries.push(entry);
            pending.bytes += bytes;
            self.skipped.remove(&partition);
            let full = pending.entries.len() >= self.settings.max_flush_events
                || pending.bytes >= self.settings.max_flush_bytes;
            if full {
                self.flush_partition(partition, sub).await?;
            }
        }
        if skipped > 0 {
            self.status.send_modify(|s| s.skipped += skipped);
        }
        Ok(())
    }

    /// Whether this recorder may write `partition`: always, unless it shares a group.
    fn owns(&self, partition: u32) -> bool {
        self.assignment
            .as_ref()
            .is_none_or(|a| a.partitions.contains(&partition))
    }

    /// Takes note of a rebalance: forgets what it buffered of partitions it lost, and surveys
    /// (and repairs) the partitions it was given before reading any of their records, since
    /// another member may have archived them meanwhile.
    async fn follow_assignment(&mut self, now: Option<Assignment>) -> Result<(), Error> {
        let Some(now) = now else {
            return Ok(());
        };
        let before = self.assignment.replace(now.clone());
        if before
            .as_ref()
            .is_some_and(|b| b.generation == now.generation)
        {
            return Ok(());
        }
        let had = before.map(|b| b.partitions).unwrap_or_default();
        for partition in had.difference(&now.partitions) {
            self.pending.remove(partition);
            self.skipped.remove(partition);
            self.next.remove(partition);
            tracing::info!(
                partition,
                "partition given to another recorder of the group"
            );
        }
        let given: BTreeSet<u32> = now.partitions.difference(&had).copied().collect();
        if given.is_empty() {
            return Ok(());
        }
        tracing::info!(partitions = ?given, "partitions given to this recorder; surveying them");
        let (layout, check) = (self.layout.clone(), self.settings.check);
        let survey = tokio::task::spawn_blocking(move || {
            archive::survey_partitions(&layout, check, Some(&given))
        })
        .await
        .map_err(|e| Error::task("survey", e))??;
        report_survey(&survey);
        self.next
            .extend(survey.resume.iter().map(|(p, n)| (*p, *n)));
        let next = self.next.clone();
        self.status.send_modify(|s| s.next_offsets.extend(next));
        let repairs = survey.repairs();
        if !repairs.is_empty() {
            self.repair(&repairs).await?;
            self.status.send_modify(|s| s.phase = Phase::Following);
        }
        Ok(())
    }

    /// Reports offsets the log skipped (removed before they were read) as lost.
    fn note_jump(&mut self, partition: u32, offset: u64) {
        let Some(expected) = self.next.get(&partition).copied() else {
            return;
        };
        if offset > expected {
            tracing::error!(
                partition,
                first = expected,
                last = offset - 1,
                "the log no longer holds these offsets and the archive never got them"
            );
            self.status.send_modify(|s| s.lost += offset - expected);
        }
    }

    async fn flush_due(&mut self, sub: &mut dyn Subscription) -> Result<(), Error> {
        let due: Vec<u32> = self
            .pending
            .iter()
            .filter(|(_, p)| p.since.elapsed() >= self.settings.flush_interval)
            .map(|(partition, _)| *partition)
            .collect();
        for partition in due {
            self.flush_partition(partition, sub).await?;
        }
        self.commit_skipped(sub).await;
        Ok(())
    }

    /// Writes a partition's buffer as one group, then commits its last offset.
    async fn flush_partition(
        &mut self,
        partition: u32,
        sub: &mut dyn Subscription,
    ) -> Result<(), Error> {
        let Some(pending) = self.pending.remove(&partition) else {
            return Ok(());
        };
        if !self.owns(partition) {
            // Another member reads it now, from the last committed offset.
            return Ok(());
        }
        let (layout, encoding) = (self.layout.clone(), self.settings.encoding);
        let mut sessions = self.sessions.take();
        let (flushed, sessions) = tokio::task::spawn_blocking(move || {
            let flushed = flush_indexed(&layout, encoding, &pending.entries, sessions.as_mut());
            (flushed, sessions)
        })
        .await
        .map_err(|e| Error::task("flush", e))?;
        self.sessions = sessions;
        let flushed = flushed?;
        let last = flushed.group.name.last;
        self.next.insert(partition, last + 1);
        self.record(&flushed);
        if let Err(error) = sub
            .commit(Position {
                partition,
                offset: last,
            })
            .await
        {
            tracing::warn!(%error, partition, offset = last, "committing the log position failed; the archive stays the truth");
            self.status
                .send_modify(|s| s.last_error = Some(error.to_string()));
        }
        Ok(())
    }

    /// Commits past dropped records where nothing is buffered, so a restart reads less again.
    async fn commit_skipped(&mut self, sub: &mut dyn Subscription) {
        for (partition, offset) in std::mem::take(&mut self.skipped) {
            if let Err(error) = sub.commit(Position { partition, offset }).await {
                tracing::debug!(%error, partition, offset, "committing past archived records failed");
            }
        }
    }

    fn record(&self, flushed: &Flushed) {
        for quarantined in &flushed.quarantined {
            tracing::warn!(
                position = %quarantined.position, reason = %quarantined.rejection,
                "a record that is not a readable event was kept in the quarantine table"
            );
        }
        let name = flushed.group.name;
        tracing::debug!(range = %name, events = flushed.events, files = flushed.group.files.len(), "flushed");
        self.status.send_modify(|s| {
            s.events += flushed.events;
            s.quarantined += flushed.quarantined.len() as u64;
            s.groups += 1;
            s.bytes += flushed.group.bytes;
            s.next_offsets.insert(name.partition, name.last + 1);
            s.last_flush = Some(SystemTime::now());
        });
    }

    async fn repair(&mut self, ranges: &[archive::PartName]) -> Result<(), Error> {
        self.status.send_modify(|s| s.phase = Phase::Repairing);
        let report = repair(
            &self.source,
            &self.settings.consumer,
            &self.layout,
            self.settings.encoding,
            ranges,
            self.settings.repair_wait,
            self.settings.max_flush_events,
        )
        .await?;
        for flushed in &report.written {
            tracing::info!(range = %flushed.group.name, "rewrote archive files from the log");
            self.record(flushed);
        }
        for lost in &report.lost {
            tracing::error!(range = %lost, "the log no longer holds these offsets; their archive files are in damaged/ or gone");
        }
        let lost: u64 = report.lost.iter().map(archive::PartName::records).sum();
        // Repairs lie below the resume offsets: the recorder's own positions do not move.
        let next = self.next.clone();
        self.status.send_modify(|s| {
            s.lost += lost;
            s.next_offsets = next;
        });
        Ok(())
    }
}
