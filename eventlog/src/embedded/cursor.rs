//! A named consumer's committed position: one small file per consumer, replaced atomically.
//!
//! The file holds the offset of the next record the consumer wants, as decimal text. It is
//! written to a temporary name, synced, renamed over the old one and the directory synced, so
//! a crash leaves either the old position or the new one, never a mix.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::writer::sync_dir;
use crate::Error;

/// The cursor file of one consumer of one stream.
#[derive(Clone, Debug)]
pub struct Cursor {
    dir: PathBuf,
    path: PathBuf,
}

impl Cursor {
    /// The cursor of `consumer` in the stream directory `stream_dir`.
    pub fn new(stream_dir: &Path, consumer: &str) -> Self {
        let dir = stream_dir.join("cursors");
        let path = dir.join(consumer);
        Cursor { dir, path }
    }

    /// The committed next offset, or `None` for a consumer that never committed.
    pub fn load(&self) -> Result<Option<u64>, Error> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("reading cursor", &self.path, e)),
        };
        text.trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| Error::Corrupt {
                path: self.path.clone(),
                offset: 0,
                reason: format!("cursor holds {:?}, not an offset", text.trim()),
            })
    }

    /// Durably records `next_offset` as the consumer's position.
    pub fn store(&self, next_offset: u64) -> Result<(), Error> {
        fs::create_dir_all(&self.dir)
            .map_err(|e| Error::io("creating cursor directory", &self.dir, e))?;
        let tmp = self.path.with_extension("tmp");
        let mut file = fs::File::create(&tmp).map_err(|e| Error::io("writing cursor", &tmp, e))?;
        writeln!(file, "{next_offset}")
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::io("writing cursor", &tmp, e))?;
        fs::rename(&tmp, &self.path).map_err(|e| Error::io("replacing cursor", &self.path, e))?;
        sync_dir(&self.dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_then_load() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cursor = Cursor::new(dir.path(), "recorder");
        assert_eq!(cursor.load().expect("load"), None);
        cursor.store(17).expect("store");
        cursor.store(42).expect("store");
        assert_eq!(cursor.load().expect("load"), Some(42));
    }

    #[test]
    fn garbage_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cursor = Cursor::new(dir.path(), "recorder");
        fs::create_dir_all(dir.path().join("cursors")).expect("mkdir");
        fs::write(dir.path().join("cursors/recorder"), "forty-two").expect("write");
        let err = cursor.load().expect_err("garbage");
        assert!(err.to_string().contains("cursors/recorder"), "{err}");
    }
}
