//! The upstream side: blastwall logs in to the target database with credentials only it holds.
//!
//! TCP (with a timeout), TLS when the target asks for it, a StartupMessage with the target's
//! user and database and the client's harmless session parameters, then whichever password
//! authentication the server asks for: SCRAM-SHA-256, MD5 or cleartext. The server's
//! ParameterStatus values and BackendKeyData are collected for the client.
//!
//! Parameters that change who the session is or how its statements are read (`options`,
//! `role`, `replication`, `search_path`, `client_encoding`, anything not on the allow list) are
//! not passed on: an agent cannot widen the upstream login or make policy misread a statement.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use pgwire::messages::startup::{
    Authentication, Password, PasswordMessageFamily, SASLInitialResponse, SASLResponse, SecretKey,
    Startup,
};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

use super::Io;
use super::codec::BackendCodec;
use super::error::code_and_message;
use crate::config::Target;
use crate::tls;

/// Client parameters passed on to the upstream; everything else stays with blastwall.
/// Not `search_path`: policy resolves unqualified names through its own configured path, so
/// the session must use that one. Not `client_encoding`: statements are parsed as UTF-8, so the
/// upstream session speaks UTF-8 (pinned below) and cannot read the bytes differently.
const FORWARDED_PARAMETERS: [&str; 5] = [
    "application_name",
    "DateStyle",
    "IntervalStyle",
    "TimeZone",
    "extra_float_digits",
];

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A logged-in upstream connection.
pub struct Upstream {
    /// The framed connection.
    pub framed: Framed<Box<dyn Io>, BackendCodec>,
    /// ParameterStatus values the server reported.
    pub parameters: Vec<(String, String)>,
    /// The server's BackendKeyData, for cancelling.
    pub pid: i32,
    /// The server's cancel secret.
    pub secret: Bytes,
}

/// Why the upstream could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamError {
    /// Not reachable (refused, timed out, TLS failed).
    #[error("cannot reach the target: {0}")]
    Unreachable(String),
    /// The server refused blastwall's login.
    #[error("the target refused blastwall's login ({code})")]
    Rejected {
        /// The server's SQLSTATE.
        code: String,
        /// The server's message (kept out of client errors; it can name roles).
        message: String,
    },
    /// The server broke the protocol or asked for an unsupported authentication.
    #[error("the target spoke unexpectedly: {0}")]
    Protocol(String),
}

/// Connects and logs in to `target`.
pub async fn connect(
    target: &Target,
    client: &BTreeMap<String, String>,
    limit: usize,
) -> Result<Upstream, UpstreamError> {
    let io = tokio::time::timeout(CONNECT_TIMEOUT, open(target))
        .await
        .map_err(|_| {
            UpstreamError::Unreachable(format!(
                "no answer from {} within {CONNECT_TIMEOUT:?}",
                target.address
            ))
        })??;
    let mut framed = Framed::new(io, BackendCodec::new(limit));
    let mut parameters: BTreeMap<String, String> = FORWARDED_PARAMETERS
        .iter()
        .filter_map(|name| client.get(*name).map(|v| ((*name).to_owned(), v.clone())))
        .collect();
    parameters.insert("client_encoding".into(), "UTF8".into());
    parameters.insert("user".into(), target.user.clone());
    parameters.insert("database".into(), target.database.clone());
    let mut startup = Startup::new();
    startup.parameters = parameters;
    send(&mut framed, PgWireFrontendMessage::Startup(startup)).await?;
    authenticate(&mut framed, target).await?;
    finish_startup(framed).await
}

async fn open(target: &Target) -> Result<Box<dyn Io>, UpstreamError> {
    let mut tcp = TcpStream::connect(&target.address)
        .await
        .map_err(|e| UpstreamError::Unreachable(format!("{}: {e}", target.address)))?;
    let _ = tcp.set_nodelay(true);
    let connector =
        tls::connector(&target.tls).map_err(|e| UpstreamError::Unreachable(e.to_string()))?;
    let Some(connector) = connector else {
        return Ok(Box::new(tcp));
    };
    tcp.write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])
        .await
        .map_err(|e| UpstreamError::Unreachable(e.to_string()))?;
    match tcp
        .read_u8()
        .await
        .map_err(|e| UpstreamError::Unreachable(e.to_string()))?
    {
        b'S' => {}
        _ => {
            return Err(UpstreamError::Unreachable(
                "the target does not accept TLS".into(),
            ));
        }
    }
    let name =
        tls::server_name(&target.host).map_err(|e| UpstreamError::Unreachable(e.to_string()))?;
    let stream = connector
        .connect(name, tcp)
        .await
        .map_err(|e| UpstreamError::Unreachable(format!("TLS with the target: {e}")))?;
    Ok(Box::new(stream))
}

type Conn = Framed<Box<dyn Io>, BackendCodec>;

async fn send(framed: &mut Conn, message: PgWireFrontendMessage) -> Result<(), UpstreamError> {
    framed
        .send(message)
        .await
        .map_err(|e| UpstreamError::Unreachable(e.to_string()))
}

async fn receive(framed: &mut Conn) -> Result<PgWireBackendMessage, UpstreamError> {
    match framed.next().await {
        Some(Ok(message)) => Ok(message),
        Some(Err(e)) => Err(UpstreamError::Protocol(e.to_string())),
        None => Err(UpstreamError::Unreachable(
            "the target closed the connection".into(),
        )),
    }
}

