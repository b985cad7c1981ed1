//! A statement held for approval, from the verdict to its settlement.
//!
//! When policy requires approval, the frontend asks whether a time-boxed grant covers the
//! statement (then it runs, recorded as approved by that grant); otherwise it requests approval
//! through `approvals` (the protocol-neutral hold the SSH gateway uses too), records
//! `approval.requested`, tells the client at once with a NoticeResponse (the id and the
//! command that approves it), and keeps the statement aside. The client side then waits
//! ([`wait`]): for the outcome, while still reading the client, so that a client that leaves
//! cancels the request, a cancel request withdraws it (57014), and messages it sends
//! meanwhile (a batch's Sync) keep their order behind the held statement. Nothing reaches the upstream meanwhile, so an open transaction
//! stays open. Approved, the statement is forwarded; denied, refused with 42501 and the
//! approver's reason; expired, refused with 57014.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{Sink, Stream, StreamExt};
use pgwire::messages::PgWireFrontendMessage;
use pgwire::messages::extendedquery::Execute;
use pgwire::messages::simplequery::Query;
use schemas::EventBody;
use schemas::body::ApprovalDecided;

use super::{Forwarded, Frontend, FrontendEnd};
use crate::approvals::{ApprovalOutcome, ApprovalRequest, Held, approve_command, deny_command};
use crate::policy::{MessageFacts, fingerprint};
use crate::postgres::codec::CodecError;
use crate::postgres::error::{self, sqlstate};
use crate::postgres::session::pending::{Command, Refusable};

/// Messages a client may send while its statement is held before blastwall stops reading
/// (the connection then pushes back, and a disconnect is noticed once the hold ends).
const MAX_BACKLOG: usize = 1024;

/// The message that asked for a command.
pub(super) enum Asked {
    /// A simple Query.
    Query(Query),
    /// An Execute of the extended protocol.
    Execute(Execute),
}

/// What a command needing approval is decided as.
pub(super) enum Ruling {
    /// Forward it.
    Forward,
    /// Refuse it.
    Refuse(Refusable),
    /// Hold it until the approvers decide; the facts are applied if it runs; the count of
    /// cancel requests when the hold began.
    Hold(Box<Held>, Arc<MessageFacts>, u64),
}

/// The approval a policy asked for.
pub(super) struct Ask<'a> {
    pub seq: u64,
    pub text: &'a str,
    /// `text` as events keep it.
    pub recorded: &'a str,
    pub policy: String,
    pub group: String,
    pub message: String,
    pub approvers: u32,
    pub expires: Option<Duration>,
}

/// A command held for approval.
pub(super) struct HeldStatement {
    pub held: Held,
    /// Cancel requests counted before the hold began: only a later one withdraws it.
    pub interrupts_before: u64,
    pub asked: Asked,
    pub command: Command,
    pub facts: Arc<MessageFacts>,
}

