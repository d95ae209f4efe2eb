//! Pre-upgrade hooks, run after the old node stopped and before `current` is switched.
//!
//! 1. `COSMOVISOR_CUSTOM_PREUPGRADE`, as cosmovisor runs it: `$DAEMON_HOME/cosmovisor/<script>`
//!    must be a regular file (a missing owner execute bit is added, as cosmovisor does), and it
//!    runs as `<script> <name> <height>` with `$DAEMON_HOME` as its working directory and
//!    switchyard's own environment. Any failure aborts the upgrade.
//! 2. The new binary's `pre-upgrade` command (working directory and environment inherited, as
//!    cosmovisor does), with cosmovisor's exit-code meanings: 0 done; 1 not implemented
//!    (continue); 30 abort; 31 retry, up to `DAEMON_PREUPGRADE_MAX_RETRIES` times, then abort;
//!    anything else aborts (cosmovisor carries on after other codes; we do not).
//!
//! [`probe_binary`] asks the binary, long before the halt, whether it has a `pre-upgrade`
//! command at all (two `--help` runs, judged by `switchyard_core::judge_preupgrade`), so a
//! binary without one is not started at the halt just to say so.
//!
//! Each run has a timeout, after which it is killed with everything it started and the upgrade
//! aborted; dropping the future (a stop signal) kills it the same way. Their output goes to
//! switchyard's log, line by line, tagged with the upgrade's name — never into the node's
//! output stream (see `helper`).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use switchyard_core::{ProbeRun, CONTROL_COMMAND};

use crate::helper::{self, Output, Ran};

/// Why a pre-upgrade hook aborted the upgrade.
#[derive(Debug, thiserror::Error)]
pub enum PreUpgradeError {
    /// The custom script (`COSMOVISOR_CUSTOM_PREUPGRADE`) is missing or not a regular file, could
    /// not be made executable or started, exited non-zero, was killed by a signal, or timed out.
    #[error("custom pre-upgrade script {path} failed: {why}")]
    Custom {
        /// The script's path.
        path: PathBuf,
        /// What went wrong (e.g. `exit status 4`).
        why: String,
    },
    /// `<bin> pre-upgrade` exited 30: the new binary asked to abort the upgrade.
    #[error("`{bin} pre-upgrade` exited with 30: the new binary asked to abort the upgrade")]
    Aborted {
        /// The new binary.
        bin: PathBuf,
    },
    /// `<bin> pre-upgrade` still asked to retry (exit 31) once the retries were used up.
    #[error("`{bin} pre-upgrade` kept asking to retry (exit 31) after {attempts} attempt(s); DAEMON_PREUPGRADE_MAX_RETRIES={max}")]
    RetriesExhausted {
        /// The new binary.
        bin: PathBuf,
        /// How many times it ran (`max` + 1).
        attempts: u32,
        /// The retry limit, `DAEMON_PREUPGRADE_MAX_RETRIES`.
        max: u32,
    },
    /// `<bin> pre-upgrade` could not be started, exited with a code other than 0, 1, 30 or 31,
    /// was killed by a signal, or timed out.
    #[error("`{bin} pre-upgrade` failed: {why}")]
    Failed {
        /// The new binary.
        bin: PathBuf,
        /// What went wrong (e.g. `exit status 5`).
        why: String,
    },
}

/// What the binary's pre-upgrade said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreUpgradeOutcome {
    /// It exited 0.
    Done {
        /// How many runs it took (more than 1 when it asked to retry with exit 31).
        attempts: u32,
    },
    /// It exited 1: the binary has no pre-upgrade handler, and the upgrade goes on.
    NotImplemented,
}

/// Makes sure the custom script can run as cosmovisor would run it: a regular file (after
/// symlinks), with the owner's execute bit (added if missing).
async fn prepare_script(script: &Path) -> Result<(), String> {
    let meta = tokio::fs::metadata(script)
        .await
        .map_err(|e| format!("cannot use it: {e}"))?;
    if !meta.is_file() {
        return Err("it is not a regular file".into());
    }
    let mode = meta.permissions().mode();
    if mode & 0o100 == 0 {
        tokio::fs::set_permissions(script, std::fs::Permissions::from_mode(mode | 0o100))
            .await
            .map_err(|e| format!("it is not executable and adding the execute bit failed: {e}"))?;
        tracing::info!(
            "added the owner's execute permission to {} (as cosmovisor does)",
            script.display()
        );
    }
    Ok(())
}

