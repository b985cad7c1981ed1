//! A request held for approval, from the verdict to its settlement: [`ask`], then [`wait`].
//!
//! [`ask`] first looks for a time-boxed grant covering the same command line (the
//! fingerprint of an SSH request is its trimmed command line); one found, the request runs,
//! recorded as approved by that grant. Otherwise it requests approval through
//! `proxy::approvals` (the protocol-neutral hold the Postgres gateway uses too), records
//! `approval.requested` durably and returns the notice for the client's stderr: the id, the
//! group, and the command that approves it. The channel writes it, then [`wait`]s for the
//! outcome while still reading the client: what the client sends meanwhile (stdin, EOF,
//! window changes) is kept in order for the upstream, and a client that closes the channel
//! or vanishes withdraws the request. Every outcome's `approval.decided` is recorded.
//!
//! Fails closed: a request that cannot be posted or recorded does not run. Not here: what
//! needs approval (policy), how the client is answered (`channel`).

use std::collections::VecDeque;
use std::time::Duration;

use russh::{ChannelMsg, ChannelReadHalf};
use schemas::EventBody;
use schemas::body::{ApprovalDecided, CommandSummary};

use super::Session;
use crate::approvals::{ApprovalOutcome, ApprovalRequest, Held, approve_command, deny_command};

/// Client messages kept while a request is held before blastwall stops reading the client
/// (its window then pushes back; a disconnect is noticed once the hold ends).
const MAX_BACKLOG: usize = 1024;

/// What the policy said about a request that needs approval.
#[derive(Debug, Clone)]
pub struct ApprovalNeeded<'a> {
    /// The `seq` of the request's `command.received`.
    pub command_seq: u64,
    /// The request as recorded: the command line for exec, else what was asked.
    pub command: &'a str,
    /// The request's action (`ssh:exec`, `ssh:shell`, ...).
    pub action: &'a str,
    /// The deciding policy.
    pub policy: &'a str,
    /// The group that approves.
    pub group: &'a str,
    /// The policy's message.
    pub message: &'a str,
    /// How many distinct members of the group must approve.
    pub approvers: u32,
    /// How long the request may wait; `None` for the configured default.
    pub expires: Option<Duration>,
}

/// What [`ask`] decided.
pub enum Asked {
    /// A grant covers the request: it runs.
    Granted,
    /// Held: tell the client `notice`, then [`wait`].
    Holding {
        /// The request, waiting for its decision.
        held: Box<Held>,
        /// What the client is told at once (one line, no newline).
        notice: String,
    },
    /// Not run; `message` goes to the client's stderr.
    Refused {
        /// What the client is told.
        message: String,
    },
}

/// How a held request was settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Approved: the request runs.
    Approved,
    /// Not run; `message` goes to the client's stderr.
    Refused {
        /// What the client is told.
        message: String,
    },
    /// The client closed the channel or vanished; the request was withdrawn.
    ClientGone,
}

/// The fingerprint of an SSH request: its command line, trimmed.
pub fn fingerprint(command: &str) -> String {
    command.trim().to_owned()
}

