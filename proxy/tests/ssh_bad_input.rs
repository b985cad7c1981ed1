//! Bad input at the SSH gateway, with stock `ssh` against a real sshd: a wrong token, an
//! unknown target, an upstream whose host key is not the pinned one (by fingerprint and by
//! known_hosts), an upstream that is down, and a client that vanishes mid-transfer. Each
//! gets a clear message, the event of what was tried, and the gateway keeps serving.

#![cfg(feature = "e2e")]
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ssh_gateway;

use std::process::Stdio;
use std::time::Duration;

use schemas::EventBody;
use schemas::body::{AuthFailureReason, EndReason, Fault, Stage};
use ssh_gateway::{SshGateway, kinds, outcome, random_file};

/// The one failed login recorded: its reason and message, checked to be sealed and whole.
async fn failed_login(gateway: &SshGateway) -> (AuthFailureReason, String, Vec<schemas::Event>) {
    let sessions = gateway.ended_sessions(1).await;
    let events = sessions
        .into_iter()
        .find(|events| kinds(events).contains(&"authentication.failed"))
        .expect("a failed login was recorded");
    assert_eq!(kinds(&events), ["authentication.failed", "session.ended"]);
    let EventBody::AuthenticationFailed(failed) = &events[0].body else {
        unreachable!()
    };
    (failed.reason, failed.message.clone(), events)
}

