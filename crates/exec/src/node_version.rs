//! Asks a node binary which Cosmos SDK it was built with: `<bin> version --long --output json`
//! reports `cosmos_sdk_version`. That decides what `--halt-height` means (see
//! `switchyard_core::halt`).

use std::path::Path;
use std::time::Duration;

use switchyard_core::SdkVersion;

use crate::helper::{self, Output, Ran};

/// Why [`sdk_version`] could not tell a binary's Cosmos SDK version.
#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    /// `<bin> version --long --output json` could not be started, did not exit 0, or gave no
    /// answer within the time limit.
    #[error("running `{bin} version --long --output json`: {why}")]
    Run {
        /// The binary's path, as displayed.
        bin: String,
        /// What went wrong: the start error, the exit status or signal with its stderr, or the
        /// time limit.
        why: String,
    },
    /// The command exited 0 but printed no `cosmos_sdk_version` that parses, and the binary's Go
    /// build info names no cosmos-sdk version either.
    #[error("`{bin} version --long --output json` printed no cosmos_sdk_version we understand (got {got:?})")]
    Unrecognised {
        /// The binary's path, as displayed.
        bin: String,
        /// The start of what it printed (stdout then stderr, trimmed, at most 200 characters).
        got: String,
    },
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

/// The cosmos-sdk module version from the Go build info embedded in the binary: the line
/// `mod\tgithub.com/cosmos/cosmos-sdk\tv0.46.16\t...` (the SDK as the main module) or
/// `dep\tgithub.com/cosmos/cosmos-sdk\tv0.50.10\t...`, with a following `=>` line (a replace)
/// taking precedence when it names a version.
///
/// The build info is read from the ELF `.go.buildinfo` section (Go 1.18+ writes the module
/// text inline there), through the `object` crate and without loading the whole binary. When
/// there is no such section, or it is in the older pointer-based layout, the binary's bytes are
/// scanned for the same lines instead.
pub(crate) fn sdk_version_from_build_info(bin: &Path) -> Option<SdkVersion> {
    match go_build_info(bin) {
        Some(modinfo) => parse_build_info(modinfo.as_bytes()),
        None => {
            let bytes = std::fs::read(bin).ok()?;
            parse_build_info(&bytes)
        }
    }
}

/// The module text of `.go.buildinfo`, when the binary is an ELF file with the inline layout.
fn go_build_info(bin: &Path) -> Option<String> {
    use object::{Object, ObjectSection};
    let file = std::fs::File::open(bin).ok()?;
    let cache = object::ReadCache::new(file);
    let elf = object::File::parse(&cache).ok()?;
    let section = elf.section_by_name(".go.buildinfo")?;
    // The header is 32 bytes; the inline strings are small (kilobytes).
    let data = section
        .data_range(section.address(), section.size().min(1 << 20))
        .ok()??;
    modinfo_from_section(data)
}

/// Decodes the `.go.buildinfo` section: a 14-byte magic, pointer size, flags (bit 1: strings
/// inline), padding to 32 bytes, then two length-prefixed strings, the Go version and the
/// module info. The module info is framed by 16-byte sentinels.
fn modinfo_from_section(data: &[u8]) -> Option<String> {
    const MAGIC: &[u8] = b"\xff Go buildinf:";
    const INLINE: u8 = 0x2;
    if data.len() < 32 || !data.starts_with(MAGIC) || data[15] & INLINE == 0 {
        return None;
    }
    let rest = &data[32..];
    let (_go_version, rest) = varint_string(rest)?;
    let (modinfo, _) = varint_string(rest)?;
    let text = if modinfo.len() >= 33 && modinfo[modinfo.len() - 17] == b'\n' {
        &modinfo[16..modinfo.len() - 16]
    } else {
        modinfo
    };
    Some(String::from_utf8_lossy(text).into_owned())
}

