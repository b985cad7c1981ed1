//! Client to upstream: every command is recorded and decided before it is forwarded.
//!
//! For a simple Query, and for each Execute of the extended protocol, this side records the
//! `command.received` event durably, asks the policy, records `policy.decided`, and only then
//! forwards — or, for a refused command, forwards a message that fails harmlessly in its place
//! (see `pending::Refusable`), so the transaction and the batch fail exactly as PostgreSQL
//! would fail them. Parse, Bind, Describe, Close, Sync, Flush and COPY data pass through,
//! tracked so that an Execute knows its statement's text and parameters.
//!
//! A command that needs approval is held (`hold`): not forwarded, and nothing after it
//! either, until approvers decide; then it is forwarded or refused like any other.
//!
//! Invariant: an `Expect` is pushed before its message is forwarded, never after.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use futures::{Sink, SinkExt};
use pgwire::messages::PgWireFrontendMessage;
use pgwire::messages::extendedquery::{Bind, Execute};
use pgwire::messages::simplequery::Query;
use schemas::body::CommandReceived;
use schemas::{EventBody, Protocol};

use super::Shared;
use super::pending::{Command, Described, Expect, Refusable};
use crate::audit::AuditError;
use crate::policy::{Decision, MessageFacts, PreparedStatements, Request, StatementFacts};
pub use hold::wait as wait_for_approval;
use hold::{Asked, HeldStatement, Ruling};

mod hold;
use crate::postgres::codec::CodecError;
use crate::postgres::copy_out::{CopyOut, copy_outs};
use crate::postgres::error::sqlstate;

/// A statement text PostgreSQL rejects at once, without side effects, in place of a refused
/// simple Query.
const REFUSED_QUERY: &str = "BLOCKED BY BLASTWALL";
/// A portal name no client can have created (Bind names are ours to see), executed in place
/// of a refused Execute: the server fails it with "portal does not exist".
const REFUSED_PORTAL: &str = "\u{1}blastwall refused";

struct Prepared {
    text: Arc<str>,
    /// The text as events record it (through the content detectors once, at Parse).
    recorded: Arc<str>,
    facts: Arc<MessageFacts>,
    /// Its `COPY ... TO STDOUT`s, when masking needs them.
    copies: Arc<[CopyOut]>,
}

struct Portal {
    statement: String,
    text: Arc<str>,
    recorded: Arc<str>,
    facts: Arc<MessageFacts>,
    copies: Arc<[CopyOut]>,
    parameters: Vec<Option<String>>,
    formats: Vec<i16>,
}

/// Why the client side stopped.
#[derive(Debug)]
pub enum FrontendEnd {
    /// The client sent Terminate.
    Terminated,
    /// The client's connection closed without Terminate.
    ClientGone,
    /// The client broke the protocol; `message` was sent to it.
    ProtocolViolation(String),
    /// The upstream connection failed while forwarding.
    UpstreamFailed(String),
    /// A command could not be recorded; the session cannot go on safely.
    NotRecorded(String),
}

/// The client side's state: prepared statements and portals by name.
pub struct Frontend<S> {
    shared: Arc<Shared>,
    upstream: S,
    statements: HashMap<String, Prepared>,
    portals: HashMap<String, Portal>,
    /// SQL-level PREPAREs, so that an SQL EXECUTE is decided on what it executes.
    sql_prepared: PreparedStatements,
    /// After a refused Execute, the rest of the batch is dropped until Sync, as the server would.
    skipping: bool,
    /// A command waiting for approval; nothing more is forwarded until it is settled.
    held: Option<HeldStatement>,
}

type Forwarded = Result<(), FrontendEnd>;

