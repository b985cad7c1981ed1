//! `blastwall log`: look into the embedded event log (or the spool in front of Kafka).

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use eventlog::{EmbeddedReader, Stream};

use super::ConfigArgs;

#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Read every segment end to end and check every checksum and offset; safe beside a
    /// running blastwall. Exits non-zero on damage, naming the file and byte offset.
    Check(ConfigArgs),
    /// Print a stream's records, one per line, oldest first.
    Read(ReadArgs),
}

#[derive(Debug, Args)]
pub struct ReadArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Which stream.
    #[arg(long, value_enum, default_value_t = StreamArg::Events)]
    stream: StreamArg,
    /// Keep waiting for new records.
    #[arg(short, long)]
    follow: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum StreamArg {
    Events,
    Control,
}

impl From<StreamArg> for Stream {
    fn from(arg: StreamArg) -> Stream {
        match arg {
            StreamArg::Events => Stream::Events,
            StreamArg::Control => Stream::Control,
        }
    }
}

pub async fn run(command: LogCommand) -> anyhow::Result<ExitCode> {
    match command {
        LogCommand::Check(args) => check(args),
        LogCommand::Read(args) => read(args).await,
    }
}

fn check(args: ConfigArgs) -> anyhow::Result<ExitCode> {
    let config = args.load()?;
    let dir = config.data_dir.join(&config.log.dir);
    let options = config.log.embedded_options()?;
    let report = eventlog::check(&dir, &options)
        .with_context(|| format!("the log at {} is damaged", dir.display()))?;
    for stream in report {
        let torn = match stream.torn_tail_bytes {
            0 => String::new(),
            bytes => format!(
                ", {bytes} bytes of an interrupted write at the end (dropped on next start)"
            ),
        };
        println!(
            "{}: {} segments, offsets {}..{}{torn}",
            stream.stream, stream.segments, stream.first_offset, stream.next_offset
        );
    }
    println!("ok: {}", dir.display());
    Ok(ExitCode::SUCCESS)
}

async fn read(args: ReadArgs) -> anyhow::Result<ExitCode> {
    let config = args.config.load()?;
    let dir = config.data_dir.join(&config.log.dir);
    let reader = EmbeddedReader::open(&dir, config.log.embedded_options()?);
    // A consumer name of its own that never commits: reading leaves no trace.
    let mut sub = reader.subscribe(
        args.stream.into(),
        &format!("cli-read-{}", std::process::id()),
    )?;
    let mut out = std::io::stdout().lock();
    loop {
        let batch = sub.poll(1000, Duration::from_millis(200)).await?;
        if batch.is_empty() && !args.follow {
            return Ok(ExitCode::SUCCESS);
        }
        for entry in batch {
            match std::str::from_utf8(&entry.value) {
                Ok(text) => writeln!(out, "{text}")?,
                Err(_) => tracing::warn!(
                    offset = entry.position.offset,
                    "record is not UTF-8; skipped"
                ),
            }
        }
        out.flush()?;
    }
}
