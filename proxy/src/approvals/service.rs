//! [`Approvals`]: holds a request until its decision arrives on the control stream.
//!
//! A gateway asks [`Approvals::grant`] whether a time-boxed grant already covers a command,
//! and otherwise [`Approvals::request`]s approval: the request is posted to the control
//! stream and a [`Held`] is returned, whose [`Held::outcome`] waits for the decision (or the
//! expiry). Every proxy reads the whole control stream into its [`Board`], so a vote cast
//! through any proxy's API resumes the command wherever it is held, and grants replay after a
//! restart. When the proxy shuts down, every held request is marked expired and its waiter
//! answered.
//!
//! Fails closed: a request that cannot be posted is an error (the gateway refuses the
//! command); a control stream that cannot be read leaves requests to expire.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventlog::EventLog;
use schemas::body::{ApprovalDecided, ApprovalDecision, ApprovalRequested, CommandSummary};
use schemas::control::{ApprovalPosted, ControlBody, ControlEvent, GrantIssued};
use schemas::{Actor, Target, Timestamp};
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use super::board::{Board, Resolution, VoteRefused};
use super::webhook::Notifier;
use super::{ApprovalsError, ApprovalsSettings};
use crate::audit::ControlAudit;

/// How long a read of the control stream waits for new events before looking again.
const POLL_WAIT: Duration = Duration::from_millis(100);

/// What a gateway asks approval for. Protocol-neutral: the SSH gateway fills it the same way.
#[derive(Clone, Debug)]
pub struct ApprovalRequest {
    /// The session holding the command.
    pub session_id: Uuid,
    /// Who asks: the session's actor.
    pub requester: Actor,
    /// Where the command would run.
    pub target: Target,
    /// The `seq` of the command's `command.received` event.
    pub command_seq: u64,
    /// The command as the client sent it.
    pub command: String,
    /// What the parser understood of it.
    pub summary: Option<CommandSummary>,
    /// The command with its literals normalised (for SQL, `policy::fingerprint`; for a
    /// shell command, the command line itself).
    pub fingerprint: String,
    /// The deciding policy.
    pub policy: String,
    /// The group whose members may decide.
    pub group: String,
    /// How many distinct members must approve.
    pub approvers: u32,
    /// How long to wait; `None` for the configured default.
    pub expires: Option<Duration>,
}

/// How a held request ended, for the gateway to act on and record. Each carries the
/// `approval.decided` bodies to record in the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApprovalOutcome {
    /// Approved: run the command. The votes, in order.
    Approved(Vec<ApprovalDecided>),
    /// Denied: refuse the command with the approver's reason.
    Denied(ApprovalDecided),
    /// Nobody decided in time, or the proxy is stopping: refuse the command.
    Expired(ApprovalDecided),
    /// The request was withdrawn (the session's client went away).
    Cancelled(ApprovalDecided),
}

/// The approvals of one proxy: its board, its waiters, its link to the control stream.
#[derive(Clone)]
pub struct Approvals {
    inner: Arc<Inner>,
}

/// The requests held here, by id, each with the channel its [`Held`] waits on.
type Waiters = HashMap<Uuid, watch::Sender<Option<Resolution>>>;

struct Inner {
    board: Mutex<Board>,
    waiters: Mutex<Waiters>,
    control: ControlAudit,
    settings: ApprovalsSettings,
    notifier: Option<mpsc::UnboundedSender<ApprovalPosted>>,
}

impl Approvals {
    /// Starts reading the control stream of `log` (from its oldest event, so grants and
    /// requests of other proxies are known) until `shutdown`, when every held request is
    /// marked expired. Returns the handle and the reader's task.
    pub async fn start(
        settings: ApprovalsSettings,
        log: Arc<dyn EventLog>,
        control: ControlAudit,
        shutdown: watch::Receiver<bool>,
    ) -> Result<(Approvals, tokio::task::JoinHandle<()>), ApprovalsError> {
        let consumer = format!("approvals-{}", Uuid::now_v7().simple());
        let subscription = log
            .subscribe(eventlog::Stream::Control, &consumer)
            .await
            .map_err(|e| ApprovalsError::Log(e.to_string()))?;
        let notifier = settings.webhook.clone().map(Notifier::start);
        let approvals = Approvals {
            inner: Arc::new(Inner {
                board: Mutex::new(Board::new(settings.self_approval)),
                waiters: Mutex::new(HashMap::new()),
                control,
                settings,
                notifier,
            }),
        };
        let reader = approvals.clone();
        let task = tokio::spawn(reader.read(subscription, shutdown));
        Ok((approvals, task))
    }

    /// The settings in force (default expiry, the link base for notifications).
    pub fn settings(&self) -> &ApprovalsSettings {
        &self.inner.settings
    }

    /// A grant in force for this party, target and fingerprint, if any: the command passes
    /// without a hold.
    pub fn grant(&self, requester: &Actor, target: &str, fingerprint: &str) -> Option<GrantIssued> {
        let board = self.inner.board.lock().ok()?;
        board
            .grant(requester, target, fingerprint, Timestamp::now())
            .cloned()
    }

