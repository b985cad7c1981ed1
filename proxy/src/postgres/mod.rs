//! The PostgreSQL gateway: a wire-protocol proxy any Postgres client can use.
//!
//! A client connects as it would to PostgreSQL, names a target as its database and presents
//! its token as the password. blastwall checks the token, logs in upstream with credentials
//! only it holds, then relays the session, recording and deciding every statement before it
//! runs. See `session` for the relay, `startup` and `upstream` for the two logins, `codec` for
//! framing and `pending` for the protocol state.

mod cancel;
mod catalog;
pub mod codec;
mod copy_out;
pub mod error;
mod listener;
mod session;
mod startup;
mod upstream;

use pgwire::messages::PgWireBackendMessage;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

pub use listener::{Listener, ListenerSettings, serve};

/// A connection of either kind (plain TCP or TLS), to a client or an upstream.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// Writes one message on an unframed connection (during startup).
pub(crate) async fn write_message(
    io: &mut Box<dyn Io>,
    message: PgWireBackendMessage,
) -> std::io::Result<()> {
    let mut buf = bytes::BytesMut::new();
    message.encode(&mut buf).map_err(std::io::Error::other)?;
    io.write_all(&buf).await?;
    io.flush().await
}
