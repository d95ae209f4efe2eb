//! Fault injection for the crash-safety tests: `SWITCHYARD_TEST_FAULT=<point>` kills switchyard
//! with SIGKILL when a swap or a restore reaches `<point>`.
//!
//! Compiled only into test builds (debug assertions, or the `test-faults` feature); a release
//! binary has no such key and every hook here is a no-op, so nothing in the environment of a
//! production unit can make it kill itself.

use crate::config::Config;

/// Kills switchyard at `point` when the configuration names it.
pub(crate) fn fault(cfg: &Config, point: &str) {
    hook(cfg)(point)
}

/// The same check as an owned closure, for work that runs on a blocking thread (the backup and
/// the restore call it at their own points).
pub(crate) fn hook(cfg: &Config) -> impl Fn(&str) + Send + Sync + 'static {
    #[cfg(any(debug_assertions, feature = "test-faults"))]
    {
        let wanted = cfg.test_fault.clone();
        move |point: &str| {
            if wanted.as_deref() == Some(point) {
                tracing::warn!("SWITCHYARD_TEST_FAULT={point}: killing switchyard here");
                crate::logging::flush();
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::this(),
                    nix::sys::signal::Signal::SIGKILL,
                );
                // SIGKILL cannot be caught; if it somehow did not land, do not go on.
                std::process::abort();
            }
        }
    }
    #[cfg(not(any(debug_assertions, feature = "test-faults")))]
    {
        let _ = cfg;
        |_point: &str| {}
    }
}

/// A configured fault point that is not one of `points` is a mistake in a test: say so.
pub(crate) fn check_point(cfg: &Config, what: &str, points: &[&str]) -> anyhow::Result<()> {
    #[cfg(any(debug_assertions, feature = "test-faults"))]
    if let Some(point) = &cfg.test_fault {
        if !points.contains(&point.as_str()) {
            anyhow::bail!(
                "SWITCHYARD_TEST_FAULT={point:?} is not a {what} fault point (one of: {})",
                points.join(", ")
            );
        }
    }
    let _ = (cfg, what, points);
    Ok(())
}