impl<S> Frontend<S>
where
    S: Sink<PgWireFrontendMessage, Error = CodecError> + Unpin,
{
    /// A grant lets the command through; otherwise it is requested, recorded and announced.
    pub(super) async fn hold_for_approval(
        &mut self,
        ask: Ask<'_>,
        facts: &Arc<MessageFacts>,
    ) -> Result<Ruling, FrontendEnd> {
        // What came before in the batch runs now, in order, whatever the approvers take.
        self.flush().await?;
        let interrupts_before = self.shared.interrupt.count();
        let shared = Arc::clone(&self.shared);
        // Approvers, the control stream and the session's record all see the statement as
        // events keep it (values the detectors find masked); grants match on the same form.
        let fingerprint = shared.recorded(&fingerprint(ask.text));
        if let Some(grant) = shared
            .approvals
            .grant(&shared.actor, &shared.target, &fingerprint)
        {
            let covered = grant.covering();
            self.record(EventBody::ApprovalDecided(covered)).await?;
            self.sql_prepared.apply(facts);
            return Ok(Ruling::Forward);
        }
        let request = ApprovalRequest {
            session_id: shared.session_id,
            requester: shared.actor.clone(),
            target: shared.target_ref.clone(),
            command_seq: ask.seq,
            command: ask.recorded.to_owned(),
            summary: facts.summary(),
            fingerprint,
            policy: ask.policy.clone(),
            group: ask.group.clone(),
            approvers: ask.approvers,
            expires: ask.expires,
        };
        let held = match shared.approvals.request(request).await {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(error = %e, "an approval could not be requested; statement refused");
                shared.counters.block();
                return Ok(Ruling::Refuse(Refusable::Refused {
                    seq: ask.seq,
                    code: sqlstate::NOT_RECORDED,
                    message: "this statement needs approval, and blastwall cannot request it \
                              right now; it was not run"
                        .to_owned(),
                }));
            }
        };
        let requested = EventBody::ApprovalRequested(held.requested().clone());
        if let Err(end) = self.record(requested).await {
            let _ = held.cancel("the request could not be recorded").await;
            return Err(end);
        }
        let id = held.id();
        tracing::info!(approval = %id, policy = %ask.policy, group = %ask.group, "statement held for approval");
        let approvers = match ask.approvers {
            0 | 1 => format!("a member of {}", ask.group),
            n => format!("{n} members of {}", ask.group),
        };
        let notice = format!(
            "blastwall: this statement needs approval by {approvers} (policy {}: {}). \
             Approval {id} requested; waiting until {}. To approve: {}  To refuse: {}",
            ask.policy,
            ask.message,
            held.requested().expires_at,
            approve_command(id),
            deny_command(id),
        );
        let _ = shared.notices.send(error::notice(notice));
        shared.interrupt.set_holding(true);
        Ok(Ruling::Hold(
            Box::new(held),
            Arc::clone(facts),
            interrupts_before,
        ))
    }

    /// The held command, if any.
    pub fn held(&mut self) -> Option<&mut Held> {
        self.held.as_mut().map(|h| &mut h.held)
    }

    /// Settles the held command: records the decision, then forwards or refuses it.
    pub async fn resume(&mut self, outcome: ApprovalOutcome) -> Forwarded {
        let Some(HeldStatement {
            held,
            asked,
            mut command,
            facts,
            ..
        }) = self.held.take()
        else {
            return Ok(());
        };
        let id = held.id();
        let policy = held.requested().policy.clone();
        let seq = command.seq;
        let reason = |d: &ApprovalDecided| d.reason.clone().unwrap_or_default();
        let (decided, refused) = match outcome {
            ApprovalOutcome::Approved(votes) => (votes, None),
            ApprovalOutcome::Denied(vote) => {
                let who = vote.approver.as_ref().map_or("", |a| a.subject.as_str());
                let message = format!(
                    "approval {id} for policy {policy} was denied by {who}: {}",
                    reason(&vote)
                );
                (vec![vote], Some((sqlstate::BLOCKED, message)))
            }
            ApprovalOutcome::Expired(decided) => {
                let message = format!(
                    "approval {id} for policy {policy} expired ({}); the statement was not run",
                    reason(&decided)
                );
                (vec![decided], Some((sqlstate::APPROVAL_EXPIRED, message)))
            }
            ApprovalOutcome::Cancelled(decided) => {
                let message = format!(
                    "approval {id} for policy {policy} was cancelled; the statement was not run"
                );
                (vec![decided], Some((sqlstate::APPROVAL_EXPIRED, message)))
            }
        };
        for body in decided {
            self.record(EventBody::ApprovalDecided(body)).await?;
        }
        drop(held);
        command.started = Instant::now();
        match refused {
            None => {
                tracing::info!(approval = %id, "approved statement resumed");
                self.sql_prepared.apply(&facts);
                self.settle(asked, command, None).await
            }
            Some((code, message)) => {
                tracing::info!(approval = %id, code, "held statement refused");
                self.shared.counters.block();
                let refused = Refusable::Refused { seq, code, message };
                self.settle(asked, command, Some(refused)).await
            }
        }
    }

    /// The client left while its command was held: the request is withdrawn and recorded so.
    pub async fn withdraw(&mut self) {
        let Some(statement) = self.held.take() else {
            return;
        };
        let why = "the client disconnected while the command was held";
        if let Some(cancelled) = statement.held.cancel(why).await
            && self
                .shared
                .audit
                .record(EventBody::ApprovalDecided(cancelled))
                .is_err()
        {
            tracing::warn!("the cancellation of an approval could not be recorded");
        }
    }

    /// The client cancelled (a CancelRequest): the request is withdrawn and the statement
    /// refused with 57014, as PostgreSQL refuses a cancelled statement; the session goes on.
    pub async fn interrupt(&mut self) -> Forwarded {
        let Some(HeldStatement {
            held,
            asked,
            command,
            ..
        }) = self.held.take()
        else {
            return Ok(());
        };
        let id = held.id();
        let policy = held.requested().policy.clone();
        if let Some(cancelled) = held.cancel("the client cancelled the statement").await {
            self.record(EventBody::ApprovalDecided(cancelled)).await?;
        }
        tracing::info!(approval = %id, "held statement cancelled by the client");
        self.shared.counters.block();
        let refused = Refusable::Refused {
            seq: command.seq,
            code: sqlstate::APPROVAL_EXPIRED,
            message: format!(
                "canceling statement due to user request: approval {id} for policy {policy} \
                 was withdrawn; the statement was not run"
            ),
        };
        self.settle(asked, command, Some(refused)).await
    }

    async fn record(&self, body: EventBody) -> Result<u64, FrontendEnd> {
        self.shared
            .audit
            .record_durable(body)
            .await
            .map_err(|e| FrontendEnd::NotRecorded(e.to_string()))
    }
}

