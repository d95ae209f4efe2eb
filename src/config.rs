//! The effective configuration: cosmovisor's environment variables, a TOML file, and defaults.
//!
//! Every cosmovisor variable is read with cosmovisor's meaning. Precedence is
//! environment > config file > default, per key, and each value remembers where it came from so
//! `switchyard config` can say so. The file is `--config PATH`, else
//! `$DAEMON_HOME/cosmovisor/config.toml` when it exists; its keys are the variable names in lower
//! or upper case (`daemon_name = "simd"`), as cosmovisor writes them. Our own settings use the
//! `SWITCHYARD_` prefix.
//!
//! Variables that cosmovisor once read and later dropped, which setup guides still set
//! (`DAEMON_LOG_BUFFER_SIZE`), are accepted from the environment and the file, have no effect, and
//! are listed by `switchyard config` as ignored ([`OBSOLETE`]).
//!
//! In the file, a duration given as a bare TOML integer counts nanoseconds: that is how
//! cosmovisor v1.6+ writes `daemon_poll_interval` and the other durations into the
//! `config.toml` its `init` creates, and how it reads them back.
//!
//! Where switchyard's default differs from cosmovisor's it is on purpose and listed in the README:
//! `DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM` (true) and `DAEMON_SHUTDOWN_GRACE` (10s rather than an
//! immediate SIGKILL).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Source {
    Env,
    File,
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Env => "environment",
            Source::File => "config file",
            Source::Default => "default",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error("{key}={value:?} is not valid: {why}")]
    BadValue {
        key: &'static str,
        value: String,
        why: String,
    },
    #[error("{key} is not set; it is required (set it in the environment or the config file)")]
    Missing { key: &'static str },
    #[error("cannot read config file {path}: {why}")]
    File { path: PathBuf, why: String },
    #[error("config file {path} has unknown key {key:?}")]
    UnknownKey { path: PathBuf, key: String },
}

/// A variable cosmovisor dropped, with what became of it; accepted and ignored.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Ignored {
    pub key: &'static str,
    pub value: String,
    pub source: Source,
    pub why: &'static str,
}

/// Variables that some cosmovisor read and a later one dropped, and why they no longer matter.
pub(crate) const OBSOLETE: &[(&str, &str)] = &[(
    "DAEMON_LOG_BUFFER_SIZE",
    "cosmovisor before v1.0 scanned the node's output for the upgrade message with a buffer of this size; since v1.0 (and in switchyard) the node's data/upgrade-info.json is watched instead",
)];

/// Duration keys, whose bare TOML integers in the file are nanoseconds (see the module docs).
const DURATION_KEYS: &[&str] = &[
    "DAEMON_RESTART_DELAY",
    "DAEMON_SHUTDOWN_GRACE",
    "DAEMON_POLL_INTERVAL",
];

/// One row of `switchyard config`.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Entry {
    pub key: &'static str,
    pub value: String,
    pub source: Source,
}

/// Log timestamp format (`COSMOVISOR_TIMEFORMAT_LOGS`), Go's named layouts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TimeFormat {
    None,
    Named(&'static str),
}

/// Shape of switchyard's own log lines (`SWITCHYARD_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per line.
    Json,
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub home: Option<PathBuf>,
    pub daemon_name: Option<String>,
    pub allow_download_binaries: bool,
    pub download_must_have_checksum: bool,
    pub restart_after_upgrade: bool,
    pub restart_delay: Duration,
    pub shutdown_grace: Duration,
    pub poll_interval: Duration,
    pub data_backup_dir: Option<PathBuf>,
    pub unsafe_skip_backup: bool,
    pub preupgrade_max_retries: u32,
    pub grpc_address: Option<String>,
    pub disable_logs: bool,
    pub color_logs: bool,
    pub time_format: TimeFormat,
    pub log_format: LogFormat,
    pub custom_preupgrade: Option<String>,
    pub disable_recase: bool,

    // switchyard's own settings.
    pub restart_on_crash: bool,
    pub crash_loop_max: u32,
    pub crash_loop_window: Duration,
    pub restart_backoff_initial: Duration,
    pub restart_backoff_max: Duration,
    pub preupgrade_timeout: Duration,
    pub prestage_voting: bool,
    pub allow_http: bool,
    pub max_download_bytes: u64,
    pub rpc_address: Option<String>,
    pub watch_chain: bool,
    /// How often `run` re-reads governance proposals (plans and heights are followed per block).
    pub proposals_every: Duration,
    /// How many of this home's switchyard backups to keep after a successful swap (`None`: all,
    /// as cosmovisor).
    pub backup_keep: Option<std::num::NonZeroUsize>,
    /// How long the node's height may go unseen while a manual upgrade is armed.
    pub height_timeout: Duration,
    /// Test builds only: name of a swap step at which to abort the process (crash-safety tests).
    #[cfg(any(debug_assertions, feature = "test-faults"))]
    pub test_fault: Option<String>,

    /// Where the status API and `/metrics` listen (`SWITCHYARD_LISTEN`); off when unset.
    pub listen: Option<std::net::SocketAddr>,
    /// The stall threshold (`SWITCHYARD_STALL_AFTER`); unset: a multiple of the block time.
    pub stall_after: Option<Duration>,
    /// What to do about a stalled node (`SWITCHYARD_STALL_ACTION`).
    pub stall_action: crate::report::StallAction,
    /// What to do about a node whose RPC has not answered for the stall threshold
    /// (`SWITCHYARD_SILENT_RPC_ACTION`): no evidence of a stall, so restarting is its own opt-in.
    pub silent_rpc_action: crate::report::StallAction,
    /// Fewer peers than this for the stall threshold is a stall (0: no peer check).
    pub stall_min_peers: u32,
    /// Where the chain registry's `chain.json` is (`SWITCHYARD_CHAIN_REGISTRY`): a path or URL.
    pub chain_registry: Option<String>,

    /// Every key with its value and source, in a stable order.
    pub entries: Vec<Entry>,
    /// Obsolete variables that were set (and are ignored).
    pub ignored: Vec<Ignored>,
    /// The config file that was read, if any.
    pub file: Option<PathBuf>,
}

