//! Apache Kafka for tests: the one broker `scripts/test` starts for the whole run,
//! and private brokers for tests that take a broker away and bring it back.
//!
//! Both are real single-node KRaft brokers on 127.0.0.1, run by `scripts/kafka`
//! from the jars `scripts/setup` resolves. Tests that only produce and consume
//! share the run's broker (and create uniquely named topics); a private broker
//! costs a JVM (~2 s to start, ~300 MiB) and is for outage and restart tests.
//! A missing broker is an error, never a skip. Topic creation and clients are
//! the caller's business (the `eventlog` crate, or rdkafka directly).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use tempfile::TempDir;

use crate::process;

/// The variable through which `scripts/test` hands its broker to the tests.
pub const BROKERS_ENV: &str = "BLASTWALL_KAFKA_BROKERS";

/// The bootstrap address (`127.0.0.1:PORT`) of the broker `scripts/test` started
/// for this run.
///
/// # Errors
///
/// If [`BROKERS_ENV`] is not set: the test then needs to be run through
/// `scripts/test`.
pub fn shared_brokers() -> Result<String> {
    match std::env::var(BROKERS_ENV) {
        Ok(brokers) if !brokers.trim().is_empty() => Ok(brokers.trim().to_owned()),
        _ => bail!(
            "this test needs a real Kafka broker and {BROKERS_ENV} is not set: run it with \
             `scripts/test`, which starts one for the whole run (or start one with \
             `scripts/kafka start DIR` and export {BROKERS_ENV}=127.0.0.1:PORT)"
        ),
    }
}

/// A private single-node broker in its own temp dir, stopped when dropped.
///
/// Its port and data survive [`Broker::stop`] and [`Broker::restart`], so a test
/// can cut the broker off for a while and check that nothing was lost.
#[derive(Debug)]
pub struct Broker {
    dir: TempDir,
    bootstrap: String,
    running: bool,
}

impl Broker {
    /// Formats a fresh cluster in a temp dir and starts it on a free port.
    ///
    /// # Errors
    ///
    /// If Java or the Kafka jars are missing (run `scripts/setup`) or the broker
    /// does not come up within a minute; the error carries the broker's log tail.
    pub fn start() -> Result<Broker> {
        let dir = tempfile::Builder::new()
            .prefix("blastwall-kafka-")
            .tempdir()
            .context("creating a directory for a Kafka broker")?;
        let bootstrap = run_script("starting a Kafka broker", "start", dir.path())?;
        Ok(Broker {
            dir,
            bootstrap,
            running: true,
        })
    }

    /// The bootstrap address, `127.0.0.1:PORT`; the same across restarts.
    pub fn bootstrap(&self) -> String {
        self.bootstrap.clone()
    }

    /// Stops the broker (SIGTERM, then SIGKILL after 30 s); its data stays.
    ///
    /// # Errors
    ///
    /// If the broker could not be stopped.
    pub fn stop(&mut self) -> Result<()> {
        run_script("stopping a Kafka broker", "stop", self.dir.path())?;
        self.running = false;
        Ok(())
    }

    /// Starts the broker again on the same port with the same data, stopping it
    /// first if it runs.
    ///
    /// # Errors
    ///
    /// If the broker does not come back, e.g. because another process took its port.
    pub fn restart(&mut self) -> Result<()> {
        if self.running {
            self.stop()?;
        }
        let bootstrap = run_script("restarting a Kafka broker", "start", self.dir.path())?;
        ensure!(
            bootstrap == self.bootstrap,
            "the broker came back on {bootstrap} instead of {}",
            self.bootstrap
        );
        self.running = true;
        Ok(())
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if self.running {
            // Nothing to report to from a drop; scripts/kafka escalates to SIGKILL.
            let _ = self.stop();
        }
    }
}

/// `scripts/kafka`, found from this crate's manifest so any test binary can use it.
fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/kafka")
}

fn run_script(what: &str, action: &str, dir: &Path) -> Result<String> {
    let script = script();
    ensure!(script.is_file(), "{what}: {} not found", script.display());
    let mut cmd = Command::new("bash");
    cmd.arg(&script)
        .arg(action)
        .arg(dir)
        // If this test process dies without dropping the broker (a Ctrl-C, a
        // SIGKILL), scripts/kafka stops it once our pid is gone.
        .env("BLASTWALL_KAFKA_OWNER_PID", std::process::id().to_string());
    let stdout = process::output(what, &mut cmd, None)?;
    Ok(stdout.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_is_where_the_crate_expects_it() {
        assert!(script().is_file(), "{}", script().display());
    }
}
