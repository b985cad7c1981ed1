//! The bytes of a segment: a header, then length-prefixed, CRC32C-checked record frames.
//!
//! ```text
//! segment header (16 bytes): magic "BWSEG001" | base offset u64 LE
//! frame:                      length u32 LE | crc32c(payload) u32 LE | payload
//! payload:                    offset u64 LE | timestamp ms i64 LE | key length u32 LE | key | value
//! ```
//!
//! Decoding never panics and never trusts a length before checking it against what is there.
//! It tells a frame that runs past the end of the bytes (a write cut short: a torn tail, or a
//! frame still being written) apart from a complete frame that fails its checksum (damage).
//! What to do with either is the caller's decision: see `segment`.

use bytes::{BufMut, Bytes, BytesMut};

/// Magic bytes at the start of every segment file.
pub const MAGIC: &[u8; 8] = b"BWSEG001";
/// Size of the segment header.
pub const HEADER_LEN: usize = 16;
/// Size of a frame's length and checksum.
pub const FRAME_PREFIX_LEN: usize = 8;
/// Size of the fixed part of a payload (offset, timestamp, key length).
const PAYLOAD_FIXED_LEN: usize = 20;

/// A record as stored in a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRecord {
    /// The record's offset in its stream.
    pub offset: u64,
    /// Milliseconds since the Unix epoch when it was appended.
    pub timestamp_ms: i64,
    /// The record's key.
    pub key: Bytes,
    /// The record's value.
    pub value: Bytes,
}

/// The outcome of decoding one frame at the start of a byte slice.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A valid frame of `len` bytes.
    Record { record: StoredRecord, len: usize },
    /// The slice ends inside the frame: it is still being written, or was cut short.
    Incomplete,
    /// Only zero bytes follow: space a crash left allocated but unwritten.
    Zeroes,
    /// A complete frame that is not a valid record.
    Invalid(String),
}

/// The encoded size of a record's frame.
pub fn frame_len(key: &[u8], value: &[u8]) -> usize {
    FRAME_PREFIX_LEN + PAYLOAD_FIXED_LEN + key.len() + value.len()
}

/// Encodes a segment header.
pub fn encode_header(base_offset: u64) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(MAGIC);
    header[8..].copy_from_slice(&base_offset.to_le_bytes());
    header
}

/// Decodes a segment header, returning the base offset it names.
pub fn decode_header(bytes: &[u8]) -> Result<u64, String> {
    let Some(header) = bytes.get(..HEADER_LEN) else {
        return Err(format!(
            "header needs {HEADER_LEN} bytes, file has {}",
            bytes.len()
        ));
    };
    if &header[..8] != MAGIC {
        return Err("not a blastwall segment (bad magic)".to_owned());
    }
    Ok(read_u64(&header[8..]))
}

