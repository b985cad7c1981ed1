//! The client's side of connection startup: TLS negotiation, the StartupMessage, the target,
//! and the token presented as the password.
//!
//! Order matters for safety: TLS is negotiated before anything else is read; exactly the
//! SSLRequest is read before the handshake (see `codec`); the password is asked for only when
//! the connection is encrypted, or the listener explicitly allows plaintext from loopback; the
//! target is resolved before the password so an unknown name fails without a token on the wire.
//!
//! Every refusal carries the client's error and the authentication failure to record.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use bytes::Bytes;
use schemas::body::AuthFailureReason;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::Io;
use super::codec::{self, CodecError, PROTOCOL_3_0, StartupPacket};
use super::error::sqlstate;
use crate::config::Target;
use crate::identity::Principal;

use super::listener::Listener;

/// A client that completed startup and presented a valid token.
pub struct Accepted {
    /// The connection, encrypted if the client asked for TLS.
    pub io: Box<dyn Io>,
    /// Whether TLS is in use.
    pub tls: bool,
    /// The StartupMessage's parameters.
    pub parameters: BTreeMap<String, String>,
    /// The target the database name selected.
    pub target: Target,
    /// Who is acting.
    pub principal: Principal,
}

/// How a connection's startup ended.
pub enum Startup {
    /// A session can begin.
    Session(Box<Accepted>),
    /// A cancel request for another session.
    Cancel {
        /// BackendKeyData pid.
        pid: i32,
        /// BackendKeyData secret.
        secret: Bytes,
    },
    /// The client was refused.
    Refused(Refusal),
}

/// Why a client was refused, and what to tell and record.
pub struct Refusal {
    /// The connection, to write the error to (absent when it already failed).
    pub io: Option<Box<dyn Io>>,
    /// SQLSTATE for the client.
    pub code: &'static str,
    /// Message for the client.
    pub message: String,
    /// The failure to record, when it was an authentication attempt.
    pub reason: Option<AuthFailureReason>,
    /// The user the client claimed, the target name it asked for, and whether TLS was on.
    pub claimed_user: String,
    /// The database name asked for.
    pub database: String,
    /// Whether TLS was in use.
    pub tls: bool,
}

/// Runs startup on a freshly accepted connection.
pub async fn accept(listener: &Listener, stream: TcpStream, peer: SocketAddr) -> Startup {
    match negotiate(listener, stream).await {
        Ok(Negotiated::Cancel { pid, secret }) => Startup::Cancel { pid, secret },
        Ok(Negotiated::Startup {
            io,
            tls,
            parameters,
        }) => login(listener, io, tls, parameters, peer).await,
        Err(refusal) => Startup::Refused(refusal),
    }
}

enum Negotiated {
    Startup {
        io: Box<dyn Io>,
        tls: bool,
        parameters: BTreeMap<String, String>,
    },
    Cancel {
        pid: i32,
        secret: Bytes,
    },
}

/// SSLRequest / GSSENCRequest / CancelRequest / StartupMessage, in whatever order is legal.
async fn negotiate(listener: &Listener, mut stream: TcpStream) -> Result<Negotiated, Refusal> {
    let protocol = |io, message: String| refusal(io, sqlstate::PROTOCOL_VIOLATION, message, None);
    loop {
        match codec::read_startup_packet(&mut stream).await {
            Ok(StartupPacket::SslRequest) => {
                if stream.write_all(b"S").await.is_err() {
                    return Err(protocol(None, "connection closed".into()));
                }
                let tls = listener
                    .tls
                    .accept(stream)
                    .await
                    .map_err(|e| protocol(None, format!("TLS handshake: {e}")))?;
                let mut io: Box<dyn Io> = Box::new(tls);
                return match codec::read_startup_packet(&mut io).await {
                    Ok(StartupPacket::Startup {
                        version,
                        parameters,
                    }) => {
                        let parameters = negotiate_version(&mut io, version, parameters).await?;
                        Ok(Negotiated::Startup {
                            io,
                            tls: true,
                            parameters,
                        })
                    }
                    Ok(StartupPacket::Cancel { pid, secret }) => {
                        Ok(Negotiated::Cancel { pid, secret })
                    }
                    Ok(_) => Err(protocol(Some(io), "unexpected request inside TLS".into())),
                    Err(e) => Err(protocol(Some(io), e.to_string())),
                };
            }
            Ok(StartupPacket::GssEncRequest) => {
                // Declined: the client may go on with SSLRequest or a plain StartupMessage.
                if stream.write_all(b"N").await.is_err() {
                    return Err(protocol(None, "connection closed".into()));
                }
            }
            Ok(StartupPacket::Cancel { pid, secret }) => {
                return Ok(Negotiated::Cancel { pid, secret });
            }
            Ok(StartupPacket::Startup {
                version,
                parameters,
            }) => {
                let mut io: Box<dyn Io> = Box::new(stream);
                let parameters = negotiate_version(&mut io, version, parameters).await?;
                return Ok(Negotiated::Startup {
                    io,
                    tls: false,
                    parameters,
                });
            }
            Err(CodecError::Io(_)) => {
                return Err(protocol(None, "connection closed during startup".into()));
            }
            Err(e) => return Err(protocol(Some(Box::new(stream)), e.to_string())),
        }
    }
}