/// Declares [`Key`]: one variant per configuration key, with its name and default ("" = unset),
/// so every lookup is of a key that exists (a typo does not compile).
macro_rules! config_keys {
    ($( $(#[$meta:meta])* $variant:ident = $name:literal, $default:literal; )*) => {
        /// Every key this build knows.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum Key {
            $( $(#[$meta])* $variant, )*
        }

        impl Key {
            /// In declaration order, which is also each key's index in [`Raw`].
            const ALL: &'static [Key] = &[ $( $(#[$meta])* Key::$variant, )* ];

            fn name(self) -> &'static str {
                match self {
                    $( $(#[$meta])* Key::$variant => $name, )*
                }
            }

            fn default_value(self) -> &'static str {
                match self {
                    $( $(#[$meta])* Key::$variant => $default, )*
                }
            }
        }
    };
}

// The test-only key (the crash-safety tests' fault point, see `test_faults.rs`) exists only in
// test builds: a release binary does not know it, so no environment can trigger a fault there.
config_keys! {
    DaemonHome = "DAEMON_HOME", "";
    DaemonName = "DAEMON_NAME", "";
    DaemonAllowDownloadBinaries = "DAEMON_ALLOW_DOWNLOAD_BINARIES", "false";
    DaemonDownloadMustHaveChecksum = "DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM", "true";
    DaemonRestartAfterUpgrade = "DAEMON_RESTART_AFTER_UPGRADE", "true";
    DaemonRestartDelay = "DAEMON_RESTART_DELAY", "0s";
    DaemonShutdownGrace = "DAEMON_SHUTDOWN_GRACE", "10s";
    DaemonPollInterval = "DAEMON_POLL_INTERVAL", "300ms";
    DaemonDataBackupDir = "DAEMON_DATA_BACKUP_DIR", "";
    UnsafeSkipBackup = "UNSAFE_SKIP_BACKUP", "false";
    DaemonPreupgradeMaxRetries = "DAEMON_PREUPGRADE_MAX_RETRIES", "0";
    DaemonGrpcAddress = "DAEMON_GRPC_ADDRESS", "";
    CosmovisorDisableLogs = "COSMOVISOR_DISABLE_LOGS", "false";
    CosmovisorColorLogs = "COSMOVISOR_COLOR_LOGS", "true";
    CosmovisorTimeformatLogs = "COSMOVISOR_TIMEFORMAT_LOGS", "kitchen";
    CosmovisorCustomPreupgrade = "COSMOVISOR_CUSTOM_PREUPGRADE", "";
    CosmovisorDisableRecase = "COSMOVISOR_DISABLE_RECASE", "false";
    SwitchyardRestartOnCrash = "SWITCHYARD_RESTART_ON_CRASH", "true";
    SwitchyardCrashLoopMax = "SWITCHYARD_CRASH_LOOP_MAX", "5";
    SwitchyardCrashLoopWindow = "SWITCHYARD_CRASH_LOOP_WINDOW", "10m";
    SwitchyardRestartBackoffInitial = "SWITCHYARD_RESTART_BACKOFF_INITIAL", "1s";
    SwitchyardRestartBackoffMax = "SWITCHYARD_RESTART_BACKOFF_MAX", "60s";
    SwitchyardPreupgradeTimeout = "SWITCHYARD_PREUPGRADE_TIMEOUT", "5m";
    SwitchyardPrestageVoting = "SWITCHYARD_PRESTAGE_VOTING", "true";
    SwitchyardAllowHttp = "SWITCHYARD_ALLOW_HTTP", "false";
    SwitchyardMaxDownloadBytes = "SWITCHYARD_MAX_DOWNLOAD_BYTES", "4294967296";
    SwitchyardRpcAddress = "SWITCHYARD_RPC_ADDRESS", "";
    SwitchyardWatchChain = "SWITCHYARD_WATCH_CHAIN", "true";
    SwitchyardProposalsEvery = "SWITCHYARD_PROPOSALS_EVERY", "60s";
    SwitchyardHeightTimeout = "SWITCHYARD_HEIGHT_TIMEOUT", "30s";
    SwitchyardLogFormat = "SWITCHYARD_LOG_FORMAT", "text";
    SwitchyardBackupKeep = "SWITCHYARD_BACKUP_KEEP", "";
    SwitchyardListen = "SWITCHYARD_LISTEN", "";
    SwitchyardListenAllowRemote = "SWITCHYARD_LISTEN_ALLOW_REMOTE", "false";
    SwitchyardStallAfter = "SWITCHYARD_STALL_AFTER", "";
    SwitchyardStallAction = "SWITCHYARD_STALL_ACTION", "log";
    SwitchyardSilentRpcAction = "SWITCHYARD_SILENT_RPC_ACTION", "log";
    SwitchyardStallMinPeers = "SWITCHYARD_STALL_MIN_PEERS", "1";
    SwitchyardChainRegistry = "SWITCHYARD_CHAIN_REGISTRY", "";
    #[cfg(any(debug_assertions, feature = "test-faults"))]
    SwitchyardTestFault = "SWITCHYARD_TEST_FAULT", "";
}

/// Raw string values with their sources, before typing.
struct Raw {
    /// One entry per key, in [`Key::ALL`] order (so `key as usize` is always in range).
    values: Vec<(String, Source)>,
}

impl Raw {
    /// Each key's value: the environment's, else the file's, else the default.
    fn by_precedence(env: &BTreeMap<String, String>, file_values: &FileValues) -> Raw {
        let values = Key::ALL
            .iter()
            .map(|&key| {
                // Set and empty means "no time stamps" to cosmovisor, not the default.
                if key == Key::CosmovisorTimeformatLogs
                    && env.get(key.name()).is_some_and(|v| v.is_empty())
                {
                    return (String::new(), Source::Env);
                }
                if let Some(v) = env_value(env, key.name()) {
                    (v, Source::Env)
                } else if let Some(v) = file_values.get(key.name()) {
                    (v.clone(), Source::File)
                } else {
                    (key.default_value().to_string(), Source::Default)
                }
            })
            .collect();
        Raw { values }
    }

    /// Every key with its value and source, for `switchyard config`.
    fn entries(&self) -> Vec<Entry> {
        Key::ALL
            .iter()
            .zip(&self.values)
            .map(|(key, (value, source))| Entry {
                key: key.name(),
                value: value.clone(),
                source: source.clone(),
            })
            .collect()
    }

    fn get(&self, key: Key) -> &str {
        &self.values[key as usize].0
    }
    fn opt(&self, key: Key) -> Option<String> {
        let v = self.get(key).trim();
        (!v.is_empty()).then(|| v.to_string())
    }
    fn bool(&self, key: Key) -> Result<bool, ConfigError> {
        switchyard_core::env_bool(self.get(key))
            .ok_or_else(|| bad(key.name(), self.get(key), "expected true or false"))
    }
    fn duration(&self, key: Key) -> Result<Duration, ConfigError> {
        let raw = self.get(key).trim();
        // cosmovisor reads a bare number in DAEMON_POLL_INTERVAL as milliseconds.
        if key == Key::DaemonPollInterval {
            if let Ok(ms) = raw.parse::<u64>() {
                return Ok(Duration::from_millis(ms));
            }
        }
        parse_duration(raw).map_err(|why| bad(key.name(), self.get(key), &why))
    }
    /// A whole number as cosmovisor reads one (`strconv.Atoi`: `+3`, `-1`); a negative one counts
    /// as 0 (see `DAEMON_PREUPGRADE_MAX_RETRIES` in the README).
    fn int_at_least_zero(&self, key: Key) -> Result<u32, ConfigError> {
        let raw = self.get(key).trim();
        let n = switchyard_core::go_int(raw)
            .map_err(|e| bad(key.name(), self.get(key), &e.to_string()))?;
        u32::try_from(n.max(0))
            .map_err(|_| bad(key.name(), self.get(key), "is larger than 4294967295"))
    }
    fn uint<T: std::str::FromStr>(&self, key: Key) -> Result<T, ConfigError> {
        self.get(key).trim().parse().map_err(|_| {
            bad(
                key.name(),
                self.get(key),
                "expected a non-negative whole number",
            )
        })
    }

    /// A duration that must be greater than zero.
    fn positive_duration(&self, key: Key) -> Result<Duration, ConfigError> {
        let d = self.duration(key)?;
        if d.is_zero() {
            return Err(bad(key.name(), self.get(key), "must be greater than zero"));
        }
        Ok(d)
    }

    /// A path that must be absolute when it is set.
    fn absolute_path(&self, key: Key) -> Result<Option<PathBuf>, ConfigError> {
        let Some(p) = self.opt(key).map(PathBuf::from) else {
            return Ok(None);
        };
        if !p.is_absolute() {
            return Err(bad(
                key.name(),
                &p.to_string_lossy(),
                "must be an absolute path",
            ));
        }
        Ok(Some(p))
    }

    /// `COSMOVISOR_TIMEFORMAT_LOGS`: one of Go's named layouts, or empty.
    fn time_format(&self) -> Result<TimeFormat, ConfigError> {
        let key = Key::CosmovisorTimeformatLogs;
        parse_time_format(self.get(key)).ok_or_else(|| {
            bad(
                key.name(),
                self.get(key),
                "expected one of layout, ansic, unixdate, rubydate, rfc822, rfc822z, rfc850, rfc1123, rfc1123z, rfc3339, rfc3339nano, kitchen, or empty",
            )
        })
    }

    /// `COSMOVISOR_CUSTOM_PREUPGRADE` must name a file inside `$DAEMON_HOME/cosmovisor`.
    fn check_custom_preupgrade(&self) -> Result<(), ConfigError> {
        let Some(script) = self.opt(Key::CosmovisorCustomPreupgrade) else {
            return Ok(());
        };
        let p = Path::new(&script);
        if p.is_absolute()
            || p.components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err(bad(
                "COSMOVISOR_CUSTOM_PREUPGRADE",
                &script,
                "must be a file name inside $DAEMON_HOME/cosmovisor, not an absolute path or one with ..",
            ));
        }
        Ok(())
    }

    /// `DAEMON_NAME`: a plain file name.
    fn daemon_name(&self) -> Result<Option<String>, ConfigError> {
        let name = self.opt(Key::DaemonName);
        if let Some(n) = &name {
            if n.contains('/') || n == "." || n == ".." {
                return Err(bad(
                    "DAEMON_NAME",
                    n,
                    "must be a plain file name, not a path",
                ));
            }
        }
        Ok(name)
    }

    /// `SWITCHYARD_LOG_FORMAT`: `text` or `json`.
    fn log_format(&self) -> Result<LogFormat, ConfigError> {
        let key = Key::SwitchyardLogFormat;
        match self.get(key).trim().to_ascii_lowercase().as_str() {
            "text" | "" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(bad(key.name(), self.get(key), "expected text or json")),
        }
    }

    /// `SWITCHYARD_CRASH_LOOP_MAX`: at least 1.
    fn crash_loop_max(&self) -> Result<u32, ConfigError> {
        let key = Key::SwitchyardCrashLoopMax;
        let n: u32 = self.uint(key)?;
        if n == 0 {
            return Err(bad(key.name(), self.get(key), "must be at least 1"));
        }
        Ok(n)
    }

    /// `SWITCHYARD_BACKUP_KEEP`: unset (keep all) or at least 1.
    fn backup_keep(&self) -> Result<Option<std::num::NonZeroUsize>, ConfigError> {
        let key = Key::SwitchyardBackupKeep;
        let Some(v) = self.opt(key) else {
            return Ok(None);
        };
        let n: usize = self.uint(key)?;
        std::num::NonZeroUsize::new(n).map(Some).ok_or_else(|| {
            bad(
                key.name(),
                &v,
                "must be at least 1 (the backup just taken is always kept; to take none, set UNSAFE_SKIP_BACKUP=true)",
            )
        })
    }

    /// `SWITCHYARD_STALL_AFTER`: unset (a multiple of the block time) or at least 1s.
    fn stall_after(&self) -> Result<Option<Duration>, ConfigError> {
        let key = Key::SwitchyardStallAfter;
        if self.opt(key).is_none() {
            return Ok(None);
        }
        let d = self.duration(key)?;
        if d < Duration::from_secs(1) {
            return Err(bad(
                key.name(),
                self.get(key),
                "must be at least 1s (unset: 20 block times, at least a minute)",
            ));
        }
        Ok(Some(d))
    }

    /// A `log` / `restart` setting (`SWITCHYARD_STALL_ACTION`, `SWITCHYARD_SILENT_RPC_ACTION`).
    fn action(&self, key: Key) -> Result<crate::report::StallAction, ConfigError> {
        match self.get(key).trim() {
            "log" => Ok(crate::report::StallAction::Log),
            "restart" => Ok(crate::report::StallAction::Restart),
            other => Err(bad(key.name(), other, "expected log or restart")),
        }
    }
}

fn bad(key: &'static str, value: &str, why: &str) -> ConfigError {
    ConfigError::BadValue {
        key,
        value: value.to_string(),
        why: why.to_string(),
    }
}

/// The config file to read: `explicit_file`, else `$DAEMON_HOME/cosmovisor/config.toml` when
/// it exists. `DAEMON_HOME` may be only in a file named with `--config`, so this comes first.
fn config_file_path(
    env: &BTreeMap<String, String>,
    explicit_file: Option<&Path>,
) -> Option<PathBuf> {
    match explicit_file {
        Some(p) => Some(p.to_path_buf()),
        None => env_value(env, "DAEMON_HOME")
            .map(|h| Path::new(&h).join("cosmovisor").join("config.toml"))
            .filter(|p| p.is_file()),
    }
}

/// A variable of `env`, unless it is unset or empty.
fn env_value(env: &BTreeMap<String, String>, key: &str) -> Option<String> {
    env.get(key).filter(|v| !v.is_empty()).cloned()
}

/// The obsolete variables set in the environment or the file (the environment wins).
fn ignored_obsolete(env: &BTreeMap<String, String>, file_obsolete: &FileValues) -> Vec<Ignored> {
    OBSOLETE
        .iter()
        .filter_map(|&(key, why)| {
            let (value, source) = match (env_value(env, key), file_obsolete.get(key)) {
                (Some(v), _) => (v, Source::Env),
                (None, Some(v)) => (v.clone(), Source::File),
                (None, None) => return None,
            };
            Some(Ignored {
                key,
                value,
                source,
                why,
            })
        })
        .collect()
}

impl Config {
    /// Loads from the process environment, `explicit_file` or `$DAEMON_HOME/cosmovisor/config.toml`.
    pub(crate) fn load(explicit_file: Option<&Path>) -> Result<Config, ConfigError> {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        Self::from_sources(&env, explicit_file)
    }

    /// Loads from a given environment map (tests use this), in named steps: find the file,
    /// read it, pick each key's value by precedence, then type and check every value.
    pub(crate) fn from_sources(
        env: &BTreeMap<String, String>,
        explicit_file: Option<&Path>,
    ) -> Result<Config, ConfigError> {
        let file_path = config_file_path(env, explicit_file);
        let (file_values, file_obsolete) = match &file_path {
            Some(p) => read_file(p)?,
            None => (BTreeMap::new(), BTreeMap::new()),
        };
        let ignored = ignored_obsolete(env, &file_obsolete);
        let raw = Raw::by_precedence(env, &file_values);
        // The checks of single values that name no other key come first, as they always did.
        let time_format = raw.time_format()?;
        let home = raw.absolute_path(Key::DaemonHome)?;
        raw.check_custom_preupgrade()?;
        let daemon_name = raw.daemon_name()?;
        let cfg = Config {
            home,
            daemon_name,
            allow_download_binaries: raw.bool(Key::DaemonAllowDownloadBinaries)?,
            download_must_have_checksum: raw.bool(Key::DaemonDownloadMustHaveChecksum)?,
            restart_after_upgrade: raw.bool(Key::DaemonRestartAfterUpgrade)?,
            restart_delay: raw.duration(Key::DaemonRestartDelay)?,
            shutdown_grace: raw.duration(Key::DaemonShutdownGrace)?,
            poll_interval: raw.positive_duration(Key::DaemonPollInterval)?,
            data_backup_dir: raw.opt(Key::DaemonDataBackupDir).map(PathBuf::from),
            unsafe_skip_backup: raw.bool(Key::UnsafeSkipBackup)?,
            preupgrade_max_retries: raw.int_at_least_zero(Key::DaemonPreupgradeMaxRetries)?,
            grpc_address: raw.opt(Key::DaemonGrpcAddress),
            disable_logs: raw.bool(Key::CosmovisorDisableLogs)?,
            color_logs: raw.bool(Key::CosmovisorColorLogs)?,
            time_format,
            log_format: raw.log_format()?,
            custom_preupgrade: raw.opt(Key::CosmovisorCustomPreupgrade),
            disable_recase: raw.bool(Key::CosmovisorDisableRecase)?,
            restart_on_crash: raw.bool(Key::SwitchyardRestartOnCrash)?,
            crash_loop_max: raw.crash_loop_max()?,
            crash_loop_window: raw.duration(Key::SwitchyardCrashLoopWindow)?,
            restart_backoff_initial: raw.duration(Key::SwitchyardRestartBackoffInitial)?,
            restart_backoff_max: raw.duration(Key::SwitchyardRestartBackoffMax)?,
            preupgrade_timeout: raw.duration(Key::SwitchyardPreupgradeTimeout)?,
            prestage_voting: raw.bool(Key::SwitchyardPrestageVoting)?,
            allow_http: raw.bool(Key::SwitchyardAllowHttp)?,
            max_download_bytes: raw.uint(Key::SwitchyardMaxDownloadBytes)?,
            rpc_address: raw.opt(Key::SwitchyardRpcAddress),
            watch_chain: raw.bool(Key::SwitchyardWatchChain)?,
            proposals_every: raw.positive_duration(Key::SwitchyardProposalsEvery)?,
            backup_keep: raw.backup_keep()?,
            height_timeout: raw.positive_duration(Key::SwitchyardHeightTimeout)?,
            #[cfg(any(debug_assertions, feature = "test-faults"))]
            test_fault: raw.opt(Key::SwitchyardTestFault),
            listen: listen_address(
                raw.opt(Key::SwitchyardListen),
                raw.bool(Key::SwitchyardListenAllowRemote)?,
            )?,
            stall_after: raw.stall_after()?,
            stall_action: raw.action(Key::SwitchyardStallAction)?,
            silent_rpc_action: raw.action(Key::SwitchyardSilentRpcAction)?,
            stall_min_peers: raw.uint(Key::SwitchyardStallMinPeers)?,
            chain_registry: raw.opt(Key::SwitchyardChainRegistry),
            entries: raw.entries(),
            ignored,
            file: file_path,
        };
        if !cfg.unsafe_skip_backup {
            if let Some(dir) = &cfg.data_backup_dir {
                check_backup_dir(dir)?;
            }
        }
        Ok(cfg)
    }

    /// `DAEMON_HOME`, or an error saying it is required.
    pub(crate) fn require_home(&self) -> Result<&Path, ConfigError> {
        self.home
            .as_deref()
            .ok_or(ConfigError::Missing { key: "DAEMON_HOME" })
    }

    /// `DAEMON_NAME`, or an error saying it is required.
    pub(crate) fn require_name(&self) -> Result<&str, ConfigError> {
        self.daemon_name
            .as_deref()
            .ok_or(ConfigError::Missing { key: "DAEMON_NAME" })
    }

    /// The store layout for this home and daemon.
    pub(crate) fn layout(&self) -> Result<switchyard_store::Layout, ConfigError> {
        Ok(switchyard_store::Layout::new(
            self.require_home()?,
            self.require_name()?,
        ))
    }

    /// Where backups go: `DAEMON_DATA_BACKUP_DIR`, else `DAEMON_HOME`.
    pub(crate) fn backup_dir(&self) -> Option<PathBuf> {
        self.data_backup_dir.clone().or_else(|| self.home.clone())
    }

    /// The custom pre-upgrade script's path (`$DAEMON_HOME/cosmovisor/<COSMOVISOR_CUSTOM_PREUPGRADE>`).
    pub(crate) fn custom_preupgrade_path(&self) -> Option<PathBuf> {
        let script = self.custom_preupgrade.as_ref()?;
        let home = self.home.as_ref()?;
        Some(home.join("cosmovisor").join(script))
    }
}

/// `DAEMON_DATA_BACKUP_DIR`, when backups are taken, must name an existing folder by an absolute
/// path, as cosmovisor requires: a relative one would put backups under whatever the working
/// directory is (`/` under systemd), and a missing one would fail only at the halt.
fn check_backup_dir(dir: &Path) -> Result<(), ConfigError> {
    let shown = dir.to_string_lossy();
    if !dir.is_absolute() {
        return Err(bad(
            "DAEMON_DATA_BACKUP_DIR",
            &shown,
            "must be an absolute path (or unset: backups go in DAEMON_HOME)",
        ));
    }
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(bad("DAEMON_DATA_BACKUP_DIR", &shown, "is not a folder")),
        Err(e) => Err(bad(
            "DAEMON_DATA_BACKUP_DIR",
            &shown,
            &format!("must be an existing folder: {e}"),
        )),
    }
}

/// Known keys and obsolete keys of a config file, each with its value as text.
type FileValues = BTreeMap<&'static str, String>;

/// Largest config file read.
const MAX_CONFIG_FILE_BYTES: u64 = 1024 * 1024;
/// `SWITCHYARD_LISTEN`: `IP:PORT` (or `localhost:PORT`). Only loopback addresses, unless
/// `SWITCHYARD_LISTEN_ALLOW_REMOTE=true`: the API is read-only, but it tells whoever can reach it
/// what this host runs.
fn listen_address(
    value: Option<String>,
    allow_remote: bool,
) -> Result<Option<std::net::SocketAddr>, ConfigError> {
    let Some(v) = value else { return Ok(None) };
    let addr: std::net::SocketAddr = match v.strip_prefix("localhost:") {
        Some(port) => port
            .parse::<u16>()
            .map(|p| std::net::SocketAddr::from(([127, 0, 0, 1], p)))
            .map_err(|_| bad("SWITCHYARD_LISTEN", &v, "the port is not a number"))?,
        None => v.parse().map_err(|_| {
            bad(
                "SWITCHYARD_LISTEN",
                &v,
                "expected IP:PORT, e.g. 127.0.0.1:26680 or [::1]:26680",
            )
        })?,
    };
    if !addr.ip().is_loopback() && !allow_remote {
        return Err(bad(
            "SWITCHYARD_LISTEN",
            &v,
            "not a loopback address; set SWITCHYARD_LISTEN_ALLOW_REMOTE=true to listen on it",
        ));
    }
    Ok(Some(addr))
}

fn read_file(path: &Path) -> Result<(FileValues, FileValues), ConfigError> {
    // A FIFO or device at the path is refused, and at most MAX_CONFIG_FILE_BYTES are read.
    let file_error = |why: String| ConfigError::File {
        path: path.to_path_buf(),
        why,
    };
    let bytes = switchyard_store::read_untrusted_file(path, MAX_CONFIG_FILE_BYTES)
        .map_err(|e| file_error(e.to_string()))?
        .ok_or_else(|| file_error("No such file or directory".into()))?;
    let text = String::from_utf8(bytes).map_err(|e| file_error(format!("not UTF-8 text: {e}")))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::File {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
    let mut known = BTreeMap::new();
    let mut obsolete = BTreeMap::new();
    for (k, v) in table {
        let upper = k.to_ascii_uppercase();
        let (key, into) = if let Some(key) = Key::ALL.iter().find(|k| k.name() == upper) {
            (key.name(), &mut known)
        } else if let Some(&(key, _)) = OBSOLETE.iter().find(|(name, _)| *name == upper) {
            (key, &mut obsolete)
        } else {
            return Err(ConfigError::UnknownKey {
                path: path.to_path_buf(),
                key: k,
            });
        };
        let value = match v {
            toml::Value::String(s) => s,
            // cosmovisor's own config.toml stores durations as integer nanoseconds.
            toml::Value::Integer(i) if DURATION_KEYS.contains(&key) => {
                if i < 0 {
                    return Err(ConfigError::File {
                        path: path.to_path_buf(),
                        why: format!("key {k:?} is a negative duration ({i} ns)"),
                    });
                }
                format!("{i}ns")
            }
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Float(f) => f.to_string(),
            other => {
                return Err(ConfigError::File {
                    path: path.to_path_buf(),
                    why: format!(
                        "key {k:?} has a {} value; expected a string, number or boolean",
                        other.type_str()
                    ),
                })
            }
        };
        into.insert(key, value);
    }
    Ok((known, obsolete))
}

/// A duration as Go's `time.ParseDuration` reads it (`300ms`, `1m30s`, `.5s`, `+5s`, a bare `0`;
/// units `ns`, `us`/`µs`, `ms`, `s`, `m`, `h` only, so `5M` or `1d` are errors, as in cosmovisor),
/// with surrounding white space ignored; a negative one is refused. (`DAEMON_POLL_INTERVAL`'s bare
/// milliseconds are handled by its caller.)
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let nanos = switchyard_core::go_duration(s.trim()).map_err(|e| e.to_string())?;
    if nanos < 0 {
        return Err(format!(
            "{:?} is negative",
            s.trim().chars().take(40).collect::<String>()
        ));
    }
    Ok(Duration::from_nanos(nanos.unsigned_abs()))
}

fn parse_time_format(s: &str) -> Option<TimeFormat> {
    const NAMES: &[&str] = &[
        "layout",
        "ansic",
        "unixdate",
        "rubydate",
        "rfc822",
        "rfc822z",
        "rfc850",
        "rfc1123",
        "rfc1123z",
        "rfc3339",
        "rfc3339nano",
        "kitchen",
    ];
    let s = s.trim().to_ascii_lowercase();
    if s.is_empty() {
        return Some(TimeFormat::None);
    }
    NAMES
        .iter()
        .find(|n| **n == s)
        .map(|n| TimeFormat::Named(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_match_cosmovisor_except_where_documented() {
        let c = Config::from_sources(&env(&[]), None).unwrap();
        assert!(!c.allow_download_binaries);
        assert!(c.download_must_have_checksum);
        assert!(c.restart_after_upgrade);
        assert_eq!(c.poll_interval, Duration::from_millis(300));
        assert_eq!(c.restart_delay, Duration::ZERO);
        assert_eq!(c.preupgrade_max_retries, 0);
        assert!(c.color_logs && !c.disable_logs && !c.disable_recase && !c.unsafe_skip_backup);
        assert_eq!(c.time_format, TimeFormat::Named("kitchen"));
        assert!(c.entries.iter().all(|e| e.source == Source::Default));
        // switchyard's own: a proposal's binary is staged while it is voted on (README)
        assert!(c.prestage_voting);
        let off = Config::from_sources(&env(&[("SWITCHYARD_PRESTAGE_VOTING", "false")]), None);
        assert!(!off.unwrap().prestage_voting);
    }

    #[test]
    fn bad_values_name_the_variable_and_value() {
        for (k, v) in [
            ("DAEMON_POLL_INTERVAL", "soon"),
            ("DAEMON_RESTART_AFTER_UPGRADE", "yes please"),
            ("DAEMON_PREUPGRADE_MAX_RETRIES", "1.5"),
            ("DAEMON_PREUPGRADE_MAX_RETRIES", " 2x"),
            ("DAEMON_RESTART_DELAY", "5 s"),
            ("DAEMON_SHUTDOWN_GRACE", "-5s"),
            ("DAEMON_DATA_BACKUP_DIR", "backups"),
            ("DAEMON_DATA_BACKUP_DIR", "/nonexistent/backups"),
            ("DAEMON_DATA_BACKUP_DIR", "/etc/hostname"),
            ("COSMOVISOR_TIMEFORMAT_LOGS", "iso"),
            ("DAEMON_HOME", "relative/path"),
            ("DAEMON_NAME", "bin/simd"),
            ("DAEMON_POLL_INTERVAL", "0s"),
            ("DAEMON_RESTART_DELAY", "99999999999999999999h"),
            ("COSMOVISOR_CUSTOM_PREUPGRADE", "/etc/evil.sh"),
            ("COSMOVISOR_CUSTOM_PREUPGRADE", "../x.sh"),
            ("SWITCHYARD_LOG_FORMAT", "xml"),
            ("SWITCHYARD_BACKUP_KEEP", "0"),
            ("SWITCHYARD_BACKUP_KEEP", "-2"),
            ("SWITCHYARD_BACKUP_KEEP", "all"),
        ] {
            let err = Config::from_sources(&env(&[(k, v)]), None)
                .unwrap_err()
                .to_string();
            assert!(err.contains(k) && err.contains(v), "{err}");
        }
    }

    #[test]
    fn env_overrides_file_overrides_default() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "daemon_name = \"simd\"\nDAEMON_POLL_INTERVAL = \"1s\"\ndaemon_restart_after_upgrade = false\n").unwrap();
        let c = Config::from_sources(&env(&[("DAEMON_POLL_INTERVAL", "2s")]), Some(&file)).unwrap();
        assert_eq!(c.daemon_name.as_deref(), Some("simd"));
        assert_eq!(c.poll_interval, Duration::from_secs(2));
        assert!(!c.restart_after_upgrade);
        let src = |k| {
            c.entries
                .iter()
                .find(|e| e.key == k)
                .unwrap()
                .source
                .clone()
        };
        assert_eq!(src("DAEMON_NAME"), Source::File);
        assert_eq!(src("DAEMON_POLL_INTERVAL"), Source::Env);
        assert_eq!(src("UNSAFE_SKIP_BACKUP"), Source::Default);
    }

    #[test]
    fn home_config_toml_is_found_and_unknown_keys_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("cosmovisor")).unwrap();
        let file = dir.path().join("cosmovisor/config.toml");
        std::fs::write(&file, "daemon_name = \"gaiad\"\n").unwrap();
        let home = dir.path().to_str().unwrap();
        let c = Config::from_sources(&env(&[("DAEMON_HOME", home)]), None).unwrap();
        assert_eq!(c.daemon_name.as_deref(), Some("gaiad"));
        std::fs::write(&file, "daemon_nmae = \"gaiad\"\n").unwrap();
        let err = Config::from_sources(&env(&[("DAEMON_HOME", home)]), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("daemon_nmae"), "{err}");
    }

    #[test]
    fn obsolete_variables_are_accepted_and_listed_as_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "daemon_log_buffer_size = 512\n").unwrap();
        let c = Config::from_sources(&env(&[]), Some(&file)).unwrap();
        assert_eq!(c.ignored.len(), 1);
        assert_eq!(c.ignored[0].key, "DAEMON_LOG_BUFFER_SIZE");
        assert_eq!(
            (c.ignored[0].value.as_str(), &c.ignored[0].source),
            ("512", &Source::File)
        );
        let c =
            Config::from_sources(&env(&[("DAEMON_LOG_BUFFER_SIZE", "256")]), Some(&file)).unwrap();
        assert_eq!(
            (c.ignored[0].value.as_str(), &c.ignored[0].source),
            ("256", &Source::Env)
        );
        assert!(c.entries.iter().all(|e| e.key != "DAEMON_LOG_BUFFER_SIZE"));
        let c = Config::from_sources(&env(&[]), None).unwrap();
        assert!(c.ignored.is_empty());
    }

    #[test]
    fn integer_durations_in_the_file_are_nanoseconds_as_cosmovisor_writes_them() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "daemon_poll_interval = 300000000\ndaemon_restart_delay = 0\ndaemon_shutdown_grace = 5000000000\ndaemon_preupgrade_max_retries = 2\n",
        )
        .unwrap();
        let c = Config::from_sources(&env(&[]), Some(&file)).unwrap();
        assert_eq!(c.poll_interval, Duration::from_millis(300));
        assert_eq!(c.restart_delay, Duration::ZERO);
        assert_eq!(c.shutdown_grace, Duration::from_secs(5));
        assert_eq!(c.preupgrade_max_retries, 2);
        std::fs::write(&file, "daemon_shutdown_grace = -1\n").unwrap();
        let err = Config::from_sources(&env(&[]), Some(&file))
            .unwrap_err()
            .to_string();
        assert!(err.contains("daemon_shutdown_grace"), "{err}");
    }

    #[test]
    fn a_config_toml_written_by_cosmovisor_init_is_read() {
        // The shape cosmovisor v1.6+ `init` exports: every key, durations as nanoseconds.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        let home = dir.path().to_str().unwrap();
        std::fs::write(
            &file,
            format!(
                "daemon_home = '{home}'\ndaemon_name = 'simd'\ndaemon_allow_download_binaries = false\n\
                 daemon_download_must_have_checksum = false\ndaemon_restart_after_upgrade = true\n\
                 daemon_restart_delay = 0\ndaemon_shutdown_grace = 0\ndaemon_poll_interval = 300000000\n\
                 unsafe_skip_backup = false\ndaemon_data_backup_dir = '{home}'\ndaemon_preupgrade_max_retries = 0\n\
                 daemon_grpc_address = 'localhost:9090'\ncosmovisor_disable_logs = false\ncosmovisor_color_logs = true\n\
                 cosmovisor_timeformat_logs = 'kitchen'\ncosmovisor_custom_preupgrade = ''\ncosmovisor_disable_recase = false\n"
            ),
        )
        .unwrap();
        let c = Config::from_sources(&env(&[]), Some(&file)).unwrap();
        assert_eq!(c.daemon_name.as_deref(), Some("simd"));
        assert_eq!(c.home.as_deref(), Some(dir.path()));
        assert_eq!(c.poll_interval, Duration::from_millis(300));
        assert_eq!(c.shutdown_grace, Duration::ZERO);
        assert!(!c.download_must_have_checksum);
        assert_eq!(c.custom_preupgrade, None);
        assert_eq!(c.grpc_address.as_deref(), Some("localhost:9090"));
    }

    #[test]
    fn booleans_in_any_case_like_cosmovisor() {
        for (v, want) in [("TrUe", true), ("FALSE", false), ("1", true), ("f", false)] {
            let c = Config::from_sources(&env(&[("UNSAFE_SKIP_BACKUP", v)]), None).unwrap();
            assert_eq!(c.unsafe_skip_backup, want, "{v}");
        }
    }

    #[test]
    fn backup_keep_defaults_to_all() {
        let c = Config::from_sources(&env(&[]), None).unwrap();
        assert_eq!(c.backup_keep, None);
        let c = Config::from_sources(&env(&[("SWITCHYARD_BACKUP_KEEP", "3")]), None).unwrap();
        assert_eq!(c.backup_keep.map(|n| n.get()), Some(3));
    }

    #[test]
    fn the_listener_is_loopback_only_unless_allowed() {
        let c = Config::from_sources(&env(&[]), None).unwrap();
        assert_eq!(c.listen, None);
        let c =
            Config::from_sources(&env(&[("SWITCHYARD_LISTEN", "127.0.0.1:26680")]), None).unwrap();
        assert_eq!(c.listen, Some("127.0.0.1:26680".parse().unwrap()));
        let c = Config::from_sources(&env(&[("SWITCHYARD_LISTEN", "localhost:9")]), None).unwrap();
        assert_eq!(c.listen, Some("127.0.0.1:9".parse().unwrap()));
        let c = Config::from_sources(&env(&[("SWITCHYARD_LISTEN", "[::1]:9")]), None).unwrap();
        assert!(c.listen.unwrap().ip().is_loopback());
        for bad in ["0.0.0.0:26680", "10.0.0.5:1", "26680", "localhost:x"] {
            let err = Config::from_sources(&env(&[("SWITCHYARD_LISTEN", bad)]), None)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("SWITCHYARD_LISTEN") && err.contains(bad),
                "{err}"
            );
        }
        let c = Config::from_sources(
            &env(&[
                ("SWITCHYARD_LISTEN", "0.0.0.0:26680"),
                ("SWITCHYARD_LISTEN_ALLOW_REMOTE", "true"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(c.listen, Some("0.0.0.0:26680".parse().unwrap()));
    }

    #[test]
    fn stall_settings() {
        let c = Config::from_sources(&env(&[]), None).unwrap();
        assert_eq!(c.stall_after, None);
        assert_eq!(c.stall_action, crate::report::StallAction::Log);
        assert_eq!(c.silent_rpc_action, crate::report::StallAction::Log);
        assert_eq!(c.stall_min_peers, 1);
        let c = Config::from_sources(
            &env(&[
                ("SWITCHYARD_STALL_AFTER", "90s"),
                ("SWITCHYARD_STALL_ACTION", "restart"),
                ("SWITCHYARD_SILENT_RPC_ACTION", "restart"),
                ("SWITCHYARD_STALL_MIN_PEERS", "0"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(c.stall_after, Some(Duration::from_secs(90)));
        assert_eq!(c.stall_action, crate::report::StallAction::Restart);
        assert_eq!(c.silent_rpc_action, crate::report::StallAction::Restart);
        assert_eq!(c.stall_min_peers, 0);
        for (k, v) in [
            ("SWITCHYARD_STALL_AFTER", "10ms"),
            ("SWITCHYARD_STALL_ACTION", "reboot"),
            ("SWITCHYARD_SILENT_RPC_ACTION", "kill"),
        ] {
            let err = Config::from_sources(&env(&[(k, v)]), None)
                .unwrap_err()
                .to_string();
            assert!(err.contains(k) && err.contains(v), "{err}");
        }
    }

    /// What cosmovisor v1.5's parsers (`time.ParseDuration`, `strconv.Atoi`) take, switchyard takes.
    #[test]
    fn values_cosmovisor_accepts_are_accepted() {
        for (k, v, want) in [
            ("DAEMON_POLL_INTERVAL", ".5s", Duration::from_millis(500)),
            ("DAEMON_RESTART_DELAY", "+5s", Duration::from_secs(5)),
            ("DAEMON_SHUTDOWN_GRACE", "1.5m", Duration::from_secs(90)),
            (
                "SWITCHYARD_HEIGHT_TIMEOUT",
                "1h0.5m",
                Duration::from_secs(3630),
            ),
        ] {
            let c = Config::from_sources(&env(&[(k, v)]), None)
                .unwrap_or_else(|e| panic!("{k}={v}: {e}"));
            let got = match k {
                "DAEMON_POLL_INTERVAL" => c.poll_interval,
                "DAEMON_RESTART_DELAY" => c.restart_delay,
                "DAEMON_SHUTDOWN_GRACE" => c.shutdown_grace,
                _ => c.height_timeout,
            };
            assert_eq!(got, want, "{k}={v}");
        }
        for (v, want) in [("-1", 0), ("+3", 3), ("-7", 0)] {
            let c = Config::from_sources(&env(&[("DAEMON_PREUPGRADE_MAX_RETRIES", v)]), None)
                .unwrap_or_else(|e| panic!("{v}: {e}"));
            assert_eq!(c.preupgrade_max_retries, want, "{v}");
        }
    }

    #[test]
    fn an_empty_time_format_means_no_time_stamps_as_in_cosmovisor() {
        let c = Config::from_sources(&env(&[("COSMOVISOR_TIMEFORMAT_LOGS", "")]), None).unwrap();
        assert_eq!(c.time_format, TimeFormat::None);
        let c = Config::from_sources(&env(&[]), None).unwrap();
        assert_eq!(c.time_format, TimeFormat::Named("kitchen"));
    }

    #[test]
    fn an_existing_absolute_backup_dir_is_accepted_and_not_checked_without_backups() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        let c = Config::from_sources(&env(&[("DAEMON_DATA_BACKUP_DIR", d)]), None).unwrap();
        assert_eq!(c.backup_dir().as_deref(), Some(dir.path()));
        // cosmovisor checks it only when it takes backups.
        let c = Config::from_sources(
            &env(&[
                ("DAEMON_DATA_BACKUP_DIR", "relative"),
                ("UNSAFE_SKIP_BACKUP", "true"),
            ]),
            None,
        );
        assert!(c.is_ok());
    }

    #[test]
    fn a_bare_poll_interval_is_milliseconds_like_cosmovisor() {
        let c = Config::from_sources(&env(&[("DAEMON_POLL_INTERVAL", "500")]), None).unwrap();
        assert_eq!(c.poll_interval, Duration::from_millis(500));
    }

    /// Every kept fuzz finding and seed of the `config_file` target (fuzz/regressions,
    /// fuzz/seeds) parses to a value or an error, never a panic.
    #[test]
    fn config_fuzz_inputs_replay() {
        let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        let mut n = 0;
        for kind in ["regressions", "seeds"] {
            let Ok(rd) = std::fs::read_dir(fuzz.join(kind).join("config_file")) else {
                continue;
            };
            for e in rd {
                let p = e.unwrap().path();
                let bytes = std::fs::read(&p).unwrap();
                let _ = parse_duration(&String::from_utf8_lossy(&bytes));
                let _ = Config::from_sources(&env(&[]), Some(&p));
                n += 1;
            }
        }
        assert!(n >= 3, "only {n} inputs");
    }

    #[test]
    fn go_durations() {
        for (text, want) in [
            ("300ms", Duration::from_millis(300)),
            ("1m30s", Duration::from_secs(90)),
            ("1h", Duration::from_secs(3600)),
            ("0s", Duration::ZERO),
            ("0", Duration::ZERO),
            ("1.5s", Duration::from_millis(1500)),
            ("1.5h", Duration::from_secs(5400)),
            ("2h45m", Duration::from_secs(9900)),
            ("10us", Duration::from_micros(10)),
            ("10µs", Duration::from_micros(10)),
            ("7ns", Duration::from_nanos(7)),
            (" 5s ", Duration::from_secs(5)),
        ] {
            assert_eq!(parse_duration(text), Ok(want), "{text:?}");
        }
        assert!(parse_duration("5").unwrap_err().contains("missing unit"));
        assert!(parse_duration("99999999999999999999h").is_err());
        assert!(parse_duration("5 parsecs").unwrap_err().contains("parsecs"));
        assert!(parse_duration("ms").is_err());
        assert_eq!(
            parse_duration("300000000ns").unwrap(),
            Duration::from_millis(300)
        );
        assert_eq!(parse_duration("0.3s").unwrap(), Duration::from_millis(300));
        assert_eq!(parse_duration("1h0.5m").unwrap(), Duration::from_secs(3630));
        assert!(parse_duration("1..5s").is_err());
        assert!(parse_duration(".s").is_err());
        assert!(parse_duration("").unwrap_err().contains("empty"));
        // Units Go does not know are refused, not read as months or days.
        assert!(parse_duration("5M").unwrap_err().contains("\"M\""));
        assert!(parse_duration("1d").unwrap_err().contains("\"d\""));
        assert!(parse_duration("-5s").unwrap_err().contains("negative"));
        // A huge input gives a short error.
        assert!(parse_duration(&"9".repeat(100_000)).unwrap_err().len() < 200);
    }
}
