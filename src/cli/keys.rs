//! `blastwall keys`: the Ed25519 keys that seal each session's hash chain.

use std::process::ExitCode;

use clap::Subcommand;

use super::ConfigArgs;
use crate::keystore;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Print every public key that ever sealed a session (JSON), for auditors and `verify`.
    Export(ConfigArgs),
    /// Generate a new sealing key; sessions sealed with the old one still verify.
    Rotate(ConfigArgs),
}

pub fn run(command: KeysCommand) -> anyhow::Result<ExitCode> {
    match command {
        KeysCommand::Export(args) => {
            let config = args.load()?;
            let keys = keystore::public_keys(&config.in_data_dir(&config.seal.public_keys))?;
            println!("{}", keys.to_json());
        }
        KeysCommand::Rotate(args) => {
            let config = args.load()?;
            let key_file = config.in_data_dir(&config.seal.key_file);
            let key = keystore::rotate(&key_file, &config.in_data_dir(&config.seal.public_keys))?;
            println!(
                "new sealing key {} in {}",
                key.key_id().as_str(),
                key_file.display()
            );
            println!("running blastwall processes pick it up when restarted");
        }
    }
    Ok(ExitCode::SUCCESS)
}
