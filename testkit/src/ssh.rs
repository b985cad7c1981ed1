//! A throwaway OpenSSH server: the machine's `sshd` on a free loopback port, its config,
//! host key and authorized key in a temp dir, killed on drop.
//!
//! Logins are by key only (the key in [`Sshd::client_key`], which a gateway under test holds),
//! as the user running the tests (root is allowed, by key only); `UsePAM no` and
//! `StrictModes no` so that it runs from a temp dir. The sftp subsystem is sshd's
//! `internal-sftp`; TCP forwarding is on, and `LANG`, `LC_*` and `BLASTWALL_*` are accepted.
//! A missing `sshd` or `ssh-keygen` is an error, never a skip.

use std::fs;
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tempfile::TempDir;

use crate::{net, process};

/// Where Debian installs sshd.
const SSHD: &str = "/usr/sbin/sshd";
/// Attempts at finding a port nobody grabs between our pick and sshd's bind.
const START_ATTEMPTS: usize = 5;

/// A running sshd on 127.0.0.1, killed when dropped.
#[derive(Debug)]
pub struct Sshd {
    child: Option<Child>,
    port: u16,
    user: String,
    dir: TempDir,
}

impl Sshd {
    /// Creates keys and a config in a temp dir and starts sshd on a free port.
    ///
    /// # Errors
    ///
    /// If sshd or ssh-keygen are missing (run `scripts/setup`) or sshd does not come up.
    pub fn start() -> Result<Sshd> {
        let dir = tempfile::Builder::new()
            .prefix("blastwall-sshd-")
            .tempdir()
            .context("creating a directory for sshd")?;
        keygen(&dir.path().join("host_ed25519"))?;
        keygen(&dir.path().join("client_ed25519"))?;
        fs::copy(
            dir.path().join("client_ed25519.pub"),
            dir.path().join("authorized_keys"),
        )
        .context("writing authorized_keys")?;
        // sshd needs its privilege separation directory.
        fs::create_dir_all("/run/sshd").context("creating /run/sshd")?;
        let user = process::output("id -un", Command::new("id").arg("-un"), None)?
            .trim()
            .to_owned();
        let mut sshd = Sshd {
            child: None,
            port: 0,
            user,
            dir,
        };
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            match sshd.start_on(net::free_port()) {
                Ok(()) => return Ok(sshd),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("sshd did not start")))
    }

    fn start_on(&mut self, port: u16) -> Result<()> {
        let dir = self.dir.path();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nPidFile {pid}\n\
             AuthorizedKeysFile {keys}\nPubkeyAuthentication yes\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nUsePAM no\n\
             StrictModes no\nSubsystem sftp internal-sftp\nAcceptEnv LANG LC_* BLASTWALL_*\n\
             AllowTcpForwarding yes\nMaxSessions 50\nMaxStartups 100\nLogLevel ERROR\n",
            host = dir.join("host_ed25519").display(),
            pid = dir.join("sshd.pid").display(),
            keys = dir.join("authorized_keys").display(),
        );
        let config_path = dir.join("sshd_config");
        fs::write(&config_path, config).context("writing sshd_config")?;
        let log = fs::File::create(dir.join("sshd.log")).context("creating sshd.log")?;
        let child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot run {SSHD} (run scripts/setup)"))?;
        self.child = Some(child);
        self.port = port;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                let log = fs::read_to_string(dir.join("sshd.log")).unwrap_or_default();
                bail!("sshd exited ({status}): {}", log.trim_end());
            }
            if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
        bail!("sshd did not listen on port {port} within 10 s")
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The user to log in as (the one running the tests).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The private key authorized to log in (OpenSSH format, no passphrase).
    pub fn client_key(&self) -> PathBuf {
        self.dir.path().join("client_ed25519")
    }

    /// The host's public key line (`ssh-ed25519 AAAA... comment`).
    pub fn host_public_key(&self) -> Result<String> {
        let text = fs::read_to_string(self.dir.path().join("host_ed25519.pub"))
            .context("reading the host public key")?;
        Ok(text.trim().to_owned())
    }

    /// The host key's SHA-256 fingerprint, as `ssh-keygen -lf` prints it (`SHA256:...`).
    pub fn host_fingerprint(&self) -> Result<String> {
        let out = process::output(
            "ssh-keygen -lf",
            Command::new("ssh-keygen")
                .arg("-lf")
                .arg(self.dir.path().join("host_ed25519.pub")),
            None,
        )?;
        out.split_whitespace()
            .nth(1)
            .map(str::to_owned)
            .context("no fingerprint in ssh-keygen's output")
    }

    /// Writes a known_hosts file that lists this host's key and returns its path.
    pub fn known_hosts(&self) -> Result<PathBuf> {
        let path = self.dir.path().join("known_hosts");
        let line = format!("[127.0.0.1]:{} {}\n", self.port, self.host_public_key()?);
        fs::write(&path, line).context("writing known_hosts")?;
        Ok(path)
    }

    /// The temp dir (config, keys, `sshd.log`), for files a test wants beside them.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops sshd now (to test an upstream that went away).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `ssh-keygen -t ed25519` without a passphrase into `path` (and `path.pub`).
pub fn keygen(path: &Path) -> Result<()> {
    process::output(
        "ssh-keygen",
        Command::new("ssh-keygen")
            .args([
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "blastwall-test",
                "-f",
            ])
            .arg(path),
        None,
    )
    .map(|_| ())
}

#[cfg(all(test, feature = "e2e"))]
mod tests {
    use super::*;

    #[test]
    fn sshd_starts_and_publishes_its_host_key() {
        let sshd = Sshd::start().expect("sshd (run scripts/setup)");
        assert!(TcpStream::connect((Ipv4Addr::LOCALHOST, sshd.port())).is_ok());
        assert!(sshd.host_fingerprint().unwrap().starts_with("SHA256:"));
        assert!(sshd.client_key().exists());
    }
}
