//! The effective configuration: cosmovisor's environment variables, a TOML file, and defaults.
//!
//! Every cosmovisor variable is read with cosmovisor's meaning. Precedence is
//! environment > config file > default, per key, and each value remembers where it came from so
//! `switchyard config` can say so. The file is `--config PATH`, else
//! `$DAEMON_HOME/cosmovisor/config.toml` when it exists; its keys are the variable names in lower
//! or upper case (`daemon_name = "simd"`), as cosmovisor writes them. Our own settings use the
//! `SWITCHYARD_` prefix.
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
pub enum Source {
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
pub enum ConfigError {
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

/// One row of `switchyard config`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Entry {
    pub key: &'static str,
    pub value: String,
    pub source: Source,
}

/// Log timestamp format (`COSMOVISOR_TIMEFORMAT_LOGS`), Go's named layouts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeFormat {
    None,
    Named(&'static str),
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
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
    /// Test-only: name of a swap step at which to abort the process (crash-safety tests).
    pub test_fault: Option<String>,

    /// Every key with its value and source, in a stable order.
    pub entries: Vec<Entry>,
    /// The config file that was read, if any.
    pub file: Option<PathBuf>,
}

/// Every key we know, with its default ("" = unset).
const KEYS: &[(&str, &str)] = &[
    ("DAEMON_HOME", ""),
    ("DAEMON_NAME", ""),
    ("DAEMON_ALLOW_DOWNLOAD_BINARIES", "false"),
    ("DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM", "true"),
    ("DAEMON_RESTART_AFTER_UPGRADE", "true"),
    ("DAEMON_RESTART_DELAY", "0s"),
    ("DAEMON_SHUTDOWN_GRACE", "10s"),
    ("DAEMON_POLL_INTERVAL", "300ms"),
    ("DAEMON_DATA_BACKUP_DIR", ""),
    ("UNSAFE_SKIP_BACKUP", "false"),
    ("DAEMON_PREUPGRADE_MAX_RETRIES", "0"),
    ("DAEMON_GRPC_ADDRESS", ""),
    ("COSMOVISOR_DISABLE_LOGS", "false"),
    ("COSMOVISOR_COLOR_LOGS", "true"),
    ("COSMOVISOR_TIMEFORMAT_LOGS", "kitchen"),
    ("COSMOVISOR_CUSTOM_PREUPGRADE", ""),
    ("COSMOVISOR_DISABLE_RECASE", "false"),
    ("SWITCHYARD_RESTART_ON_CRASH", "true"),
    ("SWITCHYARD_CRASH_LOOP_MAX", "5"),
    ("SWITCHYARD_CRASH_LOOP_WINDOW", "10m"),
    ("SWITCHYARD_RESTART_BACKOFF_INITIAL", "1s"),
    ("SWITCHYARD_RESTART_BACKOFF_MAX", "60s"),
    ("SWITCHYARD_PREUPGRADE_TIMEOUT", "5m"),
    ("SWITCHYARD_PRESTAGE_VOTING", "false"),
    ("SWITCHYARD_ALLOW_HTTP", "false"),
    ("SWITCHYARD_MAX_DOWNLOAD_BYTES", "4294967296"),
    ("SWITCHYARD_RPC_ADDRESS", ""),
    ("SWITCHYARD_WATCH_CHAIN", "true"),
    ("SWITCHYARD_PROPOSALS_EVERY", "60s"),
    ("SWITCHYARD_BACKUP_KEEP", ""),
    ("SWITCHYARD_TEST_FAULT", ""),
];

/// Raw string values with their sources, before typing.
struct Raw {
    values: BTreeMap<&'static str, (String, Source)>,
}

impl Raw {
    fn get(&self, key: &'static str) -> &str {
        &self.values[key].0
    }
    fn opt(&self, key: &'static str) -> Option<String> {
        let v = self.get(key).trim();
        (!v.is_empty()).then(|| v.to_string())
    }
    fn bool(&self, key: &'static str) -> Result<bool, ConfigError> {
        parse_bool(self.get(key)).ok_or_else(|| bad(key, self.get(key), "expected true or false"))
    }
    fn duration(&self, key: &'static str) -> Result<Duration, ConfigError> {
        let raw = self.get(key).trim();
        // cosmovisor reads a bare number in DAEMON_POLL_INTERVAL as milliseconds.
        if key == "DAEMON_POLL_INTERVAL" {
            if let Ok(ms) = raw.parse::<u64>() {
                return Ok(Duration::from_millis(ms));
            }
        }
        parse_duration(raw).map_err(|why| bad(key, self.get(key), &why))
    }
    fn uint<T: std::str::FromStr>(&self, key: &'static str) -> Result<T, ConfigError> {
        self.get(key)
            .trim()
            .parse()
            .map_err(|_| bad(key, self.get(key), "expected a non-negative whole number"))
    }
}

fn bad(key: &'static str, value: &str, why: &str) -> ConfigError {
    ConfigError::BadValue {
        key,
        value: value.to_string(),
        why: why.to_string(),
    }
}

impl Config {
    /// Loads from the process environment, `explicit_file` or `$DAEMON_HOME/cosmovisor/config.toml`.
    pub fn load(explicit_file: Option<&Path>) -> Result<Config, ConfigError> {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        Self::from_sources(&env, explicit_file)
    }

