//! A real SSH gateway for end-to-end tests: a throwaway sshd (`testkit::ssh::Sshd`),
//! blastwall's proxy in this process with only its SSH listener on port 0 and an embedded
//! event log, tokens from its local issuer, the stock clients (ssh, scp, sftp, rsync, git
//! with `sshpass` typing the token as the password), and the sessions the log holds.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use eventlog::{EmbeddedLog, EmbeddedOptions, EmbeddedReader, Stream};
use proxy::approvals::client::ApprovalsClient;
use proxy::config::ssh::SshTargetConfig;
use proxy::config::{PostgresListenerConfig, SshListenerConfig};
use proxy::identity::{IdentityConfig, LocalIssuer, MintRequest};
use proxy::policy::PolicyConfig;
use proxy::server::{AdminConfig, ProxySettings, RunningProxy};
use schemas::body::{CommandReceived, ResultReturned};
use schemas::{Event, EventBody, PublicKeys, SealingKey, verify_session};
use tokio::sync::watch;

pub const ISSUER: &str = "blastwall-test";
pub const AUDIENCE: &str = "blastwall";
pub const TARGET: &str = "web-1";

/// A person's private key on disk, registered with the gateway.
pub struct PersonKey {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

pub struct SshGateway {
    pub sshd: testkit::ssh::Sshd,
    pub addr: SocketAddr,
    pub data: tempfile::TempDir,
    pub keys: PublicKeys,
    issuer: LocalIssuer,
    stop: watch::Sender<bool>,
    running: Option<RunningProxy>,
    _log: Arc<EmbeddedLog>,
}

/// A policy directory holding `policies` (Cedar), kept for the test process's life.
pub fn policy_dir(policies: &str) -> PolicyConfig {
    let dir = tempfile::tempdir().expect("tempdir").keep();
    std::fs::write(dir.join("policies.cedar"), policies).expect("policy file");
    PolicyConfig {
        dir: Some(dir),
        ..PolicyConfig::default()
    }
}

/// The target blastwall reaches `sshd` as, with its key and the host key pinned by
/// fingerprint.
pub fn target_for(sshd: &testkit::ssh::Sshd) -> SshTargetConfig {
    SshTargetConfig {
        name: TARGET.into(),
        address: sshd.address(),
        user: sshd.user().into(),
        key: Some(sshd.client_key()),
        password: None,
        known_hosts: None,
        host_key_fingerprint: Some(sshd.host_fingerprint().expect("fingerprint")),
        env: vec!["LANG".into(), "BLASTWALL_*".into()],
        durability: Default::default(),
        mask_output: false,
    }
}

impl SshGateway {
    /// The built-in default pack.
    pub async fn start() -> SshGateway {
        Self::start_with(PolicyConfig::default(), |_, _| {}).await
    }

    pub async fn start_with(
        policy: PolicyConfig,
        adjust: impl FnOnce(&mut SshListenerConfig, &testkit::ssh::Sshd),
    ) -> SshGateway {
        Self::start_configured(policy, adjust, |_| {}).await
    }

    /// With the admin listener (the approvals API) on a free port.
    pub async fn start_with_admin(policy: PolicyConfig) -> SshGateway {
        Self::start_configured(
            policy,
            |_, _| {},
            |settings| {
                settings.admin = Some(AdminConfig {
                    listen: "127.0.0.1:0".parse().expect("addr"),
                });
            },
        )
        .await
    }

    /// `adjust` changes the `[ssh]` section, `settings` the rest.
    pub async fn start_configured(
        policy: PolicyConfig,
        adjust: impl FnOnce(&mut SshListenerConfig, &testkit::ssh::Sshd),
        configure: impl FnOnce(&mut ProxySettings),
    ) -> SshGateway {
        let sshd = testkit::ssh::Sshd::start().expect("sshd (run scripts/setup)");
        let data = tempfile::tempdir().expect("tempdir");
        let log = Arc::new(
            EmbeddedLog::open(data.path().join("log"), EmbeddedOptions::default()).expect("log"),
        );
        let key = SealingKey::generate();
        let keys = PublicKeys::from(&key);
        let mut ssh = SshListenerConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            targets: vec![target_for(&sshd)],
            ..SshListenerConfig::default()
        };
        adjust(&mut ssh, &sshd);
        let mut settings = ProxySettings {
            identity: IdentityConfig::local(ISSUER, AUDIENCE),
            postgres: PostgresListenerConfig {
                listen: "127.0.0.1:0".parse().expect("addr"),
                ..PostgresListenerConfig::default()
            },
            targets: Vec::new(),
            ssh: Some(ssh),
            policy,
            approvals: Default::default(),
            masking: Default::default(),
            admin: None,
            data_dir: data.path().to_owned(),
        };
        configure(&mut settings);
        let (stop, stopped) = watch::channel(false);
        let running = proxy::server::start(settings, log.clone(), Arc::new(key), stopped)
            .await
            .expect("proxy starts");
        let issuer = LocalIssuer::open_or_create(&proxy::server::local_issuer_key(data.path()))
            .expect("issuer");
        SshGateway {
            sshd,
            addr: running.ssh.expect("the ssh listener runs"),
            data,
            keys,
            issuer,
            stop,
            running: Some(running),
            _log: log,
        }
    }

