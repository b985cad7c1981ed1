//! `blastwall approvals list | show | approve | deny`: decide held statements from a terminal.
//!
//! The running blastwall holds the event log, so these commands talk to its approvals API
//! (the admin listener) with the approver's own token: `--token`, or `BLASTWALL_TOKEN`. The
//! server is `--server`/`BLASTWALL_SERVER`, else `[approvals] public_url`, else the admin
//! listener's address from the configuration.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use proxy::approvals::client::ApprovalsClient;
use proxy::approvals::http::ApprovalView;
use uuid::Uuid;

use super::ConfigArgs;

#[derive(Debug, Subcommand)]
pub enum ApprovalsCommand {
    /// List the statements waiting for a decision.
    List(Connection),
    /// Show one request, waiting or decided.
    Show {
        #[command(flatten)]
        connection: Connection,
        /// The approval id (from the notice the client got, or `list`).
        id: Uuid,
    },
    /// Approve a held statement: it runs. With `--for`, the same statement (literals aside)
    /// by the same agent on the same target runs without asking again for that long.
    Approve {
        #[command(flatten)]
        connection: Connection,
        /// The approval id.
        id: Uuid,
        /// Approve the same statement for this long (e.g. 30m), not only this once.
        #[arg(long = "for", value_name = "DURATION", value_parser = humantime::parse_duration)]
        grant_for: Option<Duration>,
        /// Why, for the record.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Deny a held statement: the client gets an error with your reason.
    Deny {
        #[command(flatten)]
        connection: Connection,
        /// The approval id.
        id: Uuid,
        /// Why: the client is told.
        #[arg(long)]
        reason: String,
    },
}

/// Which blastwall to ask, and as whom.
#[derive(Debug, Args)]
pub struct Connection {
    #[command(flatten)]
    config: ConfigArgs,
    /// Your own token (not the agent's): you decide as its subject, with its groups.
    #[arg(long, env = "BLASTWALL_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The blastwall to ask (e.g. http://127.0.0.1:8089).
    #[arg(long, env = "BLASTWALL_SERVER", value_name = "URL")]
    server: Option<String>,
}

impl Connection {
    fn client(&self) -> anyhow::Result<ApprovalsClient> {
        let Some(token) = self.token.as_deref().filter(|t| !t.trim().is_empty()) else {
            bail!("give your token with --token or BLASTWALL_TOKEN (see `blastwall token`)");
        };
        let server = match &self.server {
            Some(server) => server.clone(),
            None => {
                let config = self.config.load()?;
                match (&config.approvals.public_url, &config.admin) {
                    (Some(url), _) => url.clone(),
                    (None, Some(admin)) => format!("http://{}", admin.listen),
                    (None, None) => bail!(
                        "the configuration has no [admin] listener, which serves approvals; \
                         give --server"
                    ),
                }
            }
        };
        ApprovalsClient::new(&server, token).context("cannot build the HTTP client")
    }
}

pub async fn run(command: ApprovalsCommand) -> anyhow::Result<ExitCode> {
    match command {
        ApprovalsCommand::List(connection) => {
            let waiting = connection.client()?.list().await?;
            if waiting.is_empty() {
                println!("no statement is waiting for approval");
            }
            for view in &waiting {
                print_view(view);
            }
        }
        ApprovalsCommand::Show { connection, id } => {
            print_view(&connection.client()?.show(id).await?);
        }
        ApprovalsCommand::Approve {
            connection,
            id,
            grant_for,
            reason,
        } => {
            let view = connection.client()?.approve(id, reason, grant_for).await?;
            match view.status.as_str() {
                "approved" => println!("approved {id}: the statement runs now"),
                _ => println!(
                    "your approval of {id} is recorded; it needs {} approvers, has {}",
                    view.approvers_required,
                    view.approved_by.len()
                ),
            }
            if let Some(period) = grant_for {
                println!(
                    "the same statement by {} on {} runs without approval for {}",
                    view.subject,
                    view.target,
                    humantime::format_duration(period)
                );
            }
        }
        ApprovalsCommand::Deny {
            connection,
            id,
            reason,
        } => {
            if reason.trim().is_empty() {
                bail!("a deny needs a reason: the client is told");
            }
            connection.client()?.deny(id, reason).await?;
            println!("denied {id}: the client gets an error with your reason");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_view(view: &ApprovalView) {
    let who = match view.agents.first() {
        Some(agent) => format!("{} through {agent}", view.subject),
        None => view.subject.clone(),
    };
    println!("{}  {}", view.id, view.status);
    println!("  who       {who}");
    println!("  target    {}", view.target);
    println!("  statement {}", view.command);
    println!(
        "  policy    {} (approvers from {}: {} of {})",
        view.policy,
        view.group,
        view.approved_by.len(),
        view.approvers_required
    );
    println!("  expires   {}", view.expires_at);
    if view.status == "waiting" {
        println!("  approve   {}", view.approve_with);
    }
}
