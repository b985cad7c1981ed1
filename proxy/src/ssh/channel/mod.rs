//! One session channel, from its first request to its close: collect the setup (pty-req,
//! env), judge the request (exec, shell, sftp), open the same channel upstream, then relay
//! both ways until both sides closed, recording as the bytes pass.
//!
//! Invariants: nothing reaches the upstream before the request's `command.received` and
//! `policy.decided` are durable. A refused request is answered like a command that failed
//! (success for the request, the reason on stderr, exit status 1, EOF, close), so every
//! client prints it. Upstream EOF, exit-status, exit-signal and close reach the client in the
//! upstream's order; the client's EOF, signals and window changes reach the upstream. Each
//! direction relays in its own loop, so a slow reader on one side never stalls the other.
//! Env variables pass only when the target's allow-list names them. A request held for
//! approval is answered at once (success, the notice on stderr) and opened upstream only
//! once approved; what the client sent meanwhile reaches the upstream first, in order.
//!
//! Not here: the verdict (`policy`), the hold (`session::approval`), the upstream connection (`upstream`), event chunking
//! (`recording`), typed-line reconstruction (`command`).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use russh::server::{Handle, Msg};
use russh::{Channel, ChannelId, ChannelMsg, ChannelReadHalf, ChannelWriteHalf, Pty};
use schemas::EventBody;
use schemas::body::{ResultError, ResultReturned};

mod relay;

use relay::Relay;

use super::command;
use super::error::SshError;
use super::session::approval::{self, ApprovalNeeded, Asked, Settled};
use super::session::{Decided, Session};
use crate::policy::{Decision, SshAction, SshFacts};

/// A pty request, kept until the channel is opened upstream.
pub(super) struct PtyRequest {
    term: String,
    cols: u32,
    rows: u32,
    pix_width: u32,
    pix_height: u32,
    modes: Vec<(Pty, u32)>,
}

/// What the client asked the channel to run.
pub(super) enum Start {
    Exec(String),
    Shell,
    Sftp,
}

/// The channel's setup before it runs anything.
#[derive(Default)]
pub(super) struct Setup {
    pub(super) pty: Option<PtyRequest>,
    pub(super) env: Vec<(String, String)>,
}