/// Appends the frame of one record to `out`.
pub fn encode(out: &mut BytesMut, offset: u64, timestamp_ms: i64, key: &[u8], value: &[u8]) {
    let payload_len = PAYLOAD_FIXED_LEN + key.len() + value.len();
    out.reserve(FRAME_PREFIX_LEN + payload_len);
    let start = out.len();
    // Lengths are bounded by the caller's record limit, far below u32::MAX.
    out.put_u32_le(payload_len as u32);
    out.put_u32_le(0); // checksum, filled in below
    out.put_u64_le(offset);
    out.put_i64_le(timestamp_ms);
    out.put_u32_le(key.len() as u32);
    out.put_slice(key);
    out.put_slice(value);
    let crc = crc32c::crc32c(&out[start + FRAME_PREFIX_LEN..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// How many bytes the frame starting at `bytes` needs in all, as far as its prefix tells.
pub fn wanted(bytes: &[u8], max_payload: usize) -> usize {
    match bytes.get(..4) {
        Some(len) => FRAME_PREFIX_LEN + (read_u32(len) as usize).min(max_payload),
        None => FRAME_PREFIX_LEN,
    }
}

/// Decodes the frame at the start of `bytes`; `max_payload` bounds what a length may claim.
pub fn decode(bytes: &Bytes, max_payload: usize) -> Decoded {
    if bytes.iter().all(|b| *b == 0) && !bytes.is_empty() {
        return Decoded::Zeroes;
    }
    let Some(prefix) = bytes.get(..FRAME_PREFIX_LEN) else {
        return Decoded::Incomplete;
    };
    let payload_len = read_u32(&prefix[..4]) as usize;
    let crc = read_u32(&prefix[4..]);
    if payload_len < PAYLOAD_FIXED_LEN || payload_len > max_payload {
        return Decoded::Invalid(format!("frame claims a payload of {payload_len} bytes"));
    }
    let frame_end = FRAME_PREFIX_LEN + payload_len;
    if bytes.len() < frame_end {
        return Decoded::Incomplete;
    }
    let payload = bytes.slice(FRAME_PREFIX_LEN..frame_end);
    let actual = crc32c::crc32c(&payload);
    if actual != crc {
        return Decoded::Invalid(format!("checksum {actual:08x} does not match {crc:08x}"));
    }
    let key_len = read_u32(&payload[16..20]) as usize;
    if PAYLOAD_FIXED_LEN + key_len > payload_len {
        return Decoded::Invalid(format!("key length {key_len} exceeds the payload"));
    }
    let record = StoredRecord {
        offset: read_u64(&payload[..8]),
        timestamp_ms: read_u64(&payload[8..16]) as i64,
        key: payload.slice(PAYLOAD_FIXED_LEN..PAYLOAD_FIXED_LEN + key_len),
        value: payload.slice(PAYLOAD_FIXED_LEN + key_len..),
    };
    Decoded::Record {
        record,
        len: frame_end,
    }
}

// Callers pass slices of exactly the right length, taken after a bounds check.
fn read_u32(bytes: &[u8]) -> u32 {
    let mut buf = [0u8; 4];
    buf.copy_from_slice(&bytes[..4]);
    u32::from_le_bytes(buf)
}

fn read_u64(bytes: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    buf.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(offset: u64, key: &[u8], value: &[u8]) -> Bytes {
        let mut out = BytesMut::new();
        encode(&mut out, offset, 1_700_000_000_000, key, value);
        out.freeze()
    }

    #[test]
    fn round_trip() {
        let bytes = frame(42, b"session", b"payload");
        assert_eq!(bytes.len(), frame_len(b"session", b"payload"));
        let Decoded::Record { record, len } = decode(&bytes, 1 << 20) else {
            panic!("not decoded");
        };
        assert_eq!(len, bytes.len());
        assert_eq!(record.offset, 42);
        assert_eq!(record.timestamp_ms, 1_700_000_000_000);
        assert_eq!(&record.key[..], b"session");
        assert_eq!(&record.value[..], b"payload");
    }

    #[test]
    fn golden_bytes() {
        let bytes = frame(1, b"k", b"v");
        // The checksum was computed independently (a bitwise CRC32C in Python).
        let expected = "16000000\
                        0070415f\
                        0100000000000000\
                        0068e5cf8b010000\
                        01000000\
                        6b76";
        assert_eq!(hex(&bytes), expected);
        assert_eq!(
            hex(&encode_header(7)),
            "425753454730303107000000000000".to_owned() + "00"
        );
    }

    #[test]
    fn every_cut_of_a_frame_is_incomplete() {
        let bytes = frame(3, b"key", b"some value");
        for cut in 1..bytes.len() {
            assert_eq!(
                decode(&bytes.slice(..cut), 1 << 20),
                Decoded::Incomplete,
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn every_flipped_byte_is_caught() {
        let bytes = frame(3, b"key", b"some value");
        for at in 0..bytes.len() {
            let mut damaged = bytes.to_vec();
            damaged[at] ^= 0x40;
            let decoded = decode(&Bytes::from(damaged), 1 << 20);
            assert!(
                matches!(decoded, Decoded::Invalid(_) | Decoded::Incomplete),
                "flip at {at} decoded as {decoded:?}"
            );
        }
    }

    #[test]
    fn absurd_lengths_are_invalid_not_allocated() {
        let mut bytes = BytesMut::new();
        bytes.put_u32_le(u32::MAX);
        bytes.put_u32_le(0);
        bytes.put_slice(&[1u8; 32]);
        assert!(matches!(
            decode(&bytes.freeze(), 1 << 20),
            Decoded::Invalid(_)
        ));
    }

    #[test]
    fn zero_tail_is_recognised() {
        assert_eq!(
            decode(&Bytes::from(vec![0u8; 100]), 1 << 20),
            Decoded::Zeroes
        );
        assert_eq!(decode(&Bytes::new(), 1 << 20), Decoded::Incomplete);
    }

    #[test]
    fn header_is_checked() {
        assert_eq!(decode_header(&encode_header(99)), Ok(99));
        assert!(decode_header(b"BWSEG001").is_err());
        assert!(decode_header(b"NOTASEGMENTFILE!").is_err());
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
