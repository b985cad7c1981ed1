//! Throwaway PostgreSQL clusters: `initdb` into a temp dir, `pg_ctl start` on a
//! free loopback port, `pg_ctl stop -m immediate` on drop.
//!
//! The server binaries are the machine's own (Debian's `postgresql` package,
//! installed by `scripts/setup`); a missing binary is an error, never a skip.
//! Host (TCP) logins use scram-sha-256, so a proxy under test must really
//! authenticate upstream; the Unix socket inside the temp dir trusts everyone.
//! PostgreSQL refuses to run as root, so under root the server binaries run as
//! the `postgres` system user and the temp dir is handed to it. Durability is
//! switched off (fsync and friends): these clusters live for one test.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use tempfile::TempDir;

use crate::{net, process};

/// The bootstrap superuser every cluster gets.
const SUPERUSER: &str = "postgres";
/// A second, ordinary login role with the same password, the kind of account an
/// operator would give the gateway.
const GATEWAY_ROLE: &str = "blastwall";
/// Who runs the server when the tests run as root.
const SERVER_USER: &str = "postgres";
/// Attempts at finding a port nobody grabs between our pick and the server's bind.
const START_ATTEMPTS: usize = 5;

/// A running PostgreSQL cluster on 127.0.0.1, stopped and deleted when dropped.
///
/// Roles: [`Cluster::superuser`] (`postgres`) and `blastwall` (login, no special
/// privileges), both with [`Cluster::password`].
#[derive(Debug)]
pub struct Cluster {
    bin: PathBuf,
    run_as: Option<String>,
    port: u16,
    password: String,
    // Last, so that it is removed after `drop` has stopped the server.
    dir: TempDir,
}

impl Cluster {
    /// Creates a cluster in a temp dir and starts it on a free port.
    ///
    /// # Errors
    ///
    /// If the server binaries cannot be found (run `scripts/setup`), or
    /// `initdb` or the server fail; the error carries their output.
    pub fn start() -> Result<Cluster> {
        let bin = bin_dir()?;
        let run_as = if running_as_root()? {
            Some(SERVER_USER.to_owned())
        } else {
            None
        };
        let dir = tempfile::Builder::new()
            .prefix("blastwall-pg-")
            .tempdir()
            .context("creating a directory for a PostgreSQL cluster")?;
        let password = random_hex(16)?;

        let pwfile = dir.path().join("pwfile");
        fs::write(&pwfile, format!("{password}\n")).context("writing the password file")?;
        if let Some(user) = &run_as {
            hand_over(user, &[dir.path(), &pwfile])?;
        }

        let mut cluster = Cluster {
            bin,
            run_as,
            port: 0,
            password,
            dir,
        };
        cluster.init(&pwfile)?;
        cluster.start_server()?;
        cluster.psql(
            "postgres",
            &format!(
                "create role {GATEWAY_ROLE} login password '{}'",
                cluster.password
            ),
        )?;
        Ok(cluster)
    }

    /// The TCP port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address the server listens on: always `127.0.0.1`.
    pub fn host(&self) -> &str {
        "127.0.0.1"
    }

    /// The superuser's name, `postgres`.
    pub fn superuser(&self) -> &str {
        SUPERUSER
    }

    /// The password of the superuser (and of the `blastwall` role).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// A libpq URI for the superuser and database `db`, over TCP with the password.
    pub fn connection_string(&self, db: &str) -> String {
        format!(
            "postgresql://{SUPERUSER}:{}@{}:{}/{}",
            self.password,
            self.host(),
            self.port,
            percent_encode(db)
        )
    }

    /// The directory with the server's programs (psql, pgbench, pg_dump, …).
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// Runs `sql` (one or more statements, psql meta-commands allowed) with psql
    /// as the superuser in database `db`, and returns its unaligned, tuples-only
    /// output: `select 1` gives `"1\n"`.
    ///
    /// # Errors
    ///
    /// If any statement fails (`ON_ERROR_STOP`); the error carries psql's stderr.
    pub fn psql(&self, db: &str, sql: &str) -> Result<String> {
        let mut cmd = Command::new(self.program("psql"));
        cmd.args(["-XAtq", "-v", "ON_ERROR_STOP=1", "-f", "-", "-d"])
            .arg(self.connection_string(db))
            // The URI says where to go; nothing from the caller's environment may add to it.
            .env_remove("PGSERVICE")
            .env_remove("PGOPTIONS")
            .env("PGCONNECT_TIMEOUT", "10");
        process::output("psql", &mut cmd, Some(sql.as_bytes()))
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_file(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    fn program(&self, name: &str) -> PathBuf {
        self.bin.join(name)
    }

    /// A command for one of the server programs, as the server user when we are root.
    fn server_command(&self, name: &str) -> Command {
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", user, "--"]).arg(self.program(name));
                cmd
            }
            None => Command::new(self.program(name)),
        };
        // The caller's working directory may be closed to the server user.
        cmd.current_dir(self.dir.path());
        cmd
    }

