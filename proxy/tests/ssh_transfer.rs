//! File transfer through the SSH gateway with stock clients against a real sshd: scp both
//! ways (50 MiB, checksums equal), sftp put and get, rsync of a directory, and git clone of a
//! bare repository over SSH; each leaves its commands and results in the events, and sftp's
//! bytes are not recorded as terminal output.

#![cfg(feature = "e2e")]
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ssh_gateway;

use std::process::Command;

use schemas::EventBody;
use schemas::body::AuthMethod;
use ssh_gateway::{SshGateway, commands, kinds, outcome, random_file, result_for, sha256};

#[tokio::test(flavor = "multi_thread")]
async fn scp_moves_50_mib_both_ways_intact() {
    let gateway = SshGateway::start().await;
    let token = gateway.token();
    let local = tempfile::tempdir().unwrap();
    let remote = tempfile::tempdir().unwrap();
    let source = random_file(local.path(), "big.bin", 50);
    let uploaded = remote.path().join("uploaded.bin");
    let up = gateway.transfer(
        "scp",
        &token,
        &[
            source.to_str().unwrap(),
            &format!("web-1@127.0.0.1:{}", uploaded.display()),
        ],
    );
    assert!(up.status.success(), "scp up: {:?}", outcome(&up));
    assert_eq!(sha256(&uploaded), sha256(&source));
    let downloaded = local.path().join("downloaded.bin");
    let down = gateway.transfer(
        "scp",
        &token,
        &[
            &format!("web-1@127.0.0.1:{}", uploaded.display()),
            downloaded.to_str().unwrap(),
        ],
    );
    assert!(down.status.success(), "scp down: {:?}", outcome(&down));
    assert_eq!(sha256(&downloaded), sha256(&source));

    let sessions = gateway.ended_sessions(2).await;
    let texts: Vec<String> = sessions
        .iter()
        .flat_map(|events| commands(events).into_iter().map(|(_, c)| c.text.clone()))
        .collect();
    // scp uses the sftp protocol by default since OpenSSH 9; older ones exec `scp -t/-f`.
    assert!(
        texts.iter().all(|t| t == "sftp" || t.starts_with("scp ")),
        "{texts:?}"
    );
    for events in &sessions {
        let text = commands(events)[0].1.text.clone();
        assert_eq!(
            result_for(events, &text).command_tag.as_deref(),
            Some("exit 0")
        );
        let recorded: usize = events
            .iter()
            .filter(|e| e.kind_name() == "terminal.output")
            .count();
        assert!(recorded <= 64, "a 50 MiB transfer is not recorded whole");
    }
    gateway.stop().await;
}

