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
use schemas::EventBody;
use schemas::body::{Column, ResultError};

use super::Shared;
use super::capture::{self, Capture};
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
        let message = match step {
            Step::Forward(expect) => {
                self.observe(&message, expect.as_ref());
                message
            }
            Step::Complete(expect) => {
                self.complete(&message, expect);
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
        self.client
            .feed(message)
            .await
            .map_err(|_| BackendEnd::ClientGone)
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
            }
            Expect::Bind(portal) => {
                self.portal_columns.remove(&portal);
            }
            Expect::Close(Described::Portal(name)) => {
                self.portal_columns.remove(&name);
            }
            Expect::Close(Described::Statement(name)) => {
                self.statement_columns.remove(&name);
            }
            Expect::Execute(Refusable::Forwarded(command)) => {
                self.capture_for(&command);
                let tag = match message {
                    PgWireBackendMessage::CommandComplete(done) => Some(done.tag.clone()),
                    _ => None,
                };
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
        if let Some(capture) = self.capture.take() {
            self.record(capture.finish(tag, error));
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
