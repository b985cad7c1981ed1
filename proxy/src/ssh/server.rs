//! The russh server handler: thin. It turns russh's callbacks into calls on `session::auth`
//! (logging in), starts a `channel` task per session channel and a `forward` task per
//! direct-tcpip channel, and refuses what blastwall does not relay (remote forwarding, X11,
//! agents).
//!
//! One handler per client connection. Authentication state is the target the user named and,
//! once a credential was accepted, the principal waiting for `auth_succeeded`, which starts
//! the session's record. Refusals that end the attempt (unknown target, bad token) disconnect
//! with the reason, which OpenSSH prints.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;

use russh::keys::PublicKey;
use russh::server::{
    Auth, ChannelOpenHandle, Msg, PublicKeyOffer, Response, Session as RusshSession,
    VerifiedPublicKey,
};
use russh::{Channel, ChannelOpenFailure, Disconnect, MethodKind, MethodSet};
use schemas::body::{AuthMethod, AuthenticationSucceeded, SessionStarted};
use schemas::{Actor, EventBody, Protocol, SessionContext};

use super::error::SshError;
use super::listener::{Connection, SshListener};
use super::session::Session;
use super::session::auth::{self, Refusal};
use super::{channel, forward};
use crate::config::SshTarget;
use crate::identity::Principal;
use crate::policy::SshFacts;

/// The prompt keyboard-interactive shows.
const TOKEN_PROMPT: &str = "blastwall token: ";

/// One client connection's handler.
pub struct ServerHandler {
    listener: Arc<SshListener>,
    peer: SocketAddr,
    connection: Arc<Connection>,
    accepted: Option<(Principal, SshTarget, AuthMethod)>,
    refused: bool,
}

impl ServerHandler {
    /// A handler for a connection from `peer`.
    pub fn new(listener: Arc<SshListener>, peer: SocketAddr, connection: Arc<Connection>) -> Self {
        ServerHandler {
            listener,
            peer,
            connection,
            accepted: None,
            refused: false,
        }
    }

    /// Refuses the login: records it and disconnects with the reason (once: attempts the
    /// client sends before the disconnect reaches it are refused quietly).
    async fn refuse(&mut self, refusal: Refusal, user: &str) -> Auth {
        if self.refused {
            return Auth::reject();
        }
        self.refused = true;
        auth::record_refusal(&self.listener, &refusal, user, self.peer).await;
        if let Some(handle) = self.connection.handle.get() {
            let reason = format!("blastwall: {}", refusal.message);
            let _ = handle
                .disconnect(
                    Disconnect::NoMoreAuthMethodsAvailable,
                    reason,
                    String::new(),
                )
                .await;
        }
        // Only keyboard-interactive stays on offer: a client that typed the token as a
        // password (or a tool like sshpass) does not send it again, and reads the disconnect.
        Auth::Reject {
            proceed_with_methods: Some(MethodSet::from(&[MethodKind::KeyboardInteractive][..])),
            partial_success: false,
        }
    }

    /// The target, or the refusal (recorded once per connection).
    async fn target(&mut self, user: &str) -> Result<SshTarget, Auth> {
        match auth::target(&self.listener, user) {
            Ok(target) => Ok(target),
            Err(refusal) => Err(self.refuse(refusal, user).await),
        }
    }

    async fn check_token(&mut self, user: &str, token: &str, method: AuthMethod) -> Auth {
        let target = match self.target(user).await {
            Ok(target) => target,
            Err(refused) => return refused,
        };
        match auth::token(&self.listener, token, method).await {
            Ok(principal) => {
                self.accepted = Some((principal, target, method));
                Auth::Accept
            }
            Err(refusal) => self.refuse(refusal, user).await,
        }
    }

    fn session(&self) -> Option<Arc<Session>> {
        self.connection.session.get().cloned()
    }
}

impl russh::server::Handler for ServerHandler {
    type Error = SshError;

