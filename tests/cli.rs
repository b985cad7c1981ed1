//! The binary as a user meets it: `up` on the embedded defaults, keys, log inspection, and
//! clear refusals of a bad configuration.

// A panic in a test is a failed test, not a crashed gateway.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Listeners on free ports, so tests run in parallel and beside a running blastwall.
const FREE_PORTS: &str =
    "[postgres]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n";

fn blastwall(data: &Path) -> Command {
    std::fs::create_dir_all(data).expect("data dir");
    let config = data.join("test-config.toml");
    if !config.exists() {
        std::fs::write(&config, FREE_PORTS).expect("config");
    }
    let mut command = Command::new(env!("CARGO_BIN_EXE_blastwall"));
    command
        .env("BLASTWALL_DATA_DIR", data)
        .env("BLASTWALL_CONFIG", &config)
        .env("RUST_LOG", "warn");
    command
}

fn output(mut command: Command) -> Output {
    command.output().expect("run blastwall")
}

/// Starts `up`, returns the child and the lines it printed up to "press Ctrl-C".
fn start_up(data: &Path) -> (Child, Vec<String>) {
    let mut child = blastwall(data)
        .arg("up")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn up");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let done = line.contains("press Ctrl-C");
            let _ = tx.send(line);
            if done {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) {
        let done = line.contains("press Ctrl-C");
        lines.push(line);
        if done {
            return (child, lines);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("up did not report it started; printed {lines:?}");
}

fn terminate(mut child: Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = child.wait().expect("wait");
    assert!(exit.success(), "up exits cleanly on SIGTERM: {exit:?}");
}

#[test]
fn up_starts_on_embedded_defaults_and_keeps_its_key() {
    let data = tempfile::tempdir().expect("tempdir");
    let (child, lines) = start_up(data.path());
    let text = lines.join("\n");
    assert!(text.contains("is up"), "{text}");
    assert!(text.contains("embedded log at"), "{text}");
    assert!(text.contains("(generated)"), "{text}");
    assert!(text.contains("postgres        127.0.0.1:"), "{text}");
    assert!(text.contains("recorder"), "up starts the recorder: {text}");
    let key_id = key_id_of(&text);
    terminate(child);
    assert!(data.path().join("log/events").is_dir());
    assert!(data.path().join("keys/sealing-key.json").is_file());

    let (child, lines) = start_up(data.path());
    let text = lines.join("\n");
    assert!(text.contains("(loaded)"), "{text}");
    assert_eq!(key_id_of(&text), key_id, "the same key is loaded again");
    terminate(child);

    let mut export = blastwall(data.path());
    export.args(["keys", "export"]);
    let exported = output(export);
    assert!(exported.status.success());
    assert!(String::from_utf8_lossy(&exported.stdout).contains(&key_id));

    let mut check = blastwall(data.path());
    check.args(["log", "check"]);
    let checked = output(check);
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    assert!(String::from_utf8_lossy(&checked.stdout).contains("events: 1 segments"));
}

fn key_id_of(text: &str) -> String {
    let line = text
        .lines()
        .find(|l| l.contains("sealing key"))
        .expect("sealing key line");
    line.split_whitespace().nth(2).expect("key id").to_owned()
}

#[test]
fn a_misspelt_configuration_key_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("blastwall.toml");
    std::fs::write(
        &config,
        "[log]\nkind = \"embedded\"\nflush_intervall = \"1s\"\n",
    )
    .expect("write");
    let mut up = blastwall(dir.path());
    up.args(["up", "--config"]).arg(&config);
    let out = output(up);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("flush_intervall") && stderr.contains("blastwall.toml"),
        "{stderr}"
    );
}

#[test]
fn kafka_without_brokers_is_refused_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("blastwall.toml");
    std::fs::write(&config, format!("{FREE_PORTS}[log]\nkind = \"kafka\"\n")).expect("write");
    let mut up = blastwall(dir.path());
    up.args(["up", "--config"]).arg(&config);
    let out = output(up);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("[log.kafka] is missing"), "{stderr}");
}

#[test]
fn log_check_names_the_damaged_file() {
    let data = tempfile::tempdir().expect("tempdir");
    let (child, _) = start_up(data.path());
    terminate(child);
    let segment = data.path().join("log/events/00000000000000000000.seg");
    std::fs::write(&segment, b"garbage, not a segment").expect("write");
    let mut check = blastwall(data.path());
    check.args(["log", "check"]);
    let out = output(check);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("00000000000000000000.seg") && stderr.contains("bad magic"),
        "{stderr}"
    );
}
