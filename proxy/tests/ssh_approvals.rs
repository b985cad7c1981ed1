//! Exec held for approval through the SSH gateway, with stock `ssh` against a real sshd: the
//! client is told at once which approval was requested and how to approve it, then waits;
//! approved, the command runs (with what was typed meanwhile) and its output and exit status
//! arrive; denied or expired, a clear message and exit status 1; a client that leaves
//! withdraws the request; a time-boxed grant lets the same command line through. Approvers
//! decide through the approvals HTTP API; every test checks the session's events.

#![cfg(feature = "e2e")]
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ssh_gateway;

use std::process::Stdio;
use std::time::Duration;

use proxy::approvals::client::ApprovalsClient;
use proxy::approvals::http::ApprovalView;
use schemas::body::{ApprovalDecided, ApprovalDecision, ApprovalRequested, Verdict};
use schemas::{Event, EventBody};
use ssh_gateway::{SshGateway, TARGET, commands, kinds, output, result_for};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Every exec is allowed; one whose command line mentions "held", and every shell, need an
/// operator, waiting at most `expiry`.
fn holding_policy(expiry: &str) -> proxy::policy::PolicyConfig {
    ssh_gateway::policy_dir(&format!(
        "@id(\"exec\") permit (principal, action == Action::\"ssh:exec\", resource);\n\
         @id(\"held-needs-ops\") @approval(\"ops\") @expires(\"{expiry}\")\n\
         @message(\"held commands need an operator\")\n\
         permit (principal, action == Action::\"ssh:exec\", resource)\n\
         when {{ context.command like \"*held*\" }};\n\
         @id(\"shell-needs-ops\") @approval(\"ops\") @expires(\"{expiry}\")\n\
         permit (principal, action == Action::\"ssh:shell\", resource);\n"
    ))
}

/// `ssh TARGET@gateway COMMAND` in the background, with stdin, stdout and stderr piped.
fn ssh_background(gateway: &SshGateway, command: &str) -> tokio::process::Child {
    let mut cmd =
        tokio::process::Command::from(gateway.ssh_command(&gateway.token(), TARGET, &[command]));
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd.spawn()
        .expect("sshpass and ssh run (run scripts/setup)")
}

/// Kills sshpass and its ssh (its child, in a session of its own), as closing the terminal
/// would.
async fn kill_client(child: &mut tokio::process::Child) {
    let sshpass = child.id().unwrap();
    let killed = std::process::Command::new("pkill")
        .args(["-KILL", "-P", &sshpass.to_string()])
        .status()
        .unwrap();
    assert!(killed.success(), "ssh was running under sshpass");
    let _ = child.kill().await;
}

/// Reads the client's stderr until a line containing `needle`; returns that line.
async fn stderr_line(child: &mut tokio::process::Child, needle: &str) -> String {
    let stderr = child.stderr.as_mut().expect("stderr piped");
    let mut lines = BufReader::new(stderr).lines();
    let read = async {
        while let Some(line) = lines.next_line().await.expect("read stderr") {
            if line.contains(needle) {
                return line;
            }
        }
        panic!("stderr ended without {needle:?}");
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("the notice arrives while the request is held")
}

/// Waits (up to 20 s) until `api` lists a waiting request for `command`.
async fn waiting_for(api: &ApprovalsClient, command: &str) -> ApprovalView {
    for _ in 0..200 {
        let waiting = api.list().await.expect("list approvals");
        if let Some(view) = waiting.into_iter().find(|v| v.command == command) {
            return view;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no approval request for {command:?} showed up");
}

fn requested(events: &[Event]) -> Vec<&ApprovalRequested> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::ApprovalRequested(r) => Some(r),
            _ => None,
        })
        .collect()
}

fn decided(events: &[Event]) -> Vec<&ApprovalDecided> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::ApprovalDecided(d) => Some(d),
            _ => None,
        })
        .collect()
}