    /// A token for dev@example.com acting through coding-agent, in group agents.
    pub fn token(&self) -> String {
        let mut request = MintRequest::new(ISSUER, AUDIENCE, "dev@example.com", HOUR);
        request.act = vec!["coding-agent".into()];
        request.groups = vec!["agents".into()];
        request.issued_at = SystemTime::now();
        self.issuer.mint(&request).expect("mint")
    }

    /// A token for `sub` in `groups`, acting through `act`.
    pub fn token_for(&self, sub: &str, act: &[&str], groups: &[&str]) -> String {
        let mut request = MintRequest::new(ISSUER, AUDIENCE, sub, HOUR);
        request.act = act.iter().map(|s| s.to_string()).collect();
        request.groups = groups.iter().map(|s| s.to_string()).collect();
        request.issued_at = SystemTime::now();
        self.issuer.mint(&request).expect("mint")
    }

    /// The approvals API as `subject` in `groups` (a person, no agent).
    pub fn approver(&self, subject: &str, groups: &[&str]) -> ApprovalsClient {
        let token = self.token_for(subject, &[], groups);
        let admin = self
            .running
            .as_ref()
            .and_then(|r| r.admin)
            .expect("started with an admin listener");
        ApprovalsClient::new(&format!("http://{admin}"), &token).expect("client")
    }