/// Looks for a grant, else requests approval and records the request.
pub async fn ask(session: &Session, needed: ApprovalNeeded<'_>) -> Asked {
    let fingerprint = session.recorded(&fingerprint(needed.command));
    if let Some(grant) = session
        .approvals
        .grant(&session.actor, &session.target.name, &fingerprint)
    {
        let covered = grant.covering();
        return match session
            .audit
            .record_durable(EventBody::ApprovalDecided(covered))
            .await
        {
            Ok(_) => Asked::Granted,
            Err(e) => Asked::Refused {
                message: format!("blastwall cannot record this request ({e}); it was not run"),
            },
        };
    }
    let request = ApprovalRequest {
        session_id: session.id,
        requester: session.actor.clone(),
        target: session.target_ref.clone(),
        command_seq: needed.command_seq,
        command: session.recorded(needed.command),
        summary: Some(CommandSummary {
            action: needed.action.to_owned(),
            statements: 1,
            ..CommandSummary::default()
        }),
        fingerprint,
        policy: needed.policy.to_owned(),
        group: needed.group.to_owned(),
        approvers: needed.approvers,
        expires: needed.expires,
    };
    let held = match session.approvals.request(request).await {
        Ok(held) => held,
        Err(e) => {
            tracing::warn!(error = %e, "an approval could not be requested; ssh request refused");
            return Asked::Refused {
                message: format!(
                    "blastwall: policy {} requires approval by {}, and blastwall cannot request \
                     it right now; the request was not run",
                    needed.policy, needed.group
                ),
            };
        }
    };
    let requested = EventBody::ApprovalRequested(held.requested().clone());
    if let Err(e) = session.audit.record_durable(requested).await {
        let _ = held.cancel("the request could not be recorded").await;
        return Asked::Refused {
            message: format!("blastwall cannot record this request ({e}); it was not run"),
        };
    }
    let id = held.id();
    tracing::info!(approval = %id, policy = %needed.policy, group = %needed.group, "ssh request held for approval");
    let approvers = match needed.approvers {
        0 | 1 => format!("a member of {}", needed.group),
        n => format!("{n} members of {}", needed.group),
    };
    let notice = format!(
        "blastwall: approval {id} requested: this request needs approval by {approvers} \
         (policy {}: {}); waiting until {}. To approve: {}  To refuse: {}",
        needed.policy,
        needed.message,
        held.requested().expires_at,
        approve_command(id),
        deny_command(id),
    );
    Asked::Holding {
        held: Box::new(held),
        notice,
    }
}

/// Waits for the outcome while reading the client: its messages join `backlog`; if it
/// leaves, the request is withdrawn. Records every `approval.decided`.
pub async fn wait(
    session: &Session,
    mut held: Box<Held>,
    client_rx: &mut ChannelReadHalf,
    backlog: &mut VecDeque<ChannelMsg>,
) -> Settled {
    let outcome = loop {
        tokio::select! {
            outcome = held.outcome() => break outcome,
            message = client_rx.wait(), if backlog.len() < MAX_BACKLOG => match message {
                Some(ChannelMsg::Close) | None => {
                    withdraw(session, *held).await;
                    return Settled::ClientGone;
                }
                Some(message) => backlog.push_back(message),
            },
        }
    };
    settle(session, &held, outcome).await
}

/// Records the decision and says what it means for the request.
async fn settle(session: &Session, held: &Held, outcome: ApprovalOutcome) -> Settled {
    let id = held.id();
    let policy = &held.requested().policy;
    let reason = |d: &ApprovalDecided| d.reason.clone().unwrap_or_default();
    let (decided, settled) = match outcome {
        ApprovalOutcome::Approved(votes) => (votes, Settled::Approved),
        ApprovalOutcome::Denied(vote) => {
            let who = vote.approver.as_ref().map_or("", |a| a.subject.as_str());
            let message = format!(
                "blastwall: approval {id} for policy {policy} was denied by {who}: {}; the \
                 request was not run",
                reason(&vote)
            );
            (vec![vote], Settled::Refused { message })
        }
        ApprovalOutcome::Expired(decided) => {
            let message = format!(
                "blastwall: approval {id} for policy {policy} expired ({}); the request was not \
                 run",
                reason(&decided)
            );
            (vec![decided], Settled::Refused { message })
        }
        ApprovalOutcome::Cancelled(decided) => {
            let message = format!(
                "blastwall: approval {id} for policy {policy} was cancelled; the request was not \
                 run"
            );
            (vec![decided], Settled::Refused { message })
        }
    };
    for body in decided {
        if let Err(e) = session
            .audit
            .record_durable(EventBody::ApprovalDecided(body))
            .await
        {
            return Settled::Refused {
                message: format!(
                    "blastwall cannot record the decision on approval {id} ({e}); the request \
                     was not run"
                ),
            };
        }
    }
    tracing::info!(approval = %id, approved = settled == Settled::Approved, "held ssh request settled");
    settled
}

/// The client left while its request was held: the request is withdrawn and recorded so.
async fn withdraw(session: &Session, held: Held) {
    let id = held.id();
    let why = "the client disconnected while the request was held";
    if let Some(cancelled) = held.cancel(why).await {
        session.record(EventBody::ApprovalDecided(cancelled));
    }
    tracing::info!(approval = %id, "held ssh request withdrawn: the client left");
}