    /// Posts a request and holds it. The gateway records [`Held::requested`] in its session,
    /// tells its client [`Held::id`], and awaits [`Held::outcome`].
    pub async fn request(&self, request: ApprovalRequest) -> Result<Held, ApprovalsError> {
        let expires_in = request
            .expires
            .unwrap_or(self.inner.settings.default_expiry);
        let expires_at = Timestamp::now()
            .checked_add(expires_in)
            .ok_or(ApprovalsError::Internal("expiry out of range".into()))?;
        let id = Uuid::now_v7();
        let requested = ApprovalRequested {
            approval_id: id,
            command_seq: request.command_seq,
            approver_group: request.group,
            policy: request.policy,
            expires_at,
            approvers_required: request.approvers.max(1),
            command: request.command,
            summary: request.summary,
            fingerprint: request.fingerprint,
        };
        let posted = ApprovalPosted {
            session_id: request.session_id,
            requester: request.requester,
            target: request.target,
            request: requested.clone(),
        };
        let (tell, resolved) = watch::channel(None);
        self.lock_waiters()?.insert(id, tell);
        let event = ControlEvent::now(ControlBody::ApprovalRequested(posted.clone()));
        if let Err(e) = self.post(event).await {
            self.lock_waiters()?.remove(&id);
            return Err(e);
        }
        if let Some(notifier) = &self.inner.notifier {
            let _ = notifier.send(posted);
        }
        Ok(Held {
            approvals: self.clone(),
            requested,
            resolved,
            deadline: tokio::time::Instant::now() + expires_in,
            done: false,
        })
    }

    /// Casts a vote for `approver` (already authenticated): checked against the board, then
    /// posted. An approval for a period that completes the request also posts its grant.
    pub async fn vote(
        &self,
        id: Uuid,
        approver: Actor,
        decision: ApprovalDecision,
        reason: Option<String>,
        grant_for: Option<Duration>,
    ) -> Result<(), ApprovalsError> {
        let (completes, posted) = {
            let board = self.lock_board()?;
            let completes = board
                .check_vote(id, &approver, decision, Timestamp::now())
                .map_err(ApprovalsError::Refused)?;
            let posted = board.get(id).map(|e| e.posted.clone());
            (completes, posted)
        };
        let grant_for_secs = match decision {
            ApprovalDecision::Approve => grant_for.map(|d| d.as_secs().max(1)),
            _ => None,
        };
        let decided = ApprovalDecided {
            approval_id: id,
            decision,
            reason,
            approver: Some(approver.clone()),
            grant_for_secs,
        };
        if let (true, Some(secs), Some(posted)) = (completes, grant_for_secs, posted) {
            let expires_at = Timestamp::now()
                .checked_add(Duration::from_secs(secs))
                .ok_or(ApprovalsError::Internal("grant out of range".into()))?;
            // The grant first: once the vote resumes the command, the next one is covered.
            let grant = GrantIssued {
                approval_id: id,
                subject: posted.requester.subject.clone(),
                agents: posted.requester.agents.clone(),
                target: posted.target.name.clone(),
                fingerprint: posted.request.fingerprint.clone(),
                granted_by: approver,
                expires_at,
            };
            self.post(ControlEvent::now(ControlBody::GrantIssued(grant)))
                .await?;
        }
        self.post(ControlEvent::now(ControlBody::ApprovalDecided(decided)))
            .await
    }

