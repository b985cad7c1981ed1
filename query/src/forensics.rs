//! The canned questions behind `blastwall sessions`, `show` and `who-touched`.
//!
//! Each builds one SQL query over the context's tables and views (`context`), quoting every
//! value the caller gives as a literal, and returns the rows for `output` to print; `show` also
//! decodes the session's events to say in one line what each did. Read-only, like the rest.

use std::fmt::Write as _;

use chrono::NaiveDate;
use datafusion::arrow::array::RecordBatch;
use datafusion::prelude::SessionContext;
use schemas::{Event, EventBody, Timestamp};

use crate::Error;
use crate::context::{literal, run};

/// Which sessions `blastwall sessions` lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFilter {
    /// The human (token subject).
    pub human: Option<String>,
    /// An agent anywhere in the act chain.
    pub agent: Option<String>,
    /// The target's name.
    pub target: Option<String>,
    /// Started at or after.
    pub since: Option<Timestamp>,
    /// Started before.
    pub until: Option<Timestamp>,
    /// Has at least one policy verdict of this kind (`allow`, `block`, `approval_required`).
    pub verdict: Option<String>,
}

/// A timestamp as a SQL expression of type `Timestamp(ns, UTC)`.
pub fn timestamp_literal(time: Timestamp) -> String {
    format!(
        "arrow_cast({}, 'Timestamp(Nanosecond, Some(\"UTC\"))')",
        time.unix_nanos()
    )
}

/// The day partition a time falls in, for pruning `date`.
pub(crate) fn day(time: Timestamp) -> NaiveDate {
    time.to_datetime().date_naive()
}

/// The SQL of a session list.
pub fn sessions_sql(filter: &SessionFilter) -> String {
    let mut sql = String::from(
        "SELECT session_id, human, agent, target, protocol, client_addr, started, ended, events, \
         commands, blocked, held, approved, masked_values FROM sessions WHERE true",
    );
    if let Some(human) = &filter.human {
        let _ = write!(sql, " AND human = {}", literal(human));
    }
    if let Some(agent) = &filter.agent {
        let _ = write!(sql, " AND array_has(agents, {})", literal(agent));
    }
    if let Some(target) = &filter.target {
        let _ = write!(sql, " AND target = {}", literal(target));
    }
    if let Some(since) = filter.since {
        let _ = write!(sql, " AND started >= {}", timestamp_literal(since));
    }
    if let Some(until) = filter.until {
        let _ = write!(sql, " AND started < {}", timestamp_literal(until));
    }
    if let Some(verdict) = &filter.verdict {
        let mut inner = format!(
            "SELECT DISTINCT session_id FROM events WHERE kind = 'policy.decided' AND verdict = {}",
            literal(verdict)
        );
        if let Some(since) = filter.since {
            let _ = write!(inner, " AND date >= '{}'", day(since));
        }
        let _ = write!(sql, " AND session_id IN ({inner})");
    }
    sql.push_str(" ORDER BY started, session_id");
    sql
}

/// The sessions matching `filter`, oldest first.
pub async fn sessions(
    ctx: &SessionContext,
    filter: &SessionFilter,
) -> Result<Vec<RecordBatch>, Error> {
    run(ctx, &sessions_sql(filter)).await
}

/// What `blastwall who-touched` asks about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touch {
    /// The target's name.
    pub target: String,
    /// `schema.table` or `table`; `None` for anything on the target.
    pub object: Option<String>,
    /// Commands at or after.
    pub since: Option<Timestamp>,
    /// Only commands that write.
    pub writes_only: bool,
}

impl Touch {
    /// Parses `TARGET[.SCHEMA.TABLE]` (or `TARGET.TABLE`).
    pub fn parse(spec: &str) -> Result<Self, Error> {
        let (target, object) = match spec.split_once('.') {
            Some((target, object)) => (target, Some(object.to_owned())),
            None => (spec, None),
        };
        if target.is_empty() || object.as_deref().is_some_and(str::is_empty) {
            return Err(Error::Invalid(format!(
                "`{spec}` is not TARGET or TARGET.SCHEMA.TABLE"
            )));
        }
        Ok(Touch {
            target: target.to_owned(),
            object,
            since: None,
            writes_only: false,
        })
    }

    /// The names the parser may have recorded for the object: `public.t` and `t` are one.
    fn names(&self) -> Vec<String> {
        let Some(object) = &self.object else {
            return Vec::new();
        };
        let mut names = vec![object.clone()];
        match object.split_once('.') {
            Some(("public", table)) => names.push(table.to_owned()),
            Some(_) => {}
            None => names.push(format!("public.{object}")),
        }
        names
    }
}

