//! Identity end to end: tokens minted by a `LocalIssuer`, its JWK set served over real HTTP on
//! loopback, and a `TokenValidator` that fetches it — no mocks of our own code.

// A panic in a test is a failed test, not a crashed gateway.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use proxy::identity::{
    BuildError, DISCOVERY_PATH, IdentityConfig, JWKS_PATH, JwksError, LocalIssuer, Malformation,
    MintRequest, SignatureProblem, TokenError, TokenValidator, TrustedIssuer, jwks_router,
};
use schemas::Actor;
use schemas::body::{AuthFailureReason, Fault};
use serde_json::{Value, json};
use tokio::net::TcpListener;

const ISSUER: &str = "https://blastwall.test";
const AUDIENCE: &str = "blastwall";
const HOUR: Duration = Duration::from_secs(3600);

async fn serve(router: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

fn validator(url: String, tweak: impl FnOnce(&mut IdentityConfig)) -> TokenValidator {
    let mut config = IdentityConfig::remote(ISSUER, AUDIENCE, url);
    tweak(&mut config);
    TokenValidator::new(TrustedIssuer::try_from(config).unwrap(), None).unwrap()
}

/// A local issuer whose JWK set is served by `jwks_router`, and a validator pointed at it.
async fn served_issuer() -> (Arc<LocalIssuer>, TokenValidator) {
    let issuer = Arc::new(LocalIssuer::generate().unwrap());
    let addr = serve(jwks_router(Arc::clone(&issuer))).await;
    let validator = validator(format!("http://{addr}{JWKS_PATH}"), |_| {});
    (issuer, validator)
}

fn request(subject: &str) -> MintRequest {
    MintRequest::new(ISSUER, AUDIENCE, subject, HOUR)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Valid claims, to be adjusted by a test.
fn claims() -> Value {
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "exp": now() + 300})
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token assembled by hand: any header, any claims, any signature bytes.
fn assemble(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.to_string()),
        b64(claims.to_string()),
        b64(signature)
    )
}

/// Validation must fail; the error must not echo the token or its claims.
async fn refused(validator: &TokenValidator, token: &str) -> TokenError {
    let error = validator.validate(token).await.unwrap_err();
    let shown = error.to_string();
    for segment in token.split('.').filter(|s| s.len() > 8) {
        assert!(!shown.contains(segment), "{shown}");
    }
    error
}

/// An Ed25519 key that is not the issuer's, signing with whatever `kid` the test forces.
fn foreign_token(kid: Option<&str>, claims: &Value) -> (String, Value) {
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let der = key.to_pkcs8_der().unwrap();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = kid.map(str::to_owned);
    let token =
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(der.as_bytes())).unwrap();
    let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(key.verifying_key().as_bytes())});
    (token, jwk)
}

#[tokio::test]
async fn a_minted_token_validates_to_its_principal() {
    let (issuer, validator) = served_issuer().await;
    let mut request = request("alice@example.com");
    request.act = vec!["claude-code".into(), "orchestrator".into()];
    request.groups = vec!["dba".into(), "oncall".into()];
    let principal = validator
        .validate(&issuer.mint(&request).unwrap())
        .await
        .unwrap();

    assert_eq!(principal.subject, "alice@example.com");
    assert_eq!(principal.agents, ["claude-code", "orchestrator"]);
    assert_eq!(principal.groups, ["dba", "oncall"]);
    assert_eq!(principal.issuer, ISSUER);
    let jti = uuid::Uuid::parse_str(principal.token_id.as_deref().unwrap()).unwrap();
    assert_eq!(jti.get_version_num(), 7);
    let expires = principal.expires_at.unix_nanos() / 1_000_000_000;
    assert!(expires.abs_diff(i64::try_from(now() + 3600).unwrap()) <= 2);

    let actor = Actor::from(&principal);
    assert!(actor.is_authenticated());
    assert_eq!(actor.acting_party(), "claude-code");
    assert_eq!(actor.token_id, principal.token_id);
}

#[tokio::test]
async fn groups_come_from_the_configured_claim() {
    let issuer = Arc::new(LocalIssuer::generate().unwrap());
    let addr = serve(jwks_router(Arc::clone(&issuer))).await;
    let validator = validator(format!("http://{addr}{JWKS_PATH}"), |c| {
        c.groups_claim = "roles".into();
    });
    let mut single = claims();
    single["roles"] = json!("admin");
    let principal = validator
        .validate(&issuer.sign(&single).unwrap())
        .await
        .unwrap();
    assert_eq!(principal.groups, ["admin"]);
    assert!(principal.agents.is_empty());
    assert_eq!(principal.token_id, None);

    let mut numbers = claims();
    numbers["roles"] = json!([1, 2]);
    let error = refused(&validator, &issuer.sign(&numbers).unwrap()).await;
    assert_eq!(
        error,
        TokenError::Malformed(Malformation::InvalidClaim("roles".into()))
    );
}

