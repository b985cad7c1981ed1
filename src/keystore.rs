//! The sealing key on disk: loaded at start, generated on the first one, rotated on request.
//!
//! The private key sits in one file readable by its owner only; every public key that ever
//! sealed a session is kept in a second file, the one auditors receive, so sessions sealed
//! before a rotation still verify. Both files are replaced atomically (write, sync, rename).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, bail};
use schemas::{PublicKeys, SealingKey};

/// What opening the key store did.
pub enum Opened {
    /// The key was there.
    Loaded(SealingKey),
    /// There was none: a new one was generated and saved.
    Generated(SealingKey),
}

impl Opened {
    /// The sealing key either way.
    pub fn key(&self) -> &SealingKey {
        match self {
            Opened::Loaded(key) | Opened::Generated(key) => key,
        }
    }

    /// Whether it was loaded or made now, for people.
    pub fn state(&self) -> &'static str {
        match self {
            Opened::Loaded(_) => "loaded",
            Opened::Generated(_) => "generated",
        }
    }

    /// The sealing key, owned.
    pub fn into_key(self) -> SealingKey {
        match self {
            Opened::Loaded(key) | Opened::Generated(key) => key,
        }
    }
}

/// Loads the sealing key, generating it if absent, and makes sure its public half is exported.
pub fn open(key_file: &Path, public_keys: &Path) -> anyhow::Result<Opened> {
    let opened = if key_file.exists() {
        Opened::Loaded(load(key_file)?)
    } else {
        let key = SealingKey::generate();
        save_private(key_file, &key)?;
        Opened::Generated(key)
    };
    export(public_keys, opened.key())?;
    Ok(opened)
}

/// Replaces the sealing key with a new one; the old public key stays exported.
pub fn rotate(key_file: &Path, public_keys: &Path) -> anyhow::Result<SealingKey> {
    if key_file.exists() {
        let old = load(key_file)?;
        export(public_keys, &old)?;
    }
    let key = SealingKey::generate();
    export(public_keys, &key)?;
    save_private(key_file, &key)?;
    Ok(key)
}

/// The exported public keys, as the JSON document auditors receive.
pub fn public_keys(public_keys: &Path) -> anyhow::Result<PublicKeys> {
    let text = fs::read_to_string(public_keys).with_context(|| {
        format!(
            "no public keys at {} (they are created on the first `blastwall up`)",
            public_keys.display()
        )
    })?;
    PublicKeys::from_json(&text)
        .with_context(|| format!("invalid public keys file {}", public_keys.display()))
}

fn load(key_file: &Path) -> anyhow::Result<SealingKey> {
    let mode = fs::metadata(key_file)?.permissions().mode();
    if mode & 0o077 != 0 {
        bail!(
            "the sealing key {} is readable by others (mode {:o}); chmod 600 it",
            key_file.display(),
            mode & 0o777
        );
    }
    let text = fs::read_to_string(key_file)
        .with_context(|| format!("cannot read {}", key_file.display()))?;
    SealingKey::from_file_contents(&text)
        .with_context(|| format!("invalid sealing key {}", key_file.display()))
}

fn export(public_keys: &Path, key: &SealingKey) -> anyhow::Result<()> {
    let mut keys = if public_keys.exists() {
        self::public_keys(public_keys)?
    } else {
        PublicKeys::new()
    };
    if keys.get(key.key_id()).is_some() {
        return Ok(());
    }
    keys.insert(key.verifying_key());
    replace(public_keys, keys.to_json().as_bytes(), 0o644)
}

fn save_private(key_file: &Path, key: &SealingKey) -> anyhow::Result<()> {
    replace(key_file, key.to_file_contents().as_bytes(), 0o600)
}

/// Writes `bytes` to `path` atomically with the given mode, creating private parent directories.
fn replace(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = path.with_extension("tmp");
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_then_loaded_and_rotation_keeps_old_public_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (key_file, public) = (
            dir.path().join("k/seal.json"),
            dir.path().join("k/public.json"),
        );
        let first = open(&key_file, &public).expect("open");
        assert!(matches!(first, Opened::Generated(_)));
        assert_eq!(
            fs::metadata(&key_file).expect("meta").permissions().mode() & 0o777,
            0o600
        );
        let again = open(&key_file, &public).expect("open");
        assert!(matches!(&again, Opened::Loaded(k) if k.key_id() == first.key().key_id()));

        let second = rotate(&key_file, &public).expect("rotate");
        let exported = public_keys(&public).expect("exported");
        assert_eq!(exported.len(), 2);
        assert!(exported.get(first.key().key_id()).is_some());
        assert!(exported.get(second.key_id()).is_some());
    }

    #[test]
    fn a_key_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (key_file, public) = (dir.path().join("seal.json"), dir.path().join("public.json"));
        open(&key_file, &public).expect("open");
        fs::set_permissions(&key_file, fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = format!("{:#}", open(&key_file, &public).err().expect("refused"));
        assert!(err.contains("readable by others"), "{err}");
    }
}
