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
//! Env variables pass only when the target's allow-list names them.
//!
//! Not here: the verdict (`policy`), the upstream connection (`upstream`), event chunking
//! (`recording`), typed-line reconstruction (`command`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use russh::server::{Handle, Msg};
use russh::{Channel, ChannelId, ChannelMsg, ChannelReadHalf, ChannelWriteHalf, Pty, Sig};
use schemas::EventBody;
use schemas::body::{ResultError, ResultReturned, TerminalResized};

use super::command::{self, TypedLines};
use super::error::SshError;
use super::recording::{self, Budget, Direction, TerminalRecorder};
use super::session::approval::{self, ApprovalNeeded, Held};
use super::session::{Decided, Session};
use crate::policy::{Decision, SshAction, SshFacts};

/// How often idle recordings are flushed.
const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// How long the upstream may take to close once the client is gone.
const UPSTREAM_CLOSE_GRACE: Duration = Duration::from_secs(5);

/// A pty request, kept until the channel is opened upstream.
struct PtyRequest {
    term: String,
    cols: u32,
    rows: u32,
    pix_width: u32,
    pix_height: u32,
    modes: Vec<(Pty, u32)>,
}

/// What the client asked the channel to run.
enum Start {
    Exec(String),
    Shell,
    Sftp,
}

/// The channel's setup before it runs anything.
#[derive(Default)]
struct Setup {
    pty: Option<PtyRequest>,
    env: Vec<(String, String)>,
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
    let (facts, received) = match &start {
        Start::Exec(line) => (SshFacts::exec(line), command::received("ssh:exec", line)),
        Start::Shell => (
            SshFacts::of(SshAction::Shell),
            command::received("ssh:shell", ""),
        ),
        Start::Sftp => (
            SshFacts::of(SshAction::Sftp),
            command::received("ssh:sftp", "sftp"),
        ),
    };
    let newline = if setup.pty.is_some() { "\r\n" } else { "\n" };
    let refuse = |message: String| refuse(&handle, &client_tx, id, message, newline);
    let Decided { seq, decision } = match session.decide(received, &facts).await {
        Ok(decided) => decided,
        Err(e) => {
            session.failed(&e);
            refuse(format!("blastwall: {e}")).await;
            return;
        }
    };
    match decision {
        Decision::Allow { .. } => {}
        Decision::Block { policy, message } => {
            refuse(format!("blastwall: blocked by policy {policy}: {message}")).await;
            record_result(&session, seq, Some(1), None, false, Duration::ZERO);
            return;
        }
        Decision::RequireApproval {
            policy,
            group,
            message,
        } => {
            let needed = ApprovalNeeded {
                command_seq: seq,
                policy: &policy,
                group: &group,
                message: &message,
            };
            if let Held::Refused { message } = approval::hold(&session, needed).await {
                refuse(message).await;
                record_result(&session, seq, Some(1), None, false, Duration::ZERO);
                return;
            }
        }
    }
    let began = Instant::now();
    let upstream = match open_upstream(&session, &start, &setup).await {
        Ok(upstream) => upstream,
        Err(e) => {
            refuse(format!("blastwall: {e}")).await;
            record_result(&session, seq, Some(255), None, false, began.elapsed());
            return;
        }
    };
    match upstream {
        Opened::Running(up) => {
            let _ = handle.channel_success(id).await;
            let relay = Relay::new(&session, id, &start, &setup);
            relay
                .run(&session, seq, began, (client_rx, client_tx), up, &handle)
                .await;
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
                let received = command::received("ssh:forward", "agent forwarding");
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

/// Tells the client why its request does not run, the way a failed command would.
async fn refuse(
    handle: &Handle,
    client_tx: &ChannelWriteHalf<Msg>,
    id: ChannelId,
    message: String,
    newline: &str,
) {
    let _ = handle.channel_success(id).await;
    let text = format!("{message}{newline}");
    let _ = client_tx.extended_data_bytes(1, text.into_bytes()).await;
    let _ = client_tx.exit_status(1).await;
    let _ = client_tx.eof().await;
    let _ = client_tx.close().await;
}

/// `result.returned` for a request.
fn record_result(
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
    }));
}

/// What a running channel records.
struct Relay {
    id: ChannelId,
    output: Option<TerminalRecorder>,
    input: Option<TerminalRecorder>,
    typed: Option<TypedLines>,
    resizes: bool,
}

/// How the upstream side ended.
#[derive(Default)]
struct Outcome {
    status: Option<u32>,
    signal: Option<String>,
}

