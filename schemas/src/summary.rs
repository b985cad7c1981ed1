//! [`SessionSummary`]: one session folded into the row of the archive's session index.
//!
//! The recorder folds every event it archives into its session's summary and writes the
//! summaries of ended (and, periodically, of long-running) sessions to `ARCHIVE/sessions/`
//! (`arrow::sessions`); the query crate can fold the same way from the `events` table. The
//! fold is pure and order-sensitive only in the obvious way: events are given in seq order.
//!
//! Counting rules: `commands` counts `command.received`; `blocked` counts `policy.decided`
//! blocks plus denied or expired approvals; `held` counts `approval.requested`; `approved`
//! counts approved `approval.decided`; `masked_values` sums the masking counts the proxy
//! recorded on each result (see [`masked_cells`]); `bytes` is the client's bytes in and out from `session.ended`, or,
//! while the session is open, the terminal bytes recorded so far.
//!
//! Not here: the Arrow form (`arrow::sessions`), files (recorder), verification (`chain`).

use uuid::Uuid;

use crate::body::{ApprovalDecision, EventBody, ResultReturned, Verdict};
use crate::digest::Digest;
use crate::event::Event;
use crate::seal::Seal;
use crate::target::Protocol;
use crate::time::Timestamp;

/// What the session index says about one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    /// The session.
    pub session_id: Uuid,
    /// The human (token subject) of the latest event.
    pub human: String,
    /// The agents acting for the human, outermost first.
    pub agents: Vec<String>,
    /// The actor's groups.
    pub groups: Vec<String>,
    /// The target's name.
    pub target: String,
    /// The target's protocol.
    pub protocol: Protocol,
    /// The client's address.
    pub client_addr: Option<String>,
    /// The first event's time.
    pub started: Timestamp,
    /// The time of `session.ended`, once it arrived.
    pub ended: Option<Timestamp>,
    /// The latest event's time.
    pub last_event: Timestamp,
    /// Events folded so far.
    pub events: u64,
    /// `command.received` events.
    pub commands: u64,
    /// Commands refused by policy or by a denied or expired approval.
    pub blocked: u64,
    /// Commands held for approval.
    pub held: u64,
    /// Held commands approved.
    pub approved: u64,
    /// Result cells masked by the proxy.
    pub masked_values: u64,
    /// Client bytes in and out (terminal bytes while open).
    pub bytes: u64,
    /// Why it ended, once it did (`client_closed`, ...).
    pub end_reason: Option<String>,
    /// The hash of the latest event: the chain's head.
    pub final_hash: Digest,
    /// The seal of `session.ended`, once it arrived.
    pub seal: Option<Seal>,
}

impl SessionSummary {
    /// The summary of a session whose first folded event is `event`.
    pub fn new(event: &Event) -> Self {
        let mut summary = SessionSummary {
            session_id: event.session_id,
            human: String::new(),
            agents: Vec::new(),
            groups: Vec::new(),
            target: event.target.name.clone(),
            protocol: event.target.protocol,
            client_addr: event.client_addr.clone(),
            started: event.time,
            ended: None,
            last_event: event.time,
            events: 0,
            commands: 0,
            blocked: 0,
            held: 0,
            approved: 0,
            masked_values: 0,
            bytes: 0,
            end_reason: None,
            final_hash: event.hash,
            seal: None,
        };
        summary.fold(event);
        summary
    }

    /// Whether `session.ended` was folded.
    pub fn is_ended(&self) -> bool {
        self.ended.is_some()
    }

    /// Adds the next event of the session.
    pub fn fold(&mut self, event: &Event) {
        if self.events == 0 || event.actor.is_authenticated() || self.human.is_empty() {
            self.human.clone_from(&event.actor.subject);
            self.agents.clone_from(&event.actor.agents);
            self.groups.clone_from(&event.actor.groups);
        }
        self.events += 1;
        self.last_event = self.last_event.max(event.time);
        self.final_hash = event.hash;
        match &event.body {
            EventBody::CommandReceived(_) => self.commands += 1,
            EventBody::PolicyDecided(decided) if decided.verdict == Verdict::Block => {
                self.blocked += 1;
            }
            EventBody::ApprovalRequested(_) => self.held += 1,
            EventBody::ApprovalDecided(decided) => match decided.decision {
                ApprovalDecision::Approve => self.approved += 1,
                _ => self.blocked += 1,
            },
            EventBody::ResultReturned(result) => self.masked_values += masked_cells(result),
            EventBody::TerminalOutput(data) | EventBody::TerminalInput(data)
                if !self.is_ended() =>
            {
                self.bytes += data.data.len() as u64;
            }
            EventBody::SessionEnded(ended) => {
                self.ended = Some(event.time);
                self.end_reason = serde_json::to_value(ended.reason)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned));
                let counted = ended
                    .counters
                    .bytes_in
                    .saturating_add(ended.counters.bytes_out);
                if counted > 0 {
                    self.bytes = counted;
                }
                self.seal.clone_from(&event.seal);
            }
            _ => {}
        }
    }
}

/// Values the proxy masked in a result, from the counts it recorded per column and cause.
pub fn masked_cells(result: &ResultReturned) -> u64 {
    result.masked.iter().map(|count| count.values).sum()
}

#[cfg(test)]
mod tests {
    use super::masked_cells;
    use crate::body::{MaskCount, ResultReturned};

    #[test]
    fn masked_values_are_the_counts_the_proxy_recorded() {
        let count = |column: &str, masked_by: &str, values| MaskCount {
            column: column.into(),
            masked_by: masked_by.into(),
            values,
        };
        let result = ResultReturned {
            command_seq: 1,
            command_tag: Some("SELECT 2".into()),
            columns: vec![],
            rows: vec![vec![Some("1".into()), Some("[redacted]".into())]],
            row_count: 2,
            truncated: false,
            duration_ns: 0,
            error: None,
            masked: vec![
                count("email", "detector:email", 2),
                count("card", "rule:redact", 1),
            ],
        };
        assert_eq!(masked_cells(&result), 3);
    }
}
