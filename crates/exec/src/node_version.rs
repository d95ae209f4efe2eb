//! Asks a node binary which Cosmos SDK it was built with: `<bin> version --long --output json`
//! reports `cosmos_sdk_version`. That decides what `--halt-height` means (see
//! `switchyard_core::halt`).

use std::path::Path;
use std::time::Duration;

use switchyard_core::SdkVersion;

use crate::helper::{self, Output, Ran};

#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    #[error("running `{bin} version --long --output json`: {why}")]
    Run { bin: String, why: String },
    #[error("`{bin} version --long --output json` printed no cosmos_sdk_version we understand (got {got:?})")]
    Unrecognised { bin: String, got: String },
}

/// The binary's Cosmos SDK version. The probe runs as a helper (own process group, killed with
/// it at the time limit or when this future is dropped); reading the binary's build info runs off
/// the async thread.
pub async fn sdk_version(bin: &Path, timeout: Duration) -> Result<SdkVersion, VersionError> {
    let name = bin.display().to_string();
    let args = ["version", "--long", "--output", "json"].map(String::from);
    let out = helper::run(bin, &args, None, Output::Capture, timeout)
        .await
        .map_err(|e| VersionError::Run {
            bin: name.clone(),
            why: e.to_string(),
        })?;
    match out.ran {
        Ran::Exited(0) => {}
        Ran::TimedOut => {
            return Err(VersionError::Run {
                bin: name,
                why: format!("no answer within {timeout:?}"),
            })
        }
        other => {
            let how = match other {
                Ran::Exited(c) => format!("exit status {c}"),
                Ran::Signalled(s) => s,
                Ran::TimedOut => unreachable!(),
            };
            return Err(VersionError::Run {
                bin: name,
                why: format!("{how}: {}", String::from_utf8_lossy(&out.stderr).trim()),
            });
        }
    }
    // Some binaries print the JSON on stderr; look at both.
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if let Some(v) = parse_version_output(&text) {
        return Ok(v);
    }
    // A binary whose main module *is* the SDK (simd built from the cosmos-sdk module itself)
    // reports an empty cosmos_sdk_version; its Go build info still names the module version.
    let path = bin.to_path_buf();
    if let Ok(Some(v)) =
        tokio::task::spawn_blocking(move || sdk_version_from_build_info(&path)).await
    {
        return Ok(v);
    }
    Err(VersionError::Unrecognised {
        bin: name,
        got: text.trim().chars().take(200).collect(),
    })
}

/// The cosmos-sdk module version from the Go build info embedded in the binary: the text lines
/// `mod\tgithub.com/cosmos/cosmos-sdk\tv0.46.16\t...` (the SDK as the main module) or
/// `dep\tgithub.com/cosmos/cosmos-sdk\tv0.50.10\t...`, with a following `=>` line (a replace)
/// taking precedence.
pub fn sdk_version_from_build_info(bin: &Path) -> Option<SdkVersion> {
    let bytes = std::fs::read(bin).ok()?;
    parse_build_info(&bytes)
}

fn parse_build_info(bytes: &[u8]) -> Option<SdkVersion> {
    const MODULE: &[u8] = b"\tgithub.com/cosmos/cosmos-sdk\t";
    let mut from = 0;
    while let Some(pos) = find(&bytes[from..], MODULE) {
        let at = from + pos;
        from = at + MODULE.len();
        let kind_start = at.saturating_sub(3);
        let kind = &bytes[kind_start..at];
        if kind != b"mod" && kind != b"dep" {
            continue;
        }
        let line_end = bytes[from..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(bytes.len(), |e| from + e);
        let mut version = field(&bytes[from..line_end]);
        // A replace directive follows on the next line as "=>\t<path>\t<version>\t<sum>".
        let next = &bytes[(line_end + 1).min(bytes.len())..];
        if let Some(rest) = next.strip_prefix(b"=>\t") {
            let path_end = rest.iter().position(|b| *b == b'\t').unwrap_or(rest.len());
            let after = &rest[(path_end + 1).min(rest.len())..];
            let end = after
                .iter()
                .position(|b| *b == b'\n')
                .unwrap_or(after.len());
            let replaced = field(&after[..end]);
            if SdkVersion::parse(&replaced).is_some() {
                version = replaced;
            }
        }
        if let Some(v) = SdkVersion::parse(&version) {
            return Some(v);
        }
    }
    None
}

fn field(line: &[u8]) -> String {
    let end = line.iter().position(|b| *b == b'\t').unwrap_or(line.len());
    String::from_utf8_lossy(&line[..end]).into_owned()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
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
    fn reads_the_sdk_version_from_go_build_info() {
        let main = b"\x00path\tgithub.com/cosmos/cosmos-sdk/simapp/simd\nmod\tgithub.com/cosmos/cosmos-sdk\tv0.46.16\th1:abc=\ndep\tgithub.com/x/y\tv1.0.0\n";
        assert_eq!(parse_build_info(main), SdkVersion::parse("v0.46.16"));
        let dep = b"mod\tgithub.com/cosmos/gaia/v15\tv15.0.0\t\ndep\tgithub.com/cosmos/cosmos-sdk\tv0.47.10\th1:x=\n=>\tgithub.com/cosmos/cosmos-sdk\tv0.47.10-ics-lsm\th1:y=\n";
        assert_eq!(parse_build_info(dep), SdkVersion::parse("v0.47.10"));
        assert_eq!(parse_build_info(b"nothing here"), None);
    }

    #[test]
    fn a_real_go_binary_if_one_is_at_hand() {
        // The e2e builds cache real simd binaries; when present, their build info must parse.
        let home = std::env::var("HOME").unwrap_or_default();
        let simd = Path::new(&home).join(".cache/switchyard-e2e/simd-v0.46.16/bin/simd");
        if simd.is_file() {
            assert_eq!(
                sdk_version_from_build_info(&simd),
                SdkVersion::parse("v0.46.16")
            );
        }
    }

    #[test]
    fn reads_cosmos_sdk_version() {
        let out = r#"{"name":"sim","server_name":"simd","version":"0.50.10","commit":"","build_tags":"","go":"go version go1.23","build_deps":[],"cosmos_sdk_version":"v0.50.10"}"#;
        assert_eq!(parse_version_output(out), SdkVersion::parse("v0.50.10"));
        assert_eq!(parse_version_output("0.50.10"), None);
    }
}