/// Answers a newer 3.x minor version with NegotiateProtocolVersion (3.0 and no `_pq_.` options).
async fn negotiate_version(
    io: &mut Box<dyn Io>,
    version: i32,
    mut parameters: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, Refusal> {
    let unsupported: Vec<String> = parameters
        .keys()
        .filter(|k| k.starts_with("_pq_."))
        .cloned()
        .collect();
    if version == PROTOCOL_3_0 && unsupported.is_empty() {
        return Ok(parameters);
    }
    parameters.retain(|k, _| !k.starts_with("_pq_."));
    let message = pgwire::messages::PgWireBackendMessage::NegotiateProtocolVersion(
        pgwire::messages::startup::NegotiateProtocolVersion::new(0, unsupported),
    );
    super::write_message(io, message).await.map_err(|_| {
        refusal(
            None,
            sqlstate::PROTOCOL_VIOLATION,
            "connection closed".into(),
            None,
        )
    })?;
    Ok(parameters)
}

/// Target, TLS requirement, then the token.
async fn login(
    listener: &Listener,
    mut io: Box<dyn Io>,
    tls: bool,
    parameters: BTreeMap<String, String>,
    peer: SocketAddr,
) -> Startup {
    let claimed_user = parameters.get("user").cloned().unwrap_or_default();
    let database = parameters
        .get("database")
        .cloned()
        .unwrap_or_else(|| claimed_user.clone());
    let refuse = |io, code, message: String, reason| {
        let mut r = refusal(io, code, message, reason);
        r.claimed_user = claimed_user.clone();
        r.database = database.clone();
        r.tls = tls;
        Startup::Refused(r)
    };
    let Some(target) = listener.targets.get(&database).cloned() else {
        let message = format!("blastwall has no target named \"{database}\"");
        return refuse(
            Some(io),
            sqlstate::UNKNOWN_TARGET,
            message,
            Some(AuthFailureReason::UnknownTarget),
        );
    };
    let plaintext_allowed = listener.config.allow_plaintext_on_loopback && peer.ip().is_loopback();
    if !tls && !plaintext_allowed {
        let message = "blastwall requires TLS before a token is sent: connect with sslmode=require"
            .to_owned();
        return refuse(
            Some(io),
            sqlstate::NOT_AUTHORIZED,
            message,
            Some(AuthFailureReason::Other),
        );
    }
    let token = match ask_password(&mut io).await {
        Ok(token) => token,
        Err(e) => {
            let message = format!("no token received: {e}");
            return refuse(
                Some(io),
                sqlstate::INVALID_TOKEN,
                message,
                Some(AuthFailureReason::MissingToken),
            );
        }
    };
    match listener.validator.validate(&token).await {
        Ok(principal) => Startup::Session(Box::new(Accepted {
            io,
            tls,
            parameters,
            target,
            principal,
        })),
        Err(e) => {
            let message = format!("token rejected: {e}");
            refuse(Some(io), sqlstate::INVALID_TOKEN, message, Some(e.reason()))
        }
    }
}

/// Sends AuthenticationCleartextPassword and reads the PasswordMessage: the token.
async fn ask_password(io: &mut Box<dyn Io>) -> Result<String, CodecError> {
    // AuthenticationCleartextPassword: 'R', length 8, code 3.
    io.write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 3]).await?;
    io.flush().await?;
    let (tag, body) = codec::read_message(io, MAX_TOKEN_MESSAGE).await?;
    if tag != b'p' {
        return Err(CodecError::Malformed(format!(
            "expected a password message, got {:?}",
            char::from(tag)
        )));
    }
    let token = body
        .strip_suffix(&[0])
        .ok_or_else(|| CodecError::Malformed("unterminated password".into()))?;
    let token = std::str::from_utf8(token)
        .map_err(|_| CodecError::Malformed("password is not UTF-8".into()))?;
    if token.is_empty() {
        return Err(CodecError::Malformed("empty password".into()));
    }
    Ok(token.to_owned())
}

/// Tokens with many groups run to a few kilobytes; this leaves room without inviting abuse.
const MAX_TOKEN_MESSAGE: usize = 64 * 1024;

fn refusal(
    io: Option<Box<dyn Io>>,
    code: &'static str,
    message: String,
    reason: Option<AuthFailureReason>,
) -> Refusal {
    Refusal {
        io,
        code,
        message,
        reason,
        claimed_user: String::new(),
        database: String::new(),
        tls: false,
    }
}
