//! Terminal recording: the bytes crossing a channel, cut into `terminal.output` and
//! `terminal.input` events of at most 16 KiB whose bytes all arrived within 50 ms, each
//! stamped with the offset of its first byte since the session started.
//!
//! The channel relay pushes bytes as they pass and calls `flush_stale` on a timer, so an idle
//! terminal's last bytes are recorded within about 50 ms. A `budget` caps what one channel
//! records (exec output past `record_exec_output_limit`); bytes past it are relayed, counted,
//! and reported as truncated in the command's result. Not here: what is relayed (`channel`),
//! reconstructing typed lines (`command`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use schemas::EventBody;
use schemas::body::TerminalData;

use crate::masking::Masking;

/// The most bytes one event carries.
pub const MAX_CHUNK: usize = 16 * 1024;
/// The longest span of arrival times one event covers.
pub const MAX_SPAN: Duration = Duration::from_millis(50);

/// Which way the bytes went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Upstream to the client's terminal.
    Output,
    /// The client's keyboard to the upstream.
    Input,
}

/// How much a channel may record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Budget {
    /// Everything (terminals).
    Unlimited,
    /// At most this many bytes, then nothing.
    Bytes(u64),
}

/// One direction of one channel's bytes, being cut into events.
#[derive(Debug)]
pub struct TerminalRecorder {
    direction: Direction,
    channel: u32,
    session_start: Instant,
    pending: Vec<u8>,
    first_at: Option<Instant>,
    budget: Budget,
    truncated: bool,
    masking: Option<Arc<Masking>>,
}

impl TerminalRecorder {
    /// A recorder for `channel`; offsets count from `session_start`.
    pub fn new(direction: Direction, channel: u32, session_start: Instant, budget: Budget) -> Self {
        TerminalRecorder {
            direction,
            channel,
            session_start,
            pending: Vec::new(),
            first_at: None,
            budget,
            truncated: false,
            masking: None,
        }
    }

    /// Masks what it records with `masking`'s detectors.
    pub fn masked_with(mut self, masking: Option<Arc<Masking>>) -> Self {
        self.masking = masking;
        self
    }

    /// Whether bytes were left unrecorded because the budget ran out.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// Takes bytes that arrived at `now`; returns the events that are complete.
    pub fn push(&mut self, mut data: &[u8], now: Instant) -> Vec<EventBody> {
        let mut events = Vec::new();
        if let Budget::Bytes(left) = &mut self.budget {
            let allowed = usize::try_from(*left).unwrap_or(usize::MAX).min(data.len());
            if allowed < data.len() {
                self.truncated = true;
            }
            *left -= allowed as u64;
            data = data.get(..allowed).unwrap_or_default();
        }
        if data.is_empty() {
            return events;
        }
        if self
            .first_at
            .is_some_and(|first| now.saturating_duration_since(first) >= MAX_SPAN)
        {
            events.extend(self.flush());
        }
        while !data.is_empty() {
            if self.first_at.is_none() {
                self.first_at = Some(now);
            }
            let room = MAX_CHUNK - self.pending.len();
            let (now_part, rest) = data.split_at(room.min(data.len()));
            self.pending.extend_from_slice(now_part);
            data = rest;
            if self.pending.len() >= MAX_CHUNK {
                events.extend(self.flush());
            }
        }
        events
    }

    /// The pending bytes as an event if the first of them arrived `MAX_SPAN` ago or more.
    pub fn flush_stale(&mut self, now: Instant) -> Option<EventBody> {
        match self.first_at {
            Some(first) if now.saturating_duration_since(first) >= MAX_SPAN => self.flush(),
            _ => None,
        }
    }

    /// The pending bytes as an event, if any.
    pub fn flush(&mut self) -> Option<EventBody> {
        let first = self.first_at.take()?;
        let mut data = std::mem::take(&mut self.pending);
        if let Some(masking) = &self.masking {
            masking.detectors().mask_bytes(&mut data);
        }
        let offset_ns = u64::try_from(
            first
                .saturating_duration_since(self.session_start)
                .as_nanos(),
        )
        .unwrap_or(u64::MAX);
        let body = TerminalData {
            channel: self.channel,
            data,
            offset_ns,
        };
        Some(match self.direction {
            Direction::Output => EventBody::TerminalOutput(body),
            Direction::Input => EventBody::TerminalInput(body),
        })
    }
}

