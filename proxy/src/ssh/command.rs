//! What a channel asks for, as commands: the exec command line, and in a shell the lines
//! typed, reconstructed from keystrokes.
//!
//! Reconstruction is best effort and flagged as such (`ssh:typed-line` in the recorded
//! summary): it follows printable characters, backspace, Ctrl-U and Ctrl-W, drops escape
//! sequences (arrows, function keys) and ends a line at Enter. It cannot see what the remote
//! shell's history or completion inserted; the terminal output, recorded beside it, is the
//! authority. Typed lines are recorded, never decided: the shell as a whole was.

use schemas::Protocol;
use schemas::body::{CommandReceived, CommandSummary};

use crate::policy::SshFacts;

/// The summary action of a line reconstructed from a shell's keystrokes.
pub const TYPED_LINE: &str = "ssh:typed-line";

/// Typed lines are capped, so a paste of megabytes does not become one event.
const MAX_LINE: usize = 4096;

/// `command.received` for the request `facts` describe, in the form a backtest reads back
/// (`SshFacts::from_recorded`).
pub fn received(facts: &SshFacts) -> CommandReceived {
    recorded(facts.action.name(), &facts.recorded_text())
}

fn recorded(action: &str, text: &str) -> CommandReceived {
    CommandReceived {
        protocol: Protocol::Ssh,
        text: text.to_owned(),
        summary: Some(CommandSummary {
            action: action.to_owned(),
            statements: 1,
            ..CommandSummary::default()
        }),
        parameters: Vec::new(),
    }
}

/// `command.received` for a line reconstructed from keystrokes.
pub fn typed(line: &str) -> CommandReceived {
    CommandReceived {
        summary: Some(CommandSummary {
            action: TYPED_LINE.to_owned(),
            statements: 1,
            ..CommandSummary::default()
        }),
        ..recorded(TYPED_LINE, line)
    }
}

/// Where the line editor is in an escape sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
enum Escape {
    #[default]
    None,
    /// After ESC.
    Started,
    /// Inside `ESC [` or `ESC O`, until a final byte.
    Sequence,
}

/// Rebuilds typed lines from a terminal's input bytes.
#[derive(Debug, Default)]
pub struct TypedLines {
    line: Vec<u8>,
    escape: Escape,
}

impl TypedLines {
    /// Takes input bytes; returns the lines completed by them (non-empty, trimmed).
    pub fn push(&mut self, data: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        for &byte in data {
            match (self.escape, byte) {
                (Escape::Started, b'[' | b'O') => self.escape = Escape::Sequence,
                (Escape::Started, _) => self.escape = Escape::None,
                (Escape::Sequence, 0x40..=0x7e) => self.escape = Escape::None,
                (Escape::Sequence, _) => {}
                (Escape::None, 0x1b) => self.escape = Escape::Started,
                (Escape::None, b'\r' | b'\n') => {
                    let line = String::from_utf8_lossy(&self.line).trim().to_owned();
                    self.line.clear();
                    if !line.is_empty() {
                        lines.push(line);
                    }
                }
                (Escape::None, 0x7f | 0x08) => {
                    self.pop_char();
                }
                // Ctrl-U: the whole line; Ctrl-C: the line is abandoned.
                (Escape::None, 0x15 | 0x03) => self.line.clear(),
                // Ctrl-W: the word before the cursor.
                (Escape::None, 0x17) => {
                    while self.line.last() == Some(&b' ') {
                        self.line.pop();
                    }
                    while self.line.last().is_some_and(|b| *b != b' ') {
                        self.line.pop();
                    }
                }
                (Escape::None, b'\t') => self.line.push(b' '),
                (Escape::None, 0x00..=0x1f) => {}
                (Escape::None, _) if self.line.len() < MAX_LINE => self.line.push(byte),
                (Escape::None, _) => {}
            }
        }
        lines
    }

    /// Removes the last character (a whole UTF-8 sequence).
    fn pop_char(&mut self) {
        while let Some(byte) = self.line.pop() {
            if byte & 0xc0 != 0x80 {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_follow_backspace_kill_and_skip_escape_sequences() {
        let mut lines = TypedLines::default();
        assert!(lines.push(b"ls -lx").is_empty());
        assert_eq!(lines.push(b"\x7fa\r"), vec!["ls -la"]);
        assert_eq!(
            lines.push(b"garbage\x15echo hi\x1b[A\x1b[D there\r\n"),
            vec!["echo hi there"]
        );
        assert_eq!(lines.push(b"cat /etc/x\x17hosts\r"), vec!["cat hosts"]);
        assert!(lines.push(b"\r\r  \r").is_empty());
        assert_eq!(lines.push("é\x7fe\r".as_bytes()), vec!["e"]);
    }

    #[test]
    fn typed_lines_are_flagged() {
        let event = typed("uptime");
        assert_eq!(event.summary.unwrap().action, TYPED_LINE);
        assert_eq!(event.protocol, Protocol::Ssh);
    }
}