async fn authenticate(framed: &mut Conn, target: &Target) -> Result<(), UpstreamError> {
    let password = target
        .password
        .as_ref()
        .map(|s| s.expose().to_owned())
        .unwrap_or_default();
    let mut scram: Option<ScramSha256> = None;
    loop {
        let auth = match receive(framed).await? {
            PgWireBackendMessage::Authentication(auth) => auth,
            PgWireBackendMessage::ErrorResponse(e) => {
                let (code, message) = code_and_message(&e.fields);
                return Err(UpstreamError::Rejected { code, message });
            }
            other => {
                return Err(UpstreamError::Protocol(format!(
                    "expected authentication, got {other:?}"
                )));
            }
        };
        let reply = match auth {
            Authentication::Ok => return Ok(()),
            Authentication::CleartextPassword => {
                PasswordMessageFamily::Password(Password::new(password.clone()))
            }
            Authentication::MD5Password(salt) => {
                let salt: [u8; 4] = salt
                    .try_into()
                    .map_err(|_| UpstreamError::Protocol("md5 salt".into()))?;
                let hash = postgres_protocol::authentication::md5_hash(
                    target.user.as_bytes(),
                    password.as_bytes(),
                    salt,
                );
                PasswordMessageFamily::Password(Password::new(hash))
            }
            Authentication::SASL(mechanisms) => {
                if !mechanisms.iter().any(|m| m == "SCRAM-SHA-256") {
                    return Err(UpstreamError::Protocol(format!(
                        "unsupported SASL mechanisms {mechanisms:?}"
                    )));
                }
                let client = ScramSha256::new(password.as_bytes(), ChannelBinding::unsupported());
                let first = Bytes::copy_from_slice(client.message());
                scram = Some(client);
                PasswordMessageFamily::SASLInitialResponse(SASLInitialResponse::new(
                    "SCRAM-SHA-256".into(),
                    Some(first),
                ))
            }
            Authentication::SASLContinue(data) => {
                let client = scram
                    .as_mut()
                    .ok_or_else(|| UpstreamError::Protocol("SASL out of order".into()))?;
                client
                    .update(&data)
                    .map_err(|e| UpstreamError::Protocol(format!("SCRAM: {e}")))?;
                PasswordMessageFamily::SASLResponse(SASLResponse::new(Bytes::copy_from_slice(
                    client.message(),
                )))
            }
            Authentication::SASLFinal(data) => {
                let client = scram
                    .as_mut()
                    .ok_or_else(|| UpstreamError::Protocol("SASL out of order".into()))?;
                // Verifies the server's proof: it knows the password too, so it is the real server.
                client
                    .finish(&data)
                    .map_err(|e| UpstreamError::Protocol(format!("SCRAM server proof: {e}")))?;
                continue;
            }
            other => {
                return Err(UpstreamError::Protocol(format!(
                    "unsupported authentication {other:?}"
                )));
            }
        };
        send(framed, PgWireFrontendMessage::PasswordMessageFamily(reply)).await?;
    }
}

async fn finish_startup(mut framed: Conn) -> Result<Upstream, UpstreamError> {
    let mut parameters = Vec::new();
    let mut key = None;
    loop {
        match receive(&mut framed).await? {
            PgWireBackendMessage::ParameterStatus(p) => parameters.push((p.name, p.value)),
            PgWireBackendMessage::BackendKeyData(k) => key = Some(k),
            PgWireBackendMessage::NoticeResponse(_) => {}
            PgWireBackendMessage::ReadyForQuery(_) => break,
            PgWireBackendMessage::ErrorResponse(e) => {
                let (code, message) = code_and_message(&e.fields);
                return Err(UpstreamError::Rejected { code, message });
            }
            other => {
                return Err(UpstreamError::Protocol(format!(
                    "unexpected {other:?} during startup"
                )));
            }
        }
    }
    let key = key.ok_or_else(|| UpstreamError::Protocol("no BackendKeyData".into()))?;
    let secret = match key.secret_key {
        SecretKey::I32(secret) => Bytes::copy_from_slice(&secret.to_be_bytes()),
        SecretKey::Bytes(bytes) => bytes,
    };
    Ok(Upstream {
        framed,
        parameters,
        pid: key.pid,
        secret,
    })
}

/// Sends a CancelRequest for the upstream session `pid`/`secret` on a new connection.
pub async fn cancel(target: &Target, pid: i32, secret: &[u8]) -> Result<(), UpstreamError> {
    let mut io = tokio::time::timeout(CONNECT_TIMEOUT, open(target))
        .await
        .map_err(|_| UpstreamError::Unreachable("cancel: no answer".into()))??;
    let len = 12 + secret.len() as i32;
    let mut packet = Vec::with_capacity(len as usize);
    packet.extend_from_slice(&len.to_be_bytes());
    packet.extend_from_slice(&80_877_102i32.to_be_bytes());
    packet.extend_from_slice(&pid.to_be_bytes());
    packet.extend_from_slice(secret);
    io.write_all(&packet)
        .await
        .map_err(|e| UpstreamError::Unreachable(e.to_string()))?;
    let _ = io.shutdown().await;
    Ok(())
}