/// The SQL of a who-touched question.
pub fn who_touched_sql(touch: &Touch) -> String {
    let names = touch.names();
    let array = format!(
        "make_array({})",
        names
            .iter()
            .map(|n| literal(n))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let (writes, reads) = if names.is_empty() {
        ("cardinality(c.writes) > 0".to_owned(), "true".to_owned())
    } else {
        (
            format!("array_has_any(c.writes, {array})"),
            format!("array_has_any(c.reads, {array})"),
        )
    };
    // Cheap filters on plain columns pick the candidate statements and their sessions' verdicts;
    // reads, writes and the verdicts' command seqs are promoted columns (bodies are parsed only
    // for files older than those, and only for the rows that survive the cheap filters).
    let target = literal(&touch.target);
    let mut narrow = format!("target = {target}");
    let mut verdict_narrow = format!("target = {target}");
    if let Some(object) = &touch.object {
        let table = object.rsplit('.').next().unwrap_or(object).to_lowercase();
        let _ = write!(narrow, " AND strpos(lower(text), {}) > 0", literal(&table));
    }
    if let Some(since) = touch.since {
        let _ = write!(
            narrow,
            " AND date >= '{}' AND time >= {}",
            day(since),
            timestamp_literal(since)
        );
        let _ = write!(verdict_narrow, " AND date >= '{}'", day(since));
    }
    let mut sql = format!(
        "WITH c AS (SELECT * FROM commands WHERE {narrow}), \
         vs AS (SELECT session_id, command_seq, verdict FROM verdicts WHERE {verdict_narrow}) \
         SELECT c.time, c.human, c.agent, CASE WHEN {writes} THEN 'write' ELSE 'read' END AS access, \
         vs.verdict, c.text, c.session_id, c.seq FROM c LEFT JOIN vs \
         ON vs.session_id = c.session_id AND vs.command_seq = c.seq WHERE true"
    );
    if touch.writes_only {
        let _ = write!(sql, " AND coalesce({writes}, false)");
    } else if !names.is_empty() {
        let _ = write!(sql, " AND coalesce({writes} OR {reads}, false)");
    }
    sql.push_str(" ORDER BY c.time, c.session_id, c.seq");
    sql
}

/// Who read or wrote the object, with their statements, oldest first.
pub async fn who_touched(ctx: &SessionContext, touch: &Touch) -> Result<Vec<RecordBatch>, Error> {
    run(ctx, &who_touched_sql(touch)).await
}

/// One line of a session's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineEntry {
    /// The event's seq.
    pub seq: u64,
    /// When it happened.
    pub time: Timestamp,
    /// What kind of event, shortly (`command`, `verdict`, ...).
    pub what: &'static str,
    /// The gist: the statement, the verdict and its policies, the result's size.
    pub detail: String,
}

/// The timeline of a session's events (commands, verdicts, approvals, results in summary).
pub fn timeline(events: &[Event]) -> Vec<TimelineEntry> {
    events
        .iter()
        .filter_map(|event| {
            let (what, detail) = match &event.body {
                EventBody::SessionStarted(started) => (
                    "started",
                    format!(
                        "{}{}",
                        started
                            .application_name
                            .as_deref()
                            .unwrap_or("unknown client"),
                        if started.tls { ", tls" } else { "" }
                    ),
                ),
                EventBody::AuthenticationSucceeded(_) => (
                    "login",
                    format!(
                        "{} ({})",
                        event.actor.subject,
                        event.actor.agents.join(" > ")
                    ),
                ),
                EventBody::AuthenticationFailed(failed) => {
                    ("login failed", format!("{:?}", failed.reason))
                }
                EventBody::CommandReceived(command) => ("command", one_line(&command.text)),
                EventBody::PolicyDecided(decided) => (
                    "verdict",
                    format!(
                        "{} (command {}{}{})",
                        decided.verdict,
                        decided.command_seq,
                        if decided.policies.is_empty() {
                            String::new()
                        } else {
                            format!(", by {}", decided.policies.join(", "))
                        },
                        decided
                            .message
                            .as_deref()
                            .map(|m| format!(": {m}"))
                            .unwrap_or_default()
                    ),
                ),
                EventBody::ApprovalRequested(requested) => (
                    "held",
                    format!(
                        "command {} awaits {}",
                        requested.command_seq, requested.approver_group
                    ),
                ),
                EventBody::ApprovalDecided(decided) => (
                    "approval",
                    format!(
                        "{:?} by {}",
                        decided.decision,
                        decided
                            .approver
                            .as_ref()
                            .map_or("nobody (expired)", |a| a.subject.as_str())
                    )
                    .to_lowercase(),
                ),
                EventBody::ResultReturned(result) => (
                    "result",
                    match &result.error {
                        Some(error) => {
                            format!("error {}: {}", error.code, one_line(&error.message))
                        }
                        None => format!(
                            "{}, {} rows in {:.3} ms",
                            result.command_tag.as_deref().unwrap_or("done"),
                            result.row_count,
                            result.duration_ns as f64 / 1e6
                        ),
                    },
                ),
                EventBody::OperationFailed(failed) => ("failed", format!("{:?}", failed.stage)),
                EventBody::SessionEnded(ended) => (
                    "ended",
                    format!(
                        "{:?}, {} commands, {} blocked{}",
                        ended.reason,
                        ended.counters.commands,
                        ended.counters.blocked,
                        if event.seal.is_some() { ", sealed" } else { "" }
                    ),
                ),
                _ => return None,
            };
            Some(TimelineEntry {
                seq: event.seq,
                time: event.time,
                what,
                detail,
            })
        })
        .collect()
}