/// Words that, at the end of a prompt, mean the next line typed is a secret.
const SECRET_PROMPTS: [&str; 5] = ["password", "passphrase", "pin", "token", "secret"];

/// Whether terminal output ends in a prompt for a secret (`[sudo] password for x: `,
/// `Enter passphrase for key '...': `).
pub fn asks_for_secret(output: &[u8]) -> bool {
    let tail = output
        .get(output.len().saturating_sub(120)..)
        .unwrap_or(output);
    let text = String::from_utf8_lossy(tail).to_lowercase();
    let line = text.rsplit(['\n', '\r']).next().unwrap_or("").trim_end();
    line.ends_with(':') && SECRET_PROMPTS.iter().any(|word| line.contains(word))
}

/// Masks typed secret bytes as `*` up to the end of the line; returns how many bytes were
/// masked and whether the line ended (then the secret is over).
pub fn mask_secret(data: &mut [u8]) -> (usize, bool) {
    let end = data.iter().position(|b| *b == b'\r' || *b == b'\n');
    let masked = end.unwrap_or(data.len());
    for byte in data.iter_mut().take(masked) {
        *byte = b'*';
    }
    (masked, end.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_prompts_are_recognised_and_their_answer_masked() {
        assert!(asks_for_secret(b"\r\n[sudo] password for dev: "));
        assert!(asks_for_secret(
            b"Enter passphrase for key '/root/.ssh/id': "
        ));
        assert!(!asks_for_secret(b"password changed\r\n$ "));
        assert!(!asks_for_secret(b"root@web-1:~# "));
        let mut typed = *b"hunter2\rls\r";
        assert_eq!(mask_secret(&mut typed), (7, true));
        assert_eq!(&typed, b"*******\rls\r");
        let mut partial = *b"hun";
        assert_eq!(mask_secret(&mut partial), (3, false));
    }

    fn bytes(event: &EventBody) -> &[u8] {
        match event {
            EventBody::TerminalOutput(d) | EventBody::TerminalInput(d) => &d.data,
            other => panic!("not terminal data: {other:?}"),
        }
    }

    #[test]
    fn large_output_is_cut_at_16_kib() {
        let start = Instant::now();
        let mut recorder = TerminalRecorder::new(Direction::Output, 0, start, Budget::Unlimited);
        let events = recorder.push(&vec![b'x'; 40 * 1024], start);
        assert_eq!(events.len(), 2);
        assert!(events.iter().all(|e| bytes(e).len() == MAX_CHUNK));
        let last = recorder.flush().unwrap();
        assert_eq!(bytes(&last).len(), 8 * 1024);
        assert!(recorder.flush().is_none());
    }

    #[test]
    fn bytes_50_ms_apart_go_to_separate_events() {
        let start = Instant::now();
        let mut recorder = TerminalRecorder::new(Direction::Input, 3, start, Budget::Unlimited);
        assert!(recorder.push(b"ab", start).is_empty());
        assert!(
            recorder
                .flush_stale(start + Duration::from_millis(10))
                .is_none()
        );
        let events = recorder.push(b"c", start + MAX_SPAN);
        assert_eq!(events.len(), 1);
        assert_eq!(bytes(&events[0]), b"ab");
        let EventBody::TerminalInput(last) = recorder.flush().unwrap() else {
            panic!("input")
        };
        assert_eq!(last.data, b"c");
        assert_eq!(last.channel, 3);
        assert_eq!(last.offset(), MAX_SPAN);
    }

    #[test]
    fn a_budget_stops_recording_and_says_so() {
        let start = Instant::now();
        let mut recorder = TerminalRecorder::new(Direction::Output, 0, start, Budget::Bytes(5));
        assert!(recorder.push(b"abc", start).is_empty());
        assert!(!recorder.truncated());
        assert!(recorder.push(b"defg", start).is_empty());
        assert!(recorder.truncated());
        assert_eq!(bytes(&recorder.flush().unwrap()), b"abcde");
    }
}
