//! [`jwks_router`]: the local issuer's public keys over HTTP, as any OIDC provider publishes them.
//!
//! The binary mounts this router when it runs the local issuer, so that tools (and a validator
//! configured with `jwks_url`) can fetch the keys. Invariants: it serves only public material —
//! the JWK set and a minimal discovery document — computed once when the router is built;
//! responses are `application/json` with a short `Cache-Control`, so a rotated key propagates
//! within minutes.
//!
//! Not here: the in-process path (`local_issuer = true` gives the validator the same JWK set
//! without HTTP), minting (`local`).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use super::local::LocalIssuer;

/// Where the JWK set is served.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
/// Where the OpenID discovery document is served.
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
/// How long clients may cache either document.
const CACHE_CONTROL: &str = "public, max-age=300";

/// The documents, rendered once.
struct Documents {
    jwks: String,
    /// `None` when the issuer was given no URL: discovery then answers 404.
    discovery: Option<String>,
}

/// A router serving `GET /.well-known/jwks.json` (the issuer's JWK set) and
/// `GET /.well-known/openid-configuration` (`issuer`, `jwks_uri`; 404 unless the issuer was given
/// its URL with [`LocalIssuer::with_issuer_url`]).
pub fn jwks_router(issuer: Arc<LocalIssuer>) -> Router {
    let discovery = issuer.issuer_url().map(|url| {
        json!({
            "issuer": url,
            "jwks_uri": format!("{}{JWKS_PATH}", url.trim_end_matches('/')),
            "id_token_signing_alg_values_supported": ["EdDSA"],
        })
        .to_string()
    });
    let documents = Arc::new(Documents {
        jwks: issuer.jwks().to_string(),
        discovery,
    });
    Router::new()
        .route(JWKS_PATH, get(serve_jwks))
        .route(DISCOVERY_PATH, get(serve_discovery))
        .with_state(documents)
}

async fn serve_jwks(State(documents): State<Arc<Documents>>) -> Response {
    json_response(StatusCode::OK, documents.jwks.clone())
}

async fn serve_discovery(State(documents): State<Arc<Documents>>) -> Response {
    match &documents.discovery {
        Some(body) => json_response(StatusCode::OK, body.clone()),
        None => json_response(
            StatusCode::NOT_FOUND,
            json!({"error": "the local issuer has no configured URL"}).to_string(),
        ),
    }
}

fn json_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, CACHE_CONTROL),
        ],
        body,
    )
        .into_response()
}
