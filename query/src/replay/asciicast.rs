//! asciicast v2, the format asciinema's player reads: a JSON header line, then one JSON array
//! per event, `[seconds, "o" | "i" | "r", data]`.
//!
//! Times follow the [`Pace`] (so `--speed` and `--max-idle` apply); `idle_time_limit` is set
//! when `max_idle` is. Data must be UTF-8 text: a multi-byte character split across two
//! recorded chunks is carried to the next chunk rather than mangled, and bytes that are not
//! UTF-8 at all become U+FFFD.

use std::io::Write;

use serde_json::json;

use super::terminal::{FrameKind, Pace, Recording};

/// Writes `recording` as asciicast v2 to `out`.
pub fn write(
    recording: &Recording,
    pace: Pace,
    title: &str,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let (width, height) = recording.size;
    let mut header = json!({
        "version": 2,
        "width": width,
        "height": height,
        "timestamp": recording.started.unix_nanos() / 1_000_000_000,
        "title": title,
        "env": { "TERM": "xterm-256color" },
    });
    if let Some(max) = pace.max_idle {
        header["idle_time_limit"] = json!(max.as_secs_f64());
    }
    writeln!(out, "{header}")?;
    let mut carry_out = Vec::new();
    let mut carry_in = Vec::new();
    for (frame, at) in recording.frames.iter().zip(pace.times(recording)) {
        let time = (at.as_secs_f64() * 1e6).round() / 1e6;
        let (code, data) = match &frame.kind {
            FrameKind::Output(bytes) => ("o", utf8_prefix(&mut carry_out, bytes)),
            FrameKind::Input(bytes) => ("i", utf8_prefix(&mut carry_in, bytes)),
            FrameKind::Resize { cols, rows } => ("r", format!("{cols}x{rows}")),
        };
        if data.is_empty() {
            continue;
        }
        writeln!(out, "{}", json!([time, code, data]))?;
    }
    Ok(())
}

/// `carry` + `bytes` as text, keeping an incomplete trailing character in `carry`.
fn utf8_prefix(carry: &mut Vec<u8>, bytes: &[u8]) -> String {
    carry.extend_from_slice(bytes);
    let complete = match std::str::from_utf8(carry) {
        Ok(_) => carry.len(),
        Err(e) if e.error_len().is_none() => e.valid_up_to(),
        Err(_) => carry.len(),
    };
    let text = String::from_utf8_lossy(&carry[..complete]).into_owned();
    carry.drain(..complete);
    text
}

#[cfg(test)]
mod tests {
    use super::utf8_prefix;

    #[test]
    fn a_character_split_across_chunks_is_carried_whole() {
        let mut carry = Vec::new();
        let euro = "€".as_bytes();
        assert_eq!(utf8_prefix(&mut carry, &[b'a', euro[0]]), "a");
        assert_eq!(utf8_prefix(&mut carry, &euro[1..]), "€");
        assert!(carry.is_empty());
    }
}