    /// A gateway where alice@example.com (group ops) logs in with a key of her own, for
    /// clients that cannot have sshpass type a token (ssh in a pty of the test's own).
    pub async fn start_with_person_key() -> (SshGateway, PersonKey) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("person_ed25519");
        testkit::ssh::keygen(&path).expect("ssh-keygen");
        let public_key =
            std::fs::read_to_string(dir.path().join("person_ed25519.pub")).expect("public key");
        let gateway = SshGateway::start_with(PolicyConfig::default(), |ssh, _| {
            ssh.keys.push(proxy::config::ssh::SshKeyConfig {
                public_key,
                subject: "alice@example.com".into(),
                agents: Vec::new(),
                groups: vec!["ops".into()],
            });
        })
        .await;
        (gateway, PersonKey { _dir: dir, path })
    }

    /// The arguments after `ssh` that log in to TARGET through the gateway with `key`.
    pub fn key_login_args(&self, key: &PersonKey) -> Vec<String> {
        let port = self.addr.port().to_string();
        let options = [
            "StrictHostKeyChecking=no",
            "UserKnownHostsFile=/dev/null",
            "IdentitiesOnly=yes",
            "LogLevel=ERROR",
        ];
        let mut args = vec!["-p".to_owned(), port];
        for option in options {
            args.extend(["-o".to_owned(), option.to_owned()]);
        }
        args.extend([
            "-i".to_owned(),
            key.path.display().to_string(),
            format!("{TARGET}@127.0.0.1"),
        ]);
        args
    }

    /// The ssh options that reach the gateway with a token as the password.
    pub fn ssh_options(&self) -> Vec<String> {
        [
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "PreferredAuthentications=password,keyboard-interactive",
            "-o",
            "ConnectTimeout=10",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// `ssh -p PORT TARGET@127.0.0.1 ARGS...` with `token` typed by sshpass.
    pub fn ssh_command(&self, token: &str, target: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("sshpass");
        cmd.arg("-e")
            .arg("ssh")
            .arg("-p")
            .arg(self.addr.port().to_string())
            .args(self.ssh_options())
            .arg(format!("{target}@127.0.0.1"))
            .args(args)
            .env("SSHPASS", token)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs ssh through the gateway and waits for it.
    pub fn ssh(&self, token: &str, args: &[&str]) -> Output {
        self.ssh_command(token, TARGET, args)
            .output()
            .expect("sshpass and ssh run (run scripts/setup)")
    }

    /// `scp` or `sftp` (`program`) through the gateway with `args` after the options.
    pub fn transfer(&self, program: &str, token: &str, args: &[&str]) -> Output {
        let port_flag = "-P";
        Command::new("sshpass")
            .arg("-e")
            .arg(program)
            .arg(port_flag)
            .arg(self.addr.port().to_string())
            .args(self.ssh_options())
            .args(args)
            .env("SSHPASS", token)
            .stdin(Stdio::null())
            .output()
            .expect("sshpass runs")
    }

    /// The `ssh` command line rsync and git use to reach the gateway (`-e`, GIT_SSH_COMMAND).
    pub fn ssh_for_tools(&self) -> String {
        format!(
            "sshpass -e ssh -p {} {}",
            self.addr.port(),
            self.ssh_options().join(" ")
        )
    }

    /// Every event in the log, by session, in seq order.
    pub async fn sessions(&self) -> BTreeMap<uuid::Uuid, Vec<Event>> {
        let reader = EmbeddedReader::open(self.data.path().join("log"), EmbeddedOptions::default());
        let consumer = format!("test-{}", uuid::Uuid::now_v7().simple());
        let mut sub = reader
            .subscribe(Stream::Events, &consumer)
            .expect("subscribe");
        let mut sessions: BTreeMap<uuid::Uuid, Vec<Event>> = BTreeMap::new();
        loop {
            let batch = sub
                .poll(10_000, Duration::from_millis(100))
                .await
                .expect("read log");
            if batch.is_empty() {
                break;
            }
            for entry in batch {
                let event: Event = serde_json::from_slice(&entry.value).expect("event json");
                sessions.entry(event.session_id).or_default().push(event);
            }
        }
        for events in sessions.values_mut() {
            events.sort_by_key(|e| e.seq);
        }
        sessions
    }

    /// Waits (up to 10 s) until `count` sessions have ended; each is checked to verify.
    pub async fn ended_sessions(&self, count: usize) -> Vec<Vec<Event>> {
        for _ in 0..200 {
            let ended: Vec<Vec<Event>> = self
                .sessions()
                .await
                .into_values()
                .filter(|events| {
                    events
                        .last()
                        .is_some_and(|e| e.kind_name() == "session.ended")
                })
                .collect();
            if ended.len() >= count {
                for events in &ended {
                    verify_session(events, &self.keys).expect("the session's record verifies");
                }
                return ended;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("fewer than {count} sessions ended");
    }

    /// The one ended session that received a command with text `text`.
    pub async fn session_with_command(&self, count: usize, text: &str) -> Vec<Event> {
        self.ended_sessions(count)
            .await
            .into_iter()
            .find(|events| commands(events).iter().any(|(_, c)| c.text == text))
            .unwrap_or_else(|| panic!("no ended session ran {text:?}"))
    }

    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(running) = self.running.take() {
            running.wait().await;
        }
    }
}

/// One hour, the usual token lifetime.
pub const HOUR: Duration = Duration::from_secs(3600);

/// The kinds of a session's events, in order.
pub fn kinds(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(|e| e.kind_name()).collect()
}

/// The session's `command.received` events with their seq.
pub fn commands(events: &[Event]) -> Vec<(u64, &CommandReceived)> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::CommandReceived(c) => Some((e.seq, c)),
            _ => None,
        })
        .collect()
}

/// The one result recorded for the command whose text is `text`.
pub fn result_for<'a>(events: &'a [Event], text: &str) -> &'a ResultReturned {
    let seq = commands(events)
        .into_iter()
        .find(|(_, c)| c.text == text)
        .map(|(seq, _)| seq)
        .unwrap_or_else(|| panic!("no command {text:?}"));
    let results: Vec<&ResultReturned> = events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::ResultReturned(r) if r.command_seq == seq => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(results.len(), 1, "one result for {text:?}");
    results[0]
}

/// Every byte of the session's `terminal.output` events, in order.
pub fn output(events: &[Event]) -> Vec<u8> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::TerminalOutput(d) => Some(d.data.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// Every byte of the session's `terminal.input` events, in order.
pub fn input(events: &[Event]) -> Vec<u8> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::TerminalInput(d) => Some(d.data.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// SHA-256 of a file, via sha256sum.
pub fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// A file of `mib` MiB of random bytes in `dir`.
pub fn random_file(dir: &Path, name: &str, mib: usize) -> PathBuf {
    let path = dir.join(name);
    let status = Command::new("head")
        .arg("-c")
        .arg(format!("{}M", mib))
        .arg("/dev/urandom")
        .stdout(std::fs::File::create(&path).expect("create"))
        .status()
        .expect("head");
    assert!(status.success());
    path
}

/// stdout, stderr and the exit code of a finished client.
pub fn outcome(out: &Output) -> (String, String, Option<i32>) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code(),
    )
}
