//! The local issuer's private key on disk: PKCS#8 PEM, mode 0600, replaced only atomically.
//!
//! [`super::LocalIssuer::open_or_create`] calls [`load_or_create`] once at startup. Invariants: a
//! new key is written to a temporary file created with mode 0600, synced, renamed over the final
//! name and the directory synced, so a crash leaves either no key or a whole one; an existing key
//! file that group or others can read or write is refused, never silently used; no error
//! message carries key material.
//!
//! Not here: what the key signs (`local`), the event-sealing key (the binary's `keystore`).

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rand::rngs::OsRng;
use zeroize::Zeroizing;

/// Why the local issuer's key could not be opened or created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalIssuerError {
    /// A file system operation failed.
    #[error("local issuer: {action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The key file is accessible to group or others.
    #[error(
        "local issuer: the key file {} has mode {mode:03o}, so group or others can access it; \
         restrict it with `chmod 600 {}` (blastwall refuses to use an exposed signing key)",
        path.display(),
        path.display()
    )]
    InsecurePermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file is not a PKCS#8 PEM Ed25519 private key.
    #[error("local issuer: {} is not a PKCS#8 PEM Ed25519 private key", path.display())]
    InvalidKeyFile {
        /// The key file.
        path: PathBuf,
    },
    /// Encoding a freshly generated key failed (a bug).
    #[error("local issuer: encoding the new key failed (internal error)")]
    Encoding,
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> LocalIssuerError {
    let path = path.to_path_buf();
    move |source| LocalIssuerError::Io {
        action,
        path,
        source,
    }
}

/// Loads the key at `path`, or generates one and saves it there if the file does not exist.
pub(super) fn load_or_create(path: &Path) -> Result<SigningKey, LocalIssuerError> {
    match fs::metadata(path) {
        Ok(metadata) => load(path, &metadata),
        Err(e) if e.kind() == io::ErrorKind::NotFound => create(path),
        Err(e) => Err(io_error("inspecting", path)(e)),
    }
}

fn load(path: &Path, metadata: &fs::Metadata) -> Result<SigningKey, LocalIssuerError> {
    let invalid = || LocalIssuerError::InvalidKeyFile {
        path: path.to_path_buf(),
    };
    if !metadata.is_file() {
        return Err(invalid());
    }
    check_private(path, metadata)?;
    let text = Zeroizing::new(fs::read_to_string(path).map_err(io_error("reading", path))?);
    SigningKey::from_pkcs8_pem(&text).map_err(|_| invalid())
}

#[cfg(unix)]
fn check_private(path: &Path, metadata: &fs::Metadata) -> Result<(), LocalIssuerError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(LocalIssuerError::InsecurePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _metadata: &fs::Metadata) -> Result<(), LocalIssuerError> {
    Ok(())
}

fn create(path: &Path) -> Result<SigningKey, LocalIssuerError> {
    let key = SigningKey::generate(&mut OsRng);
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|_| LocalIssuerError::Encoding)?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        fs::create_dir_all(dir).map_err(io_error("creating directory", dir))?;
    }
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    write_private(&tmp, pem.as_bytes())?;
    fs::rename(&tmp, path).map_err(io_error("renaming the new key to", path))?;
    sync_directory(dir.unwrap_or(Path::new(".")))?;
    tracing::info!(path = %path.display(), "generated a new local issuer key");
    Ok(key)
}

/// Writes a fresh file readable only by its owner, and syncs it.
fn write_private(tmp: &Path, bytes: &[u8]) -> Result<(), LocalIssuerError> {
    match fs::remove_file(tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error("removing the stale", tmp)(e)),
    }
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(tmp).map_err(io_error("creating", tmp))?;
    file.write_all(bytes).map_err(io_error("writing", tmp))?;
    file.sync_all().map_err(io_error("syncing", tmp))
}

/// Makes the rename durable.
#[cfg(unix)]
fn sync_directory(dir: &Path) -> Result<(), LocalIssuerError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error("syncing directory", dir))
}

#[cfg(not(unix))]
fn sync_directory(_dir: &Path) -> Result<(), LocalIssuerError> {
    Ok(())
}
