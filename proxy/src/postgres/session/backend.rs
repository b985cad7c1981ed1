//! Upstream to client: every response is matched to what it answers, recorded, and passed on.
//!
//! Rows stream through one at a time (memory stays bounded whatever the result's size); each
//! statement's result is recorded as `result.returned` when it completes, with its rows up to
//! the configured limit. A refused command's error from the upstream (the harmless failure
//! sent in its place) is replaced by blastwall's own ErrorResponse, with SQLSTATE 42501 and the
//! policy's message. Masking (when it applies) rewrites a DataRow before both the capture and
//! the client see it; this is the one place rows pass.

use std::collections::HashMap;
use std::sync::Arc;

use futures::{Sink, SinkExt};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::copy::CopyData;
use schemas::EventBody;
use schemas::body::{Column, ResultError};

use super::Shared;
use super::capture::{self, Capture};
use super::masker::{self, Active, Plans, Withheld};
use super::pending::{Command, Described, Expect, Refusable, Response, Step};
use crate::postgres::codec::CodecError;
use crate::postgres::error::{self, Severity, code_and_message};

/// Why the upstream side stopped.
#[derive(Debug)]
pub enum BackendEnd {
    /// The client's connection failed while writing to it.
    ClientGone,
}

/// The upstream side's state: the result being recorded and what Describes told.
pub struct Backend<W> {
    shared: Arc<Shared>,
    client: W,
    capture: Option<Capture>,
    portal_columns: HashMap<String, Vec<Column>>,
    statement_columns: HashMap<String, Vec<Column>>,
    /// The error of a Parse, Bind or Describe that aborted the batch: it is the failure of
    /// the Execute that message was for, the first one the server then skipped.
    batch_error: Option<ResultError>,
    /// The row set being masked.
    active: Option<Active>,
    portal_plans: HashMap<String, Arc<Plans>>,
    statement_plans: HashMap<String, Arc<Plans>>,
    /// Masking failed for this command: the client got its error, nothing more of the
    /// command's output goes out, and nothing more until ReadyForQuery.
    withheld: Option<u64>,
    /// Which COPY of the running command comes next.
    copies_seen: (u64, usize),
}

