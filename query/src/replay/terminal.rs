//! A terminal session's recording: the bytes each way with their offsets, and the sizes.
//!
//! [`Recording::from_events`] picks `terminal.output`, `terminal.input` and
//! `terminal.resized` out of a session's events (from the archive or a live capture). The
//! recording plays back in real time ([`play`]) with `--speed` and `--max-idle`, and feeds the
//! asciicast writer and the screen index. Offsets are the proxy's (`offset_ns`, since the
//! session started), so replays keep the session's own rhythm.

use std::io::Write;
use std::time::Duration;

use schemas::{Event, EventBody, Timestamp};

/// The size a terminal has before the first `terminal.resized`: the classic 80×24.
pub const DEFAULT_SIZE: (u16, u16) = (80, 24);

/// What happened at one moment of a terminal session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameKind {
    /// Bytes to the client's terminal.
    Output(Vec<u8>),
    /// Bytes from the client's keyboard.
    Input(Vec<u8>),
    /// The terminal became `cols` × `rows`.
    Resize {
        /// Width.
        cols: u16,
        /// Height.
        rows: u16,
    },
}

/// One moment of a terminal session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Since the session started.
    pub offset: Duration,
    /// What happened.
    pub kind: FrameKind,
}

/// A terminal session, ready to play.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    /// When the session started.
    pub started: Timestamp,
    /// The initial size (cols, rows): the first resize at offset 0, or [`DEFAULT_SIZE`].
    pub size: (u16, u16),
    /// The moments, in offset order.
    pub frames: Vec<Frame>,
}

impl Recording {
    /// The terminal part of a session's events.
    pub fn from_events(events: &[Event]) -> Self {
        let started = events.first().map_or(Timestamp::UNIX_EPOCH, |e| e.time);
        let mut frames: Vec<Frame> = events
            .iter()
            .filter_map(|event| {
                let (offset, kind) = match &event.body {
                    EventBody::TerminalOutput(d) => {
                        (d.offset_ns, FrameKind::Output(d.data.clone()))
                    }
                    EventBody::TerminalInput(d) => (d.offset_ns, FrameKind::Input(d.data.clone())),
                    EventBody::TerminalResized(r) => (
                        r.offset_ns,
                        FrameKind::Resize {
                            cols: r.cols,
                            rows: r.rows,
                        },
                    ),
                    _ => return None,
                };
                Some(Frame {
                    offset: Duration::from_nanos(offset),
                    kind,
                })
            })
            .collect();
        // Stable: events with one offset keep their seq order.
        frames.sort_by_key(|f| f.offset);
        let size = frames
            .iter()
            .take_while(|f| f.offset.is_zero())
            .find_map(|f| match f.kind {
                FrameKind::Resize { cols, rows } => Some((cols, rows)),
                _ => None,
            })
            .unwrap_or(DEFAULT_SIZE);
        Recording {
            started,
            size,
            frames,
        }
    }

    /// Whether the session has terminal data at all.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// The recording's length.
    pub fn duration(&self) -> Duration {
        self.frames.last().map_or(Duration::ZERO, |f| f.offset)
    }
}

/// How a recording is paced when played or exported.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    /// Playback speed: 2.0 plays twice as fast.
    pub speed: f64,
    /// Pauses longer than this are shortened to it.
    pub max_idle: Option<Duration>,
}

impl Default for Pace {
    fn default() -> Self {
        Pace {
            speed: 1.0,
            max_idle: None,
        }
    }
}

impl Pace {
    /// The playback time of each frame, in order: gaps capped by `max_idle`, divided by `speed`.
    pub fn times(&self, recording: &Recording) -> Vec<Duration> {
        let speed = if self.speed.is_finite() && self.speed > 0.0 {
            self.speed
        } else {
            1.0
        };
        let mut at = Duration::ZERO;
        let mut previous = Duration::ZERO;
        recording
            .frames
            .iter()
            .map(|frame| {
                let mut gap = frame.offset.saturating_sub(previous);
                previous = frame.offset;
                if let Some(max) = self.max_idle {
                    gap = gap.min(max);
                }
                at += gap.div_f64(speed);
                at
            })
            .collect()
    }
}

/// Plays the output of `recording` into `out` in real time (paced by `pace`).
pub fn play(recording: &Recording, pace: Pace, out: &mut dyn Write) -> std::io::Result<()> {
    let start = std::time::Instant::now();
    for (frame, at) in recording.frames.iter().zip(pace.times(recording)) {
        let FrameKind::Output(data) = &frame.kind else {
            continue;
        };
        let wait = at.saturating_sub(start.elapsed());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        out.write_all(data)?;
        out.flush()?;
    }
    Ok(())
}