    async fn auth_none(&mut self, user: &str) -> Result<Auth, Self::Error> {
        // The first request names the user: an unknown target is refused here, before any
        // credential is sent.
        if let Err(refused) = self.target(user).await {
            return Ok(refused);
        }
        Ok(Auth::reject())
    }

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        Ok(self.check_token(user, password, AuthMethod::Password).await)
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        response: Option<Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        let Some(mut response) = response else {
            if let Err(refused) = self.target(user).await {
                return Ok(refused);
            }
            return Ok(Auth::Partial {
                name: Cow::Borrowed("blastwall"),
                instructions: Cow::Borrowed("Enter your blastwall token."),
                prompts: Cow::Owned(vec![(Cow::Borrowed(TOKEN_PROMPT), false)]),
            });
        };
        let token = response
            .next()
            .map(|answer| String::from_utf8_lossy(&answer).into_owned())
            .unwrap_or_default();
        Ok(self
            .check_token(user, &token, AuthMethod::KeyboardInteractive)
            .await)
    }

    async fn auth_publickey_offered(
        &mut self,
        _user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(match auth::key(&self.listener, offer.public_key) {
            Some(_) => Auth::Accept,
            None => Auth::reject(),
        })
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        let target = match self.target(user).await {
            Ok(target) => target,
            Err(refused) => return Ok(refused),
        };
        let public_key: &PublicKey = key.public_key;
        Ok(match auth::key(&self.listener, public_key) {
            Some(principal) => {
                self.accepted = Some((principal, target, AuthMethod::PublicKey));
                Auth::Accept
            }
            None => Auth::reject(),
        })
    }

    async fn auth_succeeded(&mut self, session: &mut RusshSession) -> Result<(), Self::Error> {
        let Some((principal, target, method)) = self.accepted.take() else {
            return Err(SshError::NotRecorded("no identity after login".into()));
        };
        let context = SessionContext {
            session_id: uuid::Uuid::now_v7(),
            actor: Actor::from(&principal),
            target: schemas::Target {
                name: target.name.clone(),
                protocol: Protocol::Ssh,
            },
            client_addr: Some(self.peer.to_string()),
        };
        let audit = self
            .listener
            .auditor
            .session(context.clone(), target.durability);
        let client_version = String::from_utf8_lossy(session.remote_sshid()).into_owned();
        let started = EventBody::SessionStarted(SessionStarted {
            application_name: Some(client_version),
            tls: true,
            parameters: [("user".to_owned(), target.name.clone())].into(),
        });
        let authenticated = EventBody::AuthenticationSucceeded(AuthenticationSucceeded { method });
        if audit.record(started).is_err() || audit.record_durable(authenticated).await.is_err() {
            session.disconnect(
                Disconnect::ByApplication,
                "blastwall cannot record this session; refused",
                "",
            )?;
            return Ok(());
        }
        tracing::info!(principal = %principal.subject, target = %target.name, client = %self.peer, "ssh session started");
        let recorded = Session::new(audit, context, principal, target, self.peer, &self.listener);
        let _ = self.connection.session.set(Arc::new(recorded));
        Ok(())
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        session: &mut RusshSession,
    ) -> Result<(), Self::Error> {
        let Some(recorded) = self.session() else {
            reply
                .reject(ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return Ok(());
        };
        reply.accept().await;
        let task = tokio::spawn(channel::run(recorded, channel, session.handle()));
        self.connection.track(task);
        Ok(())
    }

    async fn channel_open_direct_tcpip(
        &mut self,
        channel: Channel<Msg>,
        host_to_connect: &str,
        port_to_connect: u32,
        originator_address: &str,
        originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut RusshSession,
    ) -> Result<(), Self::Error> {
        let Some(recorded) = self.session() else {
            reply
                .reject(ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return Ok(());
        };
        let request = forward::DirectTcpip {
            host: host_to_connect.to_owned(),
            port: port_to_connect,
            originator: originator_address.to_owned(),
            originator_port,
        };
        let task = tokio::spawn(forward::direct_tcpip(recorded, channel, reply, request));
        self.connection.track(task);
        Ok(())
    }

    async fn tcpip_forward(
        &mut self,
        address: &str,
        port: &mut u32,
        _session: &mut RusshSession,
    ) -> Result<bool, Self::Error> {
        // Remote forwarding is decided and recorded, and refused whatever the verdict:
        // blastwall does not listen on the upstream's behalf.
        if let Some(recorded) = self.session() {
            let to = format!("{address}:{port}");
            let facts = SshFacts::forward("tcpip-forward", &to);
            if let Err(e) = recorded
                .decide(super::command::received(&facts), &facts)
                .await
            {
                recorded.failed(&e);
            }
        }
        Ok(false)
    }
}

/// The methods the listener offers.
pub fn methods() -> MethodSet {
    MethodSet::from(
        &[
            MethodKind::PublicKey,
            MethodKind::Password,
            MethodKind::KeyboardInteractive,
        ][..],
    )
}