/// A string prefixed by its length as an unsigned LEB128 varint (Go's `binary.Uvarint`).
fn varint_string(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut len: u64 = 0;
    for (i, byte) in b.iter().enumerate().take(10) {
        len |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let start = i + 1;
            let end = start.checked_add(usize::try_from(len).ok()?)?;
            return (end <= b.len()).then(|| (&b[start..end], &b[end..]));
        }
    }
    None
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
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Finds `cosmos_sdk_version` in the output of `version --long --output json`.
pub(crate) fn parse_version_output(text: &str) -> Option<SdkVersion> {
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

    /// Builds a tiny Go program in `dir` (no network: GOPROXY=off, GOTOOLCHAIN=local) and returns
    /// the binary. Fails loudly when `go` is missing: this test must check something.
    fn go_build(dir: &Path, files: &[(&str, &str)], git_tag: Option<&str>) -> std::path::PathBuf {
        for (name, body) in files {
            let p = dir.join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
        let run = |cmd: &str, args: &[&str]| {
            let out = std::process::Command::new(cmd)
                .args(args)
                .current_dir(dir)
                .env("GOPROXY", "off")
                .env("GOTOOLCHAIN", "local")
                .env("GOFLAGS", "-mod=mod")
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .env("GIT_AUTHOR_NAME", "t")
                .env("GIT_AUTHOR_EMAIL", "t@t")
                .env("GIT_COMMITTER_NAME", "t")
                .env("GIT_COMMITTER_EMAIL", "t@t")
                .output()
                .unwrap_or_else(|e| panic!("running {cmd} (is it installed?): {e}"));
            assert!(
                out.status.success(),
                "{cmd} {args:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        if let Some(tag) = git_tag {
            run("git", &["init", "-q"]);
            run("git", &["add", "-A"]);
            run("git", &["commit", "-qm", "x"]);
            run("git", &["tag", tag]);
        }
        run("go", &["build", "-o", "app", "."]);
        dir.join("app")
    }

    const MAIN: &str = "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hi\") }\n";

    /// A real Go binary whose main module is the SDK (simd built from the cosmos-sdk module):
    /// Go stamps the module version from the git tag into `.go.buildinfo`.
    #[test]
    fn a_real_go_binary_with_the_sdk_as_main_module() {
        let dir = tempfile::tempdir().unwrap();
        let bin = go_build(
            dir.path(),
            &[
                ("go.mod", "module github.com/cosmos/cosmos-sdk\n\ngo 1.21\n"),
                ("main.go", MAIN),
            ],
            Some("v0.46.16"),
        );
        let info = go_build_info(&bin).expect("a .go.buildinfo section with inline strings");
        assert!(
            info.contains("mod\tgithub.com/cosmos/cosmos-sdk\tv0.46.16"),
            "{info}"
        );
        assert_eq!(
            sdk_version_from_build_info(&bin),
            SdkVersion::parse("v0.46.16")
        );
    }

    /// A real Go binary that depends on the SDK through a replace: the required version wins
    /// when the replacement has none (a local folder is `(devel)`).
    #[test]
    fn a_real_go_binary_with_the_sdk_as_a_replaced_dependency() {
        let dir = tempfile::tempdir().unwrap();
        let bin = go_build(
            dir.path(),
            &[
                (
                    "go.mod",
                    "module example.com/gaia\n\ngo 1.21\n\nrequire github.com/cosmos/cosmos-sdk v0.50.10\n\nreplace github.com/cosmos/cosmos-sdk => ./sdk\n",
                ),
                ("sdk/go.mod", "module github.com/cosmos/cosmos-sdk\n\ngo 1.21\n"),
                ("sdk/version/version.go", "package version\n\nconst Name = \"sdk\"\n"),
                (
                    "main.go",
                    "package main\n\nimport (\n\t\"fmt\"\n\n\t\"github.com/cosmos/cosmos-sdk/version\"\n)\n\nfunc main() { fmt.Println(version.Name) }\n",
                ),
            ],
            None,
        );
        let info = go_build_info(&bin).expect("a .go.buildinfo section");
        assert!(
            info.contains("dep\tgithub.com/cosmos/cosmos-sdk\tv0.50.10"),
            "{info}"
        );
        assert!(info.contains("=>\t./sdk"), "{info}");
        assert_eq!(
            sdk_version_from_build_info(&bin),
            SdkVersion::parse("v0.50.10")
        );
    }

    /// Odd inputs: not ELF (falls back to the byte scan), a truncated or lying section header,
    /// varints that overflow or run past the end.
    #[test]
    fn odd_binaries_fall_back_or_fail_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("simd");
        std::fs::write(
            &script,
            b"#!/bin/sh\n# mod\tgithub.com/cosmos/cosmos-sdk\tv0.47.3\th1:x=\n",
        )
        .unwrap();
        assert_eq!(go_build_info(&script), None);
        assert_eq!(
            sdk_version_from_build_info(&script),
            SdkVersion::parse("v0.47.3")
        );
        let mut sec = b"\xff Go buildinf:\x08\x02".to_vec();
        sec.resize(32, 0);
        assert_eq!(modinfo_from_section(&sec), None, "no strings");
        let mut long = sec.clone();
        long.extend_from_slice(&[0xff; 12]);
        assert_eq!(modinfo_from_section(&long), None, "varint too long");
        let mut past = sec.clone();
        past.extend_from_slice(&[0x05, b'g', b'o']);
        assert_eq!(modinfo_from_section(&past), None, "string past the end");
        let mut old = sec.clone();
        old[15] = 0;
        assert_eq!(
            modinfo_from_section(&old),
            None,
            "pointer layout: not inline"
        );
        assert_eq!(modinfo_from_section(b"\xff Go"), None);
        assert_eq!(parse_build_info(b""), None);
    }

    #[test]
    fn reads_cosmos_sdk_version() {
        let out = r#"{"name":"sim","server_name":"simd","version":"0.50.10","commit":"","build_tags":"","go":"go version go1.23","build_deps":[],"cosmos_sdk_version":"v0.50.10"}"#;
        assert_eq!(parse_version_output(out), SdkVersion::parse("v0.50.10"));
        assert_eq!(parse_version_output("0.50.10"), None);
    }
}
