//! `blastwall`: the one binary. It parses arguments, sets up logging, runs the subcommand,
//! and maps the outcome to an exit code. Everything else lives in the libraries.

mod cli;
mod config;
mod keystore;

use std::process::ExitCode;

use clap::Parser;

// The proxy and the recorder allocate many small, short-lived buffers per statement and per
// event; mimalloc serves them from thread-local pages, and freeing them costs far less than in
// glibc's allocator, where the recorder benchmark spent a quarter of its time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // mimalloc asks for transparent huge pages; memory it frees and takes back then costs a
    // 2 MiB page zeroed per fault, which was the proxy's largest single cost under load (the
    // recorder frees its buffers every flush). Ordinary 4 KiB pages fault only where touched.
    let _ = nix::sys::prctl::set_thp_disable(true);
    let args = cli::Cli::parse();
    init_logging(args.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr; `RUST_LOG` refines them, `-v` raises the default level.
fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
