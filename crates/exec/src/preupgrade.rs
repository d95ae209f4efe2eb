//! Pre-upgrade hooks, run after the old node stopped and before `current` is switched.
//!
//! 1. `COSMOVISOR_CUSTOM_PREUPGRADE`: `$DAEMON_HOME/cosmovisor/<script> <name> <height>`; any
//!    failure aborts the upgrade.
//! 2. The new binary's `pre-upgrade` command, with cosmovisor's exit-code meanings:
//!    0 done; 1 not implemented (continue); 30 abort; 31 retry, up to
//!    `DAEMON_PREUPGRADE_MAX_RETRIES` times, then abort; anything else aborts.
//!
//! Each run has a timeout, after which it is killed and the upgrade aborted. Their output goes
//! to the operator like the node's.

use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum PreUpgradeError {
    #[error("custom pre-upgrade script {path} failed: {why}")]
    Custom { path: PathBuf, why: String },
    #[error("`{bin} pre-upgrade` exited with 30: the new binary asked to abort the upgrade")]
    Aborted { bin: PathBuf },
    #[error("`{bin} pre-upgrade` kept asking to retry (exit 31) after {attempts} attempt(s); DAEMON_PREUPGRADE_MAX_RETRIES={max}")]
    RetriesExhausted {
        bin: PathBuf,
        attempts: u32,
        max: u32,
    },
    #[error("`{bin} pre-upgrade` failed: {why}")]
    Failed { bin: PathBuf, why: String },
}

/// What the binary's pre-upgrade said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreUpgradeOutcome {
    Done { attempts: u32 },
    NotImplemented,
}

enum Ran {
    Exited(i32),
    TimedOut,
    Signalled(String),
}

async fn run_with_timeout(bin: &Path, args: &[String], timeout: Duration) -> std::io::Result<Ran> {
    let mut child = tokio::process::Command::new(bin)
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    match tokio::time::timeout(timeout, child.wait()).await {
        Err(_) => {
            let _ = child.kill().await;
            Ok(Ran::TimedOut)
        }
        Ok(status) => {
            let status = status?;
            Ok(match status.code() {
                Some(c) => Ran::Exited(c),
                None => Ran::Signalled(status.to_string()),
            })
        }
    }
}

/// Runs the custom pre-upgrade script with `name height`.
pub async fn run_custom(
    script: &Path,
    name: &str,
    height: i64,
    timeout: Duration,
) -> Result<(), PreUpgradeError> {
    let fail = |why: String| PreUpgradeError::Custom {
        path: script.to_path_buf(),
        why,
    };
    let args = [name.to_string(), height.to_string()];
    match run_with_timeout(script, &args, timeout).await {
        Err(e) => Err(fail(format!("cannot run it: {e}"))),
        Ok(Ran::Exited(0)) => Ok(()),
        Ok(Ran::Exited(c)) => Err(fail(format!("exit status {c}"))),
        Ok(Ran::TimedOut) => Err(fail(format!("no exit within {timeout:?}; killed"))),
        Ok(Ran::Signalled(s)) => Err(fail(s)),
    }
}

/// Runs `<bin> pre-upgrade` with cosmovisor's retry rules.
pub async fn run_binary(
    bin: &Path,
    max_retries: u32,
    timeout: Duration,
) -> Result<PreUpgradeOutcome, PreUpgradeError> {
    let fail = |why: String| PreUpgradeError::Failed {
        bin: bin.to_path_buf(),
        why,
    };
    let mut attempts = 0;
    loop {
        attempts += 1;
        let ran = run_with_timeout(bin, &["pre-upgrade".to_string()], timeout)
            .await
            .map_err(|e| fail(format!("cannot run it: {e}")))?;
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
    async fn exit_codes_follow_cosmovisor() {
        let d = tempfile::tempdir().unwrap();
        let ok = script(d.path(), "ok", "exit 0");
        assert_eq!(
            run_binary(&ok, 0, T).await.unwrap(),
            PreUpgradeOutcome::Done { attempts: 1 }
        );
        let ni = script(d.path(), "ni", "exit 1");
        assert_eq!(
            run_binary(&ni, 0, T).await.unwrap(),
            PreUpgradeOutcome::NotImplemented
        );
        let abort = script(d.path(), "abort", "exit 30");
        assert!(matches!(
            run_binary(&abort, 3, T).await,
            Err(PreUpgradeError::Aborted { .. })
        ));
        let other = script(d.path(), "other", "exit 5");
        assert!(matches!(
            run_binary(&other, 3, T).await,
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
            run_binary(&flaky, 2, T).await.unwrap(),
            PreUpgradeOutcome::Done { attempts: 3 }
        );
        std::fs::remove_file(&count).unwrap();
        let err = run_binary(&flaky, 1, T).await.unwrap_err();
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
        let err = run_binary(&slow, 0, Duration::from_millis(200))
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
        run_custom(&custom, "v2", 100, T).await.unwrap();
        assert_eq!(std::fs::read_to_string(out).unwrap(), "v2 100\n");
        let bad = script(d.path(), "bad", "exit 4");
        assert!(run_custom(&bad, "v2", 1, T)
            .await
            .unwrap_err()
            .to_string()
            .contains("exit status 4"));
    }
}