    /// Loads from a given environment map (tests use this).
    pub fn from_sources(
        env: &BTreeMap<String, String>,
        explicit_file: Option<&Path>,
    ) -> Result<Config, ConfigError> {
        let env_get = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
        // DAEMON_HOME may only be in the file named with --config; find the file first.
        let file_path = match explicit_file {
            Some(p) => Some(p.to_path_buf()),
            None => env_get("DAEMON_HOME")
                .map(|h| Path::new(&h).join("cosmovisor").join("config.toml"))
                .filter(|p| p.is_file()),
        };
        let file_values = match &file_path {
            Some(p) => read_file(p)?,
            None => BTreeMap::new(),
        };
        let mut values = BTreeMap::new();
        for &(key, default) in KEYS {
            let entry = if let Some(v) = env_get(key) {
                (v, Source::Env)
            } else if let Some(v) = file_values.get(key) {
                (v.clone(), Source::File)
            } else {
                (default.to_string(), Source::Default)
            };
            values.insert(key, entry);
        }
        let raw = Raw { values };
        let time_format = parse_time_format(raw.get("COSMOVISOR_TIMEFORMAT_LOGS"))
            .ok_or_else(|| {
                bad(
                    "COSMOVISOR_TIMEFORMAT_LOGS",
                    raw.get("COSMOVISOR_TIMEFORMAT_LOGS"),
                    "expected one of layout, ansic, unixdate, rubydate, rfc822, rfc822z, rfc850, rfc1123, rfc1123z, rfc3339, rfc3339nano, kitchen, or empty",
                )
            })?;
        let home = raw.opt("DAEMON_HOME").map(PathBuf::from);
        if let Some(h) = &home {
            if !h.is_absolute() {
                return Err(bad(
                    "DAEMON_HOME",
                    &h.to_string_lossy(),
                    "must be an absolute path",
                ));
            }
        }
        if let Some(script) = raw.opt("COSMOVISOR_CUSTOM_PREUPGRADE") {
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
        }
        let daemon_name = raw.opt("DAEMON_NAME");
        if let Some(n) = &daemon_name {
            if n.contains('/') || n == "." || n == ".." {
                return Err(bad(
                    "DAEMON_NAME",
                    n,
                    "must be a plain file name, not a path",
                ));
            }
        }
        let cfg = Config {
            home,
            daemon_name,
            allow_download_binaries: raw.bool("DAEMON_ALLOW_DOWNLOAD_BINARIES")?,
            download_must_have_checksum: raw.bool("DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM")?,
            restart_after_upgrade: raw.bool("DAEMON_RESTART_AFTER_UPGRADE")?,
            restart_delay: raw.duration("DAEMON_RESTART_DELAY")?,
            shutdown_grace: raw.duration("DAEMON_SHUTDOWN_GRACE")?,
            poll_interval: {
                let d = raw.duration("DAEMON_POLL_INTERVAL")?;
                if d.is_zero() {
                    return Err(bad(
                        "DAEMON_POLL_INTERVAL",
                        raw.get("DAEMON_POLL_INTERVAL"),
                        "must be greater than zero",
                    ));
                }
                d
            },
            data_backup_dir: raw.opt("DAEMON_DATA_BACKUP_DIR").map(PathBuf::from),
            unsafe_skip_backup: raw.bool("UNSAFE_SKIP_BACKUP")?,
            preupgrade_max_retries: raw.uint("DAEMON_PREUPGRADE_MAX_RETRIES")?,
            grpc_address: raw.opt("DAEMON_GRPC_ADDRESS"),
            disable_logs: raw.bool("COSMOVISOR_DISABLE_LOGS")?,
            color_logs: raw.bool("COSMOVISOR_COLOR_LOGS")?,
            time_format,
            custom_preupgrade: raw.opt("COSMOVISOR_CUSTOM_PREUPGRADE"),
            disable_recase: raw.bool("COSMOVISOR_DISABLE_RECASE")?,
            restart_on_crash: raw.bool("SWITCHYARD_RESTART_ON_CRASH")?,
            crash_loop_max: {
                let n: u32 = raw.uint("SWITCHYARD_CRASH_LOOP_MAX")?;
                if n == 0 {
                    return Err(bad(
                        "SWITCHYARD_CRASH_LOOP_MAX",
                        raw.get("SWITCHYARD_CRASH_LOOP_MAX"),
                        "must be at least 1",
                    ));
                }
                n
            },
            crash_loop_window: raw.duration("SWITCHYARD_CRASH_LOOP_WINDOW")?,
            restart_backoff_initial: raw.duration("SWITCHYARD_RESTART_BACKOFF_INITIAL")?,
            restart_backoff_max: raw.duration("SWITCHYARD_RESTART_BACKOFF_MAX")?,
            preupgrade_timeout: raw.duration("SWITCHYARD_PREUPGRADE_TIMEOUT")?,
            prestage_voting: raw.bool("SWITCHYARD_PRESTAGE_VOTING")?,
            allow_http: raw.bool("SWITCHYARD_ALLOW_HTTP")?,
            max_download_bytes: raw.uint("SWITCHYARD_MAX_DOWNLOAD_BYTES")?,
            rpc_address: raw.opt("SWITCHYARD_RPC_ADDRESS"),
            watch_chain: raw.bool("SWITCHYARD_WATCH_CHAIN")?,
            proposals_every: {
                let d = raw.duration("SWITCHYARD_PROPOSALS_EVERY")?;
                if d.is_zero() {
                    return Err(bad(
                        "SWITCHYARD_PROPOSALS_EVERY",
                        raw.get("SWITCHYARD_PROPOSALS_EVERY"),
                        "must be greater than zero",
                    ));
                }
                d
            },
            backup_keep: match raw.opt("SWITCHYARD_BACKUP_KEEP") {
                None => None,
                Some(v) => {
                    let n: usize = raw.uint("SWITCHYARD_BACKUP_KEEP")?;
                    Some(std::num::NonZeroUsize::new(n).ok_or_else(|| {
                        bad(
                            "SWITCHYARD_BACKUP_KEEP",
                            &v,
                            "must be at least 1 (the backup just taken is always kept; to take none, set UNSAFE_SKIP_BACKUP=true)",
                        )
                    })?)
                }
            },
            test_fault: raw.opt("SWITCHYARD_TEST_FAULT"),
            entries: KEYS
                .iter()
                .map(|&(key, _)| {
                    let (value, source) = raw.values[key].clone();
                    Entry { key, value, source }
                })
                .collect(),
            file: file_path,
        };
        Ok(cfg)
    }

