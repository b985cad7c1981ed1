//! `blastwall policy`: check a policy directory, decide one statement with it, replay the
//! archive's recorded commands through it (`backtest`), print the schema policies are written
//! against.
//!
//! `policy test` is meant for scripts, so its exit code is the verdict (0 allow, 1 block,
//! 2 approval required); anything else it can end with has its own code (3 when the policies
//! or the configuration cannot be loaded, 64 for invalid usage). Its arguments are parsed
//! here rather than by the top-level parser, whose usage errors exit 2 like "approval".

use std::ffi::OsString;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use proxy::policy::cedar::{
    self, AccessVerdict, CedarPolicy, Evaluation, PackSource, PolicyStore, Verdict,
};
use proxy::policy::config::{PolicyConfig, describe};
use proxy::policy::decision::{Decision, Request};
use proxy::policy::facts::{
    Analyzer, Limit, MessageFacts, PreparedStatements, StatementFacts, TableName,
};

mod backtest;

/// Exit code: the policies or the configuration could not be loaded.
const EXIT_ERROR: u8 = 3;
/// Exit code: invalid usage (sysexits' EX_USAGE).
const EXIT_USAGE: u8 = 64;

const TEST_EXIT_CODES: &str = "\
Exit status:
  0   allowed
  1   blocked
  2   approval required
  3   the policies or the configuration could not be loaded
  64  invalid usage";

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate a directory of Cedar policies (*.cedar) against blastwall's schema; every
    /// problem is printed with its file, line and reason.
    Check {
        /// The policy directory.
        dir: PathBuf,
    },
    /// Decide one statement and print its facts, the verdict and the deciding policies.
    /// Exits 0 allowed, 1 blocked, 2 approval required, 3 policies not loaded, 64 invalid
    /// usage. See `blastwall policy test --help`.
    #[command(disable_help_flag = true, disable_version_flag = true)]
    Test(RawArgs),
    /// Decide every recorded command in the archive again with the policies in DIR and list
    /// each verdict that would change. Exits 0 when none would, 1 when some would, 3 on error.
    Backtest(backtest::BacktestArgs),
    /// Print the Cedar schema policies are validated against.
    Schema,
}

/// `policy test`'s arguments, parsed by [`TestArgs`].
#[derive(Debug, Args)]
pub struct RawArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0.., value_name = "ARGS")]
    args: Vec<OsString>,
}

/// Decide one statement with a policy pack, as the gateway would, and print the facts, the
/// verdict and the deciding policies.
#[derive(Debug, Parser)]
#[command(name = "blastwall policy test", bin_name = "blastwall policy test", after_help = TEST_EXIT_CODES)]
struct TestArgs {
    /// The policy directory [default: the pack built into blastwall, examples/policies].
    #[arg(long, value_name = "DIR")]
    policies: Option<PathBuf>,
    /// The human (or service) the statement is for: the token's `sub`.
    #[arg(long = "as", value_name = "SUBJECT")]
    subject: String,
    /// An agent acting for the subject, outermost first (repeat for a chain).
    #[arg(long = "act", value_name = "AGENT")]
    agents: Vec<String>,
    /// A group of the token (repeat for several).
    #[arg(long = "group", value_name = "GROUP")]
    groups: Vec<String>,
    /// The target's name.
    #[arg(long, value_name = "NAME")]
    target: String,
    /// A schema unqualified names resolve through (repeat, in order) [default: public, or
    /// the configuration's].
    #[arg(long = "search-path", value_name = "SCHEMA")]
    search_path: Vec<String>,
    /// The client's address, for policies about `context.client_address`.
    #[arg(long, value_name = "ADDRESS")]
    client: Option<IpAddr>,
    /// When the statement is decided (RFC 3339, e.g. 2025-01-31T09:00:00Z) [default: now].
    #[arg(long, value_name = "TIME", value_parser = humantime::parse_rfc3339)]
    at: Option<SystemTime>,
    /// A configuration file whose [policy] section (search_path, dangerous_functions, dir)
    /// applies.
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print the facts and verdicts as one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// The SQL: one message, as a client would send it (several statements allowed).
    sql: String,
}

