//! The command line: cosmovisor's commands and names, plus switchyard's own (`plan`, `prepare`,
//! `restore-backup`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "switchyard",
    about = "Supervises a Cosmos SDK node and swaps its binary at exactly the upgrade height (a drop-in for cosmovisor)",
    disable_version_flag = true
)]
pub struct Cli {
    /// Config file (TOML, keys named like the environment variables). Default:
    /// $DAEMON_HOME/cosmovisor/config.toml when it exists.
    #[arg(long, global = true, value_name = "PATH", alias = "cosmovisor-config")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Set up $DAEMON_HOME/cosmovisor with a genesis binary and point `current` at it.
    Init {
        /// The node binary to copy in as genesis/bin/$DAEMON_NAME.
        binary: PathBuf,
    },
    /// Place a binary for an upgrade; with --height, also schedule it without an on-chain plan.
    AddUpgrade(AddUpgradeArgs),
    /// Register several manual upgrades at once (name:path:height,...).
    AddBatchUpgrade(AddBatchArgs),
    /// Run the node, passing every following argument to it unchanged.
    #[command(disable_help_flag = true)]
    Run {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<String>,
    },
    /// Print the node's data/upgrade-info.json (the upgrade it halted for), if any.
    ShowUpgradeInfo,
    /// Print the effective configuration and where each value came from.
    Config {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print switchyard's version, then the node's.
    Version {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// cosmovisor's spelling: `--output json`.
        #[arg(long, short = 'o', value_name = "FORMAT")]
        output: Option<String>,
        /// Accepted for cosmovisor compatibility (passed to the node's `version`).
        #[arg(long)]
        long: bool,
    },
    /// Report the upgrades coming on this chain and whether this node is ready for each.
    Plan(PlanArgs),
    /// Download, verify and test-run the binaries of scheduled and passed upgrades now.
    Prepare(PrepareArgs),
    /// Put a backup back as data/ (node and switchyard stopped), keeping the current data aside.
    RestoreBackup(RestoreBackupArgs),
}

#[derive(Debug, Args)]
pub struct RestoreBackupArgs {
    /// The backup: a folder name in the backup folder (DAEMON_DATA_BACKUP_DIR, else
    /// DAEMON_HOME), or a path. Default: this home's newest switchyard backup.
    pub name: Option<String>,
    /// List the backups in the backup folder instead.
    #[arg(long)]
    pub list: bool,
    /// The binary that runs the backup's data: `genesis` or an upgrade name. Needed for backups
    /// without switchyard's record (cosmovisor's); overrides the record otherwise.
    #[arg(long, value_name = "genesis|UPGRADE")]
    pub current: Option<String>,
}

#[derive(Debug, Args)]
pub struct AddUpgradeArgs {
    pub name: String,
    pub binary: PathBuf,
    /// Replace a binary already placed for this upgrade.
    #[arg(long)]
    pub force: bool,
    /// Schedule this upgrade at a height with no on-chain plan (emergency fix).
    #[arg(long, alias = "upgrade-height", value_name = "H")]
    pub height: Option<i64>,
}

#[derive(Debug, Args)]
pub struct AddBatchArgs {
    /// name:path:height, comma separated.
    #[arg(long, value_name = "LIST")]
    pub upgrade_list: Option<String>,
    /// A file with name:path:height entries (one per line or comma separated).
    #[arg(long, value_name = "PATH")]
    pub upgrade_file: Option<PathBuf>,
    /// Replace binaries already placed for these upgrades.
    #[arg(long)]
    pub force: bool,
}

/// Where to find the chain; defaults come from the node's own config files.
#[derive(Debug, Args, Clone, Default)]
pub struct ChainArgs {
    /// CometBFT RPC address (default: [rpc] laddr in $DAEMON_HOME/config/config.toml).
    #[arg(long, value_name = "URL")]
    pub rpc: Option<String>,
    /// gRPC address (default: [grpc] address in $DAEMON_HOME/config/app.toml, then DAEMON_GRPC_ADDRESS).
    #[arg(long, value_name = "URL")]
    pub grpc: Option<String>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PrepareArgs {
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Also stage binaries of proposals still in their voting period.
    #[arg(long)]
    pub include_voting: bool,
    /// Print one JSON object instead of lines.
    #[arg(long)]
    pub json: bool,
}
