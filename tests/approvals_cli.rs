//! The approval flow as a new user meets it: `blastwall up`, an agent's `DROP TABLE` through
//! psql waits (the notice says how to approve it), `blastwall approvals list` shows it, and
//! `blastwall approvals approve` from a second process lets it through; the events tell the
//! whole exchange.

#![cfg(feature = "e2e")]
// A panic in a test is a failed test, not a crashed gateway.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use eventlog::{EmbeddedOptions, EmbeddedReader, Stream};
use schemas::{Event, EventBody};

fn blastwall(data: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_blastwall"));
    command
        .env("BLASTWALL_DATA_DIR", data)
        .env("BLASTWALL_CONFIG", data.join("blastwall.toml"))
        .env_remove("BLASTWALL_TOKEN")
        .env_remove("BLASTWALL_SERVER")
        .env("RUST_LOG", "warn");
    command
}

/// Lines of a child's stream, as they come.
fn lines(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for the line containing `wanted`.
fn line_with(rx: &mpsc::Receiver<String>, wanted: &str, seen: &mut Vec<String>) -> String {
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) {
        seen.push(line.clone());
        if line.contains(wanted) {
            return line;
        }
    }
    panic!("no line with {wanted:?}; saw {seen:?}");
}

/// The value printed after `label` in `up`'s summary.
fn field(lines: &[String], label: &str) -> String {
    let line = lines
        .iter()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap();
    line.trim_start()[label.len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

fn token(data: &Path, args: &[&str]) -> String {
    let out = blastwall(data).arg("token").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn terminate(mut child: Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success(), "up exits cleanly");
}

#[test]
fn a_drop_table_waits_until_approved_from_a_second_process() {
    let cluster = testkit::postgres::Cluster::start().expect("a PostgreSQL cluster");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    std::fs::write(data.join("pg-password"), cluster.password()).unwrap();
    std::fs::write(
        data.join("blastwall.toml"),
        format!(
            "[postgres]\nlisten = \"127.0.0.1:0\"\nallow_plaintext_on_loopback = true\n\
             [admin]\nlisten = \"127.0.0.1:0\"\n[recorder]\nenabled = false\n\
             [[targets]]\nname = \"app\"\naddress = \"127.0.0.1:{}\"\ndatabase = \"postgres\"\n\
             user = \"{}\"\npassword = {{ file = \"{}\" }}\n",
            cluster.port(),
            cluster.superuser(),
            data.join("pg-password").display()
        ),
    )
    .unwrap();
    let mut up = blastwall(data)
        .arg("up")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let printed = lines(up.stdout.take().unwrap());
    let mut summary = Vec::new();
    line_with(&printed, "press Ctrl-C", &mut summary);
    let postgres = field(&summary, "postgres");
    let server = field(&summary, "admin");
    let port = postgres.rsplit(':').next().unwrap();

    cluster
        .psql("postgres", "CREATE TABLE doomed (id int)")
        .unwrap();
    let agent = token(
        data,
        &[
            "--sub",
            "dev@example.com",
            "--act",
            "coding-agent",
            "--group",
            "agents",
        ],
    );
    let dba = token(data, &["--sub", "bob@example.com", "--group", "dba"]);

    // Terminal 1: the agent's statement.
    let mut psql = Command::new(cluster.bin_dir().join("psql"))
        .arg(format!(
            "host=127.0.0.1 port={port} dbname=app user=agent sslmode=disable"
        ))
        .args(["-X", "-v", "ON_ERROR_STOP=1", "-c", "DROP TABLE doomed"])
        .env("PGPASSWORD", &agent)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let notices = lines(psql.stderr.take().unwrap());
    let mut seen = Vec::new();
    let notice = line_with(&notices, "blastwall approvals approve", &mut seen);
    let id = notice
        .split("blastwall approvals approve ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let exists = "SELECT count(*) FROM pg_tables WHERE tablename = 'doomed'";
    assert_eq!(
        cluster.psql("postgres", exists).unwrap().trim(),
        "1",
        "held"
    );

    // Terminal 2: the DBA.
    let list = blastwall(data)
        .args(["approvals", "list", "--server", &server, "--token", &dba])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    assert!(
        listed.contains(&id) && listed.contains("DROP TABLE doomed"),
        "{listed}"
    );

    let refused = blastwall(data)
        .args(["approvals", "approve", &id, "--server", &server])
        .output()
        .unwrap();
    assert!(!refused.status.success(), "no token, no decision");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("BLASTWALL_TOKEN"));

    let approve = blastwall(data)
        .args([
            "approvals",
            "approve",
            &id,
            "--server",
            &server,
            "--reason",
            "cleanup",
        ])
        .env("BLASTWALL_TOKEN", &dba)
        .output()
        .unwrap();
    assert!(
        approve.status.success(),
        "{}",
        String::from_utf8_lossy(&approve.stderr)
    );
    assert!(String::from_utf8_lossy(&approve.stdout).contains("approved"));

    let out = psql.wait_with_output().unwrap();
    assert!(out.status.success(), "psql: {seen:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("DROP TABLE"));
    assert_eq!(
        cluster.psql("postgres", exists).unwrap().trim(),
        "0",
        "dropped"
    );
    terminate(up);

    let events = read_events(&data.join("log"));
    let kinds: Vec<&str> = events.iter().map(Event::kind_name).collect();
    let at = kinds
        .iter()
        .position(|k| *k == "approval.requested")
        .unwrap();
    assert_eq!(
        kinds[at - 2..at + 3],
        [
            "command.received",
            "policy.decided",
            "approval.requested",
            "approval.decided",
            "result.returned"
        ]
    );
    let EventBody::ApprovalDecided(decided) = &events[at + 1].body else {
        unreachable!()
    };
    assert_eq!(decided.approval_id.to_string(), id);
    assert_eq!(
        decided.approver.as_ref().unwrap().subject,
        "bob@example.com"
    );
}

/// The events of the one session with an approval, in order.
fn read_events(log: &Path) -> Vec<Event> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let reader = EmbeddedReader::open(log, EmbeddedOptions::default());
        let mut sub = reader.subscribe(Stream::Events, "test").unwrap();
        let mut events: Vec<Event> = Vec::new();
        loop {
            let batch = sub.poll(10_000, Duration::from_millis(100)).await.unwrap();
            if batch.is_empty() {
                break;
            }
            for entry in batch {
                events.push(serde_json::from_slice(&entry.value).unwrap());
            }
        }
        let held = events
            .iter()
            .find(|e| e.kind_name() == "approval.requested")
            .map(|e| e.session_id)
            .unwrap();
        let mut session: Vec<Event> = events
            .into_iter()
            .filter(|e| e.session_id == held)
            .collect();
        session.sort_by_key(|e| e.seq);
        session
    })
}
