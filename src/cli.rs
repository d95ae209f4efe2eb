//! The command line: cosmovisor's commands, names and flags, plus switchyard's own (`plan`,
//! `prepare`, `restore-backup`, `completions`, `man`).
//!
//! Two things are decided before clap sees the arguments ([`Invocation::from_args`]), because
//! cosmovisor decides them outside its flag parser too:
//! - everything after `run` goes to the node unchanged, except `--cosmovisor-config PATH`
//!   anywhere in it (cosmovisor v1.6+ takes it out of `run`'s arguments the same way);
//! - a first word that is not a switchyard command (`switchyard start ...`, as pre-v1 cosmovisor
//!   units say) means `run` with every argument, and earns one warning naming the new form.
//!
//! Every boolean flag also takes a value after `=`, as Go's flag parsers do (`--force=true`,
//! `--json=0`; the spellings of `strconv.ParseBool`), while `--force false` stays the flag and a
//! separate word, as in cosmovisor. [`command`] rewrites each such flag of the derived
//! definition, so a flag added later gets the same treatment.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{ArgAction, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "switchyard",
    about = "Supervises a Cosmos SDK node and swaps its binary at exactly the upgrade height (a drop-in for cosmovisor)",
    disable_version_flag = true,
    after_help = "Any other first word runs the node with all the arguments, as `run` does (the pre-v1 cosmovisor form `switchyard start ...`)."
)]
pub(crate) struct Cli {
    /// Config file (TOML, keys named like the environment variables; also spelt
    /// --cosmovisor-config, as cosmovisor does). Default: $DAEMON_HOME/cosmovisor/config.toml
    /// when it exists.
    #[arg(
        short = 'c',
        long = "config",
        visible_alias = "cosmovisor-config",
        global = true,
        value_name = "PATH"
    )]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Set up $DAEMON_HOME/cosmovisor with a genesis binary and point `current` at it.
    Init {
        /// The node binary to copy in as genesis/bin/$DAEMON_NAME.
        binary: PathBuf,
    },
    /// Place a binary for an upgrade (a file, or downloaded with --url); with --upgrade-height,
    /// also schedule it without an on-chain plan.
    AddUpgrade(AddUpgradeArgs),
    /// Register several manual upgrades at once.
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
    Version(VersionArgs),
    /// Report the upgrades coming on this chain and whether this node is ready for each.
    Plan(PlanArgs),
    /// Download, verify and test-run the binaries of scheduled and passed upgrades now.
    #[command(visible_alias = "prepare-upgrade")]
    Prepare(PrepareArgs),
    /// Print a shell completion script (e.g. `switchyard completions bash > /etc/bash_completion.d/switchyard`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `switchyard man > /usr/local/share/man/man1/switchyard.1`.
    Man {
        /// Write switchyard.1 and one page per command (switchyard-<command>.1) into this folder.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
    /// Put a backup back as data/ (node and switchyard stopped), keeping the current data aside.
    RestoreBackup(RestoreBackupArgs),
}