/// Runs one session channel to its end.
pub async fn run(session: Arc<Session>, channel: Channel<Msg>, handle: Handle) {
    let id = channel.id();
    let (mut client_rx, client_tx) = channel.split();
    let mut setup = Setup::default();
    let Some(start) = wait_for_start(&session, &mut client_rx, &handle, id, &mut setup).await
    else {
        return;
    };
    let facts = match &start {
        Start::Exec(line) => SshFacts::exec(line),
        Start::Shell => SshFacts::of(SshAction::Shell),
        Start::Sftp => SshFacts::of(SshAction::Sftp),
    };
    let received = command::received(&facts);
    let newline = if setup.pty.is_some() { "\r\n" } else { "\n" };
    // Whether the client was already answered (success) for its request: a held request is,
    // at once, so that it sees the notice while it waits.
    let mut answered = false;
    let refuse = |message: String, answered: bool| {
        refuse(&handle, &client_tx, id, message, newline, answered)
    };
    let Decided { seq, decision } = match session.decide(received.clone(), &facts).await {
        Ok(decided) => decided,
        Err(e) => {
            session.failed(&e);
            refuse(format!("blastwall: {e}"), answered).await;
            return;
        }
    };
    let mut backlog = VecDeque::new();
    match decision {
        Decision::Allow { .. } => {}
        Decision::Block { policy, message } => {
            refuse(
                format!("blastwall: blocked by policy {policy}: {message}"),
                answered,
            )
            .await;
            record_result(&session, seq, Some(1), None, false, Duration::ZERO);
            return;
        }
        Decision::RequireApproval {
            policy,
            group,
            message,
            approvers,
            expires,
        } => {
            let action = received
                .summary
                .as_ref()
                .map_or("ssh:exec", |s| s.action.as_str());
            // A shell or sftp has no command line: approvers see what was asked.
            let command = match received.text.as_str() {
                "" => action,
                text => text,
            };
            let needed = ApprovalNeeded {
                command_seq: seq,
                command,
                action,
                policy: &policy,
                group: &group,
                message: &message,
                approvers,
                expires,
            };
            let settled = match approval::ask(&session, needed).await {
                Asked::Granted => Settled::Approved,
                Asked::Refused { message } => Settled::Refused { message },
                Asked::Holding { held, notice } => {
                    let _ = handle.channel_success(id).await;
                    answered = true;
                    let text = format!("{notice}{newline}");
                    let _ = client_tx.extended_data_bytes(1, text.into_bytes()).await;
                    approval::wait(&session, held, &mut client_rx, &mut backlog).await
                }
            };
            match settled {
                Settled::Approved => {}
                Settled::Refused { message } => {
                    refuse(message, answered).await;
                    record_result(&session, seq, Some(1), None, false, Duration::ZERO);
                    return;
                }
                Settled::ClientGone => {
                    let _ = client_tx.close().await;
                    record_result(&session, seq, None, None, false, Duration::ZERO);
                    return;
                }
            }
        }
    }
    let began = Instant::now();
    let upstream = match open_upstream(&session, &start, &setup).await {
        Ok(upstream) => upstream,
        Err(e) => {
            refuse(format!("blastwall: {e}"), answered).await;
            record_result(&session, seq, Some(255), None, false, began.elapsed());
            return;
        }
    };
    match upstream {
        Opened::Running(up) => {
            if !answered {
                let _ = handle.channel_success(id).await;
            }
            let relay = Relay::new(&session, id, &start, &setup);
            relay
                .run(
                    &session,
                    seq,
                    began,
                    (client_rx, client_tx, backlog),
                    up,
                    &handle,
                )
                .await;
        }
        Opened::Refused if answered => {
            let message = "blastwall: the host refused to run the request".to_owned();
            refuse(message, answered).await;
            record_result(&session, seq, Some(1), None, false, began.elapsed());
        }
        Opened::Refused => {
            let _ = handle.channel_failure(id).await;
            let _ = client_tx.close().await;
            record_result(&session, seq, None, None, false, began.elapsed());
        }
    }
}

/// Collects pty-req and env until exec, shell or subsystem arrives; `None` when the channel
/// closed first.
async fn wait_for_start(
    session: &Session,
    client_rx: &mut ChannelReadHalf,
    handle: &Handle,
    id: ChannelId,
    setup: &mut Setup,
) -> Option<Start> {
    loop {
        match client_rx.wait().await? {
            ChannelMsg::RequestPty {
                term,
                col_width,
                row_height,
                pix_width,
                pix_height,
                terminal_modes,
                ..
            } => {
                setup.pty = Some(PtyRequest {
                    term,
                    cols: col_width,
                    rows: row_height,
                    pix_width,
                    pix_height,
                    modes: terminal_modes,
                });
                let _ = handle.channel_success(id).await;
            }
            ChannelMsg::SetEnv {
                variable_name,
                variable_value,
                ..
            } => {
                if session.target.allows_env(&variable_name) {
                    setup.env.push((variable_name, variable_value));
                } else {
                    tracing::debug!(variable = %variable_name, "env variable dropped");
                }
            }
            ChannelMsg::WindowChange {
                col_width,
                row_height,
                ..
            } => {
                if let Some(pty) = setup.pty.as_mut() {
                    pty.cols = col_width;
                    pty.rows = row_height;
                }
            }
            ChannelMsg::Exec { command, .. } => {
                return Some(Start::Exec(String::from_utf8_lossy(&command).into_owned()));
            }
            ChannelMsg::RequestShell { .. } => return Some(Start::Shell),
            ChannelMsg::RequestSubsystem { name, .. } if name == "sftp" => {
                return Some(Start::Sftp);
            }
            ChannelMsg::RequestSubsystem { .. } | ChannelMsg::RequestX11 { .. } => {
                let _ = handle.channel_failure(id).await;
            }
            ChannelMsg::AgentForward { .. } => {
                // Decided and recorded; refused either way (russh answers the request), as
                // blastwall does not relay agents.
                let facts = SshFacts::forward("agent", "");
                let received = command::received(&facts);
                if let Err(e) = session.decide(received, &facts).await {
                    session.failed(&e);
                }
            }
            ChannelMsg::Close => return None,
            _ => {}
        }
    }
}

