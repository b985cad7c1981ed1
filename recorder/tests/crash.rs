//! Exactly once under SIGKILL: a recorder process killed at random moments while events flow.
//!
//! The parent appends events to an embedded log without pause. The child (this test binary,
//! re-run as `recorder_child`) records them with tiny flushes, so that a kill lands in the
//! middle of writing, renaming, syncing or committing; a third of the events fall on the next
//! day, so most flushes are two-file groups and a kill can split a group's renames. The parent
//! kills the child 30 times, surveying the archive after each kill (it must never find damage
//! or an overlap, only leftovers a crash may leave). At the end one more recorder catches up,
//! and the archive holds exactly the appended events, none twice.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::*;
use eventlog::{Durability, EmbeddedLog, EmbeddedOptions, EmbeddedReader, EventLog, Stream};
use recorder::EventSource;
use recorder::archive::{Check, Layout, survey};

const DIR_VAR: &str = "RECORDER_CRASH_CHILD_DIR";
const RUN: u32 = 11;
const KILLS: usize = 30;

fn child_settings(dir: &std::path::Path) -> recorder::Settings {
    let mut settings = settings(&dir.join("archive"));
    settings.flush_interval = Duration::from_millis(15);
    settings.max_flush_events = 400;
    settings
}

/// Event `n` of the crash run: every third one a day later, so most flushes span two days.
fn crash_record(n: u64) -> eventlog::Record {
    let mut event = event(RUN, n, 50);
    if n.is_multiple_of(3) {
        event.time =
            schemas::Timestamp::from_unix_nanos(event.time.unix_nanos() + 86_400_000_000_000);
    }
    common::record(&event)
}

/// Not a test: the recorder process the parent kills. Runs only when the parent starts it.
#[tokio::test]
#[ignore = "child process of sigkill_at_random_moments_neither_loses_nor_duplicates"]
async fn recorder_child() {
    let Ok(dir) = std::env::var(DIR_VAR) else {
        panic!("recorder_child is started by the crash test with {DIR_VAR} set");
    };
    let dir = PathBuf::from(dir);
    let reader: Arc<dyn EventSource> = Arc::new(EmbeddedReader::open(
        dir.join("log"),
        EmbeddedOptions::default(),
    ));
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let running = recorder::start(child_settings(&dir), reader, stopped)
        .await
        .expect("recorder starts");
    running.wait().await.expect("recorder runs until killed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_neither_loses_nor_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let log: Arc<dyn EventLog> =
        Arc::new(EmbeddedLog::open(dir.path().join("log"), EmbeddedOptions::default()).unwrap());
    let appended = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let producer = {
        let (log, appended, done) = (Arc::clone(&log), Arc::clone(&appended), Arc::clone(&done));
        tokio::spawn(async move {
            let mut n = 0;
            while !done.load(Ordering::Relaxed) {
                let batch: Vec<_> = (n..n + 100).map(crash_record).collect();
                log.append(Stream::Events, batch, Durability::Durable)
                    .await
                    .unwrap();
                n += 100;
                appended.store(n, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };

    let layout = Layout::new(dir.path().join("archive"));
    let (mut temps, mut incomplete) = (0, 0);
    for kill in 0..KILLS {
        run_and_kill(
            "recorder_child",
            &[(DIR_VAR, dir.path().as_os_str())],
            100..700,
            kill,
        )
        .await;
        let found = survey(&layout, Check::Footers).unwrap_or_else(|e| panic!("kill {kill}: {e}"));
        assert!(
            found.damaged.is_empty() && found.gaps.is_empty() && found.foreign.is_empty(),
            "kill {kill}: a crash left damage: {found:?}"
        );
        temps += found.removed_temps.len();
        incomplete += found.removed_incomplete.len();
    }
    done.store(true, Ordering::Relaxed);
    producer.await.unwrap();
    let total = appended.load(Ordering::Relaxed);
    let archived_before = survey(&layout, Check::Footers).unwrap().archived_records();
    eprintln!(
        "{KILLS} kills: {total} events appended, {archived_before} archived by the killed \
         recorders; the kills left {temps} temporary files and {incomplete} files of \
         interrupted groups"
    );
    assert!(archived_before > 0, "the killed recorders archived nothing");

    // One more recorder catches up with everything appended.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = recorder::start(
        child_settings(dir.path()),
        Arc::new(Arc::clone(&log)),
        stopped,
    )
    .await
    .unwrap();
    assert!(running.survey().damaged.is_empty());
    tokio::time::timeout(
        Duration::from_secs(120),
        running
            .status()
            .wait_for(|s| s.next_offsets.get(&0) == Some(&total)),
    )
    .await
    .expect("the last recorder catches up")
    .unwrap();
    stop.send(true).unwrap();
    running.wait().await.unwrap();
    assert_exactly(layout.root(), RUN, total);
}
