//! One module per command. Each takes the parsed arguments and the configuration and returns the
//! process exit code.

mod add_upgrade;
mod config_cmd;
mod docs;
mod init;
mod plan;
mod prepare;
mod restore_backup;
mod run;
mod show_upgrade_info;
mod version;

use crate::cli::{Command, OutputFormat};
use crate::config::Config;

pub(crate) fn dispatch(command: Command, cfg: &Config) -> anyhow::Result<i32> {
    match command {
        Command::Init { binary } => init::run(cfg, &binary),
        Command::AddUpgrade(args) => add_upgrade::run(cfg, &args),
        Command::AddBatchUpgrade(args) => add_upgrade::run_batch(cfg, &args),
        Command::Run { args } => run::run(cfg, args),
        Command::ShowUpgradeInfo => show_upgrade_info::run(cfg),
        Command::Config { json } => config_cmd::run(cfg, json),
        Command::Version(args) => version::run(
            cfg,
            &version::Options {
                json: args.json || args.output == OutputFormat::Json,
                long: args.long,
                supervisor_only: args.cosmovisor_only,
                node_args: args.node_args,
            },
        ),
        Command::Plan(args) => runtime()?.block_on(plan::run(cfg, &args)),
        Command::Prepare(args) => runtime()?.block_on(prepare::run(cfg, &args)),
        Command::RestoreBackup(args) => restore_backup::run(cfg, &args),
        Command::Completions { .. } | Command::Man { .. } => {
            unreachable!("handled by docs() before the configuration is loaded")
        }
    }
}

/// The commands generated from the command line's definition, which need no configuration:
/// runs one and returns its exit code, or `None` for every other command.
pub(crate) fn docs(command: &Command) -> Option<i32> {
    let result = match command {
        Command::Completions { shell } => docs::completions(*shell),
        Command::Man { out_dir } => docs::man(out_dir.as_deref()),
        _ => return None,
    };
    Some(match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("switchyard: {e:#}");
            1
        }
    })
}

/// A tokio runtime for the commands that talk to the network.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}
