//! A real interactive SSH session — sshd, the gateway, the recorder — replayed from the
//! archive: at several moments the screen rebuilt from the archive (with keyframes, without
//! them, and through `blastwall replay --at`) equals the screen rebuilt from the bytes the
//! client's terminal received live, and the asciicast export carries exactly those bytes.

#![cfg(feature = "e2e")]
// A panic in a test is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod archiving;
#[path = "../proxy/tests/ssh_gateway/mod.rs"]
mod ssh_gateway;

use std::process::Command;
use std::time::Duration;

use query::replay::screen::{ScreenIndex, screen_at};
use query::replay::terminal::{Frame, FrameKind, Recording};
use ssh_gateway::{PersonKey, SshGateway, outcome};

/// Runs `ssh` in a real 80×24 pty and types each step once the previous one's marker and the
/// prompt have appeared and the terminal has been quiet for a moment. Writes every byte the terminal
/// received to the file named by its first argument and prints, as JSON, how many bytes had
/// arrived at each quiet moment (the checkpoints), the last one at the end of the session.
const DRIVER: &str = r#"
import fcntl, json, os, pty, select, struct, sys, termios, time
steps, capture, args = json.loads(os.environ["STEPS"]), sys.argv[1], sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    os.execvp(args[0], args)
seen, checkpoints = b"", []
def read(marker, since, quiet=0.3, timeout=15):
    global seen
    end, last = time.time() + timeout, time.time()
    while True:
        if time.time() > end:
            sys.stderr.buffer.write(seen)
            sys.exit("timed out waiting for %r" % marker)
        if select.select([fd], [], [], 0.05)[0]:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return
            if not chunk:
                return
            seen += chunk
            last = time.time()
        elif done(marker, since) and time.time() - last >= quiet:
            return
def done(marker, since):
    if not marker:
        return len(seen) > since
    # The marker, then the prompt: the shell waits for the next line.
    return marker.encode() in seen[since:] and seen.endswith(b"bw$ ")
since = 0
for send, marker in steps:
    read(marker, since, quiet=0.3 if marker else 1.0)
    checkpoints.append(len(seen))
    since = len(seen)
    os.write(fd, send.encode())
while select.select([fd], [], [], 5)[0]:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    seen += chunk
checkpoints.append(len(seen))
_, status = os.waitpid(pid, 0)
open(capture, "wb").write(seen)
print(json.dumps(checkpoints))
sys.exit(os.waitstatus_to_exitcode(status))
"#;

/// What is typed, each after the marker before it: a cleared screen, output that scrolls,
/// colours and cursor addressing, a carriage return that overwrites, and the exit. Markers
/// are computed by the shell so the echo of the typed line never matches them.
const STEPS: &[(&str, &str)] = &[
    ("export PS1='bw$ '; clear; echo ready-$((40+2))\r", ""),
    ("seq 1 40; echo count-$((3*3))\r", "ready-42"),
    (
        "printf '\\033[1;31mred\\033[0m \\033[5;10Hplaced\\033[24;1H'; echo; echo pos-$((2*4))\r",
        "count-9",
    ),
    (
        "printf 'abc\\rXY\\n'; stty size; echo w-$((5+5))\r",
        "pos-8",
    ),
    ("exit\r", "w-10"),
];

struct Live {
    /// Every byte the client's terminal received.
    bytes: Vec<u8>,
    /// How many of them had arrived at each quiet moment.
    checkpoints: Vec<usize>,
}

fn run_session(gateway: &SshGateway, key: &PersonKey, dir: &std::path::Path) -> Live {
    let capture = dir.join("capture.bin");
    let steps: Vec<(&str, &str)> = STEPS.to_vec();
    let out = Command::new("python3")
        .arg("-c")
        .arg(DRIVER)
        .arg(&capture)
        .args(["ssh", "-tt"])
        .args(gateway.key_login_args(key))
        .env("STEPS", serde_json::to_string(&steps).unwrap())
        .env("TERM", "xterm")
        .output()
        .expect("python3 runs");
    let (stdout, stderr, code) = outcome(&out);
    assert_eq!(code, Some(0), "{stdout} {stderr}");
    Live {
        bytes: std::fs::read(&capture).unwrap(),
        checkpoints: serde_json::from_str(stdout.trim()).unwrap(),
    }
}

/// The screen the client's terminal showed after its first `len` bytes.
fn live_screen(live: &Live, len: usize) -> vt100::Parser {
    let fed = Recording {
        started: schemas::Timestamp::UNIX_EPOCH,
        size: (80, 24),
        frames: vec![Frame {
            offset: Duration::ZERO,
            kind: FrameKind::Output(live.bytes[..len].to_vec()),
        }],
    };
    screen_at(&fed, Duration::ZERO)
}