/// `sftp -b` runs in batch mode, which types no passwords: it logs in with a public key that
/// the configuration binds to an identity.
#[tokio::test(flavor = "multi_thread")]
async fn sftp_puts_and_gets_in_batch_mode_with_a_bound_key() {
    let keys = tempfile::tempdir().unwrap();
    let agent_key = keys.path().join("agent_ed25519");
    testkit::ssh::keygen(&agent_key).unwrap();
    let public_key = std::fs::read_to_string(keys.path().join("agent_ed25519.pub")).unwrap();
    let policy = proxy::policy::PolicyConfig::default();
    let gateway = SshGateway::start_with(policy, |ssh, _| {
        ssh.keys.push(proxy::config::ssh::SshKeyConfig {
            public_key,
            subject: "ops@example.com".into(),
            agents: vec!["deploy-bot".into()],
            groups: vec!["agents".into()],
        });
    })
    .await;
    let local = tempfile::tempdir().unwrap();
    let remote = tempfile::tempdir().unwrap();
    let source = random_file(local.path(), "data.bin", 2);
    let batch = local.path().join("batch");
    let fetched = local.path().join("fetched.bin");
    std::fs::write(
        &batch,
        format!(
            "put {} {}/put.bin\nget {}/put.bin {}\nls {}\n",
            source.display(),
            remote.path().display(),
            remote.path().display(),
            fetched.display(),
            remote.path().display()
        ),
    )
    .unwrap();
    let out = Command::new("sftp")
        .arg("-P")
        .arg(gateway.addr.port().to_string())
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ])
        .args([
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "PreferredAuthentications=publickey",
        ])
        .arg("-i")
        .arg(&agent_key)
        .arg("-b")
        .arg(&batch)
        .arg("web-1@127.0.0.1")
        .output()
        .unwrap();
    assert!(out.status.success(), "sftp: {:?}", outcome(&out));
    assert_eq!(sha256(&remote.path().join("put.bin")), sha256(&source));
    assert_eq!(sha256(&fetched), sha256(&source));
    let events = gateway.session_with_command(1, "sftp").await;
    let (_, command) = commands(&events)[0];
    assert_eq!(command.summary.as_ref().unwrap().action, "ssh:sftp");
    let EventBody::AuthenticationSucceeded(auth) = &events[1].body else {
        panic!("{:?}", kinds(&events))
    };
    assert_eq!(auth.method, AuthMethod::PublicKey);
    assert_eq!(events[1].actor.subject, "ops@example.com");
    assert_eq!(events[1].actor.agents, ["deploy-bot"]);
    assert!(!kinds(&events).contains(&"terminal.output"));
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rsync_copies_a_directory() {
    let gateway = SshGateway::start().await;
    let local = tempfile::tempdir().unwrap();
    let remote = tempfile::tempdir().unwrap();
    let tree = local.path().join("tree");
    std::fs::create_dir_all(tree.join("nested")).unwrap();
    std::fs::write(tree.join("a.txt"), "alpha\n").unwrap();
    random_file(&tree.join("nested"), "b.bin", 1);
    let out = Command::new("rsync")
        .arg("-a")
        .arg("-e")
        .arg(gateway.ssh_for_tools())
        .arg(format!("{}/", tree.display()))
        .arg(format!("web-1@127.0.0.1:{}/copy/", remote.path().display()))
        .env("SSHPASS", gateway.token())
        .output()
        .expect("rsync runs (run scripts/setup)");
    assert!(out.status.success(), "rsync: {:?}", outcome(&out));
    let copy = remote.path().join("copy");
    assert_eq!(
        std::fs::read_to_string(copy.join("a.txt")).unwrap(),
        "alpha\n"
    );
    assert_eq!(
        sha256(&copy.join("nested/b.bin")),
        sha256(&tree.join("nested/b.bin"))
    );
    let sessions = gateway.ended_sessions(1).await;
    let rsync = sessions
        .iter()
        .flat_map(|events| commands(events).into_iter().map(|(_, c)| c.text.clone()))
        .find(|t| t.starts_with("rsync --server"))
        .expect("rsync's server command was recorded");
    assert!(rsync.contains(&remote.path().display().to_string()));
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn git_clones_a_bare_repository_over_ssh() {
    let gateway = SshGateway::start().await;
    let work = tempfile::tempdir().unwrap();
    let bare = work.path().join("repo.git");
    let git = |args: &[&str], dir: &std::path::Path| {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_SSH_COMMAND", gateway.ssh_for_tools())
            .env("SSHPASS", gateway.token())
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .expect("git runs");
        assert!(out.status.success(), "git {args:?}: {:?}", outcome(&out));
    };
    let seed = work.path().join("seed");
    std::fs::create_dir_all(&seed).unwrap();
    git(&["init", "-q", "-b", "main"], &seed);
    std::fs::write(seed.join("README"), "through blastwall\n").unwrap();
    git(&["add", "README"], &seed);
    git(&["commit", "-q", "-m", "first"], &seed);
    git(
        &[
            "clone",
            "-q",
            "--bare",
            seed.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
        work.path(),
    );
    let url = format!(
        "ssh://web-1@127.0.0.1:{}{}",
        gateway.addr.port(),
        bare.display()
    );
    git(&["clone", "-q", &url, "clone"], work.path());
    assert_eq!(
        std::fs::read_to_string(work.path().join("clone/README")).unwrap(),
        "through blastwall\n"
    );
    let events = gateway.ended_sessions(1).await;
    let upload_pack = events
        .iter()
        .flat_map(|events| commands(events).into_iter().map(|(_, c)| c.text.clone()))
        .find(|t| t.starts_with("git-upload-pack"))
        .expect("git-upload-pack was recorded");
    assert!(upload_pack.contains("repo.git"));
    gateway.stop().await;
}
