//! Segment files: naming, listing, and the scan that validates one from end to end.
//!
//! A stream's directory holds `<base offset, 20 digits>.seg` files. Offsets run without a gap
//! from each segment's base to the next one's; only the newest segment is ever written.
//!
//! The scan is where damage is judged. In the newest segment, a frame cut short by the end of
//! the file, or a run of zero bytes, is a torn tail: a write that a crash interrupted, never
//! acknowledged, safe to drop. Anything else — a complete frame failing its checksum, an offset
//! out of sequence, a cut-short frame in an older segment — is damage to acknowledged data, and
//! is reported with the file and byte offset rather than silently truncated.

use std::fs;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::frame::{self, Decoded};
use crate::Error;

const EXTENSION: &str = "seg";
/// Extension of a segment being created, renamed to `.seg` once its header is on disk.
pub const UNFINISHED: &str = "seg-new";

/// The path of the segment whose first record has offset `base`.
pub fn path(dir: &Path, base: u64) -> PathBuf {
    dir.join(format!("{base:020}.{EXTENSION}"))
}

/// The segments of a stream directory, oldest first, as `(base offset, path)`.
pub fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>, Error> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io("listing segments in", dir, e))?;
    let mut segments = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("listing segments in", dir, e))?;
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some(EXTENSION) {
            continue;
        }
        let base = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<u64>().ok());
        match base {
            Some(base) => segments.push((base, path)),
            None => {
                return Err(Error::Corrupt {
                    path,
                    offset: 0,
                    reason: "segment file name is not a base offset".to_owned(),
                });
            }
        }
    }
    segments.sort_unstable_by_key(|(base, _)| *base);
    Ok(segments)
}

/// Removes segments whose creation a crash interrupted (they hold no record).
pub fn remove_unfinished(dir: &Path) -> Result<(), Error> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io("listing segments in", dir, e))?;
    for entry in entries {
        let path = entry
            .map_err(|e| Error::io("listing segments in", dir, e))?
            .path();
        if path.extension().and_then(|e| e.to_str()) == Some(UNFINISHED) {
            fs::remove_file(&path)
                .map_err(|e| Error::io("removing unfinished segment", &path, e))?;
        }
    }
    Ok(())
}

/// What a scan found at the end of a segment.
#[derive(Debug, PartialEq, Eq)]
pub enum Tail {
    /// The last frame ends exactly at the end of the file.
    Clean,
    /// Bytes after the last valid frame that a crash left: safe to drop.
    Torn {
        /// How many bytes follow the last valid frame.
        bytes: u64,
    },
}

/// The result of scanning a segment.
#[derive(Debug)]
pub struct Scan {
    /// Offset the next record appended after this segment's last one would get.
    pub next_offset: u64,
    /// Length in bytes of the header and every valid frame.
    pub valid_len: u64,
    /// What follows the last valid frame.
    pub tail: Tail,
}

/// Which rules a scan applies at the end of the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The newest segment: a torn tail is tolerated and reported.
    Newest,
    /// An older segment: it was complete when the next one began, so any tail is damage.
    Sealed,
}

/// Reads and validates a whole segment.
pub fn scan(
    path: &Path,
    expected_base: u64,
    max_payload: usize,
    role: Role,
) -> Result<Scan, Error> {
    let bytes = fs::read(path).map_err(|e| Error::io("reading segment", path, e))?;
    let bytes = Bytes::from(bytes);
    let corrupt = |offset: usize, reason: String| Error::Corrupt {
        path: path.to_owned(),
        offset: offset as u64,
        reason,
    };
    let base = frame::decode_header(&bytes).map_err(|reason| corrupt(0, reason))?;
    if base != expected_base {
        return Err(corrupt(
            8,
            format!("header names base offset {base}, file name {expected_base}"),
        ));
    }

    let mut at = frame::HEADER_LEN;
    let mut next_offset = base;
    while at < bytes.len() {
        match frame::decode(&bytes.slice(at..), max_payload) {
            Decoded::Record { record, len } => {
                if record.offset != next_offset {
                    let found = record.offset;
                    return Err(corrupt(
                        at,
                        format!("record offset {found}, expected {next_offset}"),
                    ));
                }
                next_offset += 1;
                at += len;
            }
            Decoded::Incomplete | Decoded::Zeroes if role == Role::Newest => {
                let torn = (bytes.len() - at) as u64;
                let tail = Tail::Torn { bytes: torn };
                return Ok(Scan {
                    next_offset,
                    valid_len: at as u64,
                    tail,
                });
            }
            Decoded::Incomplete | Decoded::Zeroes => {
                return Err(corrupt(
                    at,
                    "segment ends inside a record (truncated file)".to_owned(),
                ));
            }
            Decoded::Invalid(reason) => return Err(corrupt(at, reason)),
        }
    }
    Ok(Scan {
        next_offset,
        valid_len: at as u64,
        tail: Tail::Clean,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    fn write_segment(dir: &Path, base: u64, records: u64) -> PathBuf {
        let mut out = BytesMut::new();
        out.extend_from_slice(&frame::encode_header(base));
        for offset in base..base + records {
            frame::encode(
                &mut out,
                offset,
                1,
                b"k",
                format!("value {offset}").as_bytes(),
            );
        }
        let p = path(dir, base);
        fs::write(&p, &out).expect("write");
        p
    }

    #[test]
    fn names_sort_by_base() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_segment(dir.path(), 10, 1);
        write_segment(dir.path(), 2, 1);
        fs::write(dir.path().join("LOCK"), b"").expect("write");
        let bases: Vec<u64> = list(dir.path())
            .expect("list")
            .iter()
            .map(|s| s.0)
            .collect();
        assert_eq!(bases, vec![2, 10]);
    }

    #[test]
    fn clean_segment_scans() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = write_segment(dir.path(), 5, 3);
        let scan = scan(&p, 5, 1 << 20, Role::Sealed).expect("scan");
        assert_eq!((scan.next_offset, scan.tail), (8, Tail::Clean));
    }

    #[test]
    fn torn_tail_is_tolerated_only_in_the_newest_segment() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = write_segment(dir.path(), 0, 3);
        let full = fs::metadata(&p).expect("meta").len();
        let file = fs::OpenOptions::new().write(true).open(&p).expect("open");
        file.set_len(full - 3).expect("truncate");

        let newest = scan(&p, 0, 1 << 20, Role::Newest).expect("scan");
        assert_eq!(newest.next_offset, 2);
        assert!(matches!(newest.tail, Tail::Torn { .. }));

        let err = scan(&p, 0, 1 << 20, Role::Sealed).expect_err("sealed segment is damaged");
        let message = err.to_string();
        assert!(message.contains("truncated"), "{message}");
        assert!(message.contains(&p.display().to_string()), "{message}");
    }

    #[test]
    fn flipped_byte_is_damage_with_file_and_offset() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = write_segment(dir.path(), 0, 3);
        let mut bytes = fs::read(&p).expect("read");
        let second_frame = frame::HEADER_LEN + frame::frame_len(b"k", b"value 0");
        bytes[second_frame + 12] ^= 1;
        fs::write(&p, &bytes).expect("write");
        let err = scan(&p, 0, 1 << 20, Role::Newest).expect_err("damage");
        assert!(
            matches!(&err, Error::Corrupt { offset, .. } if *offset == second_frame as u64),
            "{err}"
        );
    }

    #[test]
    fn header_must_match_the_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = write_segment(dir.path(), 4, 1);
        assert!(scan(&p, 5, 1 << 20, Role::Newest).is_err());
    }
}
