//! `blastwall replay SESSION`: a session as it happened.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use query::replay::screen::{ScreenIndex, parse_clock};
use query::replay::terminal::{Pace, Recording};

use super::query::ArchiveArgs;

#[derive(Debug, Clone, Copy, Default, ValueEnum)]
enum ReplayFormat {
    /// A terminal session plays in this terminal with its timing; a SQL session prints as a
    /// psql-style transcript.
    #[default]
    Play,
    /// asciicast v2, for asciinema's player.
    Asciicast,
    /// The session's raw events, one JSON object per line.
    Json,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  blastwall replay 0193… --speed 4 --max-idle 2s
  blastwall replay 0193… --format asciicast > session.cast && asciinema play session.cast
  blastwall replay 0193… --at 00:42:10")]
pub struct ReplayArgs {
    /// The session id (a UUID, as `blastwall sessions` lists it).
    session: String,
    /// Playback speed: 2 plays twice as fast.
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// Shorten pauses longer than this (e.g. 2s).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    max_idle: Option<Duration>,
    /// What to write.
    #[arg(long, value_enum, default_value_t)]
    format: ReplayFormat,
    /// Print the terminal screen at this moment of the session (HH:MM:SS, MM:SS or seconds).
    #[arg(long, value_name = "HH:MM:SS", conflicts_with = "format")]
    at: Option<String>,
    #[command(flatten)]
    archive: ArchiveArgs,
}

pub async fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    if !(args.speed.is_finite() && args.speed > 0.0) {
        anyhow::bail!("--speed must be a positive number");
    }
    let ctx = query::context::open(&args.archive.archive()?).await?;
    let events = query::replay::load_session(&ctx, &args.session).await?;
    let recording = Recording::from_events(&events);
    let pace = Pace {
        speed: args.speed,
        max_idle: args.max_idle,
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if let Some(at) = &args.at {
        let at = parse_clock(at).with_context(|| format!("--at `{at}` is not HH:MM:SS"))?;
        anyhow::ensure!(
            !recording.is_empty(),
            "session {} has no terminal data",
            args.session
        );
        let index = ScreenIndex::build(recording, query::replay::screen::KEYFRAME_EVERY);
        writeln!(out, "{}", index.at(at).screen().contents())?;
        return Ok(ExitCode::SUCCESS);
    }
    match args.format {
        ReplayFormat::Json => {
            for event in &events {
                writeln!(out, "{}", serde_json::to_string(event)?)?;
            }
        }
        ReplayFormat::Asciicast => {
            let title = format!("blastwall session {}", args.session);
            query::replay::asciicast::write(&recording, pace, &title, &mut out)?;
        }
        ReplayFormat::Play if recording.is_empty() => {
            write!(out, "{}", query::replay::sql::transcript(&events))?;
        }
        ReplayFormat::Play => query::replay::terminal::play(&recording, pace, &mut out)?,
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
