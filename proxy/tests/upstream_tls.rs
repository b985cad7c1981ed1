//! TLS between blastwall and the upstream database: `require` encrypts, `verify-full` checks
//! the certificate against the configured CA and refuses one it does not trust.

#![cfg(feature = "e2e")]
// A panic in a test is a failed test, not a crashed gateway.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::{Gateway, allow_all};
use proxy::config::{TargetTls, UpstreamTls};

/// Turns TLS on in the gateway's cluster with a fresh self-signed certificate for 127.0.0.1;
/// returns the certificate's path (the CA a client must trust).
fn enable_server_tls(gateway: &Gateway, dir: &Path) -> PathBuf {
    let generated = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    // The server reads the key as its own user, and only from a file no one else may read.
    let uid = server_uid(gateway);
    for file in [&cert, &key] {
        std::os::unix::fs::chown(file, Some(uid), None).unwrap();
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    gateway.direct(&format!(
        "ALTER SYSTEM SET ssl_cert_file = '{}'; ALTER SYSTEM SET ssl_key_file = '{}'; ALTER SYSTEM SET ssl = on;",
        cert.display(),
        key.display()
    ));
    gateway.direct("SELECT pg_reload_conf()");
    cert
}

/// The uid the cluster's server runs as: the owner of its data directory.
fn server_uid(gateway: &Gateway) -> u32 {
    use std::os::unix::fs::MetadataExt;
    let data_directory = gateway.direct("SHOW data_directory");
    std::fs::metadata(data_directory.trim()).unwrap().uid()
}

fn upstream_ssl_in_use(gateway: &Gateway) -> String {
    let out = gateway.psql(
        &gateway.token(),
        &[
            "-c",
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        ],
    );
    assert!(out.ok, "{}", out.stderr);
    out.stdout.trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_encrypts_the_upstream_connection() {
    let gateway = Gateway::start_with(allow_all(), |settings| {
        settings.targets[0].tls = TargetTls {
            mode: UpstreamTls::Require,
            ca_file: None,
        };
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    enable_server_tls(&gateway, dir.path());
    assert_eq!(
        upstream_ssl_in_use(&gateway),
        "t",
        "the upstream session runs over TLS"
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_accepts_the_trusted_certificate_and_refuses_another() {
    let dir = tempfile::tempdir().unwrap();
    let trusted = dir.path().join("ca.pem");
    let gateway = Gateway::start_with(allow_all(), |settings| {
        settings.targets[0].tls = TargetTls {
            mode: UpstreamTls::VerifyFull,
            ca_file: Some(trusted.clone()),
        };
    })
    .await;
    let server_dir = tempfile::tempdir().unwrap();
    let cert = enable_server_tls(&gateway, server_dir.path());

    // A CA that did not sign the server's certificate: the gateway refuses the upstream.
    let stranger = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    std::fs::write(&trusted, stranger.cert.pem()).unwrap();
    let out = gateway.psql(&gateway.token(), &["-c", "SELECT 1"]);
    assert!(!out.ok);
    assert!(out.stderr.contains("is unreachable"), "{}", out.stderr);

    // The server's own certificate as the CA: verified, encrypted.
    std::fs::copy(&cert, &trusted).unwrap();
    assert_eq!(upstream_ssl_in_use(&gateway), "t");
    gateway.stop().await;
}
