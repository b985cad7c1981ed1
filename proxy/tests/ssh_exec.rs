//! Exec through the SSH gateway with stock `ssh` against a real sshd: stdout, stderr and exit
//! codes pass through; policy blocks with a message and exit status 1; approval-needing
//! commands wait naming the group (`ssh_approvals` decides them); every run leaves its events.

#![cfg(feature = "e2e")]
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ssh_gateway;

use schemas::EventBody;
use schemas::body::{AuthMethod, Verdict};
use ssh_gateway::{SshGateway, commands, kinds, outcome, output, result_for};

#[tokio::test(flavor = "multi_thread")]
async fn exec_passes_stdout_stderr_and_exit_codes() {
    let gateway = SshGateway::start().await;
    let token = gateway.token();
    let out = gateway.ssh(&token, &["echo out; echo err >&2; exit 3"]);
    let (stdout, stderr, code) = outcome(&out);
    assert_eq!(stdout, "out\n");
    assert_eq!(stderr, "err\n");
    assert_eq!(code, Some(3));
    let ok = gateway.ssh(&token, &["true"]);
    assert_eq!(ok.status.code(), Some(0));

    let events = gateway
        .session_with_command(2, "echo out; echo err >&2; exit 3")
        .await;
    assert_eq!(
        &kinds(&events)[..5],
        [
            "session.started",
            "authentication.succeeded",
            "command.received",
            "policy.decided",
            "terminal.output"
        ]
    );
    let EventBody::AuthenticationSucceeded(auth) = &events[1].body else {
        unreachable!()
    };
    assert_eq!(auth.method, AuthMethod::Password);
    assert_eq!(events[1].actor.subject, "dev@example.com");
    assert_eq!(events[1].target.name, "web-1");
    let (_, command) = commands(&events)[0];
    assert_eq!(command.summary.as_ref().unwrap().action, "ssh:exec");
    let EventBody::PolicyDecided(decided) = &events[3].body else {
        unreachable!()
    };
    assert_eq!(decided.verdict, Verdict::Allow);
    let result = result_for(&events, "echo out; echo err >&2; exit 3");
    assert_eq!(result.command_tag.as_deref(), Some("exit 3"));
    assert_eq!(result.error.as_ref().unwrap().code, "3");
    let recorded = String::from_utf8(output(&events)).unwrap();
    assert!(
        recorded.contains("out\n") && recorded.contains("err\n"),
        "{recorded:?}"
    );
    assert_eq!(kinds(&events).last(), Some(&"session.ended"));
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blocked_exec_prints_the_policy_and_exits_1() {
    let gateway = SshGateway::start().await;
    let out = gateway.ssh(&gateway.token(), &["reboot"]);
    let (stdout, stderr, code) = outcome(&out);
    assert_eq!(code, Some(1));
    assert_eq!(stdout, "");
    assert!(
        stderr.contains("blocked by policy ssh-no-shutdown")
            && stderr.contains("shutting down or rebooting a host is not allowed"),
        "{stderr}"
    );
    let events = gateway.session_with_command(1, "reboot").await;
    let decided = events
        .iter()
        .find_map(|e| match &e.body {
            EventBody::PolicyDecided(d) => Some(d),
            _ => None,
        })
        .unwrap();
    assert_eq!(decided.verdict, Verdict::Block);
    assert_eq!(decided.policies, ["ssh-no-shutdown"]);
    assert_eq!(
        result_for(&events, "reboot").command_tag.as_deref(),
        Some("exit 1")
    );
    assert!(!kinds(&events).contains(&"terminal.output"));
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_exec_that_needs_approval_waits_naming_the_group_and_exits_1_when_it_expires() {
    let gateway = SshGateway::start_configured(
        proxy::policy::PolicyConfig::default(),
        |_, _| {},
        |settings| settings.approvals.default_expiry = std::time::Duration::from_secs(1),
    )
    .await;
    let out = gateway.ssh(&gateway.token(), &["sudo id"]);
    let (stdout, stderr, code) = outcome(&out);
    assert_eq!(code, Some(1));
    assert_eq!(stdout, "");
    assert!(
        stderr.contains("ssh-sudo-needs-approval")
            && stderr.contains("a member of ops")
            && stderr.contains("blastwall approvals approve ")
            && stderr.contains("expired"),
        "{stderr}"
    );
    let events = gateway.session_with_command(1, "sudo id").await;
    assert!(events.iter().any(|e| matches!(
        &e.body,
        EventBody::PolicyDecided(d) if d.verdict == Verdict::ApprovalRequired
    )));
    let k = kinds(&events);
    assert!(
        k.contains(&"approval.requested") && k.contains(&"approval.decided"),
        "{k:?}"
    );
    assert_eq!(
        result_for(&events, "sudo id").command_tag.as_deref(),
        Some("exit 1")
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn allowed_env_passes_and_other_env_is_dropped() {
    let gateway = SshGateway::start().await;
    let mut cmd = gateway.ssh_command(
        &gateway.token(),
        "web-1",
        &[
            "-o",
            "SendEnv=BLASTWALL_COLOR LC_SECRET",
            "echo color=$BLASTWALL_COLOR secret=$LC_SECRET",
        ],
    );
    cmd.env("BLASTWALL_COLOR", "blue").env("LC_SECRET", "x");
    let out = cmd.output().unwrap();
    assert_eq!(outcome(&out).0, "color=blue secret=\n");
    let line = "echo color=$BLASTWALL_COLOR secret=$LC_SECRET";
    let events = gateway.session_with_command(1, line).await;
    let (_, command) = commands(&events)[0];
    assert_eq!(command.protocol, schemas::Protocol::Ssh);
    assert_eq!(
        result_for(&events, line).command_tag.as_deref(),
        Some("exit 0")
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_killed_by_a_signal_reports_it() {
    let gateway = SshGateway::start().await;
    let out = gateway.ssh(&gateway.token(), &["kill -TERM $$"]);
    // OpenSSH's client exits 255 when the command was killed by a signal.
    assert_eq!(out.status.code(), Some(255), "{:?}", outcome(&out));
    let events = gateway.session_with_command(1, "kill -TERM $$").await;
    let result = result_for(&events, "kill -TERM $$");
    assert_eq!(result.command_tag.as_deref(), Some("signal TERM"));
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn port_forwarding_is_refused_unless_policy_allows_it() {
    let gateway = SshGateway::start().await;
    let to = format!("127.0.0.1:{}", gateway.sshd.port());
    let out = gateway.ssh(&gateway.token(), &["-W", &to]);
    let (stdout, stderr, code) = outcome(&out);
    assert_eq!(code, Some(255));
    assert_eq!(stdout, "");
    assert!(stderr.contains("stdio forwarding failed"), "{stderr}");
    let events = gateway
        .session_with_command(1, &format!("direct-tcpip {to}"))
        .await;
    let decided = events
        .iter()
        .find_map(|e| match &e.body {
            EventBody::PolicyDecided(d) => Some(d),
            _ => None,
        })
        .unwrap();
    assert_eq!(decided.verdict, Verdict::Block);
    assert_eq!(decided.policies, ["default-deny"]);
    gateway.stop().await;

    // A pack that permits forwarding to the host's own sshd: the banner comes through.
    let allowing = ssh_gateway::policy_dir(
        "@id(\"exec\") permit (principal, action == Action::\"ssh:exec\", resource);\n\
         @id(\"forward-local\") permit (principal, action == Action::\"ssh:forward\", resource)\n\
         when { context.forward_kind == \"direct-tcpip\" && context.forward_to like \"127.0.0.1:*\" };\n",
    );
    let gateway = SshGateway::start_with(allowing, |_, _| {}).await;
    let to = format!("127.0.0.1:{}", gateway.sshd.port());
    let mut child = gateway
        .ssh_command(&gateway.token(), "web-1", &["-W", &to])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut banner = [0u8; 8];
    std::io::Read::read_exact(&mut stdout, &mut banner).unwrap();
    assert_eq!(&banner, b"SSH-2.0-");
    let _ = child.kill();
    let _ = child.wait();
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_target_that_masks_output_records_no_secret_it_printed() {
    const CARD: &str = "4111 1111 1111 1111";
    const KEY: &str = "AKIAIOSFODNN7EXAMPLE";
    let gateway = SshGateway::start_with(Default::default(), |ssh, _| {
        for target in &mut ssh.targets {
            target.mask_output = true;
        }
    })
    .await;
    let command = format!("echo card {CARD} key {KEY}");
    let out = gateway.ssh(&gateway.token(), &[&command]);
    let (stdout, _, code) = outcome(&out);
    assert_eq!(code, Some(0));
    assert_eq!(
        stdout,
        format!("card {CARD} key {KEY}\n"),
        "the client's terminal is not changed"
    );

    let sessions = gateway.ended_sessions(1).await;
    let events = &sessions[0];
    let (_, received) = commands(events)[0];
    assert!(
        received.text.starts_with("echo card "),
        "{:?}",
        received.text
    );
    let recorded = String::from_utf8_lossy(&output(events)).into_owned();
    assert!(recorded.starts_with("card "), "{recorded:?}");
    for secret in [CARD, KEY] {
        assert!(
            !recorded.contains(secret),
            "{secret} recorded: {recorded:?}"
        );
    }
    // The recorded command line went through the detectors too, as every recorded statement.
    let log = gateway.data.path().join("log");
    for file in walk(&log) {
        let bytes = std::fs::read(&file).unwrap();
        for secret in [CARD, KEY] {
            let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "{secret} in {}", file.display());
        }
    }
    gateway.stop().await;
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
