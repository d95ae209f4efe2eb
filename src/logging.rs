//! switchyard's own log lines (to stderr), shaped by the COSMOVISOR_*_LOGS settings.
//!
//! The node's output never passes through here: it inherits our stdout/stderr directly.

use crate::config::{Config, TimeFormat};
use tracing_subscriber::fmt::time::ChronoLocal;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `COSMOVISOR_DISABLE_LOGS` silences everything but errors.
pub fn init(cfg: &Config) {
    let default_level = if cfg.disable_logs { "error" } else { "info" };
    let filter =
        EnvFilter::try_from_env("SWITCHYARD_LOG").unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(cfg.color_logs && std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    // A second init (tests) is harmless; ignore its error.
    let _ = match &cfg.time_format {
        TimeFormat::None => builder.without_time().try_init(),
        TimeFormat::Named(name) => builder
            .with_timer(ChronoLocal::new(chrono_format(name).to_string()))
            .try_init(),
    };
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