#[derive(Debug, Args)]
pub(crate) struct RestoreBackupArgs {
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
pub(crate) struct AddUpgradeArgs {
    /// The upgrade's name, as the plan spells it (lowercased unless COSMOVISOR_DISABLE_RECASE).
    pub name: String,
    /// The binary to copy in (or give --url, or --from-registry).
    #[arg(
        required_unless_present_any = ["url", "from_registry"],
        conflicts_with_all = ["url", "from_registry"]
    )]
    pub binary: Option<PathBuf>,
    /// Stage the binary the chain registry (SWITCHYARD_CHAIN_REGISTRY) lists for the version
    /// of this name, for this platform.
    #[arg(long, conflicts_with = "url")]
    pub from_registry: bool,
    /// Replace a binary already placed for this upgrade, and its registered height.
    #[arg(long)]
    pub force: bool,
    /// Schedule this upgrade at a height with no on-chain plan; it must be above the node's
    /// committed height.
    #[arg(long = "upgrade-height", visible_alias = "height", value_name = "H")]
    pub height: Option<i64>,
    /// Download the binary (or a .tar.gz/.zip holding it) from this URL instead.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// The download's checksum, e.g. sha256:<hex> (required unless
    /// DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM=false, or given by --checksums-url).
    #[arg(long, requires = "url", value_name = "ALGO:HEX")]
    pub checksum: Option<String>,
    /// A SHA256SUMS-style file (`<hex>  <file name>` lines) listing the download's checksum.
    #[arg(
        long,
        requires = "url",
        conflicts_with = "checksum",
        value_name = "URL"
    )]
    pub checksums_url: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct AddBatchArgs {
    /// name:path:height entries, comma separated (may be repeated).
    #[arg(long, value_name = "LIST")]
    pub upgrade_list: Vec<String>,
    /// A file of upgrades: headerless CSV lines `name,path,height` (what cosmovisor reads), or a
    /// JSON array of {"name", "height"} objects (what its help describes), whose binaries are
    /// in place already.
    #[arg(long, value_name = "PATH")]
    pub upgrade_file: Option<PathBuf>,
    /// Accepted for older switchyard scripts: batch entries always replace, as in cosmovisor.
    #[arg(long, hide = true)]
    pub force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct VersionArgs {
    /// Output format (cosmovisor's flag).
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Same as --output json.
    #[arg(long)]
    pub json: bool,
    /// Print only the supervisor's version, without running the node.
    #[arg(long)]
    pub cosmovisor_only: bool,
    /// Ask the node for its long version (text output; JSON always asks for it).
    #[arg(long)]
    pub long: bool,
    /// More arguments for the node's `version` (text output).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub node_args: Vec<String>,
}

/// Where to find the chain; defaults come from the node's own config files.
#[derive(Debug, Args, Clone, Default)]
pub(crate) struct ChainArgs {
    /// CometBFT RPC address (default: [rpc] laddr in $DAEMON_HOME/config/config.toml).
    #[arg(long, value_name = "URL")]
    pub rpc: Option<String>,
    /// gRPC address (default: [grpc] address in $DAEMON_HOME/config/app.toml, then DAEMON_GRPC_ADDRESS).
    #[arg(long, value_name = "URL")]
    pub grpc: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct PlanArgs {
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct PrepareArgs {
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Also stage binaries of proposals still in their voting period.
    #[arg(long)]
    pub include_voting: bool,
    /// Print one JSON object instead of lines.
    #[arg(long)]
    pub json: bool,
}

/// The command line, read the way cosmovisor reads it (see the module docs).
#[derive(Debug)]
pub(crate) struct Invocation {
    pub cli: Cli,
    /// Set when the old form was used: the word that stood where a command belongs.
    pub legacy_word: Option<String>,
}

/// A command line that cannot be read (clap reports its own errors itself).
#[derive(Debug, thiserror::Error)]
pub(crate) enum InvocationError {
    #[error("argument {0:?} is not valid UTF-8")]
    NotUtf8(OsString),
    #[error("--cosmovisor-config needs a path after it")]
    ConfigWithoutPath,
    #[error("two config files given: {0} and {1}")]
    TwoConfigs(PathBuf, PathBuf),
}

/// Options of the top level that take a value, spelt as on the command line.
const GLOBAL_VALUE_FLAGS: &[&str] = &["-c", "--config", "--cosmovisor-config"];

impl Invocation {
    /// Reads `args` (the program name first). clap's own errors (and `--help`) print and exit.
    pub(crate) fn from_args(args: Vec<OsString>) -> Result<Invocation, InvocationError> {
        let mut args = args
            .into_iter()
            .map(|a| a.into_string().map_err(InvocationError::NotUtf8))
            .collect::<Result<Vec<String>, _>>()?;
        let mut legacy_word = None;
        let mut node_args = None;
        if let Some(at) = first_word(&args) {
            let word = args[at].clone();
            if word == "run" {
                node_args = Some(args.split_off(at + 1));
            } else if !word.starts_with('-') && !is_command(&word) {
                node_args = Some(args.split_off(at));
                args.push("run".into());
                legacy_word = Some(word);
            }
        }
        let mut run_config = None;
        if let Some(rest) = &mut node_args {
            run_config = take_cosmovisor_config(rest)?;
        }
        let mut cli = command()
            .try_get_matches_from(args)
            .and_then(|m| Cli::from_arg_matches(&m))
            .unwrap_or_else(|e| e.exit());
        if let (Some(rest), Command::Run { args }) = (node_args, &mut cli.command) {
            *args = rest;
        }
        if let Some(path) = run_config {
            match &cli.config {
                Some(other) if *other != path => {
                    return Err(InvocationError::TwoConfigs(other.clone(), path))
                }
                _ => cli.config = Some(path),
            }
        }
        Ok(Invocation { cli, legacy_word })
    }
}

/// The command line's definition: [`Cli`]'s, with every boolean flag taking `=VALUE` too (see the
/// module docs). Help, completions and the man page are made from it.
pub(crate) fn command() -> clap::Command {
    go_style_bools(Cli::command())
}

fn go_style_bools(cmd: clap::Command) -> clap::Command {
    let cmd = cmd.mut_args(|a| {
        if matches!(a.get_action(), ArgAction::SetTrue) {
            a.action(ArgAction::Set)
                .num_args(0..=1)
                .require_equals(true)
                .default_missing_value("true")
                .default_value("false")
                .hide_default_value(true)
                .hide_possible_values(true)
                .value_name("true|false")
                .value_parser(go_bool_flag)
        } else {
            a
        }
    });
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    names
        .iter()
        .fold(cmd, |cmd, n| cmd.mut_subcommand(n, go_style_bools))
}

/// A boolean flag's `=VALUE`: `strconv.ParseBool`'s spellings.
fn go_bool_flag(s: &str) -> Result<bool, String> {
    switchyard_core::go_bool(s).ok_or_else(|| {
        format!("{s:?} is not a boolean (use true or false; 1, t, T, TRUE, True, 0, f, F, FALSE, False also work)")
    })
}

/// Index of the first argument that is not a top-level option or its value.
fn first_word(args: &[String]) -> Option<usize> {
    let mut i = 1;
    while i < args.len() {
        let a = args[i].as_str();
        if GLOBAL_VALUE_FLAGS.contains(&a) {
            i += 2;
        } else if a.starts_with('-') && a != "-" {
            // `--config=PATH`, `-cPATH`, `--help`, or an unknown flag: clap judges it.
            i += 1;
        } else {
            return Some(i);
        }
    }
    None
}

/// Whether `word` names a switchyard command (or one of its aliases, or `help`).
fn is_command(word: &str) -> bool {
    word == "help"
        || command()
            .get_subcommands()
            .any(|c| c.get_name() == word || c.get_all_aliases().any(|a| a == word))
}

/// Removes the first `--cosmovisor-config PATH` (or `=PATH`; one dash works too, any case, as
/// cosmovisor matches it) from the node's arguments and returns the path.
fn take_cosmovisor_config(args: &mut Vec<String>) -> Result<Option<PathBuf>, InvocationError> {
    for i in 0..args.len() {
        let a = args[i].to_ascii_lowercase();
        let bare = a.trim_start_matches('-');
        let dashes = a.len() - bare.len();
        if !(1..=2).contains(&dashes) {
            continue;
        }
        if bare == "cosmovisor-config" {
            if i + 1 >= args.len() {
                return Err(InvocationError::ConfigWithoutPath);
            }
            let path = args.remove(i + 1);
            args.remove(i);
            return Ok(Some(PathBuf::from(path)));
        }
        if let Some(value) = bare.strip_prefix("cosmovisor-config=") {
            // Keep the path's own case: cut it from the original argument.
            let path = args[i][args[i].len() - value.len()..].to_string();
            args.remove(i);
            return Ok(Some(PathBuf::from(path)));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(args: &[&str]) -> Invocation {
        let mut v: Vec<OsString> = vec!["switchyard".into()];
        v.extend(args.iter().map(OsString::from));
        Invocation::from_args(v).unwrap()
    }

    fn run_args(i: &Invocation) -> Vec<String> {
        match &i.cli.command {
            Command::Run { args } => args.clone(),
            other => panic!("not run: {other:?}"),
        }
    }

    #[test]
    fn run_passes_everything_but_the_cosmovisor_config() {
        let i = inv(&["run", "start", "--home", "/h", "-c", "x", "--help"]);
        assert_eq!(run_args(&i), ["start", "--home", "/h", "-c", "x", "--help"]);
        assert_eq!(i.cli.config, None);
        let i = inv(&["run", "start", "--cosmovisor-config", "/etc/cv.toml", "--x"]);
        assert_eq!(run_args(&i), ["start", "--x"]);
        assert_eq!(i.cli.config, Some(PathBuf::from("/etc/cv.toml")));
        // One dash, any case, `=PATH`; the path keeps its case; the same file twice is fine.
        let i = inv(&[
            "-c",
            "/A.toml",
            "run",
            "start",
            "-Cosmovisor-Config=/A.toml",
        ]);
        assert_eq!(run_args(&i), ["start"]);
        assert_eq!(i.cli.config, Some(PathBuf::from("/A.toml")));
    }

    #[test]
    fn two_different_config_files_are_refused() {
        let v: Vec<OsString> = ["switchyard", "-c", "/a", "run", "--cosmovisor-config", "/b"]
            .iter()
            .map(OsString::from)
            .collect();
        assert!(matches!(
            Invocation::from_args(v),
            Err(InvocationError::TwoConfigs(..))
        ));
    }

    #[test]
    fn an_unknown_first_word_is_the_old_run() {
        let i = inv(&["start", "--x-crisis-skip-assert-invariants"]);
        assert_eq!(run_args(&i), ["start", "--x-crisis-skip-assert-invariants"]);
        assert_eq!(i.legacy_word.as_deref(), Some("start"));
        let i = inv(&["--config", "/c.toml", "start"]);
        assert_eq!(run_args(&i), ["start"]);
        assert_eq!(i.cli.config, Some(PathBuf::from("/c.toml")));
        for known in ["prepare-upgrade", "version", "add-batch-upgrade"] {
            assert!(is_command(known), "{known}");
        }
        assert!(!is_command("start"));
    }

    fn try_inv(args: &[&str]) -> Result<Cli, clap::Error> {
        let mut v = vec!["switchyard"];
        v.extend(args);
        command()
            .try_get_matches_from(v)
            .and_then(|m| Cli::from_arg_matches(&m))
    }

    fn force_of(args: &[&str]) -> bool {
        match try_inv(args).unwrap().command {
            Command::AddUpgrade(a) => a.force,
            other => panic!("{other:?}"),
        }
    }

    /// cosmovisor's flag parser takes `--flag=BOOL` for every boolean flag (issue 24 #12).
    #[test]
    fn boolean_flags_take_go_style_values() {
        assert!(!force_of(&["add-upgrade", "v2", "/bin/true"]));
        assert!(force_of(&["add-upgrade", "v2", "/bin/true", "--force"]));
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert!(
                force_of(&["add-upgrade", "v2", "/bin/true", &format!("--force={t}")]),
                "{t}"
            );
        }
        for f in ["0", "f", "F", "FALSE", "false", "False"] {
            assert!(
                !force_of(&["add-upgrade", "v2", &format!("--force={f}"), "/bin/true"]),
                "{f}"
            );
        }
        let err = try_inv(&["add-upgrade", "v2", "/bin/true", "--force=yes"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("yes") && err.contains("--force"), "{err}");
        // A separate word is not the flag's value (Go's rule too): here it is one too many.
        assert!(try_inv(&["add-upgrade", "v2", "/bin/true", "--force", "false"]).is_err());
        match try_inv(&["config", "--json=false"]).unwrap().command {
            Command::Config { json } => assert!(!json),
            other => panic!("{other:?}"),
        }
        match try_inv(&["prepare", "--include-voting=1", "--json=T"])
            .unwrap()
            .command
        {
            Command::Prepare(p) => assert!(p.include_voting && p.json),
            other => panic!("{other:?}"),
        }
    }

    /// No boolean flag is left that refuses `=VALUE`, in any command.
    #[test]
    fn every_boolean_flag_takes_a_value() {
        fn walk(cmd: &clap::Command, seen: &mut usize) {
            for a in cmd.get_arguments() {
                assert!(
                    !matches!(a.get_action(), ArgAction::SetTrue | ArgAction::SetFalse),
                    "{} --{:?} is a plain switch",
                    cmd.get_name(),
                    a.get_long()
                );
                if a.get_value_names().is_some_and(|v| v == ["true|false"]) {
                    *seen += 1;
                }
            }
            for c in cmd.get_subcommands() {
                walk(c, seen);
            }
        }
        let mut seen = 0;
        walk(&command(), &mut seen);
        assert!(seen >= 10, "only {seen} boolean flags");
    }
}
