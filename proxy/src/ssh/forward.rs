//! Local port forwarding (`ssh -L`, a direct-tcpip channel): decided as `ssh:forward` with
//! `forward_kind` "direct-tcpip" and `forward_to` "host:port", and only when allowed opened
//! upstream and relayed as bytes. The default pack permits no forwarding, so it is refused.
//!
//! The bytes are counted, not recorded: a forwarded connection is not a terminal. Remote
//! forwarding and agent forwarding are decided and recorded in `server` and `channel`, and
//! always refused.

use std::sync::Arc;

use russh::server::{ChannelOpenHandle, Msg};
use russh::{Channel, ChannelOpenFailure};

use super::command;
use super::session::Session;
use crate::policy::{Decision, SshFacts};

/// Where a direct-tcpip channel goes.
#[derive(Debug, Clone)]
pub struct DirectTcpip {
    /// The host the upstream connects to.
    pub host: String,
    /// Its port.
    pub port: u32,
    /// Who asked, as the client reported it.
    pub originator: String,
    /// Their port.
    pub originator_port: u32,
}

/// Decides, then opens and relays a direct-tcpip channel, or refuses it.
pub async fn direct_tcpip(
    session: Arc<Session>,
    channel: Channel<Msg>,
    reply: ChannelOpenHandle,
    request: DirectTcpip,
) {
    let to = format!("{}:{}", request.host, request.port);
    let facts = SshFacts::forward("direct-tcpip", &to);
    let allowed = match session.decide(command::received(&facts), &facts).await {
        Ok(decided) => matches!(decided.decision, Decision::Allow { .. }),
        Err(e) => {
            session.failed(&e);
            false
        }
    };
    if !allowed {
        reply
            .reject(ChannelOpenFailure::AdministrativelyProhibited)
            .await;
        return;
    }
    let opened = match session.upstream().await {
        Ok(upstream) => {
            upstream
                .open_direct_tcpip(
                    &request.host,
                    request.port,
                    &request.originator,
                    request.originator_port,
                )
                .await
        }
        Err(e) => Err(e),
    };
    let up = match opened {
        Ok(up) => up,
        Err(e) => {
            session.failed(&e);
            reply.reject(ChannelOpenFailure::ConnectFailed).await;
            return;
        }
    };
    reply.accept().await;
    let mut client = channel.into_stream();
    let mut upstream = up.into_stream();
    if let Ok((sent, received)) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
        session.bytes_in(usize::try_from(sent).unwrap_or(usize::MAX));
        session.bytes_out(usize::try_from(received).unwrap_or(usize::MAX));
    }
}