    /// Requests waiting now, with their votes so far, oldest first.
    pub fn waiting(&self) -> Vec<super::board::Entry> {
        match self.inner.board.lock() {
            Ok(board) => board
                .waiting(Timestamp::now())
                .into_iter()
                .cloned()
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// One request, waiting or not.
    pub fn get(&self, id: Uuid) -> Option<super::board::Entry> {
        self.inner.board.lock().ok()?.get(id).cloned()
    }

    /// Posts an event and applies it here at once (applying is idempotent, so reading it
    /// back later changes nothing).
    async fn post(&self, event: ControlEvent) -> Result<(), ApprovalsError> {
        self.inner
            .control
            .post(&event)
            .await
            .map_err(|e| ApprovalsError::Log(e.to_string()))?;
        self.apply(&event);
        Ok(())
    }

    fn apply(&self, event: &ControlEvent) {
        let resolved = match self.inner.board.lock() {
            Ok(mut board) => board.apply(event),
            Err(_) => None,
        };
        if let Some((id, resolution)) = resolved
            && let Ok(waiters) = self.inner.waiters.lock()
            && let Some(waiter) = waiters.get(&id)
        {
            let _ = waiter.send(Some(resolution));
        }
    }

    /// Reads the control stream until shutdown, then expires what is still held here.
    async fn read(
        self,
        mut subscription: Box<dyn eventlog::Subscription>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            let batch = tokio::select! {
                batch = subscription.poll(256, POLL_WAIT) => batch,
                _ = shutdown.wait_for(|stop| *stop) => break,
            };
            match batch {
                Ok(entries) => {
                    for entry in entries {
                        match serde_json::from_slice::<ControlEvent>(&entry.value) {
                            Ok(event) => self.apply(&event),
                            Err(e) => {
                                tracing::warn!(position = %entry.position, error = %e, "an unreadable control event was skipped")
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the control stream cannot be read; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        let held: Vec<Uuid> = match self.inner.waiters.lock() {
            Ok(waiters) => waiters.keys().copied().collect(),
            Err(_) => Vec::new(),
        };
        for id in held {
            let reason = "blastwall stopped while the request was held";
            self.end(id, ApprovalDecision::Expired, reason).await;
        }
    }

    /// Ends a request held here (expired, cancelled) and tells its waiter.
    async fn end(&self, id: Uuid, decision: ApprovalDecision, reason: &str) {
        let decided = ApprovalDecided {
            approval_id: id,
            decision,
            reason: Some(reason.to_owned()),
            approver: None,
            grant_for_secs: None,
        };
        let event = ControlEvent::now(ControlBody::ApprovalDecided(decided));
        if let Err(e) = self.post(event.clone()).await {
            tracing::warn!(approval = %id, error = %e, "the end of an approval request could not be posted");
            // The waiter is answered all the same: the command does not run.
            self.apply(&event);
        }
    }

    fn lock_waiters(&self) -> Result<std::sync::MutexGuard<'_, Waiters>, ApprovalsError> {
        self.inner
            .waiters
            .lock()
            .map_err(|_| ApprovalsError::Internal("the waiters' lock is poisoned".into()))
    }

    fn lock_board(&self) -> Result<std::sync::MutexGuard<'_, Board>, ApprovalsError> {
        self.inner
            .board
            .lock()
            .map_err(|_| ApprovalsError::Internal("the board's lock is poisoned".into()))
    }

    fn forget(&self, id: Uuid) {
        if let Ok(mut waiters) = self.inner.waiters.lock() {
            waiters.remove(&id);
        }
    }
}

/// A command held for approval. Dropping it unresolved cancels the request.
pub struct Held {
    approvals: Approvals,
    requested: ApprovalRequested,
    resolved: watch::Receiver<Option<Resolution>>,
    deadline: tokio::time::Instant,
    done: bool,
}

impl Held {
    /// The approval's id, for the client and the approvers.
    pub fn id(&self) -> Uuid {
        self.requested.approval_id
    }

    /// The `approval.requested` body, for the session's own record.
    pub fn requested(&self) -> &ApprovalRequested {
        &self.requested
    }

    /// Waits for the outcome: a decision, or the expiry. Cancel-safe: a gateway may select
    /// on it beside the client's connection and call [`Held::cancel`] when the client leaves.
    pub async fn outcome(&mut self) -> ApprovalOutcome {
        if !self.done {
            let resolved = tokio::select! {
                resolved = self.resolved.wait_for(Option::is_some) => resolved.ok().and_then(|r| r.clone()),
                _ = tokio::time::sleep_until(self.deadline) => None,
            };
            if resolved.is_none() {
                let reason = "nobody decided before the request expired";
                self.approvals
                    .end(self.id(), ApprovalDecision::Expired, reason)
                    .await;
            }
            self.done = true;
            self.approvals.forget(self.id());
        }
        let resolution = self.resolved.borrow().clone();
        match resolution {
            Some(Resolution::Approved(votes)) => ApprovalOutcome::Approved(votes),
            Some(Resolution::Denied(vote)) => ApprovalOutcome::Denied(vote),
            Some(Resolution::Cancelled(decided)) => ApprovalOutcome::Cancelled(decided),
            Some(Resolution::Expired(decided)) => ApprovalOutcome::Expired(decided),
            // Neither posted nor applied (a poisoned board): fail closed.
            None => ApprovalOutcome::Expired(ApprovalDecided {
                approval_id: self.id(),
                decision: ApprovalDecision::Expired,
                reason: Some("the approval could not be tracked".into()),
                approver: None,
                grant_for_secs: None,
            }),
        }
    }

    /// Withdraws the request (the client went away, or cancelled), saying `why`; returns the
    /// `approval.decided` body to record, or `None` when a decision got there first.
    pub async fn cancel(mut self, why: &str) -> Option<ApprovalDecided> {
        self.done = true;
        let id = self.id();
        self.approvals
            .end(id, ApprovalDecision::Cancelled, why)
            .await;
        self.approvals.forget(id);
        match self.resolved.borrow().clone() {
            Some(Resolution::Cancelled(decided)) => Some(decided),
            _ => None,
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        self.approvals.forget(self.id());
        let approvals = self.approvals.clone();
        let id = self.id();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                approvals
                    .end(
                        id,
                        ApprovalDecision::Cancelled,
                        "the held command was dropped",
                    )
                    .await;
            });
        }
    }
}

impl From<VoteRefused> for ApprovalsError {
    fn from(refused: VoteRefused) -> Self {
        ApprovalsError::Refused(refused)
    }
}
