//! Loading a policy pack: `*.cedar` files from a directory (or the default pack built into
//! blastwall), parsed, checked for blastwall's annotations, and validated against the schema
//! in strict mode. A pack with any problem is refused whole, each problem named with its
//! file, line, column and reason, so the pack in force stays in force.
//!
//! Annotations: `@id("...")` names a policy (else `file:line`), unique across the pack;
//! `@message("...")` is what the client is told; `@approval("group")` (on a permit) holds the
//! statement for that group, `@approvers("2")` asks for that many distinct approvers and
//! `@expires("15m")` for another hold time than the default; `@description("...")` is free text. Any other annotation is a
//! problem: a misspelt `@aproval` must not quietly turn an approval into an allow.
//!
//! Not here: deciding (`engine`), reloading (`store`).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use cedar_policy::{Effect, Policy, PolicyId, PolicySet, ValidationMode, Validator};
use miette::Diagnostic;

use super::schema::schema;

/// Annotations blastwall reads; any other is refused.
const ANNOTATIONS: [&str; 6] = [
    "id",
    "message",
    "approval",
    "approvers",
    "expires",
    "description",
];
/// The most approvers a policy may ask for.
const MAX_APPROVERS: u32 = 16;

/// One policy file: its name (for messages) and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyFile {
    /// Where it came from: a path, or `builtin/NAME` for the default pack.
    pub path: PathBuf,
    /// Its text.
    pub text: String,
}

/// What blastwall knows about a loaded policy.
#[derive(Clone, Debug)]
pub struct PolicyInfo {
    /// The policy's id (`@id`, or `file:line`).
    pub id: String,
    /// Permit or forbid.
    pub effect: Effect,
    /// `@message`.
    pub message: Option<String>,
    /// `@approval`: the group that approves.
    pub approval: Option<String>,
    /// `@approvers`: how many distinct members of the group must approve (1 without it).
    pub approvers: u32,
    /// `@expires`: how long a held statement waits (the configured default without it).
    pub expires: Option<std::time::Duration>,
    /// Where it is written.
    pub file: PathBuf,
    /// The line it starts on (from 1).
    pub line: usize,
    /// Its position in the pack (files by name, policies in order): earlier decides ties.
    pub order: usize,
}

/// A validated pack.
#[derive(Clone, Debug)]
pub struct Pack {
    /// The policies, with blastwall's ids.
    pub set: PolicySet,
    /// What each policy says, by id.
    pub info: HashMap<PolicyId, PolicyInfo>,
}

/// Why a pack was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The directory or a file could not be read (an environment fault).
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The directory holds no policy file.
    #[error("{} holds no policy files (*.cedar)", dir.display())]
    Empty {
        /// The directory.
        dir: PathBuf,
    },
    /// Policies that do not parse, validate or carry the right annotations.
    #[error("{}", Problems(problems))]
    Invalid {
        /// Every problem found.
        problems: Vec<Problem>,
    },
    /// The built-in schema does not parse: a bug in blastwall.
    #[error("internal error: the built-in policy schema does not parse: {0}")]
    Schema(String),
}

/// One problem in a policy file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub file: PathBuf,
    /// The line (from 1).
    pub line: usize,
    /// The column (from 1).
    pub column: usize,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file.display();
        write!(f, "{file}:{}:{}: {}", self.line, self.column, self.reason)
    }
}

struct Problems<'a>(&'a [Problem]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

/// The `*.cedar` files of `dir`, by name.
pub fn read_dir(dir: &Path) -> Result<Vec<PolicyFile>, LoadError> {
    let read = |source| LoadError::Read {
        path: dir.to_owned(),
        source,
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read)?
        .into_iter()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "cedar") && path.is_file())
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(LoadError::Empty {
            dir: dir.to_owned(),
        });
    }
    paths
        .into_iter()
        .map(|path| match std::fs::read_to_string(&path) {
            Ok(text) => Ok(PolicyFile { path, text }),
            Err(source) => Err(LoadError::Read { path, source }),
        })
        .collect()
}

/// Parses, checks and validates `files` as one pack.
pub fn load(files: &[PolicyFile]) -> Result<Pack, LoadError> {
    let mut problems = Vec::new();
    let mut pack = Pack {
        set: PolicySet::new(),
        info: HashMap::new(),
    };
    let mut texts: HashMap<PolicyId, (usize, usize)> = HashMap::new();
    for (index, file) in files.iter().enumerate() {
        for (policy, line) in parse_file(file, &mut problems) {
            let Some(info) = check(&policy, file, line, pack.info.len(), &mut problems) else {
                continue;
            };
            let id = PolicyId::new(&info.id);
            if let Some(first) = pack.info.get(&id) {
                problems.push(at(
                    file,
                    line,
                    1,
                    format!(
                        "policy id {:?} is already used at {}:{}",
                        info.id,
                        first.file.display(),
                        first.line
                    ),
                ));
                continue;
            }
            if pack.set.add(policy.new_id(id.clone())).is_ok() {
                texts.insert(id.clone(), (index, line));
                pack.info.insert(id, info);
            }
        }
    }
    if problems.is_empty() {
        validate(&pack, files, &texts, &mut problems)?;
    }
    match problems.is_empty() {
        true => Ok(pack),
        false => Err(LoadError::Invalid { problems }),
    }
}