enum Opened {
    Running(Channel<russh::client::Msg>),
    Refused,
}

/// Opens the channel upstream and asks it for what the client asked.
async fn open_upstream(
    session: &Session,
    start: &Start,
    setup: &Setup,
) -> Result<Opened, SshError> {
    let upstream = session.upstream().await?;
    let mut up = upstream.open_session().await?;
    let failed = |e: russh::Error| SshError::Upstream {
        target: session.target.name.clone(),
        reason: e.to_string(),
    };
    for (name, value) in &setup.env {
        up.set_env(false, name.as_str(), value.as_str())
            .await
            .map_err(failed)?;
    }
    if let Some(pty) = &setup.pty {
        up.request_pty(
            false,
            &pty.term,
            pty.cols,
            pty.rows,
            pty.pix_width,
            pty.pix_height,
            &pty.modes,
        )
        .await
        .map_err(failed)?;
    }
    match start {
        Start::Exec(line) => up.exec(true, line.as_bytes()).await,
        Start::Shell => up.request_shell(true).await,
        Start::Sftp => up.request_subsystem(true, "sftp").await,
    }
    .map_err(failed)?;
    loop {
        match up.wait().await {
            Some(ChannelMsg::Success) => return Ok(Opened::Running(up)),
            Some(ChannelMsg::Failure) => return Ok(Opened::Refused),
            Some(ChannelMsg::Close) | None => {
                return Err(SshError::Upstream {
                    target: session.target.name.clone(),
                    reason: "the host closed the channel before running the request".into(),
                });
            }
            Some(_) => {}
        }
    }
}

/// Tells the client why its request does not run, the way a failed command would; the
/// request is answered first unless it was (`answered`).
async fn refuse(
    handle: &Handle,
    client_tx: &ChannelWriteHalf<Msg>,
    id: ChannelId,
    message: String,
    newline: &str,
    answered: bool,
) {
    if !answered {
        let _ = handle.channel_success(id).await;
    }
    let text = format!("{message}{newline}");
    let _ = client_tx.extended_data_bytes(1, text.into_bytes()).await;
    let _ = client_tx.exit_status(1).await;
    let _ = client_tx.eof().await;
    let _ = client_tx.close().await;
}

/// `result.returned` for a request.
pub(super) fn record_result(
    session: &Session,
    seq: u64,
    status: Option<u32>,
    signal: Option<String>,
    truncated: bool,
    duration: Duration,
) {
    let (tag, error) = match (status, &signal) {
        (_, Some(signal)) => (
            Some(format!("signal {signal}")),
            Some(ResultError {
                code: format!("SIG{signal}"),
                message: format!("killed by signal {signal}"),
            }),
        ),
        (Some(0), None) => (Some("exit 0".to_owned()), None),
        (Some(status), None) => (
            Some(format!("exit {status}")),
            Some(ResultError {
                code: status.to_string(),
                message: format!("exited with status {status}"),
            }),
        ),
        (None, None) => (None, None),
    };
    session.record(EventBody::ResultReturned(ResultReturned {
        command_seq: seq,
        command_tag: tag,
        columns: Vec::new(),
        rows: Vec::new(),
        row_count: 0,
        truncated,
        duration_ns: u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX),
        error,
        masked: Vec::new(),
    }));
}