/// The events from `command.received` to the approval's decision, checked in order.
fn assert_held_in_order(events: &[Event], command: &str, view: &ApprovalView) {
    let k = kinds(events);
    let at = k.iter().position(|k| *k == "approval.requested").unwrap();
    assert_eq!(
        &k[at - 2..at + 2],
        [
            "command.received",
            "policy.decided",
            "approval.requested",
            "approval.decided"
        ]
    );
    let EventBody::PolicyDecided(policy) = &events[at - 1].body else {
        unreachable!()
    };
    assert_eq!(policy.verdict, Verdict::ApprovalRequired);
    assert_eq!(policy.policies, ["held-needs-ops"]);
    let request = requested(events)[0];
    assert_eq!(request.approval_id, view.id);
    assert_eq!(request.command, command);
    assert_eq!(request.approver_group, "ops");
    assert_eq!(request.command_seq, events[at - 2].seq);
    assert_eq!(commands(events)[0].1.text, command);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_exec_waits_for_an_operator_and_runs_when_approved() {
    let gateway = SshGateway::start_with_admin(holding_policy("10m")).await;
    let command = "cat; echo held-out; echo held-err >&2; exit 3";
    let mut ssh = ssh_background(&gateway, command);
    let notice = stderr_line(&mut ssh, "requested").await;
    let bob = gateway.approver("bob@example.com", &["ops"]);
    let view = waiting_for(&bob, command).await;
    assert!(
        notice.contains(&format!("approval {} requested", view.id))
            && notice.contains("a member of ops")
            && notice.contains(&format!("blastwall approvals approve {}", view.id)),
        "{notice}"
    );
    assert_eq!(
        (view.group.as_str(), view.policy.as_str()),
        ("ops", "held-needs-ops")
    );
    assert_eq!(view.subject, "dev@example.com");
    // Typed while held: it reaches the command once it runs, EOF included.
    let mut stdin = ssh.stdin.take().unwrap();
    stdin.write_all(b"typed while held\n").await.unwrap();
    drop(stdin);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(ssh.try_wait().unwrap().is_none(), "held, still waiting");

    let approved = bob
        .approve(view.id, Some("looks fine".into()), None)
        .await
        .expect("bob approves");
    assert_eq!(approved.status, "approved");
    let out = tokio::time::timeout(Duration::from_secs(30), ssh.wait_with_output())
        .await
        .expect("the command ends once approved")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stdout, "typed while held\nheld-out\n");
    assert!(stderr.contains("held-err"), "{stderr}");
    assert_eq!(out.status.code(), Some(3));

    let events = gateway.session_with_command(1, command).await;
    assert_held_in_order(&events, command, &view);
    let vote = decided(&events)[0];
    assert_eq!(vote.decision, ApprovalDecision::Approve);
    assert_eq!(vote.reason.as_deref(), Some("looks fine"));
    assert_eq!(vote.approver.as_ref().unwrap().subject, "bob@example.com");
    let result = result_for(&events, command);
    assert_eq!(result.command_tag.as_deref(), Some("exit 3"));
    let recorded = String::from_utf8(output(&events)).unwrap();
    assert!(recorded.contains("held-out"), "{recorded:?}");
    assert_eq!(kinds(&events).last(), Some(&"session.ended"));
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_exec_prints_the_approvers_reason_and_exits_1() {
    let gateway = SshGateway::start_with_admin(holding_policy("10m")).await;
    let command = "echo held > /dev/null; echo ran";
    let ssh = ssh_background(&gateway, command);
    let bob = gateway.approver("bob@example.com", &["ops"]);
    let view = waiting_for(&bob, command).await;
    bob.deny(view.id, "not during the freeze".into())
        .await
        .expect("bob denies");
    let out = tokio::time::timeout(Duration::from_secs(30), ssh.wait_with_output())
        .await
        .expect("refused once denied")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    assert!(
        stderr.contains(&format!("approval {} requested", view.id))
            && stderr.contains("was denied by bob@example.com: not during the freeze")
            && stderr.contains("not run"),
        "{stderr}"
    );

    let events = gateway.session_with_command(1, command).await;
    assert_held_in_order(&events, command, &view);
    let vote = decided(&events)[0];
    assert_eq!(vote.decision, ApprovalDecision::Deny);
    assert_eq!(vote.reason.as_deref(), Some("not during the freeze"));
    assert_eq!(
        result_for(&events, command).command_tag.as_deref(),
        Some("exit 1")
    );
    assert!(!kinds(&events).contains(&"terminal.output"), "never ran");
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exec_nobody_decides_expires_and_exits_1() {
    let gateway = SshGateway::start_with_admin(holding_policy("2s")).await;
    let command = "echo held";
    let ssh = ssh_background(&gateway, command);
    let bob = gateway.approver("bob@example.com", &["ops"]);
    let view = waiting_for(&bob, command).await;
    let out = tokio::time::timeout(Duration::from_secs(30), ssh.wait_with_output())
        .await
        .expect("refused once expired")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    assert!(
        stderr.contains(&format!(
            "approval {} for policy held-needs-ops expired",
            view.id
        )),
        "{stderr}"
    );
    assert_eq!(bob.show(view.id).await.unwrap().status, "expired");

    let events = gateway.session_with_command(1, command).await;
    assert_held_in_order(&events, command, &view);
    assert_eq!(decided(&events)[0].decision, ApprovalDecision::Expired);
    assert_eq!(
        result_for(&events, command).command_tag.as_deref(),
        Some("exit 1")
    );
    assert!(!kinds(&events).contains(&"terminal.output"), "never ran");
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_while_held_cancels_its_request() {
    let gateway = SshGateway::start_with_admin(holding_policy("10m")).await;
    let command = "echo held";
    let mut ssh = ssh_background(&gateway, command);
    let bob = gateway.approver("bob@example.com", &["ops"]);
    let view = waiting_for(&bob, command).await;
    kill_client(&mut ssh).await;

    let mut status = String::new();
    for _ in 0..200 {
        status = bob.show(view.id).await.unwrap().status;
        if status != "waiting" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, "cancelled");
    assert!(
        bob.approve(view.id, None, None).await.is_err(),
        "a withdrawn request cannot be approved"
    );

    let events = gateway.session_with_command(1, command).await;
    assert_held_in_order(&events, command, &view);
    let end = decided(&events)[0];
    assert_eq!(end.decision, ApprovalDecision::Cancelled);
    assert_eq!(
        end.reason.as_deref(),
        Some("the client disconnected while the request was held")
    );
    assert!(!kinds(&events).contains(&"terminal.output"), "never ran");
    assert_eq!(kinds(&events).last(), Some(&"session.ended"));
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeboxed_grant_lets_the_same_command_line_through_without_a_hold() {
    let gateway = SshGateway::start_with_admin(holding_policy("10m")).await;
    let command = "echo held-by-grant";
    let ssh = ssh_background(&gateway, command);
    let bob = gateway.approver("bob@example.com", &["ops"]);
    let view = waiting_for(&bob, command).await;
    bob.approve(
        view.id,
        Some("for the rollout".into()),
        Some(Duration::from_secs(1800)),
    )
    .await
    .expect("bob approves for 30 minutes");
    let first = ssh.wait_with_output().await.unwrap();
    assert_eq!(String::from_utf8_lossy(&first.stdout), "held-by-grant\n");

    // The same line (spaces around it do not matter) runs at once; another line is held.
    let second = gateway.ssh(&gateway.token(), &["  echo held-by-grant  "]);
    assert_eq!(String::from_utf8_lossy(&second.stdout), "held-by-grant\n");
    assert_eq!(second.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!stderr.contains("requested"), "no hold: {stderr}");
    let mut other = ssh_background(&gateway, "echo held-other");
    waiting_for(&bob, "echo held-other").await;
    kill_client(&mut other).await;

    let events = gateway
        .session_with_command(3, "  echo held-by-grant  ")
        .await;
    assert!(requested(&events).is_empty(), "no request under the grant");
    let covered = decided(&events)[0];
    assert_eq!(covered.approval_id, view.id);
    assert_eq!(covered.decision, ApprovalDecision::Approve);
    assert!(covered.reason.as_deref().unwrap().contains("grant"));
    assert_eq!(
        kinds(&events)[2..5],
        ["command.received", "policy.decided", "approval.decided"]
    );
    assert_eq!(
        result_for(&events, "  echo held-by-grant  ")
            .command_tag
            .as_deref(),
        Some("exit 0")
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_shell_in_a_pty_runs_what_was_typed_once_approved() {
    let gateway = SshGateway::start_with_admin(holding_policy("10m")).await;
    let mut ssh =
        tokio::process::Command::from(gateway.ssh_command(&gateway.token(), TARGET, &["-tt"]));
    let mut ssh = ssh
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Typed before anything runs; stdin stays open, as a person's would (`exit` ends it).
    let mut stdin = ssh.stdin.take().unwrap();
    stdin
        .write_all(b"echo hello-$((6*7))\nexit 4\n")
        .await
        .unwrap();
    let bob = gateway.approver("bob@example.com", &["ops"]);
    let view = waiting_for(&bob, "ssh:shell").await;
    assert_eq!(view.policy, "shell-needs-ops");
    bob.approve(view.id, None, None)
        .await
        .expect("bob approves");
    let out = tokio::time::timeout(Duration::from_secs(30), ssh.wait_with_output())
        .await
        .expect("the shell ends once approved")
        .unwrap();
    drop(stdin);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("hello-42"), "{stdout:?} {stderr:?}");
    assert!(
        format!("{stdout}{stderr}").contains(&format!("approval {} requested", view.id)),
        "{stdout:?} {stderr:?}"
    );
    assert_eq!(out.status.code(), Some(4));

    let events = gateway.ended_sessions(1).await.remove(0);
    let k = kinds(&events);
    let at = k.iter().position(|k| *k == "approval.requested").unwrap();
    assert_eq!(
        &k[at - 2..at + 2],
        [
            "command.received",
            "policy.decided",
            "approval.requested",
            "approval.decided"
        ]
    );
    assert_eq!(requested(&events)[0].command, "ssh:shell");
    assert_eq!(decided(&events)[0].decision, ApprovalDecision::Approve);
    let typed: Vec<&str> = commands(&events)
        .into_iter()
        .filter(|(_, c)| {
            c.summary
                .as_ref()
                .is_some_and(|s| s.action == "ssh:typed-line")
        })
        .map(|(_, c)| c.text.as_str())
        .collect();
    assert_eq!(typed, ["echo hello-$((6*7))", "exit 4"]);
    assert!(String::from_utf8_lossy(&output(&events)).contains("hello-42"));
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_target_that_masks_its_record_a_held_exec_is_requested_masked() {
    const CARD: &str = "4111111111111111";
    let gateway = SshGateway::start_configured(
        holding_policy("10m"),
        |ssh, _| ssh.targets[0].mask_output = true,
        |settings| {
            settings.admin = Some(proxy::server::AdminConfig {
                listen: "127.0.0.1:0".parse().unwrap(),
            });
        },
    )
    .await;
    let command = format!("echo held {CARD}");
    let ssh = ssh_background(&gateway, &command);
    let bob = gateway.approver("bob@example.com", &["ops"]);
    let view = waiting_for(&bob, "echo held [masked:card]").await;
    bob.approve(view.id, None, None)
        .await
        .expect("bob approves");
    let out = tokio::time::timeout(Duration::from_secs(30), ssh.wait_with_output())
        .await
        .expect("the command ends once approved")
        .unwrap();
    // The command ran as sent, and its terminal shows what it printed.
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("held {CARD}\n")
    );

    let events = gateway
        .session_with_command(1, "echo held [masked:card]")
        .await;
    assert_eq!(requested(&events)[0].command, "echo held [masked:card]");
    let mut dirs = vec![gateway.data.path().to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let found = bytes.windows(CARD.len()).any(|w| w == CARD.as_bytes());
            assert!(!found, "{} holds the card number", path.display());
        }
    }
    gateway.stop().await;
}
