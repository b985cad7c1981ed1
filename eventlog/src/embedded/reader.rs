//! Reading a stream's segments in order, in this process or another one.
//!
//! A reader follows offsets from segment to segment. It trusts nothing: each frame's checksum
//! and offset are checked, a sealed segment must end exactly where the next one begins, and a
//! frame still being written at the end of the newest segment is left for the next read.
//! A reader never writes; the writer never waits for readers.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};

use super::frame::{self, Decoded};
use super::segment;
use crate::{Entry, Error, Position, Stream};

/// How much of a segment one read takes in at most.
const READ_CHUNK: usize = 4 << 20;

struct OpenSegment {
    base: u64,
    path: PathBuf,
    file: File,
    /// Byte offset in the file of the first byte of `pending`.
    at: u64,
    /// Bytes read but not yet decoded: the start of a frame still incomplete.
    pending: Bytes,
    /// A newer segment exists, so this one will not grow any more.
    sealed: bool,
}

/// A position in a stream and the segment being read there.
pub struct Reader {
    stream: Stream,
    dir: PathBuf,
    max_payload: usize,
    next_offset: u64,
    current: Option<OpenSegment>,
}

impl Reader {
    /// A reader of the stream in `dir` whose first record will be `next_offset`.
    pub fn new(stream: Stream, dir: &Path, max_payload: usize, next_offset: u64) -> Self {
        Reader {
            stream,
            dir: dir.to_owned(),
            max_payload,
            next_offset,
            current: None,
        }
    }

    /// Returns up to `max` records available now; an empty vector when there are none yet.
    pub fn read(&mut self, max: usize) -> Result<Vec<Entry>, Error> {
        let mut out = Vec::new();
        while out.len() < max {
            if self.current.is_none() && !self.locate()? {
                break;
            }
            if !self.read_segment(max, &mut out)? {
                break;
            }
        }
        Ok(out)
    }

    /// Opens the segment holding `next_offset`. Returns false when the stream is empty.
    fn locate(&mut self) -> Result<bool, Error> {
        let segments = segment::list(&self.dir)?;
        let Some((first_base, _)) = segments.first() else {
            return Ok(false);
        };
        if self.next_offset < *first_base {
            tracing::warn!(
                stream = %self.stream, from = self.next_offset, to = first_base,
                "records before the oldest kept segment were removed by retention; skipping"
            );
            self.next_offset = *first_base;
        }
        let Some((base, path)) = segments
            .iter()
            .rev()
            .find(|(base, _)| *base <= self.next_offset)
        else {
            return Ok(false);
        };
        self.open(*base, path.clone())?;
        Ok(true)
    }

    fn open(&mut self, base: u64, path: PathBuf) -> Result<(), Error> {
        let mut file = File::open(&path).map_err(|e| Error::io("opening segment", &path, e))?;
        let mut header = [0u8; frame::HEADER_LEN];
        file.read_exact(&mut header)
            .map_err(|e| Error::io("reading segment header", &path, e))?;
        let named = frame::decode_header(&header).map_err(|reason| Error::Corrupt {
            path: path.clone(),
            offset: 0,
            reason,
        })?;
        if named != base {
            let reason = format!("header names base offset {named}, file name {base}");
            return Err(Error::Corrupt {
                path,
                offset: 8,
                reason,
            });
        }
        file.seek(SeekFrom::Start(frame::HEADER_LEN as u64))
            .map_err(|e| Error::io("reading segment", &path, e))?;
        let at = frame::HEADER_LEN as u64;
        self.current = Some(OpenSegment {
            base,
            path,
            file,
            at,
            pending: Bytes::new(),
            sealed: false,
        });
        Ok(())
    }

    /// Decodes what the current segment holds. Returns false when the reader must wait.
    fn read_segment(&mut self, max: usize, out: &mut Vec<Entry>) -> Result<bool, Error> {
        let Some(segment) = self.current.as_mut() else {
            return Ok(false);
        };
        if segment.pending.is_empty() {
            fill(segment, 0)?;
        }
        while out.len() < max {
            match frame::decode(&segment.pending, self.max_payload) {
                Decoded::Record { record, len } => {
                    segment.pending = segment.pending.slice(len..);
                    segment.at += len as u64;
                    if record.offset < self.next_offset {
                        continue; // seeking forward to the consumer's position
                    }
                    if record.offset > self.next_offset {
                        return Err(Error::MissingRecords {
                            stream: self.stream,
                            first: self.next_offset,
                            last: record.offset - 1,
                            path: segment.path.clone(),
                        });
                    }
                    out.push(Entry {
                        position: Position {
                            partition: 0,
                            offset: record.offset,
                        },
                        timestamp_ms: record.timestamp_ms,
                        key: record.key,
                        value: record.value,
                    });
                    self.next_offset += 1;
                }
                Decoded::Incomplete | Decoded::Zeroes => {
                    let before = segment.pending.len();
                    fill(segment, frame::wanted(&segment.pending, self.max_payload))?;
                    if segment.pending.len() > before {
                        continue;
                    }
                    return self.at_end_of_segment();
                }
                Decoded::Invalid(reason) => {
                    let (path, offset) = (segment.path.clone(), segment.at);
                    return Err(Error::Corrupt {
                        path,
                        offset,
                        reason,
                    });
                }
            }
        }
        Ok(true)
    }

    /// At the end of what a segment holds: move on if a newer one exists, else wait.
    fn at_end_of_segment(&mut self) -> Result<bool, Error> {
        let Some(segment) = self.current.as_mut() else {
            return Ok(false);
        };
        let segments = segment::list(&self.dir)?;
        let Some((next_base, next_path)) =
            segments.into_iter().find(|(base, _)| *base > segment.base)
        else {
            return Ok(false); // the newest segment: the rest is still being written
        };
        if !segment.sealed {
            // The writer may have finished this segment since the last read: read once more.
            segment.sealed = true;
            return Ok(true);
        }
        // A newer segment exists, so this one was complete before it began.
        if !segment.pending.is_empty() {
            let reason = "segment ends inside a record (truncated file)".to_owned();
            return Err(Error::Corrupt {
                path: segment.path.clone(),
                offset: segment.at,
                reason,
            });
        }
        if next_base != self.next_offset {
            return Err(Error::MissingRecords {
                stream: self.stream,
                first: self.next_offset,
                last: next_base.saturating_sub(1),
                path: next_path,
            });
        }
        self.open(next_base, next_path)?;
        Ok(true)
    }
}

/// Appends what was written to the segment since the last read to its pending bytes, until
/// it holds at least `wanted` bytes or the end of the file.
fn fill(segment: &mut OpenSegment, wanted: usize) -> Result<(), Error> {
    let wanted = wanted.max(READ_CHUNK);
    let mut buf = BytesMut::with_capacity(segment.pending.len() + 64 * 1024);
    buf.extend_from_slice(&segment.pending);
    let mut chunk = vec![0u8; 64 * 1024];
    while buf.len() < wanted {
        let n = segment
            .file
            .read(&mut chunk)
            .map_err(|e| Error::io("reading segment", &segment.path, e))?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    segment.pending = buf.freeze();
    Ok(())
}
