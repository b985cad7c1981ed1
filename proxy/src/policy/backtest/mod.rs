//! Policy backtest: recorded commands replayed through a candidate policy, each verdict that
//! would change reported.
//!
//! [`Backtest`] takes archived events one session at a time, in seq order (`command.received`,
//! `policy.decided`, `approval.requested`, `approval.decided`; others are ignored), and decides
//! every command that was decided when it was recorded, with the recorded identity, target,
//! client address and time, through the same [`Policy`] code the gateways call. Session state
//! is rebuilt as the gateway kept it: SQL-level PREPAREs count from the moment their message
//! ran (allowed, or approved after a hold).
//!
//! What cannot be recomputed is said, not guessed: a SQL command whose recorded text no longer
//! parses although it parsed when it was decided (the content detectors masked a literal the
//! grammar needed), and an SSH command line the detectors rewrote, are counted as unreadable.
//! Pure: the caller reads the archive.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use schemas::body::{ApprovalDecision, CommandReceived, Verdict};
use schemas::{Event, EventBody, Protocol, Timestamp};
use uuid::Uuid;

use super::decision::{Decision, Policy, Request};
use super::facts::{MessageFacts, PreparedStatements};
use super::ssh::SshFacts;

/// The marker the content detectors leave where they masked a value (`[masked:card]`).
const MASKED: &str = "[masked:";

/// A recorded verdict the candidate policy would change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The command's session.
    pub session_id: Uuid,
    /// The command's `seq`.
    pub seq: u64,
    /// When it was decided.
    pub time: Timestamp,
    /// The token's subject.
    pub human: String,
    /// The agent that connected, if any.
    pub agent: Option<String>,
    /// The target.
    pub target: String,
    /// The command, as recorded (masked where the detectors masked it).
    pub text: String,
    /// What was decided then.
    pub recorded: Verdict,
    /// What the candidate policy decides.
    pub now: Decision,
}

/// What a backtest found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Sessions with at least one decided command.
    pub sessions: u64,
    /// Commands decided again.
    pub decided: u64,
    /// Commands whose verdict would change, in the order they were recorded.
    pub changes: Vec<Change>,
    /// Commands whose recorded text cannot be decided again faithfully (see the module).
    pub unreadable: u64,
    /// Decisions recorded for a command the input did not hold (a session cut by `--since`).
    pub orphaned: u64,
}

impl Report {
    /// How many verdicts would change from `from` to `to`.
    pub fn count(&self, from: Verdict, to: Verdict) -> usize {
        self.changes
            .iter()
            .filter(|c| c.recorded == from && verdict(&c.now) == to)
            .count()
    }
}

/// The verdict of a decision.
pub fn verdict(decision: &Decision) -> Verdict {
    match decision {
        Decision::Allow { .. } => Verdict::Allow,
        Decision::Block { .. } => Verdict::Block,
        Decision::RequireApproval { .. } => Verdict::ApprovalRequired,
    }
}

/// The client's address as policy saw it, from the recorded socket address (`ip:port`).
fn client_ip(recorded: &str) -> Option<IpAddr> {
    match recorded.parse::<SocketAddr>() {
        Ok(socket) => Some(socket.ip()),
        Err(_) => recorded.parse().ok(),
    }
}

/// A command waiting for its recorded decision.
struct Pending {
    event: Event,
    received: CommandReceived,
}

/// One session's state while its events stream by.
#[derive(Default)]
struct SessionState {
    id: Option<Uuid>,
    commands: HashMap<u64, Pending>,
    prepared: PreparedStatements,
    /// Held commands' facts by approval id: their PREPAREs count once approved.
    held: HashMap<Uuid, Arc<MessageFacts>>,
    /// Held commands' facts by seq, until their approval request names its id.
    held_by_seq: BTreeMap<u64, Arc<MessageFacts>>,
    any_decided: bool,
}

/// Replays recorded decisions through a policy.
pub struct Backtest<'p> {
    policy: &'p dyn Policy,
    session: SessionState,
    report: Report,
}