impl<W> Backend<W>
where
    W: Sink<PgWireBackendMessage, Error = CodecError> + Unpin,
{
    pub fn new(shared: Arc<Shared>, client: W) -> Self {
        Backend {
            shared,
            client,
            capture: None,
            portal_columns: HashMap::new(),
            statement_columns: HashMap::new(),
            batch_error: None,
            active: None,
            portal_plans: HashMap::new(),
            statement_plans: HashMap::new(),
            withheld: None,
            copies_seen: (0, 0),
        }
    }

    /// Sends a message of blastwall's own to the client (a notice, a fatal error).
    pub async fn tell(&mut self, message: PgWireBackendMessage) -> Result<(), BackendEnd> {
        self.client
            .feed(message)
            .await
            .map_err(|_| BackendEnd::ClientGone)
    }

    /// Tells the client the session ends, and why; a client already gone is no error here.
    pub async fn fatal(&mut self, code: &str, message: &str) {
        let _ = self
            .tell(error::error(Severity::Fatal, code, message))
            .await;
        let _ = self.flush().await;
    }

    /// Sends what was fed to the client.
    pub async fn flush(&mut self) -> Result<(), BackendEnd> {
        self.client
            .flush()
            .await
            .map_err(|_| BackendEnd::ClientGone)
    }

    /// Handles one upstream message.
    pub async fn handle(&mut self, message: PgWireBackendMessage) -> Result<(), BackendEnd> {
        let response = classify(&message);
        let step = match self.shared.pending.lock() {
            Ok(mut pending) => pending.on_response(response),
            Err(_) => Step::Unexpected,
        };
        let (message, recorded) = match self.mask(message, &step).await {
            Ok(masked) => masked,
            Err((withheld, seq)) => {
                let already = self.withheld.is_some();
                self.withhold(&step, seq, &withheld);
                if already {
                    return Ok(());
                }
                let refusal = error::error(Severity::Error, withheld.code, withheld.message);
                return self.send(refusal).await;
            }
        };
        if let Some(seq) = self.withheld {
            return self.while_withheld(message, step, seq).await;
        }
        let seen = recorded.as_ref().unwrap_or(&message);
        let message = match step {
            Step::Forward(expect) => {
                self.observe(seen, expect.as_ref());
                message
            }
            Step::Complete(expect) => {
                self.complete(seen, expect);
                message
            }
            Step::Failed { expect, .. } => self.failed(message, expect),
            Step::Ready { expect, skipped } => {
                self.ready(expect, skipped);
                message
            }
            Step::Unexpected => {
                tracing::warn!(response = ?response, "upstream response does not match the protocol state");
                message
            }
        };
        self.send(message).await
    }

    async fn send(&mut self, message: PgWireBackendMessage) -> Result<(), BackendEnd> {
        self.client
            .feed(message)
            .await
            .map_err(|_| BackendEnd::ClientGone)
    }

    /// Masks what the client and the recording get of `message`: `(for the client, for the
    /// recording when different)`. An error names what to withhold and for which command.
    async fn mask(
        &mut self,
        message: PgWireBackendMessage,
        step: &Step,
    ) -> Result<(PgWireBackendMessage, Option<PgWireBackendMessage>), (Withheld, Option<u64>)> {
        use PgWireBackendMessage as B;
        let Some(masking) = self.shared.masking.clone() else {
            return Ok((message, None));
        };
        let command = step_command(step);
        let recording = self.capture.as_ref().is_none_or(|c| !c.is_full());
        match message {
            B::ErrorResponse(mut e) => {
                masking.mask_fields(&mut e.fields);
                Ok((B::ErrorResponse(e), None))
            }
            B::NoticeResponse(mut n) => {
                masking.mask_fields(&mut n.fields);
                Ok((B::NoticeResponse(n), None))
            }
            B::NotificationResponse(mut n) => {
                n.payload = masking.mask_text(&n.payload);
                Ok((B::NotificationResponse(n), None))
            }
            B::RowDescription(description) => {
                match (step, &command) {
                    (Step::Complete(Expect::Describe(described)), _) => {
                        let plans = masking.plans(&description).await.map_err(|w| (w, None))?;
                        match described {
                            Described::Portal(name) => {
                                self.portal_plans.insert(name.clone(), plans)
                            }
                            Described::Statement(name) => {
                                self.statement_plans.insert(name.clone(), plans)
                            }
                        };
                    }
                    (_, Some(command)) => {
                        let plans = masking
                            .plans(&description)
                            .await
                            .map_err(|w| (w, Some(command.seq)))?;
                        let formats = description.fields.iter().map(|f| f.format_code).collect();
                        self.active = Some(masking.start(command.seq, plans, formats));
                    }
                    _ => {}
                }
                Ok((B::RowDescription(description), None))
            }
            B::DataRow(row) => {
                let Some(command) = command else {
                    return Err((masker::NOT_MASKED, None));
                };
                if self.withheld == Some(command.seq) {
                    return Ok((B::DataRow(row), None));
                }
                let fresh = self
                    .active
                    .as_ref()
                    .is_none_or(|a| a.seq != command.seq || a.is_copy());
                if fresh {
                    let plans = command.source.as_ref().and_then(|(portal, statement)| {
                        self.portal_plans
                            .get(portal)
                            .or_else(|| self.statement_plans.get(statement))
                            .cloned()
                    });
                    let plans = match plans {
                        Some(plans) => plans,
                        None => masking
                            .unknown(row.field_count)
                            .map_err(|w| (w, Some(command.seq)))?,
                    };
                    self.active = Some(masking.start(command.seq, plans, command.formats.clone()));
                }
                let Some(active) = self.active.as_mut() else {
                    return Err((masker::NOT_MASKED, Some(command.seq)));
                };
                let masked = masking
                    .row(active, &row, recording)
                    .map_err(|w| (w, Some(command.seq)))?;
                let record = masked.record.map(B::DataRow);
                Ok((B::DataRow(masked.client.unwrap_or(row)), record))
            }
            B::CopyOutResponse(response) => {
                let Some(command) = command else {
                    return Err((masker::UNKNOWN_COPY, None));
                };
                if self.copies_seen.0 != command.seq {
                    self.copies_seen = (command.seq, 0);
                }
                let index = self.copies_seen.1;
                self.copies_seen.1 += 1;
                let active = masking
                    .start_copy(command.seq, response.format != 0, command.copies.get(index))
                    .await
                    .map_err(|w| (w, Some(command.seq)))?;
                self.active = Some(active);
                Ok((B::CopyOutResponse(response), None))
            }
            B::CopyData(data) => {
                let Some(command) = command else {
                    return Err((masker::NOT_MASKED, None));
                };
                if self.withheld == Some(command.seq) {
                    return Ok((B::CopyData(data), None));
                }
                let Some(active) = self
                    .active
                    .as_mut()
                    .filter(|a| a.seq == command.seq && a.is_copy())
                else {
                    return Err((masker::UNKNOWN_COPY, Some(command.seq)));
                };
                let (client, record) = masking
                    .copy_line(active, &data.data, recording)
                    .map_err(|w| (w, Some(command.seq)))?;
                let record = record.map(|r| B::CopyData(CopyData::new(r)));
                let client = client.map_or(data, CopyData::new);
                Ok((B::CopyData(client), record))
            }
            other => Ok((other, None)),
        }
    }

    /// Masking failed: the command's result is recorded as failed and nothing more of it
    /// (or of anything until ReadyForQuery) reaches the client.
    fn withhold(&mut self, step: &Step, seq: Option<u64>, withheld: &Withheld) {
        let seq = seq.or_else(|| step_command(step).map(|c| c.seq));
        let first = self.withheld.is_none();
        self.withheld = Some(seq.unwrap_or(u64::MAX));
        if let Some(command) = step_command(step).filter(|c| Some(c.seq) == seq) {
            let command = command.clone();
            self.capture_for(&command);
            self.finish(
                None,
                Some(ResultError {
                    code: withheld.code.to_owned(),
                    message: withheld.message.to_owned(),
                }),
            );
        }
        self.active = None;
        if first {
            tracing::warn!(
                code = withheld.code,
                "a result was withheld: masking failed"
            );
        }
    }

    /// After a masking failure: results go on being recorded, nothing goes to the client
    /// but ReadyForQuery (which ends the withholding) and session-level messages.
    async fn while_withheld(
        &mut self,
        message: PgWireBackendMessage,
        step: Step,
        seq: u64,
    ) -> Result<(), BackendEnd> {
        let other = |expect: &Expect| forwarded(expect).is_some_and(|c| c.seq != seq);
        match step {
            Step::Ready { expect, skipped } => {
                self.withheld = None;
                self.ready(expect, skipped);
                return self.send(message).await;
            }
            Step::Forward(Some(expect)) if other(&expect) => self.observe(&message, Some(&expect)),
            Step::Complete(expect) if !matches!(&expect, Expect::Execute(Refusable::Forwarded(c)) if c.seq == seq) => {
                self.complete(&message, expect)
            }
            Step::Failed { expect, .. } if other(&expect) => {
                let _ = self.failed(message, expect);
                return Ok(());
            }
            _ => {}
        }
        match message {
            PgWireBackendMessage::ParameterStatus(_)
            | PgWireBackendMessage::NotificationResponse(_) => self.send(message).await,
            _ => Ok(()),
        }
    }

    /// A message that is part of a running command's result.
    fn observe(&mut self, message: &PgWireBackendMessage, expect: Option<&Expect>) {
        let Some(command) = expect.and_then(forwarded) else {
            return;
        };
        match message {
            PgWireBackendMessage::RowDescription(description) => {
                self.finish(None, None);
                let mut capture = Capture::new(command, Vec::new(), self.limit());
                capture.describe(description);
                self.capture = Some(capture);
            }
            PgWireBackendMessage::DataRow(row) => self.capture_for(command).row(row),
            PgWireBackendMessage::CopyData(data) => self.capture_for(command).copy_data(&data.data),
            PgWireBackendMessage::CommandComplete(done) => {
                self.capture_for(command);
                self.after(&done.tag);
                self.finish(Some(done.tag.clone()), None);
            }
            PgWireBackendMessage::EmptyQueryResponse(_) => {
                self.capture_for(command);
                self.finish(None, None);
            }
            _ => {}
        }
    }

    /// A message that completes what it answers.
    fn complete(&mut self, message: &PgWireBackendMessage, expect: Expect) {
        match expect {
            Expect::Describe(described) => {
                let columns = match message {
                    PgWireBackendMessage::RowDescription(description) => {
                        capture::columns(description)
                    }
                    _ => Vec::new(),
                };
                match described {
                    Described::Portal(name) => self.portal_columns.insert(name, columns),
                    Described::Statement(name) => self.statement_columns.insert(name, columns),
                };
            }
            Expect::Parse(name) => {
                self.statement_columns.remove(&name);
                self.statement_plans.remove(&name);
            }
            Expect::Bind(portal) => {
                self.portal_columns.remove(&portal);
                self.portal_plans.remove(&portal);
            }
            Expect::Close(Described::Portal(name)) => {
                self.portal_columns.remove(&name);
                self.portal_plans.remove(&name);
            }
            Expect::Close(Described::Statement(name)) => {
                self.statement_columns.remove(&name);
                self.statement_plans.remove(&name);
            }
            Expect::Execute(Refusable::Forwarded(command)) => {
                self.capture_for(&command);
                let tag = match message {
                    PgWireBackendMessage::CommandComplete(done) => Some(done.tag.clone()),
                    _ => None,
                };
                if let Some(tag) = &tag {
                    self.after(tag);
                }
                self.finish(tag, None);
            }
            Expect::Execute(Refusable::Refused { .. }) | Expect::Query(_) | Expect::Sync => {}
        }
    }

    /// An ErrorResponse: the command failed, or was refused and this is its stand-in failure.
    fn failed(&mut self, message: PgWireBackendMessage, expect: Expect) -> PgWireBackendMessage {
        let (code, text) = match &message {
            PgWireBackendMessage::ErrorResponse(e) => code_and_message(&e.fields),
            _ => (String::new(), String::new()),
        };
        let (Expect::Query(refusable) | Expect::Execute(refusable)) = expect else {
            // E.g. a Bind whose planning divides by zero: its Execute never runs.
            self.batch_error = Some(ResultError {
                code,
                message: text,
            });
            return message;
        };
        match refusable {
            Refusable::Forwarded(command) => {
                self.capture_for(&command);
                self.finish(
                    None,
                    Some(ResultError {
                        code,
                        message: text,
                    }),
                );
                message
            }
            Refusable::Refused {
                seq,
                code,
                message: text,
            } => {
                let refused = Command {
                    seq,
                    started: std::time::Instant::now(),
                    formats: Vec::new(),
                    source: None,
                    copies: Arc::from([]),
                };
                let result = Capture::new(&refused, Vec::new(), 0).finish(
                    None,
                    Some(ResultError {
                        code: code.to_owned(),
                        message: text.clone(),
                    }),
                );
                self.record(result);
                error::error(Severity::Error, code, text)
            }
        }
    }

    /// ReadyForQuery: the Query or batch is over; what the server skipped is recorded as such.
    fn ready(&mut self, _expect: Expect, skipped: Vec<Expect>) {
        self.finish(None, None);
        let mut cause = self.batch_error.take();
        for expect in skipped {
            if let Expect::Execute(Refusable::Forwarded(command)) = expect {
                let skipped_error = cause.take().unwrap_or_else(|| ResultError {
                    code: String::new(),
                    message: "not executed: an earlier message of the batch failed".to_owned(),
                });
                let result =
                    Capture::new(&command, Vec::new(), 0).finish(None, Some(skipped_error));
                self.record(result);
            }
        }
    }

    /// The capture for `command`, started if none is running (an Execute has no RowDescription).
    fn capture_for(&mut self, command: &Command) -> &mut Capture {
        if self.capture.as_ref().is_none_or(|c| c.seq() != command.seq) {
            self.finish(None, None);
            let columns = self.known_columns(command);
            self.capture = Some(Capture::new(command, columns, self.limit()));
        }
        // Just set above when absent.
        self.capture
            .get_or_insert_with(|| Capture::new(command, Vec::new(), 0))
    }

    fn known_columns(&self, command: &Command) -> Vec<Column> {
        let Some((portal, statement)) = &command.source else {
            return Vec::new();
        };
        self.portal_columns
            .get(portal)
            .or_else(|| self.statement_columns.get(statement))
            .cloned()
            .unwrap_or_default()
    }

    fn finish(&mut self, tag: Option<String>, error: Option<ResultError>) {
        if let Some(mut capture) = self.capture.take() {
            if let Some(active) = self.active.as_ref().filter(|a| a.seq == capture.seq()) {
                capture.set_masked(active.counts());
            }
            self.record(capture.finish(tag, error));
        }
    }

    /// After a command completed: DDL may have renamed what masking rules name.
    fn after(&self, tag: &str) {
        let ddl = ["CREATE", "ALTER", "DROP"]
            .iter()
            .any(|verb| tag.starts_with(verb));
        if ddl && let Some(masking) = &self.shared.masking {
            masking.invalidate();
        }
    }

    fn record(&self, result: schemas::body::ResultReturned) {
        if let Err(e) = self.shared.audit.record(EventBody::ResultReturned(result)) {
            tracing::error!(error = %e, "a result could not be recorded");
        }
    }

    fn limit(&self) -> usize {
        self.shared.record_rows_limit
    }
}

