//! Archived events as typed `schemas::Event`s, for the commands that rebuild something from
//! them in code rather than SQL: a session's replay, the policy backtest.
//!
//! [`for_each`] hands the selected events over batch by batch, each session's events together
//! and in seq order; the caller keeps only what it needs. The ordering is DataFusion's sort,
//! which holds the selected rows in memory (about 1.7 KB per command event for a backtest:
//! 5 GB for 3.2 million commands); a memory-limited context that spills would bound it. A row
//! that does not decode into an event stops the stream with the session and seq it names:
//! `blastwall verify` says what is wrong with it.

use std::fmt::Write as _;

use datafusion::prelude::SessionContext;
use futures::StreamExt;
use schemas::{Event, Timestamp};
use uuid::Uuid;

use crate::Error;
use crate::context::literal;
use crate::forensics::{day, timestamp_literal};

/// Which events to read.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Only these kinds (`command.received`, …); every kind when empty.
    pub kinds: Vec<&'static str>,
    /// Only this session.
    pub session: Option<Uuid>,
    /// Only this target.
    pub target: Option<String>,
    /// Only events at or after this time.
    pub since: Option<Timestamp>,
    /// Only events before this time.
    pub until: Option<Timestamp>,
}

impl Selection {
    /// The SQL of the selection, ordered by session and seq.
    pub fn sql(&self) -> String {
        let mut sql = String::from("SELECT * FROM events WHERE true");
        if !self.kinds.is_empty() {
            let kinds: Vec<String> = self.kinds.iter().map(|k| literal(k)).collect();
            let _ = write!(sql, " AND kind IN ({})", kinds.join(", "));
        }
        if let Some(session) = self.session {
            let id = literal(&session.hyphenated().to_string());
            let _ = write!(sql, " AND session_id = {id}");
        }
        if let Some(target) = &self.target {
            let _ = write!(sql, " AND target_name = {}", literal(target));
        }
        if let Some(since) = self.since {
            let _ = write!(
                sql,
                " AND date >= '{}' AND time >= {}",
                day(since),
                timestamp_literal(since)
            );
        }
        if let Some(until) = self.until {
            let _ = write!(
                sql,
                " AND date <= '{}' AND time < {}",
                day(until),
                timestamp_literal(until)
            );
        }
        sql.push_str(" ORDER BY session_id, seq");
        sql
    }
}

/// Calls `each` with every selected event, each session's together and in seq order; returns
/// how many there were.
pub async fn for_each(
    ctx: &SessionContext,
    selection: &Selection,
    mut each: impl FnMut(Event),
) -> Result<u64, Error> {
    let mut stream = ctx.sql(&selection.sql()).await?.execute_stream().await?;
    let mut count = 0;
    while let Some(batch) = stream.next().await {
        for row in crate::rows::events(&batch?)? {
            let event = row.map_err(|problem| {
                let session = problem
                    .session_id
                    .map_or_else(|| "?".to_owned(), |id| id.to_string());
                Error::Invalid(format!(
                    "session {session} seq {}: {} (run `blastwall verify`)",
                    problem.seq, problem.reason
                ))
            })?;
            each(event);
            count += 1;
        }
    }
    Ok(count)
}
