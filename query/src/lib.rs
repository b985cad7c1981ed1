//! Forensics over the blastwall archive: SQL, integrity verification and replays.
//!
//! The recorder writes the events stream to a Parquet archive (`ARCHIVE/events/date=…/`, and
//! the session index `ARCHIVE/sessions/`); this crate reads it, never the proxy and never the
//! live log. It answers what an auditor asks the morning after: who touched which table, what
//! the agent saw, whether the record is complete and untouched, and how a session looked.
//!
//! # Layout
//!
//! | module | concept |
//! | --- | --- |
//! | [`archive`] | [`Archive`]: the archive's directories and part files, in log order |
//! | [`store`] | local files as DataFusion lists them, minus what a compaction superseded |
//! | [`context`] | the DataFusion context: tables `events`, `sessions`, views `commands`, `verdicts`, `approvals`, `results`, `terminal` |
//! | [`forensics`] | the canned questions: session lists, one session's timeline, who touched a table |
//! | [`output`] | rows as a table, CSV or JSON |
//! | [`rows`] | archive rows back to [`schemas::Event`]s |
//! | [`events`] | selected events streamed as [`schemas::Event`]s, by session and seq |
//! | [`verify`] | every session's chain, seq and seal recomputed from the archive; [`verify::Finding`]s |
//! | [`replay`] | a session as it happened: SQL transcripts, terminal playback, asciicast, the screen at a moment |
//!
//! # Example
//!
//! ```no_run
//! # async fn example() -> Result<(), query::Error> {
//! let archive = query::Archive::new("/var/lib/blastwall/archive");
//! let ctx = query::context::open(&archive).await?;
//! let rows = query::context::run(&ctx, "SELECT human, count(*) FROM commands GROUP BY human").await?;
//! print!("{}", query::output::render(&rows, query::output::Format::Table)?);
//! # Ok(()) }
//! ```

pub mod archive;
pub mod context;
mod error;
pub mod events;
pub mod forensics;
pub mod output;
pub mod replay;
pub mod rows;
pub mod store;
pub mod verify;

pub use archive::Archive;
pub use error::Error;