#[tokio::test]
async fn the_endpoints_serve_json_with_cache_control() {
    let issuer = Arc::new(LocalIssuer::generate().unwrap());
    let plain = serve(jwks_router(Arc::clone(&issuer))).await;
    let client = reqwest::Client::new();
    let response = client
        .get(format!("http://{plain}{JWKS_PATH}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(headers["content-type"], "application/json");
    assert!(
        headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    assert_eq!(response.json::<Value>().await.unwrap(), issuer.jwks());
    let missing = client
        .get(format!("http://{plain}{DISCOVERY_PATH}"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let named = Arc::new(
        LocalIssuer::generate()
            .unwrap()
            .with_issuer_url(url.clone()),
    );
    let router = jwks_router(Arc::clone(&named));
    tokio::spawn(async move { axum::serve(listener, router).await });
    let discovery: Value = client
        .get(format!("{url}{DISCOVERY_PATH}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], url.as_str());
    let jwks_uri = discovery["jwks_uri"].as_str().unwrap().to_owned();
    assert_eq!(jwks_uri, format!("{url}{JWKS_PATH}"));

    let config = IdentityConfig::remote(url, AUDIENCE, jwks_uri);
    let validator = TokenValidator::new(TrustedIssuer::try_from(config).unwrap(), None).unwrap();
    let token = named
        .mint(&MintRequest::new(
            named.issuer_url().unwrap(),
            AUDIENCE,
            "bob",
            HOUR,
        ))
        .unwrap();
    assert_eq!(validator.validate(&token).await.unwrap().subject, "bob");
}

#[tokio::test]
async fn the_local_issuer_uses_the_same_validator_in_process() {
    let issuer = LocalIssuer::generate().unwrap();
    let trusted = TrustedIssuer::try_from(IdentityConfig::local(ISSUER, AUDIENCE)).unwrap();
    let missing = TokenValidator::new(trusted.clone(), None).unwrap_err();
    assert!(matches!(missing, BuildError::LocalIssuerMissing));
    let validator = TokenValidator::new(trusted, Some(&issuer)).unwrap();
    assert_eq!(validator.prefetch_keys().await, Ok(1));

    let token = issuer.mint(&request("alice")).unwrap();
    assert_eq!(validator.validate(&token).await.unwrap().subject, "alice");
    let other = LocalIssuer::generate().unwrap();
    let foreign = other.mint(&request("mallory")).unwrap();
    assert_eq!(refused(&validator, &foreign).await, TokenError::UnknownKey);
}

#[tokio::test]
async fn signatures_by_another_key_are_refused() {
    let (issuer, validator) = served_issuer().await;
    let (forged, _) = foreign_token(Some(issuer.kid()), &claims());
    let error = refused(&validator, &forged).await;
    assert_eq!(
        error,
        TokenError::InvalidSignature(SignatureProblem::DoesNotVerify)
    );
    assert_eq!(error.reason(), AuthFailureReason::InvalidSignature);

    let token = issuer.mint(&request("alice")).unwrap();
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    bytes[0] ^= 0x01;
    let flipped = format!("{signed}.{}", b64(&bytes));
    assert_eq!(
        refused(&validator, &flipped).await,
        TokenError::InvalidSignature(SignatureProblem::DoesNotVerify)
    );
}

#[tokio::test]
async fn expiry_is_enforced_with_leeway() {
    let (issuer, validator) = served_issuer().await;
    let mut expired = request("alice");
    expired.issued_at = SystemTime::now() - 2 * HOUR;
    let error = refused(&validator, &issuer.mint(&expired).unwrap()).await;
    assert_eq!(error, TokenError::Expired);
    assert_eq!(error.reason(), AuthFailureReason::Expired);

    let mut just_expired = request("alice");
    just_expired.issued_at = SystemTime::now() - HOUR - Duration::from_secs(10);
    let token = issuer.mint(&just_expired).unwrap();
    assert!(
        validator.validate(&token).await.is_ok(),
        "10 s past exp is within 30 s leeway"
    );

    let mut no_exp = claims();
    no_exp.as_object_mut().unwrap().remove("exp");
    assert_eq!(
        refused(&validator, &issuer.sign(&no_exp).unwrap()).await,
        TokenError::Malformed(Malformation::MissingClaim("exp".into()))
    );
}

#[tokio::test]
async fn tokens_from_the_future_are_not_yet_valid() {
    let (issuer, validator) = served_issuer().await;
    let mut future = request("alice");
    future.issued_at = SystemTime::now() + Duration::from_secs(600);
    let error = refused(&validator, &issuer.mint(&future).unwrap()).await;
    assert_eq!(error, TokenError::NotYetValid);
    assert_eq!(error.reason(), AuthFailureReason::NotYetValid);

    let mut iat_only = claims();
    iat_only["iat"] = json!(now() + 600);
    assert_eq!(
        refused(&validator, &issuer.sign(&iat_only).unwrap()).await,
        TokenError::NotYetValid
    );

    let mut skewed = request("alice");
    skewed.issued_at = SystemTime::now() + Duration::from_secs(10);
    assert!(
        validator
            .validate(&issuer.mint(&skewed).unwrap())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn audience_and_issuer_must_match() {
    let (issuer, validator) = served_issuer().await;
    let mut other_audience = request("alice");
    other_audience.audience = "another-service".into();
    let error = refused(&validator, &issuer.mint(&other_audience).unwrap()).await;
    assert_eq!(error, TokenError::WrongAudience);
    assert_eq!(error.reason(), AuthFailureReason::WrongAudience);

    let mut listed = claims();
    listed["aud"] = json!(["another-service", AUDIENCE]);
    assert!(
        validator
            .validate(&issuer.sign(&listed).unwrap())
            .await
            .is_ok()
    );
    let mut no_aud = claims();
    no_aud.as_object_mut().unwrap().remove("aud");
    assert_eq!(
        refused(&validator, &issuer.sign(&no_aud).unwrap()).await,
        TokenError::WrongAudience
    );

    let mut other_issuer = request("alice");
    other_issuer.issuer = "https://evil.example".into();
    let error = refused(&validator, &issuer.mint(&other_issuer).unwrap()).await;
    assert_eq!(error, TokenError::WrongIssuer);
    assert_eq!(error.reason(), AuthFailureReason::WrongIssuer);
}

#[tokio::test]
async fn unsigned_and_hmac_tokens_are_refused() {
    let (issuer, validator) = served_issuer().await;
    let none = assemble(&json!({"alg": "none", "kid": issuer.kid()}), &claims(), b"");
    let error = refused(&validator, &none).await;
    assert_eq!(
        error,
        TokenError::InvalidSignature(SignatureProblem::AlgorithmNotAccepted)
    );
    assert_eq!(error.reason(), AuthFailureReason::InvalidSignature);

    // Key confusion: HMAC keyed with the issuer's public key, in raw and in JWK form.
    let jwks = issuer.jwks();
    let x = jwks["keys"][0]["x"].as_str().unwrap();
    for secret in [URL_SAFE_NO_PAD.decode(x).unwrap(), x.as_bytes().to_vec()] {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(issuer.kid().to_owned());
        let token =
            jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(&secret)).unwrap();
        assert_eq!(
            refused(&validator, &token).await,
            TokenError::InvalidSignature(SignatureProblem::AlgorithmNotAccepted)
        );
    }

    // An RSA algorithm naming the Ed25519 key: the key's type decides, not the header.
    let rs = assemble(
        &json!({"alg": "RS256", "kid": issuer.kid()}),
        &claims(),
        &[7; 256],
    );
    assert_eq!(
        refused(&validator, &rs).await,
        TokenError::InvalidSignature(SignatureProblem::KeyTypeMismatch)
    );
}

#[tokio::test]
async fn garbage_is_malformed_without_panic() {
    let (issuer, validator) = served_issuer().await;
    for blank in ["", "   ", "\n"] {
        let error = refused(&validator, blank).await;
        assert_eq!(error, TokenError::Missing);
        assert_eq!(error.reason(), AuthFailureReason::MissingToken);
    }
    let header = b64(json!({"alg": "EdDSA", "kid": issuer.kid()}).to_string());
    let huge = "a".repeat(1024 * 1024);
    let cases = [
        "garbage".to_owned(),
        "...".to_owned(),
        "a.b.c".to_owned(),
        "ä.ö.ü".to_owned(),
        issuer.sign(&json!("a JSON string, not claims")).unwrap(),
        issuer.sign(&json!([1, 2])).unwrap(),
        issuer
            .sign(&json!({"iss": ISSUER, "aud": AUDIENCE, "exp": "tomorrow"}))
            .unwrap(),
        format!("{header}.e30.!!"),
        format!("{huge}.{huge}.{huge}"),
        huge,
    ];
    for token in cases {
        let error = refused(&validator, &token).await;
        assert!(matches!(error, TokenError::Malformed(_)), "{error:?}");
        assert_eq!(error.reason(), AuthFailureReason::Malformed);
    }
}

#[tokio::test]
async fn a_token_without_kid_needs_exactly_one_matching_key() {
    let (token, jwk) = foreign_token(None, &claims());
    let one = serve_swappable(Served::Json(json!({"keys": [jwk]}))).await;
    let validator = validator(one.url.clone(), |_| {});
    assert_eq!(validator.validate(&token).await.unwrap().subject, "alice");

    let other = LocalIssuer::generate().unwrap();
    let two = serve_swappable(Served::Json(
        json!({"keys": [jwk, other.jwks()["keys"][0]]}),
    ))
    .await;
    let validator = self::validator(two.url.clone(), |_| {});
    assert_eq!(refused(&validator, &token).await, TokenError::UnknownKey);
}

/// What the swappable test server answers.
enum Served {
    Json(Value),
    Status(StatusCode),
    Text(&'static str),
}

/// A JWKS endpoint whose answer a test can change, counting the requests it receives.
#[derive(Clone)]
struct Swappable {
    served: Arc<Mutex<Served>>,
    hits: Arc<AtomicUsize>,
    url: String,
}

impl Swappable {
    fn set(&self, served: Served) {
        *self.served.lock().unwrap() = served;
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn serve_swappable(initial: Served) -> Swappable {
    async fn answer(State(server): State<Swappable>) -> Response {
        server.hits.fetch_add(1, Ordering::SeqCst);
        match &*server.served.lock().unwrap() {
            Served::Json(value) => axum::Json(value.clone()).into_response(),
            Served::Status(status) => status.into_response(),
            Served::Text(text) => text.into_response(),
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = Swappable {
        served: Arc::new(Mutex::new(initial)),
        hits: Arc::new(AtomicUsize::new(0)),
        url: format!("http://{}/jwks", listener.local_addr().unwrap()),
    };
    let router = Router::new()
        .route("/jwks", get(answer))
        .with_state(server.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    server
}

fn key_set(issuers: &[&LocalIssuer]) -> Served {
    let keys: Vec<Value> = issuers
        .iter()
        .map(|i| i.jwks()["keys"][0].clone())
        .collect();
    Served::Json(json!({ "keys": keys }))
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_on_an_unknown_kid() {
    let old = LocalIssuer::generate().unwrap();
    let new = LocalIssuer::generate().unwrap();
    let server = serve_swappable(key_set(&[&old])).await;
    let validator = validator(server.url.clone(), |c| c.jwks_min_refetch = Duration::ZERO);
    assert!(
        validator
            .validate(&old.mint(&request("a")).unwrap())
            .await
            .is_ok()
    );
    assert_eq!(server.hits(), 1);

    server.set(key_set(&[&new]));
    let principal = validator.validate(&new.mint(&request("b")).unwrap()).await;
    assert_eq!(principal.unwrap().subject, "b");
    assert_eq!(server.hits(), 2);
    assert!(
        validator
            .validate(&new.mint(&request("c")).unwrap())
            .await
            .is_ok()
    );
    assert_eq!(server.hits(), 2, "a known kid is served from the cache");
    let retired = old.mint(&request("a")).unwrap();
    assert_eq!(refused(&validator, &retired).await, TokenError::UnknownKey);
}

#[tokio::test]
async fn concurrent_first_validations_fetch_the_set_once() {
    let issuer = LocalIssuer::generate().unwrap();
    let server = serve_swappable(key_set(&[&issuer])).await;
    let validator = Arc::new(validator(server.url.clone(), |_| {}));
    let token = issuer.mint(&request("alice")).unwrap();
    let sessions: Vec<_> = (0..16)
        .map(|_| {
            let (validator, token) = (Arc::clone(&validator), token.clone());
            tokio::spawn(async move { validator.validate(&token).await })
        })
        .collect();
    for session in sessions {
        assert_eq!(session.await.unwrap().unwrap().subject, "alice");
    }
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn refetching_on_unknown_kids_is_rate_limited() {
    let known = LocalIssuer::generate().unwrap();
    let rotated = LocalIssuer::generate().unwrap();
    let server = serve_swappable(key_set(&[&known])).await;
    let min_refetch = Duration::from_millis(300);
    let validator = validator(server.url.clone(), |c| c.jwks_min_refetch = min_refetch);
    assert!(
        validator
            .validate(&known.mint(&request("a")).unwrap())
            .await
            .is_ok()
    );

    server.set(key_set(&[&known, &rotated]));
    let token = rotated.mint(&request("b")).unwrap();
    for _ in 0..5 {
        assert_eq!(refused(&validator, &token).await, TokenError::UnknownKey);
    }
    assert_eq!(
        server.hits(),
        1,
        "no refetch within jwks_min_refetch of the last fetch"
    );

    tokio::time::sleep(min_refetch + Duration::from_millis(50)).await;
    assert!(validator.validate(&token).await.is_ok());
    assert_eq!(server.hits(), 2);
    let (made_up, _) = foreign_token(Some("made-up"), &claims());
    for _ in 0..5 {
        assert_eq!(refused(&validator, &made_up).await, TokenError::UnknownKey);
    }
    assert_eq!(server.hits(), 2, "made-up kids do not reach the issuer");
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_last_good_set() {
    let issuer = LocalIssuer::generate().unwrap();
    let server = serve_swappable(key_set(&[&issuer])).await;
    let refresh = Duration::from_millis(150);
    let validator = validator(server.url.clone(), |c| {
        c.jwks_refresh = refresh;
        c.jwks_min_refetch = Duration::ZERO;
    });
    let token = issuer.mint(&request("alice")).unwrap();
    assert!(validator.validate(&token).await.is_ok());

    for failure in [
        Served::Status(StatusCode::SERVICE_UNAVAILABLE),
        Served::Text("<html>oops</html>"),
    ] {
        server.set(failure);
        let before = server.hits();
        tokio::time::sleep(refresh + Duration::from_millis(50)).await;
        assert!(validator.validate(&token).await.is_ok());
        assert!(server.hits() > before, "the stale set was refetched");
    }

    // The issuer retires the key: after the next refresh, its tokens are refused.
    server.set(key_set(&[&LocalIssuer::generate().unwrap()]));
    tokio::time::sleep(refresh + Duration::from_millis(50)).await;
    assert_eq!(refused(&validator, &token).await, TokenError::UnknownKey);
}

#[tokio::test]
async fn an_unreachable_key_set_is_an_environment_fault() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let validator = validator(format!("http://{addr}/jwks"), |_| {});
    let issuer = LocalIssuer::generate().unwrap();
    let token = issuer.mint(&request("alice")).unwrap();
    for _ in 0..2 {
        let error = refused(&validator, &token).await;
        assert!(
            matches!(
                error,
                TokenError::KeysUnavailable(JwksError::Unreachable { .. })
            ),
            "{error:?}"
        );
        assert_eq!(error.reason(), AuthFailureReason::Other);
        assert_eq!(error.fault(), Fault::Upstream);
        assert!(!error.to_string().contains(&addr.to_string()));
    }
    assert!(validator.prefetch_keys().await.is_err());
}

#[tokio::test]
async fn a_key_set_that_is_not_one_is_a_clear_error() {
    let issuer = LocalIssuer::generate().unwrap();
    let token = issuer.mint(&request("alice")).unwrap();
    type Check = fn(&JwksError) -> bool;
    let cases: [(Served, Check); 4] = [
        (Served::Text("this is not json"), |e| {
            matches!(e, JwksError::NotAKeySet { .. })
        }),
        (Served::Json(json!({"issuer": "x"})), |e| {
            matches!(e, JwksError::NotAKeySet { .. })
        }),
        (
            Served::Json(json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})),
            |e| *e == JwksError::NoUsableKeys { skipped: 1 },
        ),
        (Served::Status(StatusCode::NOT_FOUND), |e| {
            *e == JwksError::Status { status: 404 }
        }),
    ];
    for (served, expected) in cases {
        let server = serve_swappable(served).await;
        let validator = validator(server.url.clone(), |_| {});
        let TokenError::KeysUnavailable(error) = refused(&validator, &token).await else {
            panic!("expected KeysUnavailable");
        };
        assert!(expected(&error), "{error:?}");
        assert!(error.to_string().contains("key set") || error.to_string().contains("JWK"));
    }
}
