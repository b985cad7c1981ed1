//! The SSH gateway: `ssh`, `scp`, `sftp`, `rsync` and `git` reach a configured host through
//! blastwall, which checks who is acting, decides each request, holds the upstream
//! credential and records the terminal.
//!
//! ```text
//! client ── listener ── server (russh handler): user = target, token or bound key ── identity
//!                       channel: pty, env, exec / shell / sftp ─── policy (ssh:*) ─── audit
//!                                relay both ways, recording ───── upstream (russh client,
//!                                                                  pinned host key)
//! ```
//!
//! Invariants: a request runs upstream only after its `command.received` and
//! `policy.decided` are durable; the upstream's host key matches its pin or nothing is sent.
//!
//! # Layout
//!
//! - `listener`: accepting, the host key; `server`: the thin russh handler.
//! - `session/`: a logged-in connection (`auth`, `approval`); `channel/`: one session channel
//!   (deciding and opening; `relay`: both directions, recorded);
//!   `forward`: direct-tcpip; `command`: command lines and typed lines; `recording`: terminal
//!   events; `upstream`: the russh client; `error`.

pub mod channel;
pub mod command;
pub mod error;
pub mod forward;
pub mod listener;
pub mod recording;
pub mod server;
pub mod session;
pub mod upstream;

pub use error::SshError;
pub use listener::{SshListener, SshListenerSettings, host_key, serve};
