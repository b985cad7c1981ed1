//! What each response from the upstream answers: the protocol state of a session.
//!
//! The client side pushes one `Expect` per message it forwards, before forwarding it; the
//! upstream side matches every response against the front of the queue. That is how a
//! result is tied to its command, how a refused command's error takes the place of the
//! upstream's, and how the messages the server skips after an error (until Sync) are
//! accounted for. Pure: no I/O, so every protocol sequence can be tested here.
//!
//! Rules, as PostgreSQL applies them: a simple Query is answered until its ReadyForQuery; in
//! the extended protocol each message has its own completion, an error aborts the batch, and
//! the server answers nothing more until Sync, whose ReadyForQuery ends the batch.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use crate::postgres::copy_out::CopyOut;

/// A command the client sent, as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// The seq of its `command.received` event.
    pub seq: u64,
    /// When it was forwarded.
    pub started: Instant,
    /// Result column formats (0 text, 1 binary) as Bind asked; empty means all text.
    pub formats: Vec<i16>,
    /// For Execute: the portal and its prepared statement, whose columns a Describe may
    /// have told.
    pub source: Option<(String, String)>,
    /// Its `COPY ... TO STDOUT` statements, in order, for masking their output.
    pub copies: Arc<[CopyOut]>,
}

/// A message forwarded to the upstream and the response it is owed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// A simple Query: row sets, completions and errors, then ReadyForQuery.
    Query(Refusable),
    /// Parse of the named statement: ParseComplete.
    Parse(String),
    /// Bind of the named portal: BindComplete.
    Bind(String),
    /// Describe of a portal (`Some(name)`) or a statement: descriptions.
    Describe(Described),
    /// Execute: rows, then CommandComplete, PortalSuspended or EmptyQueryResponse.
    Execute(Refusable),
    /// Close of a portal or statement: CloseComplete.
    Close(Described),
    /// Sync: ReadyForQuery.
    Sync,
}

/// What a Describe described, so that its RowDescription can be remembered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Described {
    /// A portal, by name.
    Portal(String),
    /// A prepared statement, by name.
    Statement(String),
}

/// A command that was either forwarded, or refused and replaced by a message that fails.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusable {
    /// Forwarded as the client sent it.
    Forwarded(Command),
    /// Refused: the upstream was sent a message that fails harmlessly, so the transaction
    /// and the batch fail exactly as for a real error, and its error is replaced by this one.
    Refused {
        /// The seq of the refused command's event.
        seq: u64,
        /// SQLSTATE for the client.
        code: &'static str,
        /// Message for the client.
        message: String,
    },
}

/// The queue of what is owed, in order.
#[derive(Debug, Default)]
pub struct Pending {
    queue: VecDeque<Expect>,
    /// An error aborted the current extended-protocol batch: nothing more until Sync.
    aborted: bool,
}

/// What to do with an upstream message, decided against the queue.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Pass it on; it belongs to `Expect` (or to nothing, for asynchronous messages).
    Forward(Option<Expect>),
    /// It completes `Expect`, which is removed.
    Complete(Expect),
    /// An error for `Expect`; `batch_aborted` when it ends an extended-protocol batch.
    Failed { expect: Expect, batch_aborted: bool },
    /// ReadyForQuery: ends `Expect` (a Query or a Sync); `skipped` were never run.
    Ready {
        expect: Expect,
        skipped: Vec<Expect>,
    },
    /// A response nothing was owed: the upstream broke the protocol.
    Unexpected,
}

/// Which kind of upstream message, as far as the queue cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Response {
    /// NoticeResponse, NotificationResponse, ParameterStatus: may come at any time.
    Asynchronous,
    /// ParseComplete.
    ParseComplete,
    /// BindComplete.
    BindComplete,
    /// CloseComplete.
    CloseComplete,
    /// ParameterDescription.
    ParameterDescription,
    /// RowDescription.
    RowDescription,
    /// NoData.
    NoData,
    /// DataRow, CopyData, Copy*Response, CopyDone: part of a result.
    ResultPart,
    /// CommandComplete.
    CommandComplete,
    /// EmptyQueryResponse.
    EmptyQuery,
    /// PortalSuspended.
    PortalSuspended,
    /// ErrorResponse.
    Error,
    /// ReadyForQuery.
    Ready,
}

impl Pending {
    /// Owes a response for a message about to be forwarded.
    pub fn push(&mut self, expect: Expect) {
        self.queue.push_back(expect);
    }

