//! The first look at a presented token: size, shape and header, before any key is chosen.
//!
//! [`super::TokenValidator::validate`] calls [`inspect`] first; only a token that passes reaches
//! the key lookup and signature check. Invariants: nothing here allocates more than the token's
//! own (bounded) size; `alg: none`, HMAC algorithms and unknown algorithm names are refused here,
//! so no later step ever sees them; a header with `crit` is refused (RFC 7515 §4.1.11: we
//! implement no extension). Header members that point at keys (`jwk`, `jku`, `x5u`, `x5c`) are
//! ignored: keys only ever come from the trusted issuer's key set.
//!
//! Not here: signature and claim checks (`validator`, via jsonwebtoken).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Deserialize;

use super::error::{Malformation, SignatureProblem, TokenError};

/// The longest token read, in bytes. Real OIDC tokens, even with many groups, stay well below.
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// The header members that choose how a token is verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TokenHeader {
    /// The signature algorithm, already known to be an accepted asymmetric one.
    pub(super) alg: Algorithm,
    /// The key id, when the token names one.
    pub(super) kid: Option<String>,
}

#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde::de::IgnoredAny>,
}

/// Checks a token's size and shape and reads its header.
pub(super) fn inspect(token: &str) -> Result<TokenHeader, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::Malformed(Malformation::TooLong {
            limit: MAX_TOKEN_BYTES,
        }));
    }
    let mut segments = token.split('.');
    let (Some(header), Some(_payload), Some(_signature), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(TokenError::Malformed(Malformation::Encoding));
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| TokenError::Malformed(Malformation::Encoding))?;
    let raw: RawHeader =
        serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed(Malformation::Header))?;
    if raw.crit.is_some() {
        return Err(TokenError::Malformed(Malformation::CriticalExtension));
    }
    let alg = accepted_algorithm(&raw.alg)?;
    // The signature check re-reads the header with jsonwebtoken's stricter types (`jwk`, `x5c`,
    // …); a header it cannot read is refused here, so it is reported as a header problem.
    jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed(Malformation::Header))?;
    Ok(TokenHeader { alg, kid: raw.kid })
}

/// The asymmetric algorithms this gateway verifies; everything else is refused by name.
fn accepted_algorithm(name: &str) -> Result<Algorithm, TokenError> {
    let alg = match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        _ => {
            return Err(TokenError::InvalidSignature(
                SignatureProblem::AlgorithmNotAccepted,
            ));
        }
    };
    Ok(alg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    #[test]
    fn reads_alg_and_kid() {
        let token = format!(
            "{}.e30.c2ln",
            encode(r#"{"alg":"EdDSA","kid":"k1","typ":"JWT"}"#)
        );
        let header = inspect(&token).unwrap();
        assert_eq!(header.alg, Algorithm::EdDSA);
        assert_eq!(header.kid.as_deref(), Some("k1"));
    }

    #[test]
    fn refuses_unsigned_and_symmetric_algorithms() {
        for alg in ["none", "None", "HS256", "HS384", "HS512", "ES512", ""] {
            let token = format!("{}.e30.", encode(&format!(r#"{{"alg":"{alg}"}}"#)));
            assert_eq!(
                inspect(&token),
                Err(TokenError::InvalidSignature(
                    SignatureProblem::AlgorithmNotAccepted
                )),
                "{alg}"
            );
        }
    }

    #[test]
    fn refuses_critical_extensions() {
        let token = format!("{}.e30.c2ln", encode(r#"{"alg":"EdDSA","crit":["b64"]}"#));
        assert_eq!(
            inspect(&token),
            Err(TokenError::Malformed(Malformation::CriticalExtension))
        );
    }

    #[test]
    fn refuses_bad_shapes() {
        let header = encode(r#"{"alg":"EdDSA"}"#);
        let cases = [
            ("garbage".to_owned(), Malformation::Encoding),
            ("...".to_owned(), Malformation::Encoding),
            ("..".to_owned(), Malformation::Header),
            ("a.b".to_owned(), Malformation::Encoding),
            (format!("{header}.e30.c2ln.x"), Malformation::Encoding),
            ("!!!.e30.c2ln".to_owned(), Malformation::Encoding),
            (format!("{}.e30.c2ln", encode("[1]")), Malformation::Header),
            (
                format!("{}.e30.c2ln", encode(r#"{"alg":1}"#)),
                Malformation::Header,
            ),
            (
                "a".repeat(MAX_TOKEN_BYTES + 1),
                Malformation::TooLong {
                    limit: MAX_TOKEN_BYTES,
                },
            ),
        ];
        for (token, expected) in cases {
            assert_eq!(inspect(&token), Err(TokenError::Malformed(expected)));
        }
    }
}
