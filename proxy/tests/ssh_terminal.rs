//! Interactive sessions through the SSH gateway against a real sshd: `ssh -tt` with a
//! scripted shell, and a shell in a real pty (driven by Python's `pty` module) whose window
//! is resized; the terminal's input, output and resizes are recorded with their offsets, and
//! the typed lines are reconstructed as flagged commands.

#![cfg(feature = "e2e")]
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ssh_gateway;

use std::io::Write;
use std::process::{Command, Stdio};

use schemas::EventBody;
use ssh_gateway::{SshGateway, commands, input, kinds, outcome, output};

/// Typed lines as recorded: `ssh:typed-line` commands, in order.
fn typed_lines(events: &[schemas::Event]) -> Vec<String> {
    commands(events)
        .into_iter()
        .filter(|(_, c)| {
            c.summary
                .as_ref()
                .is_some_and(|s| s.action == "ssh:typed-line")
        })
        .map(|(_, c)| c.text.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scripted_shell_runs_through_a_forced_pty_and_is_recorded() {
    let gateway = SshGateway::start().await;
    let mut child = gateway
        .ssh_command(&gateway.token(), "web-1", &["-tt"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"echo hello-$((6*7))\nexit 4\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr, code) = outcome(&out);
    assert!(stdout.contains("hello-42"), "{stdout:?} {stderr:?}");
    assert_eq!(code, Some(4));

    let events = gateway.ended_sessions(1).await.remove(0);
    let (_, shell) = commands(&events)[0];
    assert_eq!(shell.summary.as_ref().unwrap().action, "ssh:shell");
    assert_eq!(typed_lines(&events), ["echo hello-$((6*7))", "exit 4"]);
    assert!(String::from_utf8_lossy(&output(&events)).contains("hello-42"));
    assert!(String::from_utf8_lossy(&input(&events)).contains("echo hello-$((6*7))"));
    let offsets: Vec<u64> = events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::TerminalOutput(d) | EventBody::TerminalInput(d) => Some(d.offset_ns),
            _ => None,
        })
        .collect();
    assert!(offsets.iter().all(|o| *o > 0));
    let result = events
        .iter()
        .find_map(|e| match &e.body {
            EventBody::ResultReturned(r) => Some(r),
            _ => None,
        })
        .unwrap();
    assert_eq!(result.command_tag.as_deref(), Some("exit 4"));
    assert_eq!(kinds(&events).last(), Some(&"session.ended"));
    gateway.stop().await;
}

/// Drives `ssh` in a real pty: checks the size the remote sees, resizes the window, checks
/// again, exits. Prints everything the terminal showed.
const PTY_DRIVER: &str = r#"
import fcntl, os, pty, select, struct, sys, termios, time
args = sys.argv[1:]
def setsize(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
pid, fd = pty.fork()
if pid == 0:
    setsize(0, 24, 80)
    os.execvp(args[0], args)
seen = b""
def read_until(needle, timeout=10):
    global seen
    end = time.time() + timeout
    while needle not in seen and time.time() < end:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return
            if not chunk:
                return
            seen += chunk
    if needle not in seen:
        sys.stdout.buffer.write(seen)
        sys.exit("timed out waiting for %r" % needle)
os.write(fd, b"stty size; echo mark-one\n")
read_until(b"24 80")
setsize(fd, 40, 100)
time.sleep(0.5)
os.write(fd, b"stty size; echo mark-two\n")
read_until(b"40 100")
os.write(fd, b"exit\n")
end = time.time() + 10
while time.time() < end:
    ready, _, _ = select.select([fd], [], [], 0.1)
    if ready:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(seen)
sys.exit(os.waitstatus_to_exitcode(status))
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_window_change_reaches_the_host_and_is_recorded() {
    let (gateway, key) = SshGateway::start_with_person_key().await;
    let out = Command::new("python3")
        .arg("-c")
        .arg(PTY_DRIVER)
        .arg("ssh")
        .args(gateway.key_login_args(&key))
        .output()
        .expect("python3 runs");
    let (stdout, stderr, code) = outcome(&out);
    assert_eq!(code, Some(0), "{stdout} {stderr}");

    let events = gateway.ended_sessions(1).await.remove(0);
    let resizes: Vec<(u16, u16, u64)> = events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::TerminalResized(r) => Some((r.cols, r.rows, r.offset_ns)),
            _ => None,
        })
        .collect();
    assert_eq!(resizes.len(), 1, "{resizes:?}");
    assert_eq!((resizes[0].0, resizes[0].1), (100, 40));
    // The resize sits between the two commands' input in the recording.
    let position = |pick: &dyn Fn(&EventBody) -> bool| events.iter().position(|e| pick(&e.body));
    let resized_at = position(&|b| matches!(b, EventBody::TerminalResized(_))).unwrap();
    let second = position(
        &|b| matches!(b, EventBody::CommandReceived(c) if c.text == "stty size; echo mark-two"),
    )
    .unwrap();
    assert!(resized_at < second);
    assert_eq!(
        typed_lines(&events),
        [
            "stty size; echo mark-one",
            "stty size; echo mark-two",
            "exit"
        ]
    );
    assert_eq!(events[1].actor.subject, "alice@example.com");
    let recorded = String::from_utf8_lossy(&output(&events)).into_owned();
    assert!(
        recorded.contains("24 80") && recorded.contains("40 100"),
        "{recorded}"
    );
    gateway.stop().await;
}

/// Types `STEPS` (a JSON list of [wait_for, send] pairs) into `ssh` in a pty.
const SCRIPTED_PTY: &str = r#"
import json, os, pty, select, sys, time
steps, args = json.loads(os.environ["STEPS"]), sys.argv[1:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(args[0], args)
seen = b""
for wait_for, send in steps:
    end = time.time() + 10
    while wait_for.encode() not in seen:
        if time.time() > end:
            sys.stdout.buffer.write(seen)
            sys.exit("timed out waiting for %r" % wait_for)
        if select.select([fd], [], [], 0.1)[0]:
            try:
                seen += os.read(fd, 4096)
            except OSError:
                break
    seen = b""
    os.write(fd, send.encode())
while True:
    if not select.select([fd], [], [], 5)[0]:
        break
    try:
        if not os.read(fd, 4096):
            break
    except OSError:
        break
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_typed_at_a_password_prompt_is_not_recorded() {
    let (gateway, key) = SshGateway::start_with_person_key().await;
    let steps = r#"[
        ["", "read -s -p \"$(printf 'Pass%s: ' word)\" pw; echo; echo got-${#pw}\r"],
        ["Password: ", "hunter2\r"],
        ["got-7", "exit\r"]
    ]"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(SCRIPTED_PTY)
        .args(["ssh", "-tt"])
        .args(gateway.key_login_args(&key))
        .env("STEPS", steps)
        .output()
        .expect("python3 runs");
    let (stdout, stderr, code) = outcome(&out);
    assert_eq!(code, Some(0), "{stdout} {stderr}");

    let events = gateway.ended_sessions(1).await.remove(0);
    let typed = String::from_utf8_lossy(&input(&events)).into_owned();
    assert!(!typed.contains("hunter2"), "{typed:?}");
    assert!(typed.contains("*******"), "{typed:?}");
    assert_eq!(
        typed_lines(&events),
        [
            "read -s -p \"$(printf 'Pass%s: ' word)\" pw; echo; echo got-${#pw}",
            "exit"
        ]
    );
    let serialized = serde_json::to_string(&events).unwrap();
    assert!(!serialized.contains("hunter2"));
    gateway.stop().await;
}