impl<'p> Backtest<'p> {
    /// A backtest of `policy`.
    pub fn new(policy: &'p dyn Policy) -> Self {
        Backtest {
            policy,
            session: SessionState::default(),
            report: Report::default(),
        }
    }

    /// The next event: a session's events arrive together and in seq order.
    pub fn push(&mut self, event: Event) {
        if self.session.id != Some(event.session_id) {
            self.end_session();
            self.session.id = Some(event.session_id);
        }
        match &event.body {
            EventBody::CommandReceived(received) => {
                let received = received.clone();
                self.session
                    .commands
                    .insert(event.seq, Pending { event, received });
            }
            EventBody::PolicyDecided(decided) => {
                let Some(pending) = self.session.commands.remove(&decided.command_seq) else {
                    self.report.orphaned += 1;
                    return;
                };
                self.decide(pending, decided.verdict);
            }
            EventBody::ApprovalRequested(requested) => {
                if let Some(facts) = self.session.held_by_seq.remove(&requested.command_seq) {
                    self.session.held.insert(requested.approval_id, facts);
                }
            }
            EventBody::ApprovalDecided(decided) => {
                if let Some(facts) = self.session.held.remove(&decided.approval_id)
                    && decided.decision == ApprovalDecision::Approve
                {
                    self.session.prepared.apply(&facts);
                }
            }
            _ => {}
        }
    }

    /// The report, once every event has been pushed.
    pub fn finish(mut self) -> Report {
        self.end_session();
        self.report
    }

    fn end_session(&mut self) {
        if self.session.any_decided {
            self.report.sessions += 1;
        }
        self.session = SessionState::default();
    }

    fn decide(&mut self, pending: Pending, recorded: Verdict) {
        let Pending { event, received } = pending;
        self.session.any_decided = true;
        self.report.decided += 1;
        let agents = &event.actor.agents;
        let client = event.client_addr.as_deref().and_then(client_ip);
        let mut request = Request {
            subject: &event.actor.subject,
            agents,
            groups: &event.actor.groups,
            target: &event.target.name,
            protocol: received.protocol,
            text: &received.text,
            facts: &Arc::new(MessageFacts::default()),
            client,
            time: event.time.into(),
        };
        let now = match received.protocol {
            Protocol::Ssh => {
                let action = received.summary.as_ref().map_or("", |s| s.action.as_str());
                let facts = SshFacts::from_recorded(action, &received.text);
                match facts {
                    Some(facts) if !received.text.contains(MASKED) => {
                        request.text = &facts.command;
                        self.policy.decide_ssh(&request, &facts)
                    }
                    _ => {
                        self.report.unreadable += 1;
                        return;
                    }
                }
            }
            _ => {
                let facts = self
                    .session
                    .prepared
                    .resolve(&self.policy.facts(&received.text));
                if facts.has_unparsed() && received.summary.is_some() {
                    self.report.unreadable += 1;
                    return;
                }
                let decision = self.policy.decide(&Request {
                    facts: &facts,
                    ..request
                });
                self.session_ran(event.seq, &facts, recorded);
                decision
            }
        };
        if verdict(&now) != recorded {
            self.report.changes.push(Change {
                session_id: event.session_id,
                seq: event.seq,
                time: event.time,
                human: event.actor.subject.clone(),
                agent: event.actor.agents.first().cloned(),
                target: event.target.name.clone(),
                text: received.text,
                recorded,
                now,
            });
        }
    }

    /// Keeps the session's PREPAREs as the gateway did: from a message that ran.
    fn session_ran(&mut self, seq: u64, facts: &Arc<MessageFacts>, recorded: Verdict) {
        match recorded {
            Verdict::Allow => self.session.prepared.apply(facts),
            // Held: its PREPAREs count once it is approved (see `push`).
            Verdict::ApprovalRequired => {
                self.session.held_by_seq.insert(seq, Arc::clone(facts));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