impl Relay {
    fn new(session: &Session, id: ChannelId, start: &Start, setup: &Setup) -> Self {
        let channel = u32::from(id);
        let recorder = |direction, budget| {
            Some(TerminalRecorder::new(
                direction,
                channel,
                session.started,
                budget,
            ))
        };
        let terminal = setup.pty.is_some() || matches!(start, Start::Shell);
        match start {
            Start::Sftp => Relay {
                id,
                output: None,
                input: None,
                typed: None,
                resizes: false,
            },
            _ if terminal => Relay {
                id,
                output: recorder(Direction::Output, Budget::Unlimited),
                input: recorder(Direction::Input, Budget::Unlimited),
                typed: matches!(start, Start::Shell).then(TypedLines::default),
                resizes: setup.pty.is_some(),
            },
            _ => Relay {
                id,
                output: recorder(Direction::Output, Budget::Bytes(session.exec_output_limit)),
                input: None,
                typed: None,
                resizes: false,
            },
        }
    }

    async fn run(
        self,
        session: &Session,
        seq: u64,
        began: Instant,
        (client_rx, client_tx): (ChannelReadHalf, ChannelWriteHalf<Msg>),
        up: Channel<russh::client::Msg>,
        handle: &Handle,
    ) {
        let (up_rx, up_tx) = up.split();
        let Relay {
            id,
            mut output,
            mut input,
            mut typed,
            resizes,
        } = self;
        // Set by the output side when the terminal prompts for a secret; the input side masks
        // what is typed until Enter.
        let secret = AtomicBool::new(false);
        let terminal = input.is_some();
        let outcome = {
            let inbound = client_to_upstream(
                session,
                id,
                client_rx,
                &up_tx,
                Typing {
                    input: &mut input,
                    typed: &mut typed,
                    resizes,
                    secret: &secret,
                },
            );
            let outbound = upstream_to_client(
                session,
                id,
                up_rx,
                &client_tx,
                Showing {
                    output: &mut output,
                    secret: terminal.then_some(&secret),
                },
                handle,
            );
            tokio::pin!(outbound);
            let outcome = tokio::select! {
                outcome = &mut outbound => {
                    outcome
                }
                () = inbound => {
                    // The client closed or vanished: ask the upstream to close, and give it a
                    // moment to say how the command ended.
                    let _ = up_tx.close().await;
                    tokio::time::timeout(UPSTREAM_CLOSE_GRACE, &mut outbound)
                        .await
                        .unwrap_or_default()
                }
            };
            outcome
        };
        // Bytes that arrived just before the end (the `exit` typed) are recorded too.
        for recorder in [&mut input, &mut output].into_iter().flatten() {
            if let Some(event) = recorder.flush() {
                session.record(event);
            }
        }
        let truncated = output.as_ref().is_some_and(TerminalRecorder::truncated);
        record_result(
            session,
            seq,
            outcome.status,
            outcome.signal,
            truncated,
            began.elapsed(),
        );
    }
}

/// What the client side records.
struct Typing<'a> {
    input: &'a mut Option<TerminalRecorder>,
    typed: &'a mut Option<TypedLines>,
    resizes: bool,
    secret: &'a AtomicBool,
}

/// What the upstream side records; `secret` only for terminals.
struct Showing<'a> {
    output: &'a mut Option<TerminalRecorder>,
    secret: Option<&'a AtomicBool>,
}

