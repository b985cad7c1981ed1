//! The terminal screen at any moment of a recording, with keyframes for fast seek.
//!
//! [`ScreenIndex::build`] feeds a [`Recording`]'s output through a vt100 terminal emulator
//! once and keeps a keyframe every `every` of session time: the emulator's full state
//! (contents, attributes, cursor, modes) as the escape sequences that recreate it. [`ScreenIndex::at`]
//! restores the last keyframe before the moment and feeds only the output after it, so seeking
//! costs at most one keyframe interval of output, however long the session. [`screen_at`] is the
//! reference: everything from the start, no keyframes.

use std::num::NonZeroU16;
use std::time::Duration;

use super::terminal::{FrameKind, Recording};

/// How much session time lies between two keyframes.
pub const KEYFRAME_EVERY: Duration = Duration::from_secs(5);

/// A snapshot of the emulator after `next_frame` frames.
#[derive(Debug, Clone)]
struct Keyframe {
    offset: Duration,
    next_frame: usize,
    size: (u16, u16),
    state: Vec<u8>,
}

/// A recording with keyframes.
#[derive(Debug, Clone)]
pub struct ScreenIndex {
    recording: Recording,
    keyframes: Vec<Keyframe>,
}

fn parser(size: (u16, u16)) -> vt100::Parser {
    let cols = NonZeroU16::new(size.0).unwrap_or(vt100::Parser::DEFAULT_COLS);
    let rows = NonZeroU16::new(size.1).unwrap_or(vt100::Parser::DEFAULT_ROWS);
    vt100::Parser::new(rows, cols, 0)
}

fn apply(parser: &mut vt100::Parser, size: &mut (u16, u16), kind: &FrameKind) {
    match kind {
        FrameKind::Output(data) => parser.process(data),
        FrameKind::Resize { cols, rows } => {
            *size = (*cols, *rows);
            if let (Some(rows), Some(cols)) = (NonZeroU16::new(*rows), NonZeroU16::new(*cols)) {
                parser.set_size(rows, cols);
            }
        }
        FrameKind::Input(_) => {}
    }
}

impl ScreenIndex {
    /// Feeds the recording once, keeping a keyframe every `every`.
    pub fn build(recording: Recording, every: Duration) -> Self {
        let mut size = recording.size;
        let mut emulator = parser(size);
        let mut keyframes = Vec::new();
        let mut due = every;
        for (i, frame) in recording.frames.iter().enumerate() {
            if frame.offset >= due && !every.is_zero() {
                keyframes.push(Keyframe {
                    offset: frame.offset,
                    next_frame: i,
                    size,
                    state: emulator.screen().state_formatted().into_bytes(),
                });
                while due <= frame.offset {
                    due += every;
                }
            }
            apply(&mut emulator, &mut size, &frame.kind);
        }
        ScreenIndex {
            recording,
            keyframes,
        }
    }

    /// How many keyframes the index holds.
    pub fn keyframes(&self) -> usize {
        self.keyframes.len()
    }

    /// The recording indexed.
    pub fn recording(&self) -> &Recording {
        &self.recording
    }

    /// The emulator as it was at `at`: every output up to and including `at` applied.
    pub fn at(&self, at: Duration) -> vt100::Parser {
        let from = self.keyframes.partition_point(|k| k.offset <= at);
        let (mut emulator, mut size, start) =
            match from.checked_sub(1).and_then(|i| self.keyframes.get(i)) {
                Some(key) => {
                    let mut emulator = parser(key.size);
                    emulator.process(&key.state);
                    (emulator, key.size, key.next_frame)
                }
                None => (parser(self.recording.size), self.recording.size, 0),
            };
        for frame in self.recording.frames.iter().skip(start) {
            if frame.offset > at {
                break;
            }
            apply(&mut emulator, &mut size, &frame.kind);
        }
        emulator
    }
}

/// The emulator at `at`, fed from the start without keyframes (the reference for seeks).
pub fn screen_at(recording: &Recording, at: Duration) -> vt100::Parser {
    let mut size = recording.size;
    let mut emulator = parser(size);
    for frame in recording.frames.iter().take_while(|f| f.offset <= at) {
        apply(&mut emulator, &mut size, &frame.kind);
    }
    emulator
}

/// Parses `HH:MM:SS`, `MM:SS` or `SS` (seconds may have a fraction) into an offset.
pub fn parse_clock(text: &str) -> Option<Duration> {
    let mut seconds = 0.0_f64;
    let parts: Vec<&str> = text.split(':').collect();
    if parts.is_empty() || parts.len() > 3 {
        return None;
    }
    for part in &parts {
        let value: f64 = part.parse().ok()?;
        if !value.is_finite() || value < 0.0 {
            return None;
        }
        seconds = seconds * 60.0 + value;
    }
    Some(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::parse_clock;

    #[test]
    fn clocks_parse() {
        assert_eq!(parse_clock("00:42:10"), Some(Duration::from_secs(2530)));
        assert_eq!(parse_clock("1:05"), Some(Duration::from_secs(65)));
        assert_eq!(parse_clock("7.5"), Some(Duration::from_millis(7500)));
        assert_eq!(parse_clock("a:b"), None);
        assert_eq!(parse_clock("1:2:3:4"), None);
    }
}
