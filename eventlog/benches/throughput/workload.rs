//! The events every mode appends: ~300-byte JSON command events of 1000 sessions, built
//! once before anything is timed, and the same events framed as the embedded log frames them
//! (for the raw-disk baselines).
//!
//! Values are unique (a sequence number and a 64-hex-digit previous hash per event, as the
//! hash chain puts on every real event), so Kafka's zstd sees realistically compressible data,
//! not one payload repeated.

use anyhow::{Result, ensure};
use bytes::{BufMut, Bytes, BytesMut};
use eventlog::Record;

/// Sessions the events are spread over (the record key is the session id).
pub const SESSIONS: u64 = 1000;
/// Size of every event's value.
pub const EVENT_SIZE: usize = 300;
/// The embedded log's frame: length u32, crc32c u32, then offset u64, timestamp i64, key
/// length u32 (see `eventlog::embedded::frame`, which is private).
const FRAME_OVERHEAD: usize = 8 + 20;
/// A fixed timestamp: the bench does not care about the clock, only about the bytes.
const TIMESTAMP_MS: i64 = 1_767_225_600_123;

/// The events of a run, and their bytes as segment frames.
pub struct Workload {
    /// Every event, in the order appenders take them.
    pub records: Vec<Record>,
    /// Every event framed, back to back.
    pub frames: Vec<u8>,
    /// The size of one frame (every key and value has the same length).
    pub frame_len: usize,
    /// Key and value bytes of one event: what MB/s counts.
    pub record_len: usize,
}

impl Workload {
    /// Builds `count` events.
    pub fn new(count: usize) -> Result<Self> {
        let sessions: Vec<String> = (0..SESSIONS).map(session_id).collect();
        let mut records = Vec::with_capacity(count);
        for n in 0..count as u64 {
            let session = &sessions[(n % SESSIONS) as usize];
            let value = event_value(session, n / SESSIONS, n)?;
            records.push(Record::new(session.clone(), value));
        }
        let record_len = records.first().map_or(0, |r| r.key.len() + r.value.len());
        let frame_len = FRAME_OVERHEAD + record_len;
        let mut frames = BytesMut::with_capacity(count * frame_len);
        for (offset, record) in records.iter().enumerate() {
            ensure!(
                record.key.len() + record.value.len() == record_len,
                "uneven event sizes"
            );
            encode_frame(&mut frames, offset as u64, &record.key, &record.value);
        }
        Ok(Workload {
            records,
            frames: frames.to_vec(),
            frame_len,
            record_len,
        })
    }

    /// How many events there are.
    pub fn len(&self) -> usize {
        self.records.len()
    }
}

/// A UUID-shaped session id (36 bytes), as the proxy's session ids are.
fn session_id(n: u64) -> String {
    let a = splitmix(n);
    let b = splitmix(a);
    format!(
        "{:08x}-{:04x}-7{:03x}-8{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        (b >> 48) & 0xfff,
        b & 0xffff_ffff_ffff
    )
}

/// A `command.received`-shaped event padded (through its SQL text) to exactly `EVENT_SIZE`.
fn event_value(session: &str, seq: u64, n: u64) -> Result<Bytes> {
    let mut prev = String::with_capacity(64);
    let mut h = n;
    for _ in 0..4 {
        h = splitmix(h);
        prev.push_str(&format!("{h:016x}"));
    }
    let at_ms = TIMESTAMP_MS + n as i64;
    let mut value = format!(
        r#"{{"type":"command.received","session":"{session}","seq":{seq},"at":{at_ms},"agent":"claude-code","human":"alice@example.com","target":"pg-prod","prev":"{prev}","sql":""#
    );
    let sql = format!(
        "SELECT id, email, plan FROM accounts WHERE id = {} ORDER BY created_at DESC LIMIT 50; ",
        n.wrapping_mul(7919) % 1_000_003
    );
    let room = EVENT_SIZE
        .checked_sub(value.len() + 2)
        .filter(|room| *room > 0)
        .ok_or_else(|| anyhow::anyhow!("event header alone is {} bytes", value.len()))?;
    value.extend(sql.chars().cycle().take(room));
    value.push_str("\"}");
    ensure!(value.len() == EVENT_SIZE, "event is {} bytes", value.len());
    Ok(Bytes::from(value))
}

/// The same bytes `eventlog`'s segment writer produces for a record.
fn encode_frame(out: &mut BytesMut, offset: u64, key: &[u8], value: &[u8]) {
    let payload_len = FRAME_OVERHEAD - 8 + key.len() + value.len();
    let start = out.len();
    out.put_u32_le(payload_len as u32);
    out.put_u32_le(0);
    out.put_u64_le(offset);
    out.put_i64_le(TIMESTAMP_MS);
    out.put_u32_le(key.len() as u32);
    out.put_slice(key);
    out.put_slice(value);
    let crc = crc32c::crc32c(&out[start + 8..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