/// The forwarded command a step belongs to, if any.
fn step_command(step: &Step) -> Option<&Command> {
    match step {
        Step::Forward(Some(expect)) | Step::Complete(expect) => forwarded(expect),
        _ => None,
    }
}

fn forwarded(expect: &Expect) -> Option<&Command> {
    match expect {
        Expect::Query(Refusable::Forwarded(command))
        | Expect::Execute(Refusable::Forwarded(command)) => Some(command),
        _ => None,
    }
}

/// Which kind of response a message is, for the protocol state.
fn classify(message: &PgWireBackendMessage) -> Response {
    use PgWireBackendMessage as B;
    match message {
        B::ParseComplete(_) => Response::ParseComplete,
        B::BindComplete(_) => Response::BindComplete,
        B::CloseComplete(_) => Response::CloseComplete,
        B::ParameterDescription(_) => Response::ParameterDescription,
        B::RowDescription(_) => Response::RowDescription,
        B::NoData(_) => Response::NoData,
        B::DataRow(_)
        | B::CopyData(_)
        | B::CopyDone(_)
        | B::CopyFail(_)
        | B::CopyInResponse(_)
        | B::CopyOutResponse(_)
        | B::CopyBothResponse(_) => Response::ResultPart,
        B::CommandComplete(_) => Response::CommandComplete,
        B::EmptyQueryResponse(_) => Response::EmptyQuery,
        B::PortalSuspended(_) => Response::PortalSuspended,
        B::ErrorResponse(_) => Response::Error,
        B::ReadyForQuery(_) => Response::Ready,
        B::NoticeResponse(_)
        | B::NotificationResponse(_)
        | B::ParameterStatus(_)
        | B::Authentication(_)
        | B::BackendKeyData(_)
        | B::NegotiateProtocolVersion(_)
        | B::SslResponse(_)
        | B::GssEncResponse(_) => Response::Asynchronous,
    }
}
