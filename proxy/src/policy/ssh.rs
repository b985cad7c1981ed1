//! What an SSH request asks, as policy sees it: [`SshAction`] (`ssh:exec`, `ssh:shell`,
//! `ssh:sftp`, `ssh:forward`) and [`SshFacts`] (the command line, its program, where a
//! forward goes). The SSH gateway builds these from channel requests; the Cedar engine
//! decides them with the same pack as SQL (`cedar::ssh`), the target as the resource.
//!
//! Pure: no sockets. Parsing a command line into its program is best effort (the first word,
//! without its directory, after `env`/`sudo`-style wrappers are *not* stripped: the pack sees
//! what runs first).

/// An SSH request's action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SshAction {
    /// Running a command (`ssh host 'command'`, scp, rsync, git).
    Exec,
    /// An interactive shell.
    Shell,
    /// The sftp subsystem.
    Sftp,
    /// Port or agent forwarding.
    Forward,
}

impl SshAction {
    /// Every SSH action.
    pub const ALL: [SshAction; 4] = [
        SshAction::Exec,
        SshAction::Shell,
        SshAction::Sftp,
        SshAction::Forward,
    ];

    /// The Cedar action name, e.g. `ssh:exec`.
    pub const fn name(self) -> &'static str {
        match self {
            SshAction::Exec => "ssh:exec",
            SshAction::Shell => "ssh:shell",
            SshAction::Sftp => "ssh:sftp",
            SshAction::Forward => "ssh:forward",
        }
    }
}

impl std::fmt::Display for SshAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The facts of one SSH request: Cedar's context for the `ssh:*` actions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshFacts {
    /// The action.
    pub action: SshAction,
    /// The exec command line; empty for a shell, sftp and forwarding.
    pub command: String,
    /// The command's first word without its directory (`/usr/bin/git-upload-pack 'x'` →
    /// `git-upload-pack`); empty when there is no command.
    pub program: String,
    /// Forwarding: `direct-tcpip`, `tcpip-forward` or `agent`; empty otherwise.
    pub forward_kind: String,
    /// Forwarding: where to (`host:port`); empty for agent forwarding and other actions.
    pub forward_to: String,
}

impl SshFacts {
    /// An exec of `command`.
    pub fn exec(command: &str) -> Self {
        SshFacts {
            action: SshAction::Exec,
            command: command.to_owned(),
            program: program(command),
            forward_kind: String::new(),
            forward_to: String::new(),
        }
    }

    /// A shell or sftp request.
    pub fn of(action: SshAction) -> Self {
        SshFacts {
            action,
            command: String::new(),
            program: String::new(),
            forward_kind: String::new(),
            forward_to: String::new(),
        }
    }

    /// A forwarding request of `kind` to `to`.
    pub fn forward(kind: &str, to: &str) -> Self {
        SshFacts {
            forward_kind: kind.to_owned(),
            forward_to: to.to_owned(),
            ..SshFacts::of(SshAction::Forward)
        }
    }
}

/// What the gateway records as the text of an agent-forwarding request.
const AGENT_FORWARDING: &str = "agent forwarding";

impl SshFacts {
    /// The command text recorded in `command.received` for these facts: the command line of
    /// an exec, `sftp`, `KIND HOST:PORT` for a port forward, nothing for a shell.
    pub fn recorded_text(&self) -> String {
        match self.action {
            SshAction::Exec => self.command.clone(),
            SshAction::Shell => String::new(),
            SshAction::Sftp => "sftp".to_owned(),
            SshAction::Forward if self.forward_kind == "agent" => AGENT_FORWARDING.to_owned(),
            SshAction::Forward => format!("{} {}", self.forward_kind, self.forward_to),
        }
    }

    /// The facts a recorded command (its summary's action and its text) was decided on; `None`
    /// for what the gateway does not decide (a typed line) or does not record this way.
    pub fn from_recorded(action: &str, text: &str) -> Option<SshFacts> {
        let action = SshAction::ALL.into_iter().find(|a| a.name() == action)?;
        Some(match action {
            SshAction::Exec => SshFacts::exec(text),
            SshAction::Shell | SshAction::Sftp => SshFacts::of(action),
            SshAction::Forward if text == AGENT_FORWARDING => SshFacts::forward("agent", ""),
            SshAction::Forward => {
                let (kind, to) = text.split_once(' ')?;
                SshFacts::forward(kind, to)
            }
        })
    }
}

/// The first word of a command line, without quotes or its directory.
pub fn program(command: &str) -> String {
    let first = command.split_whitespace().next().unwrap_or("");
    let first = first.trim_matches(|c| c == '\'' || c == '"');
    first.rsplit('/').next().unwrap_or(first).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_requests_read_back_as_the_facts_they_were_decided_on() {
        for facts in [
            SshFacts::exec("/usr/bin/git-upload-pack '/srv/repo.git'"),
            SshFacts::of(SshAction::Shell),
            SshFacts::of(SshAction::Sftp),
            SshFacts::forward("direct-tcpip", "db.internal:5432"),
            SshFacts::forward("tcpip-forward", "0.0.0.0:8080"),
            SshFacts::forward("agent", ""),
        ] {
            let back = SshFacts::from_recorded(facts.action.name(), &facts.recorded_text());
            assert_eq!(back.as_ref(), Some(&facts));
        }
        assert_eq!(SshFacts::from_recorded("ssh:typed-line", "ls"), None);
        assert_eq!(SshFacts::from_recorded("ssh:forward", "nonsense"), None);
    }

    #[test]
    fn the_program_is_the_first_word_without_its_directory() {
        assert_eq!(
            program("/usr/bin/git-upload-pack '/srv/repo.git'"),
            "git-upload-pack"
        );
        assert_eq!(program("  ls -la"), "ls");
        assert_eq!(program("'scp' -t /tmp"), "scp");
        assert_eq!(program(""), "");
    }
}
