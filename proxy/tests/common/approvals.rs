//! Approval helpers: a policy that holds statements, approver tokens, the approvals API's
//! client, waiting for a request to show up, and picking approval events out of a session.

use std::time::Duration;

use proxy::approvals::client::ApprovalsClient;
use proxy::approvals::http::ApprovalView;
use proxy::policy::PolicyConfig;
use proxy::server::{AdminConfig, ProxySettings};
use schemas::body::{ApprovalDecided, ApprovalRequested};
use schemas::{Event, EventBody};

use super::{Gateway, HOUR, policy_dir};

/// Everything is allowed except: DROP needs one DBA (expiring after `drop_expiry`), TRUNCATE
/// needs two, DELETE needs one.
pub fn holding_policy(drop_expiry: &str) -> PolicyConfig {
    policy_dir(&format!(
        "@id(\"allow\") permit (principal, action, resource)\n\
           when {{ context.kind != \"drop\" && context.kind != \"truncate\" && context.kind != \"delete\" }};\n\
         @id(\"drop-needs-a-dba\") @approval(\"dba\") @expires(\"{drop_expiry}\")\n\
         @message(\"dropping a table needs a DBA\")\n\
         permit (principal, action, resource) when {{ context.kind == \"drop\" }};\n\
         @id(\"truncate-needs-two-dbas\") @approval(\"dba\") @approvers(\"2\")\n\
         @message(\"truncating needs two DBAs\")\n\
         permit (principal, action, resource) when {{ context.kind == \"truncate\" }};\n\
         @id(\"delete-needs-a-dba\") @approval(\"dba\") @message(\"deletes need a DBA\")\n\
         permit (principal, action, resource) when {{ context.kind == \"delete\" }};\n"
    ))
}

/// The gateway with plaintext from loopback and the admin listener on a free port.
pub fn with_admin(settings: &mut ProxySettings) {
    settings.postgres.allow_plaintext_on_loopback = true;
    settings.admin = Some(AdminConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
    });
}

/// A gateway holding statements as [`holding_policy`] says.
pub async fn start(drop_expiry: &str) -> Gateway {
    Gateway::start_with(holding_policy(drop_expiry), with_admin).await
}

impl Gateway {
    /// The approvals API as `subject` in `groups` (a person, no agent).
    pub fn approver(&self, subject: &str, groups: &[&str]) -> ApprovalsClient {
        let token = self.token_for(subject, &[], groups, HOUR);
        self.api_as(&token)
    }

    /// The approvals API with `token`.
    pub fn api_as(&self, token: &str) -> ApprovalsClient {
        let admin = self.admin().expect("started with an admin listener");
        ApprovalsClient::new(&format!("http://{admin}"), token).expect("client")
    }
}

/// Waits (up to 20 s) until `api` lists a waiting request for `command`.
pub async fn waiting_for(api: &ApprovalsClient, command: &str) -> ApprovalView {
    for _ in 0..200 {
        let waiting = api.list().await.expect("list approvals");
        if let Some(view) = waiting.into_iter().find(|v| v.command == command) {
            return view;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no approval request for {command:?} showed up");
}

/// The session's `approval.requested` bodies.
pub fn requested(events: &[Event]) -> Vec<&ApprovalRequested> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::ApprovalRequested(r) => Some(r),
            _ => None,
        })
        .collect()
}

/// The session's `approval.decided` bodies.
pub fn decided(events: &[Event]) -> Vec<&ApprovalDecided> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::ApprovalDecided(d) => Some(d),
            _ => None,
        })
        .collect()
}

/// Whether the cluster has a table named `name`.
pub async fn table_exists(gateway: &Gateway, name: &str) -> bool {
    let sql = format!("SELECT count(*) FROM pg_tables WHERE tablename = '{name}'");
    gateway.direct_async(&sql).await.trim() == "1"
}