/// The policies of a file with the line each starts on, in order.
fn parse_file(file: &PolicyFile, problems: &mut Vec<Problem>) -> Vec<(Policy, usize)> {
    let set = match PolicySet::from_str(&file.text) {
        Ok(set) => set,
        Err(errors) => {
            for error in errors.iter() {
                let offset = first_offset(error);
                let (line, column) = position(&file.text, offset);
                problems.push(at(file, line, column, error.to_string()));
            }
            return Vec::new();
        }
    };
    if set.templates().next().is_some() {
        problems.push(at(
            file,
            1,
            1,
            "templates (?principal, ?resource) are not supported".into(),
        ));
    }
    // The parser names policies policy0, policy1, ... in the order they are written.
    let mut policies: Vec<Policy> = set.policies().cloned().collect();
    policies.sort_by_key(|p| {
        p.id()
            .to_string()
            .trim_start_matches("policy")
            .parse::<usize>()
            .unwrap_or(usize::MAX)
    });
    let mut from = 0;
    policies
        .into_iter()
        .map(|policy| {
            let text = policy.to_cedar().unwrap_or_default();
            let offset = file
                .text
                .get(from..)
                .and_then(|rest| rest.find(&text))
                .map_or(from, |i| from + i);
            from = offset + text.len();
            let (line, _) = position(&file.text, offset);
            (policy, line)
        })
        .collect()
}

/// Blastwall's view of a policy, or problems with its annotations.
fn check(
    policy: &Policy,
    file: &PolicyFile,
    line: usize,
    order: usize,
    problems: &mut Vec<Problem>,
) -> Option<PolicyInfo> {
    let before = problems.len();
    for (key, _) in policy.annotations() {
        if !ANNOTATIONS.contains(&key) {
            problems.push(at(file, line, 1, format!(
                "unknown annotation @{key} (blastwall reads @id, @message, @approval, @approvers, @expires, @description)"
            )));
        }
    }
    let approval = policy.annotation("approval").map(str::to_owned);
    if approval.is_some() && policy.effect() == Effect::Forbid {
        problems.push(at(
            file,
            line,
            1,
            "@approval belongs on a permit; a forbid always blocks".into(),
        ));
    }
    if approval.as_deref().is_some_and(|g| g.trim().is_empty()) {
        problems.push(at(file, line, 1, "@approval needs a group".into()));
    }
    let (approvers, expires) = hold_annotations(policy, approval.is_some(), &mut |message| {
        problems.push(at(file, line, 1, message))
    });
    let id = match policy.annotation("id") {
        Some(id) if id.trim().is_empty() || id.chars().any(char::is_whitespace) => {
            problems.push(at(
                file,
                line,
                1,
                format!("@id {id:?} must be a word without spaces"),
            ));
            return None;
        }
        Some(id) => id.to_owned(),
        None => format!("{}:{line}", file_name(file)),
    };
    (problems.len() == before).then(|| PolicyInfo {
        id,
        effect: policy.effect(),
        message: policy.annotation("message").map(str::to_owned),
        approval,
        approvers,
        expires,
        file: file.path.clone(),
        line,
        order,
    })
}

/// `@approvers` and `@expires`: only beside `@approval`, a count from 1 to [`MAX_APPROVERS`]
/// and a duration (`15m`, `1h`) of at least a second.
fn hold_annotations(
    policy: &Policy,
    approval: bool,
    problem: &mut dyn FnMut(String),
) -> (u32, Option<std::time::Duration>) {
    let approvers = policy.annotation("approvers");
    let expires = policy.annotation("expires");
    if !approval && (approvers.is_some() || expires.is_some()) {
        problem("@approvers and @expires belong beside @approval".into());
    }
    let approvers = match approvers.map(|n| n.trim().parse::<u32>()) {
        None => 1,
        Some(Ok(n)) if (1..=MAX_APPROVERS).contains(&n) => n,
        Some(_) => {
            problem(format!(
                "@approvers must be a number from 1 to {MAX_APPROVERS}"
            ));
            1
        }
    };
    let expires = match expires.map(|d| humantime::parse_duration(d.trim())) {
        None => None,
        Some(Ok(d)) if d >= std::time::Duration::from_secs(1) => Some(d),
        Some(_) => {
            problem("@expires must be a duration of at least 1s, such as \"15m\"".into());
            None
        }
    };
    (approvers, expires)
}

fn validate(
    pack: &Pack,
    files: &[PolicyFile],
    texts: &HashMap<PolicyId, (usize, usize)>,
    problems: &mut Vec<Problem>,
) -> Result<(), LoadError> {
    let validator = Validator::new(schema()?);
    let result = validator.validate(&pack.set, ValidationMode::Strict);
    for error in result.validation_errors() {
        let Some(&(index, line)) = texts.get(error.policy_id()) else {
            continue;
        };
        let Some(file) = files.get(index) else {
            continue;
        };
        let (line, column) = match labelled_offset(error) {
            Some(offset) => position(&file.text, offset),
            None => (line, 1),
        };
        // The schema's actions share one context: a mistake shows once, not once per action.
        let seen = problems
            .iter()
            .any(|p| p.file == file.path && p.line == line && p.column == column);
        if !seen {
            let id = error.policy_id();
            problems.push(at(file, line, column, format!("policy {id}: {error}")));
        }
    }
    Ok(())
}

fn at(file: &PolicyFile, line: usize, column: usize, reason: String) -> Problem {
    Problem {
        file: file.path.clone(),
        line,
        column,
        reason,
    }
}

fn file_name(file: &PolicyFile) -> String {
    file.path.file_name().map_or_else(
        || file.path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn first_offset(diagnostic: &dyn Diagnostic) -> usize {
    labelled_offset(diagnostic).unwrap_or(0)
}

fn labelled_offset(diagnostic: &dyn Diagnostic) -> Option<usize> {
    diagnostic.labels()?.next().map(|label| label.offset())
}

/// Line and column (from 1) of a byte offset.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}
