//! The accept loop every listener runs: take connections until shutdown, then wait for the
//! live ones to finish.
//!
//! Each protocol's listener (`postgres::listener`, `ssh::listener`) hands [`serve`] its bound
//! socket and what to do with one connection; sessions watch the same shutdown signal, so
//! they wind down on their own and `serve` returns once the last one has.

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Accepts connections on `tcp` until `shutdown` turns true, running `connection` for each;
/// then waits for every connection task. `protocol` names the listener in logs.
pub async fn serve<F, Fut>(
    tcp: TcpListener,
    mut shutdown: watch::Receiver<bool>,
    protocol: &'static str,
    connection: F,
) where
    F: Fn(TcpStream, SocketAddr, watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            accepted = tcp.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    sessions.spawn(connection(stream, peer, shutdown.clone()));
                }
                Err(e) => tracing::warn!(protocol, error = %e, "accept failed"),
            },
            _ = shutdown.changed() => break,
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
    while sessions.join_next().await.is_some() {}
}