    /// `DAEMON_HOME`, or an error saying it is required.
    pub fn require_home(&self) -> Result<&Path, ConfigError> {
        self.home
            .as_deref()
            .ok_or(ConfigError::Missing { key: "DAEMON_HOME" })
    }

    /// `DAEMON_NAME`, or an error saying it is required.
    pub fn require_name(&self) -> Result<&str, ConfigError> {
        self.daemon_name
            .as_deref()
            .ok_or(ConfigError::Missing { key: "DAEMON_NAME" })
    }

    /// The store layout for this home and daemon.
    pub fn layout(&self) -> Result<switchyard_store::Layout, ConfigError> {
        Ok(switchyard_store::Layout::new(
            self.require_home()?,
            self.require_name()?,
        ))
    }

    /// Where backups go: `DAEMON_DATA_BACKUP_DIR`, else `DAEMON_HOME`.
    pub fn backup_dir(&self) -> Option<PathBuf> {
        self.data_backup_dir.clone().or_else(|| self.home.clone())
    }

    /// The custom pre-upgrade script's path (`$DAEMON_HOME/cosmovisor/<COSMOVISOR_CUSTOM_PREUPGRADE>`).
    pub fn custom_preupgrade_path(&self) -> Option<PathBuf> {
        let script = self.custom_preupgrade.as_ref()?;
        let home = self.home.as_ref()?;
        Some(home.join("cosmovisor").join(script))
    }
}

fn read_file(path: &Path) -> Result<BTreeMap<&'static str, String>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
        path: path.to_path_buf(),
        why: e.to_string(),
    })?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::File {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
    let mut out = BTreeMap::new();
    for (k, v) in table {
        let upper = k.to_ascii_uppercase();
        let Some(&(key, _)) = KEYS.iter().find(|(name, _)| *name == upper) else {
            return Err(ConfigError::UnknownKey {
                path: path.to_path_buf(),
                key: k,
            });
        };
        let value = match v {
            toml::Value::String(s) => s,
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
        out.insert(key, value);
    }
    Ok(out)
}

/// Go's `strconv.ParseBool`.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim() {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `time.ParseDuration` (`300ms`, `1m30s`, `2h`; a bare number only for `0`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("missing unit in {s:?} (use ms, s, m or h)"))?;
        if num_len == 0 {
            return Err(format!("expected a number in {s:?}"));
        }
        let n: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("bad number in {s:?}"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            u => return Err(format!("unknown unit {u:?} in {s:?} (use ms, s, m or h)")),
        };
        total += n * scale;
        rest = &rest[unit_len..];
    }
    Duration::try_from_secs_f64(total).map_err(|_| format!("{s:?} is too long a duration"))
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
    }

    #[test]
    fn bad_values_name_the_variable_and_value() {
        for (k, v) in [
            ("DAEMON_POLL_INTERVAL", "soon"),
            ("DAEMON_RESTART_AFTER_UPGRADE", "yes please"),
            ("DAEMON_PREUPGRADE_MAX_RETRIES", "-1"),
            ("COSMOVISOR_TIMEFORMAT_LOGS", "iso"),
            ("DAEMON_HOME", "relative/path"),
            ("DAEMON_NAME", "bin/simd"),
            ("DAEMON_POLL_INTERVAL", "0s"),
            ("DAEMON_RESTART_DELAY", "99999999999999999999h"),
            ("COSMOVISOR_CUSTOM_PREUPGRADE", "/etc/evil.sh"),
            ("COSMOVISOR_CUSTOM_PREUPGRADE", "../x.sh"),
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
    fn backup_keep_defaults_to_all() {
        let c = Config::from_sources(&env(&[]), None).unwrap();
        assert_eq!(c.backup_keep, None);
        let c = Config::from_sources(&env(&[("SWITCHYARD_BACKUP_KEEP", "3")]), None).unwrap();
        assert_eq!(c.backup_keep.map(|n| n.get()), Some(3));
    }

    #[test]
    fn a_bare_poll_interval_is_milliseconds_like_cosmovisor() {
        let c = Config::from_sources(&env(&[("DAEMON_POLL_INTERVAL", "500")]), None).unwrap();
        assert_eq!(c.poll_interval, Duration::from_millis(500));
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("300ms").unwrap(), Duration::from_millis(300));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert!(parse_duration("5").unwrap_err().contains("missing unit"));
        assert!(parse_duration("99999999999999999999h")
            .unwrap_err()
            .contains("too long"));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("ms").is_err());
    }
}
