//! switchyard's own log lines (to stderr), shaped by the COSMOVISOR_*_LOGS settings and
//! `SWITCHYARD_LOG_FORMAT`.
//!
//! The node's output never passes through here: it inherits our stdout/stderr directly. Our lines
//! go through [`sink`], so a stalled or broken stderr never blocks or ends supervision.
//!
//! - `text` (default): one human line per event. ANSI colours only where they can be shown: never
//!   under journald (`JOURNAL_STREAM` names our stderr), otherwise when stderr is a terminal;
//!   `COSMOVISOR_COLOR_LOGS` set explicitly (environment or config file) forces them on or off,
//!   its cosmovisor meaning, except that journald never gets them.
//! - `json`: one JSON object per line (`timestamp`, `level`, `message` and the event's fields), no
//!   colours, for log shippers.

pub(crate) mod sink;

use std::os::fd::AsRawFd;

use crate::config::{Config, LogFormat, Source, TimeFormat};
use tracing_subscriber::fmt::time::ChronoLocal;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `COSMOVISOR_DISABLE_LOGS` silences everything but errors.
pub(crate) fn init(cfg: &Config) {
    sink::start();
    let default_level = if cfg.disable_logs { "error" } else { "info" };
    let filter =
        EnvFilter::try_from_env("SWITCHYARD_LOG").unwrap_or_else(|_| EnvFilter::new(default_level));
    let explicit_color = cfg
        .entries
        .iter()
        .find(|e| e.key == "COSMOVISOR_COLOR_LOGS")
        .filter(|e| e.source != Source::Default)
        .map(|_| cfg.color_logs);
    let ansi = use_ansi(
        explicit_color,
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
        stderr_is_journal(std::env::var("JOURNAL_STREAM").ok().as_deref()),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(sink::SinkWriter)
        .log_internal_errors(false)
        .with_target(false);
    // A second init (tests) is harmless; ignore its error.
    let _ = match (&cfg.log_format, &cfg.time_format) {
        (LogFormat::Text, TimeFormat::None) => builder.with_ansi(ansi).without_time().try_init(),
        (LogFormat::Text, TimeFormat::Named(name)) => builder
            .with_ansi(ansi)
            .with_timer(ChronoLocal::new(chrono_format(name).to_string()))
            .try_init(),
        (LogFormat::Json, TimeFormat::None) => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_ansi(false)
            .without_time()
            .try_init(),
        (LogFormat::Json, TimeFormat::Named(_)) => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_ansi(false)
            .with_timer(ChronoLocal::new("%Y-%m-%dT%H:%M:%S%.3f%:z".to_string()))
            .try_init(),
    };
}

/// Waits (at most a second) for queued log lines to be written; call before exiting.
pub(crate) fn flush() {
    sink::flush(std::time::Duration::from_secs(1));
}

/// Whether to colour text lines. journald shows escape codes as garbage, so it never gets them.
fn use_ansi(explicit: Option<bool>, stderr_is_terminal: bool, under_journal: bool) -> bool {
    if under_journal {
        return false;
    }
    explicit.unwrap_or(stderr_is_terminal)
}

/// Whether our stderr is the journald stream systemd connected (`JOURNAL_STREAM=<dev>:<inode>`
/// of that stream; a child whose stderr was redirected elsewhere inherits the variable, so the
/// stream itself is compared).
fn stderr_is_journal(journal_stream: Option<&str>) -> bool {
    let Some((dev, ino)) = journal_stream.and_then(|v| v.trim().split_once(':')) else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    match nix::sys::stat::fstat(std::io::stderr().as_raw_fd()) {
        Ok(st) => st.st_dev == dev && st.st_ino == ino,
        Err(_) => false,
    }
}

/// Go's named time layouts, in chrono's strftime terms.
fn chrono_format(name: &str) -> &'static str {
    match name {
        "layout" => "%m/%d %I:%M:%S%p '%y %z",
        "ansic" => "%a %b %e %H:%M:%S %Y",
        "unixdate" => "%a %b %e %H:%M:%S %Z %Y",
        "rubydate" => "%a %b %d %H:%M:%S %z %Y",
        "rfc822" => "%d %b %y %H:%M %Z",
        "rfc822z" => "%d %b %y %H:%M %z",
        "rfc850" => "%A, %d-%b-%y %H:%M:%S %Z",
        "rfc1123" => "%a, %d %b %Y %H:%M:%S %Z",
        "rfc1123z" => "%a, %d %b %Y %H:%M:%S %z",
        "rfc3339" => "%Y-%m-%dT%H:%M:%S%:z",
        "rfc3339nano" => "%Y-%m-%dT%H:%M:%S%.9f%:z",
        _ => "%l:%M%p",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_only_where_they_can_be_shown() {
        // Default: follow the terminal.
        assert!(use_ansi(None, true, false));
        assert!(!use_ansi(None, false, false));
        // COSMOVISOR_COLOR_LOGS set: forces either way...
        assert!(use_ansi(Some(true), false, false));
        assert!(!use_ansi(Some(false), true, false));
        // ...but journald never gets escape codes.
        assert!(!use_ansi(Some(true), true, true));
        assert!(!use_ansi(None, true, true));
    }

    #[test]
    fn journal_stream_must_name_our_stderr() {
        let st = nix::sys::stat::fstat(std::io::stderr().as_raw_fd()).unwrap();
        let ours = format!("{}:{}", st.st_dev, st.st_ino);
        assert!(stderr_is_journal(Some(&ours)));
        let other = format!("{}:{}", st.st_dev, st.st_ino + 1);
        assert!(!stderr_is_journal(Some(&other)));
        assert!(!stderr_is_journal(Some("garbage")));
        assert!(!stderr_is_journal(None));
    }
}