fn assert_still_serves(gateway: &SshGateway) {
    let out = gateway.ssh(&gateway.token(), &["echo still-serving"]);
    assert_eq!(outcome(&out).0, "still-serving\n", "{:?}", outcome(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_token_is_refused_with_the_reason() {
    let gateway = SshGateway::start().await;
    let out = gateway.ssh("not-a-token", &["true"]);
    let (_, stderr, code) = outcome(&out);
    // 255 from ssh, or 5 from sshpass when it saw the password refused.
    assert!(matches!(code, Some(255 | 5)), "{code:?} {stderr}");
    assert!(stderr.contains("blastwall: token rejected"), "{stderr}");
    let (reason, message, events) = failed_login(&gateway).await;
    assert_eq!(reason, AuthFailureReason::Malformed);
    assert!(message.starts_with("token rejected"));
    assert_eq!(events[0].target.name, "web-1");
    assert!(!message.contains("not-a-token"));
    assert_still_serves(&gateway);
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_target_is_refused_before_a_token_is_sent() {
    let gateway = SshGateway::start().await;
    let out = gateway
        .ssh_command(&gateway.token(), "db-9", &["true"])
        .output()
        .unwrap();
    let (_, stderr, code) = outcome(&out);
    assert_eq!(code, Some(255));
    assert!(
        stderr.contains("blastwall has no SSH target named \"db-9\""),
        "{stderr}"
    );
    let (reason, _, events) = failed_login(&gateway).await;
    assert_eq!(reason, AuthFailureReason::UnknownTarget);
    assert_eq!(events[0].target.name, "db-9");
    assert_still_serves(&gateway);
    gateway.stop().await;
}

/// A request refused because of the upstream: the message the client saw, and the
/// session's `operation.failed`.
async fn upstream_refusal(gateway: &SshGateway) -> (String, String) {
    let out = gateway.ssh(&gateway.token(), &["echo never"]);
    let (stdout, stderr, code) = outcome(&out);
    assert_eq!(stdout, "");
    assert_eq!(code, Some(1), "{stderr}");
    let events = gateway.session_with_command(1, "echo never").await;
    let failed = events
        .iter()
        .find_map(|e| match &e.body {
            EventBody::OperationFailed(f) => Some(f),
            _ => None,
        })
        .expect("operation.failed");
    assert_eq!(failed.fault, Fault::Upstream);
    assert_eq!(failed.stage, Stage::Upstream);
    (stderr, failed.message.clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upstream_host_key_that_is_not_the_pinned_fingerprint_is_refused() {
    let policy = proxy::policy::PolicyConfig::default();
    let gateway = SshGateway::start_with(policy, |ssh, _| {
        ssh.targets[0].host_key_fingerprint =
            Some("SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into());
    })
    .await;
    let (stderr, recorded) = upstream_refusal(&gateway).await;
    assert!(
        stderr.contains("the host key of target web-1")
            && stderr.contains("does not match the key pinned"),
        "{stderr}"
    );
    assert!(recorded.contains("does not match"));
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upstream_host_key_that_changed_in_known_hosts_is_refused() {
    let policy = proxy::policy::PolicyConfig::default();
    let gateway = SshGateway::start_with(policy, |ssh, sshd| {
        let other = sshd.dir().join("other_ed25519");
        testkit::ssh::keygen(&other).unwrap();
        let other_key = std::fs::read_to_string(sshd.dir().join("other_ed25519.pub")).unwrap();
        let known_hosts = sshd.dir().join("stale_known_hosts");
        std::fs::write(
            &known_hosts,
            format!("[127.0.0.1]:{} {}", sshd.port(), other_key.trim()),
        )
        .unwrap();
        ssh.targets[0].host_key_fingerprint = None;
        ssh.targets[0].known_hosts = Some(known_hosts);
    })
    .await;
    let (stderr, _) = upstream_refusal(&gateway).await;
    assert!(stderr.contains("does not match the key pinned"), "{stderr}");
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_correct_known_hosts_pin_is_accepted() {
    let policy = proxy::policy::PolicyConfig::default();
    let gateway = SshGateway::start_with(policy, |ssh, sshd| {
        ssh.targets[0].host_key_fingerprint = None;
        ssh.targets[0].known_hosts = Some(sshd.known_hosts().unwrap());
    })
    .await;
    assert_still_serves(&gateway);
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upstream_that_is_down_is_reported() {
    let mut gateway = SshGateway::start().await;
    gateway.sshd.kill();
    let (stderr, recorded) = upstream_refusal(&gateway).await;
    assert!(
        stderr.contains("blastwall cannot reach target web-1"),
        "{stderr}"
    );
    assert!(recorded.contains("cannot reach"));
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_vanishes_mid_transfer_ends_its_session() {
    let gateway = SshGateway::start().await;
    let local = tempfile::tempdir().unwrap();
    let remote = tempfile::tempdir().unwrap();
    let source = random_file(local.path(), "big.bin", 200);
    // Rate-limited (-l, Kbit/s), so that the transfer is still running when it is killed.
    let mut scp = std::process::Command::new("sshpass");
    scp.arg("-e")
        .arg("scp")
        .args(["-l", "80000", "-P"])
        .arg(gateway.addr.port().to_string())
        .args(gateway.ssh_options())
        .arg(&source)
        .arg(format!(
            "web-1@127.0.0.1:{}/big.bin",
            remote.path().display()
        ))
        .env("SSHPASS", gateway.token())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = scp.spawn().unwrap();
    let partial = remote.path().join("big.bin");
    for _ in 0..200 {
        if std::fs::metadata(&partial).is_ok_and(|m| m.len() > 1024 * 1024) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(std::fs::metadata(&partial).is_ok_and(|m| m.len() > 0));
    // sshpass and its ssh die together: the process group is killed.
    let _ = std::process::Command::new("pkill")
        .arg("-KILL")
        .arg("-P")
        .arg(child.id().to_string())
        .status();
    let _ = child.kill();
    let _ = child.wait();
    let events = gateway.ended_sessions(1).await.remove(0);
    let EventBody::SessionEnded(ended) = &events.last().unwrap().body else {
        unreachable!()
    };
    assert_eq!(ended.reason, EndReason::ClientClosed);
    assert!(ended.counters.bytes_in > 1024 * 1024);
    assert!(std::fs::metadata(&partial).unwrap().len() < 200 * 1024 * 1024);
    assert_still_serves(&gateway);
    gateway.stop().await;
}