pub async fn run(command: PolicyCommand) -> anyhow::Result<ExitCode> {
    match command {
        PolicyCommand::Check { dir } => check(&dir),
        PolicyCommand::Test(raw) => Ok(test(raw.args)),
        PolicyCommand::Backtest(args) => Ok(backtest::run(args).await),
        PolicyCommand::Schema => {
            print!("{}", cedar::SCHEMA);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn check(dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    let files = cedar::read_dir(dir)?;
    match cedar::load(&files) {
        Ok(pack) => {
            println!(
                "{}: {} policies in {} files, valid",
                dir.display(),
                pack.info.len(),
                files.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("{error}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn test(raw: Vec<OsString>) -> ExitCode {
    let args = match TestArgs::try_parse_from(std::iter::once(OsString::from("test")).chain(raw)) {
        Ok(args) => args,
        Err(error) => {
            let usage = error.use_stderr();
            let _ = error.print();
            return match usage {
                true => ExitCode::from(EXIT_USAGE),
                false => ExitCode::SUCCESS,
            };
        }
    };
    match decide(&args) {
        Ok((facts, evaluation)) => {
            if args.json {
                println!("{}", json::report(&facts, &evaluation));
            } else {
                print_facts(&facts);
                print_verdict(&evaluation);
            }
            ExitCode::from(match evaluation.decision {
                Decision::Allow { .. } => 0,
                Decision::Block { .. } => 1,
                Decision::RequireApproval { .. } => 2,
            })
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn decide(args: &TestArgs) -> anyhow::Result<(Arc<MessageFacts>, Evaluation)> {
    let (mut config, data_dir) = match &args.config {
        Some(path) => {
            let config = crate::config::Config::from_file(path)?;
            (config.policy, config.data_dir)
        }
        None => (PolicyConfig::default(), PathBuf::new()),
    };
    if !args.search_path.is_empty() {
        config.search_path = args.search_path.clone();
    }
    let source = match &args.policies {
        Some(dir) => PackSource::Dir(dir.clone()),
        None => config.source(&data_dir),
    };
    let policy = open(source, &config)?;
    // PREPAREs earlier in the message count for its EXECUTEs, as in a session.
    let facts = PreparedStatements::new().resolve(&policy.analyzer().facts(&args.sql));
    let request = Request {
        subject: &args.subject,
        agents: &args.agents,
        groups: &args.groups,
        target: &args.target,
        protocol: schemas::Protocol::Postgres,
        text: &args.sql,
        facts: &facts,
        client: args.client,
        time: args.at.unwrap_or_else(SystemTime::now),
    };
    let evaluation = policy.evaluate(&request);
    Ok((facts, evaluation))
}

/// The policy the gateway would run with `source`'s pack and `config`'s reading of SQL
/// (search path, dangerous functions).
fn open(source: PackSource, config: &PolicyConfig) -> anyhow::Result<CedarPolicy> {
    let store = PolicyStore::open(source.clone())
        .with_context(|| format!("policies from {}", describe(&source)))?;
    Ok(CedarPolicy::new(
        Analyzer::new(config.names()?),
        Arc::new(store),
    ))
}

fn print_facts(facts: &MessageFacts) {
    let count = facts.statements.len();
    if count == 0 {
        println!("no statement (an empty query)");
    }
    for (i, statement) in facts.statements.iter().enumerate() {
        println!("statement {} of {count}: {}", i + 1, statement.kind);
        print_statement(statement);
    }
}

fn print_statement(s: &StatementFacts) {
    let line = |name: &str, value: String| println!("  {name:<11}{value}");
    line("action", s.action.to_string());
    line("reads", tables(&s.reads));
    line("writes", tables(&s.writes));
    line("functions", list(&s.functions));
    line("dangerous", list(&s.dangerous_functions));
    line(
        "has where",
        match s.has_where() {
            true => "yes".to_owned(),
            false => format!("no ({})", tables(&s.unfiltered)),
        },
    );
    line(
        "limit",
        match s.limit {
            Some(Limit::Rows(rows)) => rows.to_string(),
            Some(Limit::Expression) => "an expression".to_owned(),
            None => "-".to_owned(),
        },
    );
    if let Some(copy) = s.copy {
        line(
            "copy",
            format!("{} {}", copy.direction.name(), copy.endpoint.name()),
        );
    }
    if !s.settings.is_empty() {
        line("settings", list(&s.settings));
    }
    if let Some(role) = s.role_change {
        line("role", role.name().to_owned());
    }
    if let Some(explain) = s.explain {
        line("explain", explain.name().to_owned());
    }
    if let Some(error) = &s.error {
        line("error", error.clone());
    }
}

fn print_verdict(evaluation: &Evaluation) {
    for verdict in &evaluation.accesses {
        println!("{}", access_line(verdict));
    }
    match &evaluation.decision {
        Decision::Allow { policies } => {
            println!("verdict: allow");
            println!("allowing policies: {}", list(policies));
        }
        Decision::Block { policy, message } => {
            println!("verdict: block");
            println!("deciding policy: {policy}");
            println!("message: {message}");
        }
        Decision::RequireApproval {
            policy,
            group,
            message,
            ..
        } => {
            println!("verdict: approval required from {group}");
            println!("deciding policy: {policy}");
            println!("message: {message}");
        }
    }
}

fn access_line(verdict: &AccessVerdict) -> String {
    let (resource, outcome) = (resource(verdict), outcome(verdict.verdict));
    let by = match (verdict.policies.is_empty(), verdict.errors.first()) {
        (_, Some(error)) => format!(" (policy error: {error})"),
        (true, None) => format!(" ({})", cedar::DEFAULT_DENY),
        (false, None) => format!(" ({})", verdict.policies.join(", ")),
    };
    format!(
        "statement {}: {} on {resource}: {outcome}{by}",
        verdict.statement + 1,
        verdict.access.action
    )
}

fn resource(verdict: &AccessVerdict) -> String {
    match &verdict.access.table {
        Some(table) => format!("Table {table}"),
        None => "the target".to_owned(),
    }
}

fn outcome(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Allow => "allow",
        Verdict::Approval => "approval",
        Verdict::Block => "block",
    }
}

fn tables(tables: &[TableName]) -> String {
    list(&tables.iter().map(ToString::to_string).collect::<Vec<_>>())
}

fn list(items: &[String]) -> String {
    match items.is_empty() {
        true => "-".to_owned(),
        false => items.join(", "),
    }
}

/// `policy test --json`: the facts and verdicts as data, for scripts and tests.
mod json {
    use proxy::policy::cedar::Evaluation;
    use proxy::policy::decision::Decision;
    use proxy::policy::facts::{Limit, MessageFacts, SessionEffect, StatementFacts};
    use serde_json::{Value, json};

    pub fn report(facts: &MessageFacts, evaluation: &Evaluation) -> Value {
        let accesses: Vec<Value> = evaluation
            .accesses
            .iter()
            .map(|v| {
                json!({
                    "statement": v.statement + 1,
                    "action": v.access.action.name(),
                    "resource": super::resource(v),
                    "verdict": super::outcome(v.verdict),
                    "policies": v.policies,
                    "errors": v.errors,
                })
            })
            .collect();
        let mut report = json!({
            "statements": facts.statements.iter().map(|s| statement(s)).collect::<Vec<_>>(),
            "accesses": accesses,
        });
        let decision = match &evaluation.decision {
            Decision::Allow { policies } => json!({"verdict": "allow", "policies": policies}),
            Decision::Block { policy, message } => {
                json!({"verdict": "block", "policy": policy, "message": message})
            }
            Decision::RequireApproval {
                policy,
                group,
                message,
                ..
            } => json!({
                "verdict": "approval", "policy": policy, "group": group, "message": message
            }),
        };
        if let (Value::Object(report), Value::Object(decision)) = (&mut report, decision) {
            report.extend(decision);
        }
        report
    }

    fn statement(s: &StatementFacts) -> Value {
        let names = |tables: &[proxy::policy::facts::TableName]| -> Vec<String> {
            tables.iter().map(ToString::to_string).collect()
        };
        json!({
            "kind": s.kind.to_string(),
            "action": s.action.name(),
            "reads": names(&s.reads),
            "writes": names(&s.writes),
            "functions": s.functions,
            "dangerous_functions": s.dangerous_functions,
            "has_where": s.has_where(),
            "unfiltered": names(&s.unfiltered),
            "limit": match s.limit {
                Some(Limit::Rows(rows)) => json!(rows),
                Some(Limit::Expression) => json!("expression"),
                None => Value::Null,
            },
            "copy": s.copy.map(|c| json!({
                "direction": c.direction.name(),
                "endpoint": c.endpoint.name(),
            })),
            "settings": s.settings,
            "role_change": s.role_change.map(|r| r.name()),
            "explain": s.explain.map(|e| e.name()),
            "prepares": match &s.session {
                Some(SessionEffect::Prepare { name, .. }) => Some(name.clone()),
                _ => None,
            },
            "error": s.error,
        })
    }
}
