//! A running channel's relay: client → upstream and upstream → client, each in its own
//! loop, recording as the bytes pass (terminal input and output, resizes, typed lines), and
//! the command's result once both sides are done.
//!
//! Invariants: the upstream's EOF, exit status, exit signal and close reach the client in the
//! upstream's order; a secret typed at a password prompt is recorded as `*`; bytes that
//! arrived just before the end are recorded. Not here: deciding and opening (`channel`).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use russh::server::{Handle, Msg};
use russh::{Channel, ChannelId, ChannelMsg, ChannelReadHalf, ChannelWriteHalf, Sig};
use schemas::EventBody;
use schemas::body::TerminalResized;

use super::{Setup, Start, record_result};
use crate::ssh::command::{self, TypedLines};
use crate::ssh::recording::{self, Budget, Direction, TerminalRecorder};
use crate::ssh::session::Session;

/// How often idle recordings are flushed.
const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// How long the upstream may take to close once the client is gone.
const UPSTREAM_CLOSE_GRACE: Duration = Duration::from_secs(5);

/// What a running channel records.
pub(super) struct Relay {
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
    pub(super) fn new(session: &Session, id: ChannelId, start: &Start, setup: &Setup) -> Self {
        let channel = u32::from(id);
        let recorder = |direction, budget| {
            Some(TerminalRecorder::new(
                direction,
                channel,
                session.started,
                budget,
            ))
        };
        let masked = |recorder: Option<TerminalRecorder>| {
            recorder.map(|r| r.masked_with(session.output_masking.clone()))
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
                output: masked(recorder(Direction::Output, Budget::Unlimited)),
                input: recorder(Direction::Input, Budget::Unlimited),
                typed: matches!(start, Start::Shell).then(TypedLines::default),
                resizes: setup.pty.is_some(),
            },
            _ => Relay {
                id,
                output: masked(recorder(
                    Direction::Output,
                    Budget::Bytes(session.exec_output_limit),
                )),
                input: None,
                typed: None,
                resizes: false,
            },
        }
    }

    pub(super) async fn run(
        self,
        session: &Session,
        seq: u64,
        began: Instant,
        (client_rx, client_tx, backlog): (
            ChannelReadHalf,
            ChannelWriteHalf<Msg>,
            VecDeque<ChannelMsg>,
        ),
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
                (client_rx, backlog),
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
    (mut client_rx, mut backlog): (ChannelReadHalf, VecDeque<ChannelMsg>),
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
        // What the client sent while its request was held goes first, in order.
        let msg = if let Some(held) = backlog.pop_front() {
            Some(held)
        } else {
            tokio::select! {
                msg = client_rx.wait() => msg,
                _ = tick.tick() => {
                    if let Some(event) = input.as_mut().and_then(|r| r.flush_stale(Instant::now())) {
                        session.record(event);
                    }
                    continue;
                }
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