    /// Nothing is owed: no command is running upstream.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty()
    }

    /// Matches one upstream response against the queue.
    pub fn on_response(&mut self, response: Response) -> Step {
        use Response as R;
        match response {
            R::Asynchronous => Step::Forward(None),
            R::Ready => self.ready(),
            R::Error => self.error(),
            _ if self.aborted => Step::Unexpected,
            R::ParseComplete => self.complete_if(|e| matches!(e, Expect::Parse(_))),
            R::BindComplete => self.complete_if(|e| matches!(e, Expect::Bind(_))),
            R::CloseComplete => self.complete_if(|e| matches!(e, Expect::Close(_))),
            R::ParameterDescription => self.forward_if(|e| matches!(e, Expect::Describe(_))),
            R::NoData => self.complete_if(|e| matches!(e, Expect::Describe(_))),
            R::RowDescription => match self.queue.front() {
                Some(Expect::Describe(_)) => self.complete_if(|_| true),
                Some(Expect::Query(_)) => Step::Forward(self.queue.front().cloned()),
                _ => Step::Unexpected,
            },
            R::ResultPart | R::CommandComplete | R::EmptyQuery => match self.queue.front() {
                Some(Expect::Query(_)) => Step::Forward(self.queue.front().cloned()),
                Some(Expect::Execute(_)) if response == R::ResultPart => {
                    Step::Forward(self.queue.front().cloned())
                }
                Some(Expect::Execute(_)) => self.complete_if(|_| true),
                _ => Step::Unexpected,
            },
            R::PortalSuspended => self.complete_if(|e| matches!(e, Expect::Execute(_))),
        }
    }

    fn complete_if(&mut self, owed: impl Fn(&Expect) -> bool) -> Step {
        match self.queue.front() {
            Some(front) if owed(front) => self
                .queue
                .pop_front()
                .map_or(Step::Unexpected, Step::Complete),
            _ => Step::Unexpected,
        }
    }

    fn forward_if(&mut self, owed: impl Fn(&Expect) -> bool) -> Step {
        match self.queue.front() {
            Some(front) if owed(front) => Step::Forward(Some(front.clone())),
            _ => Step::Unexpected,
        }
    }

    fn error(&mut self) -> Step {
        match self.queue.front() {
            // Inside a simple Query the error ends one statement; ReadyForQuery follows.
            Some(query @ Expect::Query(_)) => Step::Failed {
                expect: query.clone(),
                batch_aborted: false,
            },
            Some(Expect::Sync) | None => Step::Forward(None),
            Some(_) if self.aborted => Step::Forward(None),
            Some(_) => {
                self.aborted = true;
                match self.queue.pop_front() {
                    Some(expect) => Step::Failed {
                        expect,
                        batch_aborted: true,
                    },
                    None => Step::Forward(None),
                }
            }
        }
    }

    fn ready(&mut self) -> Step {
        let mut skipped = Vec::new();
        while let Some(expect) = self.queue.pop_front() {
            if matches!(expect, Expect::Query(_) | Expect::Sync) {
                self.aborted = false;
                return Step::Ready { expect, skipped };
            }
            skipped.push(expect);
        }
        Step::Unexpected
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Response as R;

    /// Commands compare by value, `started` included: every test command starts at one instant.
    fn command(seq: u64) -> Command {
        static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        Command {
            seq,
            started: *START.get_or_init(Instant::now),
            formats: Vec::new(),
            source: None,
            copies: Arc::from([]),
        }
    }

    fn execute(seq: u64) -> Expect {
        Expect::Execute(Refusable::Forwarded(command(seq)))
    }

    fn query(seq: u64) -> Expect {
        Expect::Query(Refusable::Forwarded(command(seq)))
    }

    #[test]
    fn simple_query_with_two_statements() {
        let mut p = Pending::default();
        p.push(query(1));
        for r in [
            R::RowDescription,
            R::ResultPart,
            R::ResultPart,
            R::CommandComplete,
            R::CommandComplete,
        ] {
            assert!(
                matches!(p.on_response(r), Step::Forward(Some(Expect::Query(_)))),
                "{r:?}"
            );
        }
        assert!(
            matches!(p.on_response(R::Ready), Step::Ready { expect: Expect::Query(_), skipped } if skipped.is_empty())
        );
        assert!(p.is_idle());
    }

    #[test]
    fn an_error_inside_a_simple_query_waits_for_ready() {
        let mut p = Pending::default();
        p.push(query(1));
        assert!(matches!(
            p.on_response(R::Error),
            Step::Failed {
                batch_aborted: false,
                ..
            }
        ));
        assert!(matches!(p.on_response(R::Ready), Step::Ready { .. }));
        assert!(p.is_idle());
    }

    #[test]
    fn extended_batch_in_order() {
        let mut p = Pending::default();
        for e in [
            Expect::Parse(String::new()),
            Expect::Bind(String::new()),
            Expect::Describe(Described::Portal(String::new())),
            execute(2),
            Expect::Sync,
        ] {
            p.push(e);
        }
        assert_eq!(
            p.on_response(R::ParseComplete),
            Step::Complete(Expect::Parse(String::new()))
        );
        assert_eq!(
            p.on_response(R::BindComplete),
            Step::Complete(Expect::Bind(String::new()))
        );
        assert!(matches!(
            p.on_response(R::RowDescription),
            Step::Complete(Expect::Describe(_))
        ));
        assert!(matches!(
            p.on_response(R::ResultPart),
            Step::Forward(Some(Expect::Execute(_)))
        ));
        assert!(matches!(
            p.on_response(R::CommandComplete),
            Step::Complete(Expect::Execute(_))
        ));
        assert!(matches!(
            p.on_response(R::Ready),
            Step::Ready {
                expect: Expect::Sync,
                ..
            }
        ));
        assert!(p.is_idle());
    }

    #[test]
    fn an_error_skips_the_rest_of_the_batch_until_sync() {
        let mut p = Pending::default();
        for e in [
            Expect::Parse(String::new()),
            Expect::Bind(String::new()),
            execute(2),
            Expect::Parse(String::new()),
            Expect::Bind(String::new()),
            execute(3),
            Expect::Sync,
        ] {
            p.push(e);
        }
        p.on_response(R::ParseComplete);
        p.on_response(R::BindComplete);
        assert!(matches!(
            p.on_response(R::Error),
            Step::Failed {
                expect: Expect::Execute(_),
                batch_aborted: true
            }
        ));
        let Step::Ready { expect, skipped } = p.on_response(R::Ready) else {
            panic!("not ready")
        };
        assert_eq!(expect, Expect::Sync);
        assert_eq!(
            skipped,
            vec![
                Expect::Parse(String::new()),
                Expect::Bind(String::new()),
                execute(3)
            ]
        );
        assert!(p.is_idle());
    }

    #[test]
    fn messages_pushed_after_the_error_are_skipped_too() {
        let mut p = Pending::default();
        p.push(execute(1));
        assert!(matches!(p.on_response(R::Error), Step::Failed { .. }));
        // The client's later messages arrive after the server already failed.
        p.push(execute(2));
        p.push(Expect::Sync);
        assert!(
            matches!(p.on_response(R::Ready), Step::Ready { skipped, .. } if skipped == vec![execute(2)])
        );
    }

    #[test]
    fn pipelined_syncs_end_one_batch_each() {
        let mut p = Pending::default();
        for e in [execute(1), Expect::Sync, execute(2), Expect::Sync] {
            p.push(e);
        }
        assert!(matches!(
            p.on_response(R::CommandComplete),
            Step::Complete(_)
        ));
        assert!(matches!(p.on_response(R::Ready), Step::Ready { .. }));
        assert!(matches!(p.on_response(R::Error), Step::Failed { .. }));
        assert!(matches!(p.on_response(R::Ready), Step::Ready { .. }));
        assert!(p.is_idle());
    }

    #[test]
    fn portal_suspended_completes_an_execute() {
        let mut p = Pending::default();
        p.push(execute(1));
        p.on_response(R::ResultPart);
        assert!(matches!(
            p.on_response(R::PortalSuspended),
            Step::Complete(Expect::Execute(_))
        ));
    }

    #[test]
    fn responses_nothing_asked_for_are_unexpected() {
        let mut p = Pending::default();
        assert_eq!(p.on_response(R::ParseComplete), Step::Unexpected);
        assert_eq!(p.on_response(R::Ready), Step::Unexpected);
        assert_eq!(p.on_response(R::Asynchronous), Step::Forward(None));
        p.push(Expect::Parse(String::new()));
        assert_eq!(p.on_response(R::BindComplete), Step::Unexpected);
    }

    #[test]
    fn describe_of_a_statement_gives_parameters_then_rows() {
        let mut p = Pending::default();
        p.push(Expect::Describe(Described::Statement("s1".into())));
        assert!(matches!(
            p.on_response(R::ParameterDescription),
            Step::Forward(Some(_))
        ));
        assert!(matches!(p.on_response(R::NoData), Step::Complete(_)));
    }
}
