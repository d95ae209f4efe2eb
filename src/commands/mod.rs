//! One module per command. Each takes the parsed arguments and the configuration and returns the
//! process exit code.

mod add_upgrade;
mod config_cmd;
mod init;
mod plan;
mod prepare;
mod restore_backup;
mod run;
mod show_upgrade_info;
mod version;

use crate::cli::Command;
use crate::config::Config;

pub fn dispatch(command: Command, cfg: &Config) -> anyhow::Result<i32> {
    match command {
        Command::Init { binary } => init::run(cfg, &binary),
        Command::AddUpgrade(args) => add_upgrade::run(cfg, &args),
        Command::AddBatchUpgrade(args) => add_upgrade::run_batch(cfg, &args),
        Command::Run { args } => run::run(cfg, args),
        Command::ShowUpgradeInfo => show_upgrade_info::run(cfg),
        Command::Config { json } => config_cmd::run(cfg, json),
        Command::Version { json, output, long } => {
            let json = json || output.as_deref() == Some("json");
            version::run(cfg, json, long)
        }
        Command::Plan(args) => runtime()?.block_on(plan::run(cfg, &args)),
        Command::Prepare(args) => runtime()?.block_on(prepare::run(cfg, &args)),
        Command::RestoreBackup(args) => restore_backup::run(cfg, &args),
    }
}

/// A tokio runtime for the commands that talk to the network.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}