/// Waits for the held command's outcome while reading the client: what it sends meanwhile
/// joins `backlog`; if it leaves, the request is withdrawn. First sends upstream what came
/// before the held command, so that it runs (and answers) in order.
pub async fn wait<S, R>(
    frontend: &mut Frontend<S>,
    client: &mut R,
    backlog: &mut VecDeque<PgWireFrontendMessage>,
) -> Forwarded
where
    S: Sink<PgWireFrontendMessage, Error = CodecError> + Unpin,
    R: Stream<Item = Result<PgWireFrontendMessage, CodecError>> + Unpin,
{
    frontend.flush().await?;
    let interrupts = Arc::clone(&frontend.shared.interrupt);
    let ended = waiting(frontend, client, backlog).await;
    interrupts.set_holding(false);
    ended
}

async fn waiting<S, R>(
    frontend: &mut Frontend<S>,
    client: &mut R,
    backlog: &mut VecDeque<PgWireFrontendMessage>,
) -> Forwarded
where
    S: Sink<PgWireFrontendMessage, Error = CodecError> + Unpin,
    R: Stream<Item = Result<PgWireFrontendMessage, CodecError>> + Unpin,
{
    let mut interrupts = frontend.shared.interrupt.subscribe();
    loop {
        let Some(before) = frontend.held.as_ref().map(|h| h.interrupts_before) else {
            return Ok(());
        };
        let Some(held) = frontend.held() else {
            return Ok(());
        };
        tokio::select! {
            outcome = held.outcome() => {
                frontend.resume(outcome).await?;
                return frontend.flush().await;
            }
            _ = async { interrupts.wait_for(|sent| *sent > before).await.is_ok() } => {
                frontend.interrupt().await?;
                return frontend.flush().await;
            }
            message = client.next(), if backlog.len() < MAX_BACKLOG => match message {
                Some(Ok(PgWireFrontendMessage::Terminate(_))) => {
                    frontend.withdraw().await;
                    return Err(FrontendEnd::Terminated);
                }
                Some(Ok(message)) => backlog.push_back(message),
                Some(Err(CodecError::Io(_))) | None => {
                    frontend.withdraw().await;
                    return Err(FrontendEnd::ClientGone);
                }
                Some(Err(e)) => {
                    frontend.withdraw().await;
                    return Err(FrontendEnd::ProtocolViolation(e.to_string()));
                }
            },
        }
    }
}
