//! One client connection after it logged in: who (the principal), where (the target), its
//! record (`SessionAudit`), its upstream connection, and the steps every channel shares —
//! recording a request and its verdict, failing, ending.
//!
//! The upstream is connected when the first channel needs it and shared by later channels.
//! A request's `command.received` and `policy.decided` are durable before anything runs
//! (`decide`). The session ends (sealed `session.ended`) after its last channel finished.
//!
//! # Layout
//!
//! - `auth`: tokens, keyboard-interactive and bound public keys → a principal, or a refusal.
//! - `approval`: a request that needs approval: a grant, or a hold until approvers decide.

pub mod approval;
pub mod auth;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime};

use schemas::body::{CommandReceived, EndReason, OperationFailed, SessionCounters, SessionEnded};
use schemas::{Actor, EventBody, Protocol, SessionContext};
use tokio::sync::Mutex;

use super::error::SshError;
use super::listener::SshListener;
use super::upstream::Upstream;
use crate::approvals::Approvals;
use crate::audit::SessionAudit;
use crate::config::SshTarget;
use crate::identity::Principal;
use crate::masking::Masking;
use crate::policy::{Decision, MessageFacts, Policy, Request, SshFacts};

/// A logged-in SSH connection, shared by its channels.
pub struct Session {
    /// Its record.
    pub audit: SessionAudit,
    /// Who is acting.
    pub principal: Principal,
    /// The host.
    pub target: SshTarget,
    /// The client's address.
    pub client: SocketAddr,
    /// When the session started: terminal offsets count from here.
    pub started: Instant,
    /// Exec output recorded per channel.
    pub exec_output_limit: u64,
    /// The session's id.
    pub id: uuid::Uuid,
    /// Who acts, as events and approval requests name them.
    pub actor: Actor,
    /// The host, as events and approval requests name it.
    pub target_ref: schemas::Target,
    /// Where requests needing approval are held.
    pub approvals: Approvals,
    /// The detectors recorded output goes through, when the target asks for it.
    pub output_masking: Option<Arc<Masking>>,
    policy: Arc<dyn Policy>,
    upstream: Mutex<Option<Arc<Upstream>>>,
    counters: Counters,
}

#[derive(Default)]
struct Counters {
    commands: AtomicU64,
    blocked: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

/// What a recorded request's verdict was.
pub struct Decided {
    /// The `seq` of its `command.received`.
    pub seq: u64,
    /// The verdict.
    pub decision: Decision,
}

impl Session {
    /// A session for `principal` on `target` (as `context` names them), recording into
    /// `audit`, deciding with the listener's policy and approvals.
    pub fn new(
        audit: SessionAudit,
        context: SessionContext,
        principal: Principal,
        target: SshTarget,
        client: SocketAddr,
        listener: &SshListener,
    ) -> Self {
        let output_masking = listener.masking.clone().filter(|_| target.mask_output);
        Session {
            audit,
            principal,
            target,
            client,
            started: Instant::now(),
            exec_output_limit: listener.exec_output_limit,
            id: context.session_id,
            actor: context.actor,
            target_ref: context.target,
            approvals: listener.approvals.clone(),
            output_masking,
            policy: Arc::clone(&listener.policy),
            upstream: Mutex::new(None),
            counters: Counters::default(),
        }
    }

    /// The upstream connection, connecting on first use. A failure is recorded and returned;
    /// the next channel tries again.
    pub async fn upstream(&self) -> Result<Arc<Upstream>, SshError> {
        let mut upstream = self.upstream.lock().await;
        if let Some(connected) = upstream.as_ref() {
            return Ok(Arc::clone(connected));
        }
        match Upstream::connect(&self.target).await {
            Ok(connected) => {
                let connected = Arc::new(connected);
                *upstream = Some(Arc::clone(&connected));
                Ok(connected)
            }
            Err(e) => {
                self.failed(&e);
                Err(e)
            }
        }
    }

    /// Records the request, decides it, and records the verdict durably: nothing runs before
    /// both are as durable as the target requires.
    pub async fn decide(
        &self,
        received: CommandReceived,
        facts: &SshFacts,
    ) -> Result<Decided, SshError> {
        let seq = self
            .audit
            .record(self.masked(EventBody::CommandReceived(received)))
            .map_err(|e| SshError::NotRecorded(e.to_string()))?;
        self.counters.commands.fetch_add(1, Ordering::Relaxed);
        let no_statements = Arc::new(MessageFacts::default());
        let request = Request {
            subject: &self.principal.subject,
            agents: &self.principal.agents,
            groups: &self.principal.groups,
            target: &self.target.name,
            protocol: Protocol::Ssh,
            text: &facts.command,
            facts: &no_statements,
            client: Some(self.client.ip()),
            time: SystemTime::now(),
        };
        let decision = self.policy.decide_ssh(&request, facts);
        if !matches!(decision, Decision::Allow { .. }) {
            self.counters.blocked.fetch_add(1, Ordering::Relaxed);
        }
        self.audit
            .record_durable(EventBody::PolicyDecided(decision.recorded(seq)))
            .await
            .map_err(|e| SshError::NotRecorded(e.to_string()))?;
        Ok(Decided { seq, decision })
    }

    /// Records an event nobody waits for; a failure to queue is logged (the session's next
    /// durable event fails too, and refuses its request).
    pub fn record(&self, body: EventBody) {
        if let Err(e) = self.audit.record(self.masked(body)) {
            tracing::error!(error = %e, "an ssh event could not be recorded");
        }
    }

    /// `body` with the command line it carries as events keep it ([`Session::recorded`]).
    pub fn masked(&self, body: EventBody) -> EventBody {
        match body {
            EventBody::CommandReceived(mut received) => {
                received.text = self.recorded(&received.text);
                EventBody::CommandReceived(received)
            }
            other => other,
        }
    }

    /// `text` as events keep it: through the detectors for a target that masks what is
    /// recorded (`mask_output`). Policy decides on the real text; approval requests carry
    /// this form, so approvers, the control stream and the session's record agree.
    pub fn recorded(&self, text: &str) -> String {
        match &self.output_masking {
            Some(masking) => masking.detectors().mask_str(text).0,
            None => text.to_owned(),
        }
    }

    /// Records a failure.
    pub fn failed(&self, error: &SshError) {
        self.record(EventBody::OperationFailed(OperationFailed {
            fault: error.fault(),
            stage: error.stage(),
            message: error.to_string(),
        }));
    }

    /// Counts bytes from the client.
    pub fn bytes_in(&self, n: usize) {
        self.counters
            .bytes_in
            .fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Counts bytes to the client.
    pub fn bytes_out(&self, n: usize) {
        self.counters
            .bytes_out
            .fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Nanoseconds since the session started.
    pub fn offset_ns(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Ends the session: disconnects the upstream, seals the record.
    pub async fn end(&self, reason: EndReason) {
        if let Some(upstream) = self.upstream.lock().await.take() {
            upstream.disconnect().await;
        }
        let counters = SessionCounters {
            commands: self.counters.commands.load(Ordering::Relaxed),
            blocked: self.counters.blocked.load(Ordering::Relaxed),
            bytes_in: self.counters.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.counters.bytes_out.load(Ordering::Relaxed),
        };
        if let Err(e) = self.audit.end(SessionEnded { reason, counters }).await {
            tracing::error!(error = %e, "an ssh session could not be sealed");
        }
    }
}
