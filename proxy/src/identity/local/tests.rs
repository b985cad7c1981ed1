use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::*;

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[test]
fn mints_the_documented_claims() {
    let issuer = LocalIssuer::generate().unwrap();
    let mut request = MintRequest::new("https://bw", "blastwall", "alice", Duration::from_secs(60));
    request.act = vec!["claude-code".into(), "orchestrator".into()];
    request.groups = vec!["dba".into()];
    let claims = claims_of(&issuer.mint(&request).unwrap());
    assert_eq!(claims["iss"], "https://bw");
    assert_eq!(claims["aud"], "blastwall");
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["groups"], json!(["dba"]));
    assert_eq!(
        claims["act"],
        json!({"sub": "claude-code", "act": {"sub": "orchestrator"}})
    );
    let iat = claims["iat"].as_u64().unwrap();
    assert_eq!(claims["nbf"].as_u64(), Some(iat));
    assert_eq!(claims["exp"].as_u64(), Some(iat + 60));
    let jti = Uuid::parse_str(claims["jti"].as_str().unwrap()).unwrap();
    assert_eq!(jti.get_version_num(), 7);
}

#[test]
fn no_agents_means_no_act_claim() {
    let issuer = LocalIssuer::generate().unwrap();
    let request = MintRequest::new("i", "a", "alice", Duration::from_secs(60));
    assert!(
        claims_of(&issuer.mint(&request).unwrap())
            .get("act")
            .is_none()
    );
}

#[test]
fn refuses_empty_fields() {
    let issuer = LocalIssuer::generate().unwrap();
    let mut request = MintRequest::new("i", "a", "", Duration::from_secs(60));
    assert_eq!(
        issuer.mint(&request),
        Err(MintError::EmptyField { field: "subject" })
    );
    request.subject = "alice".into();
    request.act = vec![String::new()];
    assert_eq!(
        issuer.mint(&request),
        Err(MintError::EmptyField { field: "act" })
    );
    request.act.clear();
    request.ttl = Duration::MAX;
    assert_eq!(issuer.mint(&request), Err(MintError::TimeOutOfRange));
}

#[test]
fn the_jwk_set_names_the_kid() {
    let issuer = LocalIssuer::generate().unwrap();
    let jwks = issuer.jwks();
    let key = &jwks["keys"][0];
    assert_eq!(key["kid"], issuer.kid());
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(URL_SAFE_NO_PAD.decode(issuer.kid()).unwrap().len(), 8);
    assert!(!format!("{issuer:?}").contains(key["x"].as_str().unwrap()));
}

#[cfg(unix)]
#[test]
fn creates_a_private_key_file_and_reopens_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys").join("issuer.pem");
    let created = LocalIssuer::open_or_create(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(!dir.path().join("keys").join("issuer.pem.tmp").exists());
    let reopened = LocalIssuer::open_or_create(&path).unwrap();
    assert_eq!(created.kid(), reopened.kid());
    assert_eq!(created.jwks(), reopened.jwks());
}

#[cfg(unix)]
#[test]
fn refuses_a_key_file_others_can_read() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("issuer.pem");
    LocalIssuer::open_or_create(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let error = LocalIssuer::open_or_create(&path).unwrap_err();
    assert!(matches!(
        error,
        LocalIssuerError::InsecurePermissions { mode: 0o644, .. }
    ));
    assert!(error.to_string().contains("chmod 600"), "{error}");
}

#[cfg(unix)]
#[test]
fn refuses_a_file_that_is_not_a_key() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("issuer.pem");
    std::fs::write(&path, "not a key").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(matches!(
        LocalIssuer::open_or_create(&path),
        Err(LocalIssuerError::InvalidKeyFile { .. })
    ));
    assert!(matches!(
        LocalIssuer::open_or_create(dir.path()),
        Err(LocalIssuerError::InvalidKeyFile { .. })
    ));
}