    fn init(&self, pwfile: &Path) -> Result<()> {
        let mut initdb = self.server_command("initdb");
        initdb
            .arg("-D")
            .arg(self.data_dir())
            .args([
                "-U",
                SUPERUSER,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .args(["--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"]);
        process::output("initdb", &mut initdb, None)?;

        let settings = format!(
            "\n# throwaway test cluster\n\
             listen_addresses = '127.0.0.1'\n\
             unix_socket_directories = '{}'\n\
             fsync = off\n\
             synchronous_commit = off\n\
             full_page_writes = off\n",
            self.dir.path().display()
        );
        let conf = self.data_dir().join("postgresql.conf");
        let mut text = fs::read_to_string(&conf).context("reading postgresql.conf")?;
        text.push_str(&settings);
        fs::write(&conf, text).context("writing postgresql.conf")
    }

    /// Starts the server, on a new port each time the last one was taken meanwhile.
    fn start_server(&mut self) -> Result<()> {
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            self.port = net::free_port();
            let mut pg_ctl = self.server_command("pg_ctl");
            pg_ctl
                .arg("-D")
                .arg(self.data_dir())
                .arg("-l")
                .arg(self.log_file())
                .args(["-w", "-t", "60", "-o"])
                .arg(format!("-p {}", self.port))
                .arg("start");
            match process::output("starting PostgreSQL", &mut pg_ctl, None) {
                Ok(_) => return Ok(()),
                Err(e) => {
                    let log = fs::read_to_string(self.log_file()).unwrap_or_default();
                    if !log.contains("could not bind") {
                        bail!("{e:#}\nserver log:\n{log}");
                    }
                    // The log is appended to; start the next attempt's afresh.
                    let _ = fs::remove_file(self.log_file());
                    last_error = Some(e);
                }
            }
        }
        match last_error {
            Some(e) => Err(e.context(format!("no free port after {START_ATTEMPTS} attempts"))),
            None => bail!("starting PostgreSQL: no attempt made"),
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let mut pg_ctl = self.server_command("pg_ctl");
        pg_ctl
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "immediate", "-w", "stop"]);
        // Nothing to report to from a drop; the temp dir goes either way.
        let _ = process::output("stopping PostgreSQL", &mut pg_ctl, None);
    }
}

/// The server programs' directory: `pg_config --bindir` when it holds `initdb`
/// (Debian's pg_config may come from libpq-dev and point at /usr/bin), else the
/// newest `/usr/lib/postgresql/<major>/bin`.
fn bin_dir() -> Result<PathBuf> {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && dir.join("initdb").is_file() {
            return Ok(dir);
        }
    }
    let newest = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let major: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((major, bin))
        })
        .max_by_key(|(major, _)| *major);
    match newest {
        Some((_, bin)) => Ok(bin),
        None => bail!(
            "this test needs PostgreSQL's server programs (initdb, pg_ctl) and found none \
             (no `pg_config --bindir` with initdb, no /usr/lib/postgresql/*/bin): run scripts/setup"
        ),
    }
}

/// Whether the effective uid is 0, from /proc (no unsafe libc call needed).
fn running_as_root() -> Result<bool> {
    let status = fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let euid = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1));
    match euid {
        Some(euid) => Ok(euid == "0"),
        None => bail!("no effective uid in /proc/self/status"),
    }
}

/// Gives `paths` to the system user `user`, who will run the server.
fn hand_over(user: &str, paths: &[&Path]) -> Result<()> {
    let id = |flag: &str| -> Result<u32> {
        let out = process::output(
            &format!(
                "looking up the `{user}` user (PostgreSQL refuses to run as root, so the \
                 tests run it as `{user}`, whom Debian's postgresql package creates: run scripts/setup)"
            ),
            Command::new("id").args([flag, user]),
            None,
        )?;
        out.trim()
            .parse()
            .with_context(|| format!("`id {flag} {user}` printed {out:?}"))
    };
    let (uid, gid) = (id("-u")?, id("-g")?);
    for path in paths {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .with_context(|| format!("handing {} to {user}", path.display()))?;
    }
    Ok(())
}

fn random_hex(bytes: usize) -> Result<String> {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .context("reading /dev/urandom")?;
    Ok(buf.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    }))
}

/// Escapes a database name for the path of a libpq URI.
fn percent_encode(s: &str) -> String {
    s.bytes().fold(String::new(), |mut out, b| {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_escaped_in_uris() {
        assert_eq!(percent_encode("app_db-1"), "app_db-1");
        assert_eq!(percent_encode("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn random_hex_has_two_digits_per_byte() -> Result<()> {
        let hex = random_hex(16)?;
        assert_eq!(hex.len(), 32);
        assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()));
        Ok(())
    }
}
