//! A SQL session as a psql-style transcript: each statement, its verdict, its masked result
//! table and its duration, in the order they happened.
//!
//! Input is the session's events in seq order; statements are matched to their verdicts,
//! approvals and results by `command_seq`. The rows printed are exactly those recorded, which
//! the proxy masked before recording; a truncated result says so.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use schemas::body::{ApprovalDecision, ResultReturned, Verdict};
use schemas::{Event, EventBody};

/// The transcript of `events`.
pub fn transcript(events: &[Event]) -> String {
    let mut out = String::new();
    let Some(first) = events.first() else {
        return out;
    };
    let prompt = format!("{}=>", first.target.name);
    let _ = writeln!(
        out,
        "-- session {} by {}{} on {} at {}",
        first.session_id,
        events.last().map_or("", |e| e.actor.subject.as_str()),
        events
            .last()
            .filter(|e| !e.actor.agents.is_empty())
            .map(|e| format!(" (agent {})", e.actor.agents.join(" > ")))
            .unwrap_or_default(),
        first.target.name,
        first.time
    );
    let mut approvals: BTreeMap<uuid::Uuid, u64> = BTreeMap::new();
    for event in events {
        match &event.body {
            EventBody::CommandReceived(command) => {
                let _ = writeln!(out, "\n{prompt} {}", command.text.trim_end());
                for (n, parameter) in command.parameters.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "--   ${} = {}",
                        n + 1,
                        parameter.as_deref().unwrap_or("NULL")
                    );
                }
            }
            EventBody::PolicyDecided(decided) => {
                let by = if decided.policies.is_empty() {
                    "no policy matched".to_owned()
                } else {
                    decided.policies.join(", ")
                };
                let _ = writeln!(out, "-- verdict: {} ({by})", decided.verdict);
                if decided.verdict == Verdict::Block {
                    let _ = writeln!(
                        out,
                        "ERROR:  {}",
                        decided.message.as_deref().unwrap_or("blocked by policy")
                    );
                }
            }
            EventBody::ApprovalRequested(requested) => {
                approvals.insert(requested.approval_id, requested.command_seq);
                let _ = writeln!(
                    out,
                    "-- held for approval by {} (policy {})",
                    requested.approver_group, requested.policy
                );
            }
            EventBody::ApprovalDecided(decided) => {
                let who = decided
                    .approver
                    .as_ref()
                    .map_or("nobody: it expired".to_owned(), |a| a.subject.clone());
                let what = match decided.decision {
                    ApprovalDecision::Approve => "approved",
                    ApprovalDecision::Deny => "denied",
                    _ => "expired",
                };
                let _ = writeln!(
                    out,
                    "-- {what} by {who}{}",
                    decided
                        .reason
                        .as_deref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                );
            }
            EventBody::ResultReturned(result) => out.push_str(&result_table(result)),
            EventBody::SessionEnded(ended) => {
                let _ = writeln!(
                    out,
                    "\n-- session ended ({:?}) at {}",
                    ended.reason, event.time
                );
            }
            _ => {}
        }
    }
    out
}

/// One result as psql prints it: aligned columns, a row count, then the timing.
pub fn result_table(result: &ResultReturned) -> String {
    let mut out = String::new();
    if let Some(error) = &result.error {
        let _ = writeln!(out, "ERROR:  {} (SQLSTATE {})", error.message, error.code);
    } else if result.columns.is_empty() {
        if let Some(tag) = &result.command_tag {
            let _ = writeln!(out, "{tag}");
        }
    } else {
        let cells: Vec<Vec<&str>> = result
            .rows
            .iter()
            .map(|row| row.iter().map(|c| c.as_deref().unwrap_or("")).collect())
            .collect();
        let widths: Vec<usize> = result
            .columns
            .iter()
            .enumerate()
            .map(|(i, column)| {
                cells
                    .iter()
                    .filter_map(|row| row.get(i))
                    .map(|c| c.chars().count())
                    .chain([column.name.chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let header: Vec<String> = result
            .columns
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{:^w$}", c.name, w = *w))
            .collect();
        let _ = writeln!(out, " {} ", header.join(" | "));
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(w + 2)).collect();
        let _ = writeln!(out, "{}", rule.join("+"));
        for row in &cells {
            let line: Vec<String> = widths
                .iter()
                .enumerate()
                .map(|(i, w)| format!("{:<w$}", row.get(i).copied().unwrap_or(""), w = *w))
                .collect();
            let _ = writeln!(out, " {}", line.join(" | ").trim_end());
        }
        let shown = result.rows.len() as u64;
        let _ = writeln!(
            out,
            "({} row{})",
            result.row_count,
            if result.row_count == 1 { "" } else { "s" }
        );
        if result.truncated || shown < result.row_count {
            let _ = writeln!(out, "-- only the first {shown} rows were recorded");
        }
    }
    let _ = writeln!(out, "Time: {:.3} ms", result.duration_ns as f64 / 1e6);
    out
}
