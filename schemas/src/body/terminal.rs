//! `terminal.output`, `terminal.input` and `terminal.resized`: an interactive session's bytes.
//!
//! The proxy's SSH relay emits these as bytes cross a channel, so that replay can rebuild the
//! terminal screen by screen; `offset_ns` (since the session started) drives replay timing.
//!
//! Invariants: `data` is raw bytes (not necessarily UTF-8), base64 on the wire; input is
//! recorded as typed, so passwords typed into a remote prompt are in it — the proxy masks
//! echo-less input before emitting.
//!
//! Not here: terminal emulation for replay (query), channel multiplexing (proxy `ssh/`).

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Body of `terminal.output` and `terminal.input`: bytes on one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TerminalData {
    /// The SSH channel id the bytes crossed.
    pub channel: u32,
    /// The bytes, standard base64 with padding on the wire.
    #[serde(with = "crate::base64_bytes")]
    #[schemars(with = "crate::base64_bytes::Base64")]
    pub data: Vec<u8>,
    /// Nanoseconds since the session started.
    pub offset_ns: u64,
}

impl TerminalData {
    /// [`TerminalData::offset_ns`] as a `Duration`.
    pub fn offset(&self) -> Duration {
        Duration::from_nanos(self.offset_ns)
    }
}

/// Body of `terminal.resized`: the client's window changed size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TerminalResized {
    /// The SSH channel id whose terminal was resized.
    pub channel: u32,
    /// Width in character cells.
    pub cols: u16,
    /// Height in character cells.
    pub rows: u16,
    /// Nanoseconds since the session started.
    pub offset_ns: u64,
}