impl<S> Frontend<S>
where
    S: Sink<PgWireFrontendMessage, Error = CodecError> + Unpin,
{
    pub fn new(shared: Arc<Shared>, upstream: S) -> Self {
        Frontend {
            shared,
            upstream,
            statements: HashMap::new(),
            portals: HashMap::new(),
            sql_prepared: PreparedStatements::new(),
            skipping: false,
            held: None,
        }
    }

    /// Handles one client message. `Ok(false)` ends the session normally (Terminate).
    pub async fn handle(&mut self, message: PgWireFrontendMessage) -> Result<bool, FrontendEnd> {
        use PgWireFrontendMessage as M;
        if self.skipping && !matches!(message, M::Sync(_) | M::Terminate(_)) {
            return Ok(true);
        }
        match message {
            M::Query(query) => self.query(query).await?,
            M::Parse(parse) => {
                let text: Arc<str> = Arc::from(parse.query.as_str());
                let facts = self.shared.policy.facts(&text);
                let recorded = self.recorded_text(&text);
                let copies = self.copies(&text);
                let name = parse.name.clone().unwrap_or_default();
                let prepared = Prepared {
                    text,
                    recorded,
                    facts,
                    copies,
                };
                self.statements.insert(name.clone(), prepared);
                self.forward(Expect::Parse(name), M::Parse(parse)).await?;
            }
            M::Bind(bind) => self.bind(bind).await?,
            M::Describe(describe) => {
                let name = describe.name.clone().unwrap_or_default();
                let what = if describe.target_type == b'P' {
                    Described::Portal(name)
                } else {
                    Described::Statement(name)
                };
                self.forward(Expect::Describe(what), M::Describe(describe))
                    .await?;
            }
            M::Execute(execute) => self.execute(execute).await?,
            M::Close(close) => {
                let name = close.name.clone().unwrap_or_default();
                let what = if close.target_type == b'P' {
                    self.portals.remove(&name);
                    Described::Portal(name)
                } else {
                    self.statements.remove(&name);
                    Described::Statement(name)
                };
                self.forward(Expect::Close(what), M::Close(close)).await?;
            }
            M::Sync(sync) => {
                self.skipping = false;
                self.forward(Expect::Sync, M::Sync(sync)).await?;
            }
            M::Terminate(terminate) => {
                let _ = self.upstream.send(M::Terminate(terminate)).await;
                return Ok(false);
            }
            message @ (M::Flush(_) | M::CopyData(_) | M::CopyDone(_) | M::CopyFail(_)) => {
                self.send(message).await?;
            }
            other => {
                let message = format!("unexpected message {} after startup", message_name(&other));
                return Err(FrontendEnd::ProtocolViolation(message));
            }
        }
        Ok(true)
    }

    /// Sends what was fed to the upstream.
    pub async fn flush(&mut self) -> Forwarded {
        self.upstream
            .flush()
            .await
            .map_err(|e| FrontendEnd::UpstreamFailed(e.to_string()))
    }

    async fn query(&mut self, query: Query) -> Forwarded {
        let facts = self.shared.policy.facts(&query.query);
        let recorded = self.recorded_text(&query.query);
        let (seq, ruling) = self
            .decide(&query.query, &recorded, &facts, Vec::new())
            .await?;
        let command = Command {
            seq,
            started: Instant::now(),
            formats: Vec::new(),
            source: None,
            copies: self.copies(&query.query),
        };
        self.rule(Asked::Query(query), command, ruling).await
    }

    /// Forwards, refuses or holds a command as ruled.
    async fn rule(&mut self, asked: Asked, command: Command, ruling: Ruling) -> Forwarded {
        match ruling {
            Ruling::Forward => self.settle(asked, command, None).await,
            Ruling::Refuse(refused) => self.settle(asked, command, Some(refused)).await,
            Ruling::Hold(held, facts, interrupts_before) => {
                self.held = Some(HeldStatement {
                    held: *held,
                    interrupts_before,
                    asked,
                    command,
                    facts,
                });
                Ok(())
            }
        }
    }

    /// Forwards the command as asked, or, refused, a message that fails in its place.
    async fn settle(
        &mut self,
        asked: Asked,
        command: Command,
        refused: Option<Refusable>,
    ) -> Forwarded {
        use PgWireFrontendMessage as M;
        match (asked, refused) {
            (Asked::Query(query), None) => {
                let expect = Expect::Query(Refusable::Forwarded(command));
                self.forward(expect, M::Query(query)).await
            }
            (Asked::Query(_), Some(refused)) => {
                let replacement = Query::new(REFUSED_QUERY.to_owned());
                self.forward(Expect::Query(refused), M::Query(replacement))
                    .await
            }
            (Asked::Execute(execute), None) => {
                let expect = Expect::Execute(Refusable::Forwarded(command));
                self.forward(expect, M::Execute(execute)).await
            }
            (Asked::Execute(_), Some(refused)) => {
                self.skipping = true;
                let replacement = Execute::new(Some(REFUSED_PORTAL.to_owned()), 0);
                self.forward(Expect::Execute(refused), M::Execute(replacement))
                    .await
            }
        }
    }

    /// Tracks the portal: its statement's text and facts, and its parameters as events keep
    /// them (through the content detectors, once here rather than at every Execute).
    async fn bind(&mut self, bind: Bind) -> Forwarded {
        let portal = bind.portal_name.clone().unwrap_or_default();
        let statement = bind.statement_name.clone().unwrap_or_default();
        if let Some(prepared) = self.statements.get(&statement) {
            let parameters = bind
                .parameters
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let format = format_at(&bind.parameter_format_codes, i);
                    p.as_ref()
                        .map(|value| self.shared.recorded_parameter(value, format))
                })
                .collect();
            let entry = Portal {
                statement: statement.clone(),
                text: Arc::clone(&prepared.text),
                recorded: Arc::clone(&prepared.recorded),
                facts: Arc::clone(&prepared.facts),
                copies: Arc::clone(&prepared.copies),
                parameters,
                formats: bind.result_column_format_codes.clone(),
            };
            self.portals.insert(portal.clone(), entry);
        }
        self.forward(Expect::Bind(portal), PgWireFrontendMessage::Bind(bind))
            .await
    }

    async fn execute(&mut self, execute: Execute) -> Forwarded {
        let name = execute.name.clone().unwrap_or_default();
        let (text, recorded, facts, parameters, formats, source, copies) =
            match self.portals.get(&name) {
                Some(portal) => (
                    Arc::clone(&portal.text),
                    Arc::clone(&portal.recorded),
                    Arc::clone(&portal.facts),
                    portal.parameters.clone(),
                    portal.formats.clone(),
                    Some((name.clone(), portal.statement.clone())),
                    Arc::clone(&portal.copies),
                ),
                // A portal bound to a statement blastwall never saw parsed (an SQL-level PREPARE):
                // recorded and decided as what it is, unknown.
                None => {
                    let text: Arc<str> = Arc::from(format!(
                        "EXECUTE portal {name:?} of a statement not seen by blastwall"
                    ));
                    let unknown =
                        StatementFacts::unparsed("a portal of a statement not seen parsed");
                    let facts = MessageFacts {
                        statements: vec![Arc::new(unknown)],
                        from_session: false,
                    };
                    let recorded = self.recorded_text(&text);
                    let copies = self.copies(&text);
                    (
                        text,
                        recorded,
                        Arc::new(facts),
                        Vec::new(),
                        Vec::new(),
                        None,
                        copies,
                    )
                }
            };
        let (seq, ruling) = self.decide(&text, &recorded, &facts, parameters).await?;
        let command = Command {
            seq,
            started: Instant::now(),
            formats,
            source,
            copies,
        };
        self.rule(Asked::Execute(execute), command, ruling).await
    }

    /// Records the command durably, decides, records the decision durably. An allowed
    /// command's SQL-level PREPAREs and DEALLOCATEs are tracked from here on; one that needs
    /// approval is held (see `hold`).
    ///
    /// `recorded` is `text` as the event keeps it (see [`Self::recorded_text`]); `parameters`
    /// are too (see [`Self::bind`]).
    async fn decide(
        &mut self,
        text: &str,
        recorded: &str,
        facts: &Arc<MessageFacts>,
        parameters: Vec<Option<String>>,
    ) -> Result<(u64, Ruling), FrontendEnd> {
        let shared = &self.shared;
        let facts = self.sql_prepared.resolve(facts);
        // What the event keeps passed the content detectors: the text (see `recorded_text`),
        // and the parameters, masked once at Bind.
        let received = EventBody::CommandReceived(CommandReceived {
            protocol: Protocol::Postgres,
            text: recorded.to_owned(),
            summary: facts.summary(),
            parameters,
        });
        // Queued now; the durable append of the decision below covers it (a session's events
        // are appended in order), so the command is on disk before it can run.
        let seq = shared
            .audit
            .record(received)
            .map_err(|e| FrontendEnd::NotRecorded(e.to_string()))?;
        shared.counters.command();
        let request = Request {
            subject: &shared.principal.subject,
            agents: &shared.principal.agents,
            groups: &shared.principal.groups,
            target: &shared.target,
            protocol: Protocol::Postgres,
            text,
            facts: &facts,
            client: Some(shared.client),
            time: SystemTime::now(),
        };
        let decision = shared.policy.decide(&request);
        let decided = EventBody::PolicyDecided(decision.recorded(seq));
        match shared.audit.record_durable(decided).await {
            Ok(_) => {}
            // The events are on local disk but Kafka did not acknowledge them in time: a
            // `strict` target refuses the statement, and the session goes on.
            Err(AuditError::NotReplicated(why)) => {
                tracing::warn!(why = %why, "statement refused: its events are not acknowledged by Kafka");
                let message = "blastwall could not get this statement's record acknowledged by the event log \
                               (strict durability); it was not run"
                    .to_owned();
                return Ok((
                    seq,
                    Ruling::Refuse(Refusable::Refused {
                        seq,
                        code: sqlstate::NOT_RECORDED,
                        message,
                    }),
                ));
            }
            Err(e) => return Err(FrontendEnd::NotRecorded(e.to_string())),
        }
        match decision {
            Decision::Allow { .. } => {
                self.sql_prepared.apply(&facts);
                Ok((seq, Ruling::Forward))
            }
            Decision::Block { policy, message } => {
                shared.counters.block();
                let refused = Refusable::Refused {
                    seq,
                    code: sqlstate::BLOCKED,
                    message: format!("blocked by policy {policy}: {message}"),
                };
                Ok((seq, Ruling::Refuse(refused)))
            }
            Decision::RequireApproval {
                policy,
                group,
                message,
                approvers,
                expires,
            } => {
                let ask = hold::Ask {
                    seq,
                    text,
                    recorded,
                    policy,
                    group,
                    message,
                    approvers,
                    expires,
                };
                let ruling = self.hold_for_approval(ask, &facts).await?;
                Ok((seq, ruling))
            }
        }
    }

    /// A statement's text as its events keep it: through the content detectors, so that a
    /// card number pasted into an INSERT does not stay in the archive (policy decides on the
    /// statement as sent). Done once per prepared statement, not per Execute.
    fn recorded_text(&self, text: &str) -> Arc<str> {
        Arc::from(self.shared.recorded(text))
    }

    /// The statement's `COPY ... TO STDOUT`s, when masking needs them.
    fn copies(&self, text: &str) -> Arc<[CopyOut]> {
        match &self.shared.masking {
            Some(_) => Arc::from(copy_outs(text)),
            None => Arc::from([]),
        }
    }

    async fn forward(&mut self, expect: Expect, message: PgWireFrontendMessage) -> Forwarded {
        if let Ok(mut pending) = self.shared.pending.lock() {
            pending.push(expect);
        }
        self.send(message).await
    }

    async fn send(&mut self, message: PgWireFrontendMessage) -> Forwarded {
        self.upstream
            .feed(message)
            .await
            .map_err(|e| FrontendEnd::UpstreamFailed(e.to_string()))
    }
}

fn format_at(formats: &[i16], index: usize) -> i16 {
    match formats.len() {
        0 => 0,
        1 => formats[0],
        _ => formats.get(index).copied().unwrap_or(0),
    }
}

fn message_name(message: &PgWireFrontendMessage) -> &'static str {
    use PgWireFrontendMessage as M;
    match message {
        M::SslNegotiation(_) => "SSLRequest",
        M::Startup(_) => "StartupMessage",
        M::CancelRequest(_) => "CancelRequest",
        M::PasswordMessageFamily(_) => "PasswordMessage",
        M::PortalSuspended(_) => "PortalSuspended",
        _ => "message",
    }
}