/// Client → upstream, until the client closes the channel or vanishes.
async fn client_to_upstream(
    session: &Session,
    id: ChannelId,
    mut client_rx: ChannelReadHalf,
    up_tx: &ChannelWriteHalf<russh::client::Msg>,
    typing: Typing<'_>,
) {
    let Typing {
        input,
        typed,
        resizes,
        secret,
    } = typing;
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    loop {
        let msg = tokio::select! {
            msg = client_rx.wait() => msg,
            _ = tick.tick() => {
                if let Some(event) = input.as_mut().and_then(|r| r.flush_stale(Instant::now())) {
                    session.record(event);
                }
                continue;
            }
        };
        match msg {
            Some(ChannelMsg::Data { data }) => {
                session.bytes_in(data.len());
                if input.is_some() {
                    let mut recorded = data.to_vec();
                    let mut skip = 0;
                    if secret.load(Ordering::Relaxed) {
                        let (masked, ended) = recording::mask_secret(&mut recorded);
                        // The secret and the Enter that ends it are not a typed line.
                        skip = masked + usize::from(ended);
                        if ended {
                            secret.store(false, Ordering::Relaxed);
                        }
                    }
                    if let Some(recorder) = input.as_mut() {
                        for event in recorder.push(&recorded, Instant::now()) {
                            session.record(event);
                        }
                    }
                    if let Some(lines) = typed.as_mut() {
                        for line in lines.push(recorded.get(skip..).unwrap_or_default()) {
                            session.record(EventBody::CommandReceived(command::typed(&line)));
                        }
                    }
                }
                if up_tx.data_bytes(data).await.is_err() {
                    break;
                }
            }
            Some(ChannelMsg::Eof) => {
                let _ = up_tx.eof().await;
            }
            Some(ChannelMsg::WindowChange {
                col_width,
                row_height,
                pix_width,
                pix_height,
            }) => {
                if resizes {
                    if let Some(event) = input.as_mut().and_then(TerminalRecorder::flush) {
                        session.record(event);
                    }
                    session.record(EventBody::TerminalResized(TerminalResized {
                        channel: u32::from(id),
                        cols: u16::try_from(col_width).unwrap_or(u16::MAX),
                        rows: u16::try_from(row_height).unwrap_or(u16::MAX),
                        offset_ns: session.offset_ns(),
                    }));
                }
                let _ = up_tx
                    .window_change(col_width, row_height, pix_width, pix_height)
                    .await;
            }
            Some(ChannelMsg::Signal { signal }) => {
                let _ = up_tx.signal(signal).await;
            }
            Some(ChannelMsg::Close) | None => break,
            Some(_) => {}
        }
    }
    if let Some(event) = input.as_mut().and_then(TerminalRecorder::flush) {
        session.record(event);
    }
}

/// Upstream → client, until the upstream closes the channel.
async fn upstream_to_client(
    session: &Session,
    id: ChannelId,
    mut up_rx: ChannelReadHalf,
    client_tx: &ChannelWriteHalf<Msg>,
    showing: Showing<'_>,
    handle: &Handle,
) -> Outcome {
    let Showing { output, secret } = showing;
    let mut outcome = Outcome::default();
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    let mut client_gone = false;
    loop {
        let msg = tokio::select! {
            msg = up_rx.wait() => msg,
            _ = tick.tick() => {
                if let Some(event) = output.as_mut().and_then(|r| r.flush_stale(Instant::now())) {
                    session.record(event);
                }
                continue;
            }
        };
        match msg {
            Some(ChannelMsg::Data { data }) => {
                session.bytes_out(data.len());
                if let Some(recorder) = output.as_mut() {
                    for event in recorder.push(&data, Instant::now()) {
                        session.record(event);
                    }
                    if let Some(secret) = secret
                        && recording::asks_for_secret(&data)
                    {
                        secret.store(true, Ordering::Relaxed);
                    }
                }
                if !client_gone && client_tx.data_bytes(data).await.is_err() {
                    client_gone = true;
                }
            }
            Some(ChannelMsg::ExtendedData { data, ext }) => {
                session.bytes_out(data.len());
                if let Some(recorder) = output.as_mut() {
                    for event in recorder.push(&data, Instant::now()) {
                        session.record(event);
                    }
                }
                if !client_gone && client_tx.extended_data_bytes(ext, data).await.is_err() {
                    client_gone = true;
                }
            }
            Some(ChannelMsg::Eof) => {
                let _ = client_tx.eof().await;
            }
            Some(ChannelMsg::ExitStatus { exit_status }) => {
                outcome.status = Some(exit_status);
                let _ = client_tx.exit_status(exit_status).await;
            }
            Some(ChannelMsg::ExitSignal {
                signal_name,
                core_dumped,
                error_message,
                lang_tag,
            }) => {
                outcome.signal = Some(signal_text(&signal_name));
                let _ = handle
                    .exit_signal_request(id, signal_name, core_dumped, error_message, lang_tag)
                    .await;
            }
            Some(ChannelMsg::Close) | None => break,
            Some(_) => {}
        }
    }
    if let Some(event) = output.as_mut().and_then(TerminalRecorder::flush) {
        session.record(event);
    }
    let _ = client_tx.close().await;
    outcome
}

/// A signal's name without `SIG` (`TERM`, `KILL`).
fn signal_text(signal: &Sig) -> String {
    match signal {
        Sig::ABRT => "ABRT",
        Sig::ALRM => "ALRM",
        Sig::FPE => "FPE",
        Sig::HUP => "HUP",
        Sig::ILL => "ILL",
        Sig::INT => "INT",
        Sig::KILL => "KILL",
        Sig::PIPE => "PIPE",
        Sig::QUIT => "QUIT",
        Sig::SEGV => "SEGV",
        Sig::TERM => "TERM",
        Sig::USR1 => "USR1",
        Sig::Custom(name) => name.as_str(),
    }
    .to_owned()
}