/// Runs the custom pre-upgrade script as `<script> <name> <height>` in `home`.
pub async fn run_custom(
    script: &Path,
    home: &Path,
    name: &str,
    height: i64,
    timeout: Duration,
) -> Result<(), PreUpgradeError> {
    let fail = |why: String| PreUpgradeError::Custom {
        path: script.to_path_buf(),
        why,
    };
    prepare_script(script).await.map_err(fail)?;
    let args = [name.to_string(), height.to_string()];
    let out = Output::Log {
        upgrade: name,
        hook: "custom pre-upgrade",
    };
    match helper::run(script, &args, Some(home), out, timeout).await {
        Err(e) => Err(fail(format!("cannot run it: {e}"))),
        Ok(f) => match f.ran {
            Ran::Exited(0) => Ok(()),
            Ran::Exited(c) => Err(fail(format!("exit status {c}"))),
            Ran::TimedOut => Err(fail(format!("no exit within {timeout:?}; killed"))),
            Ran::Signalled(s) => Err(fail(s)),
        },
    }
}

/// Runs `<bin> pre-upgrade` for upgrade `upgrade` with cosmovisor's retry rules.
pub async fn run_binary(
    bin: &Path,
    upgrade: &str,
    max_retries: u32,
    timeout: Duration,
) -> Result<PreUpgradeOutcome, PreUpgradeError> {
    let fail = |why: String| PreUpgradeError::Failed {
        bin: bin.to_path_buf(),
        why,
    };
    let out = Output::Log {
        upgrade,
        hook: "pre-upgrade",
    };
    let mut attempts = 0;
    loop {
        attempts += 1;
        let ran = helper::run(bin, &["pre-upgrade".to_string()], None, out, timeout)
            .await
            .map_err(|e| fail(format!("cannot run it: {e}")))?
            .ran;
        match ran {
            Ran::Exited(0) => return Ok(PreUpgradeOutcome::Done { attempts }),
            Ran::Exited(1) => return Ok(PreUpgradeOutcome::NotImplemented),
            Ran::Exited(30) => {
                return Err(PreUpgradeError::Aborted {
                    bin: bin.to_path_buf(),
                })
            }
            Ran::Exited(31) if attempts <= max_retries => {
                tracing::warn!(
                    upgrade = %upgrade,
                    attempt = attempts,
                    max_retries,
                    "pre-upgrade asked to retry (exit 31)"
                );
            }
            Ran::Exited(31) => {
                return Err(PreUpgradeError::RetriesExhausted {
                    bin: bin.to_path_buf(),
                    attempts,
                    max: max_retries,
                })
            }
            Ran::Exited(c) => return Err(fail(format!("exit status {c}"))),
            Ran::TimedOut => return Err(fail(format!("no exit within {timeout:?}; killed"))),
            Ran::Signalled(s) => return Err(fail(s)),
        }
    }
}

