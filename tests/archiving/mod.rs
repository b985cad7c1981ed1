//! Archiving a test gateway's embedded log the way `blastwall up` does: the recorder reads
//! the log until every event the test saw is in Parquet, then stops.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use eventlog::{EmbeddedOptions, EmbeddedReader};

/// Archives `DATA/log` into `DATA/archive` and returns the archive's directory once it holds
/// `events` events (fails after 30 s).
pub async fn archive_log(data: &Path, events: usize) -> PathBuf {
    let archive = data.join("archive");
    let mut settings = recorder::Settings::new(&archive);
    settings.flush_interval = Duration::from_millis(100);
    let reader = EmbeddedReader::open(data.join("log"), EmbeddedOptions::default());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = recorder::start(settings, Arc::new(reader), stopped)
        .await
        .expect("the recorder starts");
    let mut status = running.status();
    tokio::time::timeout(
        Duration::from_secs(30),
        status.wait_for(|s| s.events >= events as u64),
    )
    .await
    .expect("the recorder archives the sessions")
    .expect("the recorder's status");
    stop.send(true).expect("the recorder listens");
    running.wait().await.expect("the recorder stops cleanly");
    archive
}