/// A session's header and timeline as text.
pub fn render_show(events: &[Event]) -> String {
    let mut out = String::new();
    let (Some(first), Some(last)) = (events.first(), events.last()) else {
        return out;
    };
    let actor = &last.actor;
    let _ = writeln!(out, "session   {}", first.session_id);
    let _ = writeln!(
        out,
        "human     {}{}",
        actor.subject,
        if actor.agents.is_empty() {
            String::new()
        } else {
            format!("   agent {}", actor.agents.join(" > "))
        }
    );
    let _ = writeln!(
        out,
        "target    {} ({}){}",
        first.target.name,
        first.target.protocol.as_str(),
        first
            .client_addr
            .as_deref()
            .map(|a| format!("   from {a}"))
            .unwrap_or_default()
    );
    let _ = writeln!(out, "started   {}", first.time);
    let terminal = events
        .iter()
        .filter(|e| {
            matches!(
                e.body,
                EventBody::TerminalOutput(_) | EventBody::TerminalInput(_)
            )
        })
        .count();
    let _ = writeln!(
        out,
        "events    {}{}",
        events.len(),
        if terminal > 0 {
            format!(" ({terminal} of terminal data: see `blastwall replay`)")
        } else {
            String::new()
        }
    );
    let _ = writeln!(out);
    for entry in timeline(events) {
        let offset = entry.time.saturating_duration_since(first.time);
        let _ = writeln!(
            out,
            "{:>5}  +{:>9.3}s  {:<9} {}",
            entry.seq,
            offset.as_secs_f64(),
            entry.what,
            entry.detail
        );
    }
    if !matches!(last.body, EventBody::SessionEnded(_)) {
        let _ = writeln!(out, "       (still open, or its end is not archived yet)");
    }
    out
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Parses a moment as the CLI takes it: a duration ago (`24h`, `7d`, `90m`), a day
/// (`2026-11-20`, midnight UTC) or an RFC 3339 time.
pub fn parse_when(text: &str, now: Timestamp) -> Result<Timestamp, Error> {
    if let Ok(ago) = humantime::parse_duration(text) {
        let nanos = i64::try_from(ago.as_nanos()).unwrap_or(i64::MAX);
        return Ok(Timestamp::from_unix_nanos(
            now.unix_nanos().saturating_sub(nanos),
        ));
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let nanos = day
            .and_hms_opt(0, 0, 0)
            .and_then(|t| t.and_utc().timestamp_nanos_opt())
            .ok_or_else(|| Error::Invalid(format!("`{text}` is out of range")))?;
        return Ok(Timestamp::from_unix_nanos(nanos));
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .map(Timestamp::from_unix_nanos)
        .ok_or_else(|| {
            Error::Invalid(format!(
                "`{text}` is neither a duration ago (24h, 7d), a day (2026-11-20) nor an RFC 3339 time"
            ))
        })
}

#[cfg(test)]
mod tests {
    use schemas::Timestamp;

    use super::{Touch, parse_when};

    #[test]
    fn moments_parse_as_ago_day_or_time() {
        let now = Timestamp::from_unix_nanos(1_795_670_472_000_000_000);
        let day = 86_400_000_000_000;
        assert_eq!(
            parse_when("1d", now).unwrap().unix_nanos(),
            now.unix_nanos() - day
        );
        assert_eq!(
            parse_when("2026-11-26", now).unwrap().to_string(),
            "2026-11-26T00:00:00.000000000Z"
        );
        assert!(parse_when("2026-11-26T05:21:12Z", now).is_ok());
        assert!(parse_when("yesterday-ish", now).is_err());
    }

    #[test]
    fn touch_specs_name_a_target_and_maybe_a_table() {
        let touch = Touch::parse("orders-db.public.orders").unwrap();
        assert_eq!(touch.target, "orders-db");
        assert_eq!(
            touch.names(),
            vec!["public.orders".to_owned(), "orders".to_owned()]
        );
        assert_eq!(Touch::parse("orders-db").unwrap().object, None);
        assert!(Touch::parse(".orders").is_err());
        assert!(Touch::parse("db.").is_err());
    }
}
