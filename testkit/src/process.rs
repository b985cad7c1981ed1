//! Running the external programs behind the fixtures (initdb, pg_ctl, psql,
//! scripts/kafka) and turning a failure into an error that carries the
//! program's own explanation.
//!
//! Callers describe what they were doing; the error then reads "starting
//! PostgreSQL failed (exit status: 1): …" followed by the program's stderr.
//! Arguments are not echoed, since some carry passwords. Standard input is
//! closed unless given.

use std::io::Write;
use std::process::{Command, Stdio};
use std::thread;

use anyhow::{Context, Result, bail};

/// Runs `cmd` to completion, feeding it `stdin` if given, and returns its stdout.
pub(crate) fn output(what: &str, cmd: &mut Command, stdin: Option<&[u8]>) -> Result<String> {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("{what}: cannot run {program}"))?;

    // Written from a thread: a child that prints a lot before reading all of
    // its input would otherwise deadlock against us.
    let writer = match (stdin, child.stdin.take()) {
        (Some(bytes), Some(mut pipe)) => {
            let bytes = bytes.to_vec();
            Some(thread::spawn(move || pipe.write_all(&bytes)))
        }
        _ => None,
    };
    let out = child
        .wait_with_output()
        .with_context(|| format!("{what}: waiting for {program}"))?;
    if let Some(writer) = writer {
        // A child that fails early closes its stdin; its stderr says why.
        let _ = writer.join();
    }

    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        bail!("{what} failed ({}): {}", out.status, stderr.trim_end());
    }
    Ok(stdout)
}
