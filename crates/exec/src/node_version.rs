//! Asks a node binary which Cosmos SDK it was built with: `<bin> version --long --output json`
//! reports `cosmos_sdk_version`. That decides what `--halt-height` means (see
//! `switchyard_core::halt`).

use std::path::Path;
use std::time::Duration;

use switchyard_core::halt::SdkVersion;

#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    #[error("running `{bin} version --long --output json`: {why}")]
    Run { bin: String, why: String },
    #[error("`{bin} version --long --output json` printed no cosmos_sdk_version we understand (got {got:?})")]
    Unrecognised { bin: String, got: String },
}

/// The binary's Cosmos SDK version.
pub async fn sdk_version(bin: &Path, timeout: Duration) -> Result<SdkVersion, VersionError> {
    let name = bin.display().to_string();
    let run = tokio::process::Command::new(bin)
        .args(["version", "--long", "--output", "json"])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = match tokio::time::timeout(timeout, run).await {
        Err(_) => {
            return Err(VersionError::Run {
                bin: name,
                why: format!("no answer within {timeout:?}"),
            })
        }
        Ok(Err(e)) => {
            return Err(VersionError::Run {
                bin: name,
                why: e.to_string(),
            })
        }
        Ok(Ok(o)) => o,
    };
    if !out.status.success() {
        return Err(VersionError::Run {
            bin: name,
            why: format!(
                "exit status {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    // Some binaries print the JSON on stderr; look at both.
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    parse_version_output(&text).ok_or_else(|| VersionError::Unrecognised {
        bin: name,
        got: text.trim().chars().take(200).collect(),
    })
}

/// Finds `cosmos_sdk_version` in the output of `version --long --output json`.
pub fn parse_version_output(text: &str) -> Option<SdkVersion> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l.trim()).ok())
        .chain(serde_json::from_str(text.trim()).ok())
        .find_map(|v| {
            v.get("cosmos_sdk_version")
                .and_then(|s| s.as_str())
                .and_then(SdkVersion::parse)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cosmos_sdk_version() {
        let out = r#"{"name":"sim","server_name":"simd","version":"0.50.10","commit":"","build_tags":"","go":"go version go1.23","build_deps":[],"cosmos_sdk_version":"v0.50.10"}"#;
        assert_eq!(parse_version_output(out), SdkVersion::parse("v0.50.10"));
        assert_eq!(parse_version_output("0.50.10"), None);
    }
}