/// Runs the probe (`<bin> pre-upgrade --help`) and the control
/// (`<bin> switchyard-no-such-command --help`), output captured, each within `timeout`; the
/// caller judges them with `switchyard_core::judge_preupgrade`. `Err` when the binary cannot be
/// started at all.
pub async fn probe_binary(bin: &Path, timeout: Duration) -> std::io::Result<(ProbeRun, ProbeRun)> {
    let once = |command: &str| {
        let args = [command.to_string(), "--help".to_string()];
        async move {
            let f = helper::run(bin, &args, None, Output::Capture, timeout).await?;
            let mut output = String::from_utf8_lossy(&f.stdout).into_owned();
            output.push_str(&String::from_utf8_lossy(&f.stderr));
            let exit = match f.ran {
                Ran::Exited(c) => Some(c),
                Ran::Signalled(_) | Ran::TimedOut => None,
            };
            Ok::<_, std::io::Error>(ProbeRun { exit, output })
        }
    };
    let probe = once("pre-upgrade").await?;
    let control = once(CONTROL_COMMAND).await?;
    Ok((probe, control))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    const T: Duration = Duration::from_secs(10);

    #[tokio::test]
    async fn the_probe_tells_a_missing_command_from_a_present_one() {
        use switchyard_core::{judge_preupgrade, PreUpgradeCommand};
        let d = tempfile::tempdir().unwrap();
        // Like a cobra root that prints its error: any unknown command named in the message.
        let without = script(
            d.path(),
            "without",
            r#"echo "Error: unknown command \"$1\" for \"simd\"" >&2; exit 1"#,
        );
        let (p, c) = probe_binary(&without, T).await.unwrap();
        assert_eq!(
            p.output,
            "Error: unknown command \"pre-upgrade\" for \"simd\"\n"
        );
        assert_eq!(judge_preupgrade(&p, &c), PreUpgradeCommand::Absent);
        let with = script(
            d.path(),
            "with",
            r#"if [ "$1" = pre-upgrade ]; then echo "Usage: simd pre-upgrade"; exit 0; fi; exit 1"#,
        );
        let (p, c) = probe_binary(&with, T).await.unwrap();
        assert_eq!(judge_preupgrade(&p, &c), PreUpgradeCommand::Present);
        let missing = d.path().join("missing");
        assert!(probe_binary(&missing, T).await.is_err());
    }

    #[tokio::test]
    async fn exit_codes_follow_cosmovisor() {
        let d = tempfile::tempdir().unwrap();
        let ok = script(d.path(), "ok", "exit 0");
        assert_eq!(
            run_binary(&ok, "v2", 0, T).await.unwrap(),
            PreUpgradeOutcome::Done { attempts: 1 }
        );
        let ni = script(d.path(), "ni", "exit 1");
        assert_eq!(
            run_binary(&ni, "v2", 0, T).await.unwrap(),
            PreUpgradeOutcome::NotImplemented
        );
        let abort = script(d.path(), "abort", "exit 30");
        assert!(matches!(
            run_binary(&abort, "v2", 3, T).await,
            Err(PreUpgradeError::Aborted { .. })
        ));
        let other = script(d.path(), "other", "exit 5");
        assert!(matches!(
            run_binary(&other, "v2", 3, T).await,
            Err(PreUpgradeError::Failed { .. })
        ));
    }

    #[tokio::test]
    async fn retry_until_success_or_limit() {
        let d = tempfile::tempdir().unwrap();
        let count = d.path().join("count");
        // Exits 31 twice, then 0.
        let flaky = script(
            d.path(),
            "flaky",
            &format!("n=$(cat {c} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {c}; [ $n -ge 3 ] && exit 0; exit 31", c = count.display()),
        );
        assert_eq!(
            run_binary(&flaky, "v2", 2, T).await.unwrap(),
            PreUpgradeOutcome::Done { attempts: 3 }
        );
        std::fs::remove_file(&count).unwrap();
        let err = run_binary(&flaky, "v2", 1, T).await.unwrap_err();
        assert!(
            matches!(
                err,
                PreUpgradeError::RetriesExhausted {
                    attempts: 2,
                    max: 1,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[tokio::test]
    async fn timeouts_and_custom_script_arguments() {
        let d = tempfile::tempdir().unwrap();
        let slow = script(d.path(), "slow", "sleep 30");
        let err = run_binary(&slow, "v2", 0, Duration::from_millis(200))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("killed"), "{err}");
        let out = d.path().join("out");
        let custom = script(
            d.path(),
            "custom",
            &format!("echo \"$1 $2\" > {}", out.display()),
        );
        run_custom(&custom, d.path(), "v2", 100, T).await.unwrap();
        assert_eq!(std::fs::read_to_string(out).unwrap(), "v2 100\n");
        let bad = script(d.path(), "bad", "exit 4");
        assert!(run_custom(&bad, d.path(), "v2", 1, T)
            .await
            .unwrap_err()
            .to_string()
            .contains("exit status 4"));
    }

    #[tokio::test]
    async fn the_custom_script_runs_like_cosmovisor_runs_it() {
        let d = tempfile::tempdir().unwrap();
        let home = d.path().join("home");
        std::fs::create_dir_all(home.join("cosmovisor")).unwrap();
        let out = d.path().join("out");
        // Not executable: the owner's execute bit is added, then it runs in the home.
        let p = home.join("cosmovisor/pre.sh");
        std::fs::write(&p, format!("#!/bin/sh\npwd > {}\n", out.display())).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        run_custom(&p, &home, "v2", 7, T).await.unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o740
        );
        let pwd = std::fs::read_to_string(&out).unwrap();
        assert_eq!(
            Path::new(pwd.trim()).canonicalize().unwrap(),
            home.canonicalize().unwrap()
        );
        // A folder or a missing file is refused with the path named.
        let dir = home.join("cosmovisor/adir");
        std::fs::create_dir_all(&dir).unwrap();
        let err = run_custom(&dir, &home, "v2", 7, T)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not a regular file") && err.contains("adir"),
            "{err}"
        );
        let err = run_custom(&home.join("cosmovisor/none.sh"), &home, "v2", 7, T)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("none.sh"), "{err}");
    }
}