/// The moments of the recording that match the live checkpoints: just before the proxy
/// received the first byte of each step, and the end of the session.
fn recorded_checkpoints(recording: &Recording) -> Vec<Duration> {
    let mut typed = 0;
    // How many bytes had been typed before each step.
    let mut before_step = STEPS.iter().scan(0, |sum, (send, _)| {
        let before = *sum;
        *sum += send.len();
        Some(before)
    });
    let mut next = before_step.next();
    let mut moments = Vec::new();
    for frame in &recording.frames {
        if let FrameKind::Input(data) = &frame.kind {
            typed += data.len();
            // The first input frame past a step's bytes starts the next step.
            while next.is_some_and(|end| typed > end) {
                moments.push(frame.offset - Duration::from_nanos(1));
                next = before_step.next();
            }
        }
    }
    assert_eq!(typed, STEPS.iter().map(|(s, _)| s.len()).sum::<usize>());
    moments.push(recording.duration());
    moments
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recorded_terminal_session_replays_the_screen_the_client_saw() {
    let (gateway, key) = SshGateway::start_with_person_key().await;
    let scratch = tempfile::tempdir().unwrap();
    let live = run_session(&gateway, &key, scratch.path());
    assert_eq!(live.checkpoints.len(), STEPS.len() + 1);
    let logged = gateway.ended_sessions(1).await.remove(0);

    let archive = archiving::archive_log(gateway.data.path(), logged.len()).await;
    let archive = query::Archive::new(&archive);
    let report = query::verify::verify(&archive, &gateway.keys, None).unwrap();
    assert!(report.is_clean(), "{:#?}", report.findings);
    assert_eq!(report.sealed, 1);
    let ctx = query::context::open(&archive).await.unwrap();
    let session = logged[0].session_id.to_string();
    let events = query::replay::load_session(&ctx, &session).await.unwrap();
    assert_eq!(events, logged, "the archive holds exactly what the log did");

    let recording = Recording::from_events(&events);
    assert_eq!(recording.size, (80, 24));
    let shown: Vec<u8> = recording
        .frames
        .iter()
        .filter_map(|f| match &f.kind {
            FrameKind::Output(data) => Some(data.as_slice()),
            _ => None,
        })
        .flatten()
        .copied()
        .collect();
    assert_eq!(
        shown, live.bytes,
        "the archive holds every byte the client saw"
    );

    // Keyframes every 100 ms, so the seeks below start from one.
    let index = ScreenIndex::build(recording.clone(), Duration::from_millis(100));
    assert!(index.keyframes() > 0);
    let moments = recorded_checkpoints(&recording);
    assert_eq!(moments.len(), live.checkpoints.len());
    let mut screens = Vec::new();
    for (at, len) in moments.iter().zip(&live.checkpoints) {
        let live = live_screen(&live, *len);
        let seeked = index.at(*at);
        let replayed = screen_at(&recording, *at);
        for archived in [&seeked, &replayed] {
            assert_eq!(
                archived.screen().contents_formatted(),
                live.screen().contents_formatted(),
                "at {at:?}:\n{}\n--- live ---\n{}",
                archived.screen().contents(),
                live.screen().contents()
            );
            assert_eq!(
                archived.screen().cursor_position(),
                live.screen().cursor_position()
            );
        }
        screens.push(live.screen().contents());
    }
    // The moments show different screens, each what its step produced.
    assert!(screens[1].starts_with("ready-42\nbw$"), "{}", screens[1]);
    assert!(screens[2].contains("\n40\ncount-9\n"), "{}", screens[2]);
    assert!(!screens[2].contains("\n1\n2\n"), "scrolled: {}", screens[2]);
    // Row 5, column 10, over the line that scrolled there.
    assert!(screens[3].contains("\n25       placed\n"), "{}", screens[3]);
    assert!(
        screens[4].contains("\nXYc\n24 80\nw-10\n"),
        "{}",
        screens[4]
    );

    // The command line seeks the same way.
    let at = moments[3].as_secs_f64();
    let out = Command::new(env!("CARGO_BIN_EXE_blastwall"))
        .args(["replay", &session, "--at", &format!("{at:.9}"), "--archive"])
        .arg(archive.root())
        .env("BLASTWALL_DATA_DIR", gateway.data.path())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("{}\n", screens[3])
    );

    // asciicast v2: the header, then one line per frame whose output is exactly what was seen.
    let mut cast = Vec::new();
    query::replay::asciicast::write(&recording, Default::default(), "t", &mut cast).unwrap();
    let cast = String::from_utf8(cast).unwrap();
    let mut lines = cast.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header["version"], 2);
    assert_eq!(
        (header["width"].as_u64(), header["height"].as_u64()),
        (Some(80), Some(24))
    );
    let mut output = String::new();
    let mut last = 0.0;
    for line in lines {
        let (time, code, data): (f64, String, String) = serde_json::from_str(line).unwrap();
        assert!(time >= last, "{line}");
        last = time;
        if code == "o" {
            output.push_str(&data);
        }
    }
    assert_eq!(output, String::from_utf8_lossy(&live.bytes));
    gateway.stop().await;
}
