//! Preflight: run a staged binary once with `version` to prove it starts on this host.
//!
//! A binary that downloads and verifies fine can still be useless here: built for another CPU,
//! linked against a shared library this host lacks (`libwasmvm.x86_64.so` is the classic), or
//! needing a newer glibc. Finding that out days before the halt is the point of staging early.
//!
//! [`run`] never fails: it returns a [`PreflightRecord`] whose `message` carries the OS's or the
//! dynamic loader's own words (`Exec format error`, `error while loading shared libraries: ...`)
//! plus, when the OS gives only a terse errno, what we could read from the file itself (an ELF
//! built for another machine, a missing program interpreter). No network is needed: `version`
//! reads nothing but the binary. The caller must only call this on a binary whose checksum
//! matched (docs/invariants.md, invariant 3).

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use switchyard_exec::{run_helper, HelperFinished, HelperOutput, HelperRan};

use crate::staging_record::{PreflightRecord, PreflightStatus};

/// Longest output kept in the record.
pub(crate) const MAX_OUTPUT: usize = 4096;

/// Runs `<binary> version` with `timeout`, in `binary`'s folder, stdin closed: as every helper
/// runs (exec's helper: a process group of its own, killed with it at the time limit; our
/// systemd variables removed; output read up to a bound).
pub(crate) async fn run(binary: &Path, timeout: Duration) -> PreflightRecord {
    let ran_at = Some(Utc::now());
    let failed = |message: String, output: String| PreflightRecord {
        status: PreflightStatus::Failed,
        output,
        message: Some(message),
        ran_at,
    };
    let out = match run_version(binary, timeout).await {
        Ok(out) => out,
        Err(e) => {
            let mut message = format!("could not start {}: {e}", binary.display());
            if let Some(hint) = diagnose(binary) {
                message.push_str(&format!(" ({hint})"));
            }
            return failed(message, String::new());
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let output = cap(&join_output(&stdout, &stderr));
    let ended = match out.ran {
        HelperRan::Exited(0) => {
            return PreflightRecord {
                status: PreflightStatus::Ok,
                output,
                message: None,
                ran_at,
            }
        }
        HelperRan::TimedOut => {
            return failed(
                format!(
                    "`{} version` did not finish within {timeout:?}",
                    binary.display()
                ),
                output,
            )
        }
        HelperRan::Exited(code) => format!("exit status: {code}"),
        HelperRan::Signalled(how) => how,
    };
    let said = if stderr.trim().is_empty() {
        stdout.trim()
    } else {
        stderr.trim()
    };
    let mut message = format!("`{} version` exited with {ended}", binary.display());
    if !said.is_empty() {
        message.push_str(": ");
        message.push_str(&cap(said));
    }
    failed(message, output)
}

async fn run_version(binary: &Path, timeout: Duration) -> std::io::Result<HelperFinished> {
    let args = ["version".to_string()];
    let mut attempts = 0;
    loop {
        match run_helper(
            binary,
            &args,
            binary.parent(),
            HelperOutput::Capture,
            timeout,
        )
        .await
        {
            // A file written a moment ago can briefly be "busy" while another thread of this
            // process forks with its descriptor still open; that clears within milliseconds.
            Err(e) if e.raw_os_error() == Some(nix::libc::ETXTBSY) && attempts < 20 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            other => return other,
        }
    }
}

fn join_output(stdout: &str, stderr: &str) -> String {
    match (stdout.trim(), stderr.trim()) {
        (o, "") => o.to_string(),
        ("", e) => e.to_string(),
        (o, e) => format!("{o}\n{e}"),
    }
}

fn cap(s: &str) -> String {
    if s.len() <= MAX_OUTPUT {
        return s.to_string();
    }
    let mut end = MAX_OUTPUT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Explains, from the file's own header, why the OS may have refused to start it.
pub(crate) fn diagnose(binary: &Path) -> Option<String> {
    let mut head = Vec::new();
    std::fs::File::open(binary)
        .ok()?
        .take(64 * 1024)
        .read_to_end(&mut head)
        .ok()?;
    if let Some(rest) = head.strip_prefix(b"#!") {
        let line = rest.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = String::from_utf8_lossy(line);
        let interp = line.split_whitespace().next()?;
        return (!Path::new(interp).exists())
            .then(|| format!("its script interpreter {interp} does not exist on this host"));
    }
    let elf = Elf::parse(&head)?;
    let host = std::env::consts::ARCH;
    if let Some(arch) = elf.arch() {
        if arch != host {
            return Some(format!(
                "it is an ELF binary for {arch}, but this host is {host}"
            ));
        }
    }
    if let Some(interp) = elf.interp {
        if !Path::new(&interp).exists() {
            return Some(format!(
                "its dynamic loader {interp} does not exist on this host (built for another libc or distribution?)"
            ));
        }
    }
    None
}

/// The few ELF header fields [`diagnose`] needs.
struct Elf {
    machine: u16,
    interp: Option<String>,
}

impl Elf {
    fn parse(b: &[u8]) -> Option<Elf> {
        if b.len() < 52 || &b[..4] != b"\x7fELF" {
            return None;
        }
        let is64 = b[4] == 2;
        let le = b[5] != 2;
        let u16_at = |o: usize| -> Option<u64> {
            let s: [u8; 2] = b.get(o..o + 2)?.try_into().ok()?;
            Some(if le {
                u16::from_le_bytes(s)
            } else {
                u16::from_be_bytes(s)
            } as u64)
        };
        let u32_at = |o: usize| -> Option<u64> {
            let s: [u8; 4] = b.get(o..o + 4)?.try_into().ok()?;
            Some(if le {
                u32::from_le_bytes(s)
            } else {
                u32::from_be_bytes(s)
            } as u64)
        };
        let u64_at = |o: usize| -> Option<u64> {
            let s: [u8; 8] = b.get(o..o + 8)?.try_into().ok()?;
            Some(if le {
                u64::from_le_bytes(s)
            } else {
                u64::from_be_bytes(s)
            })
        };
        let machine = u16_at(18)? as u16;
        let (phoff, phentsize, phnum) = if is64 {
            (u64_at(32)?, u16_at(54)?, u16_at(56)?)
        } else {
            (u32_at(28)?, u16_at(42)?, u16_at(44)?)
        };
        let mut interp = None;
        for i in 0..phnum.min(64) {
            let ph = usize::try_from(phoff + i * phentsize).ok()?;
            if u32_at(ph) != Some(3) {
                continue; // not PT_INTERP
            }
            let (off, size) = if is64 {
                (u64_at(ph + 8)?, u64_at(ph + 32)?)
            } else {
                (u32_at(ph + 4)?, u32_at(ph + 16)?)
            };
            let (off, size) = (usize::try_from(off).ok()?, usize::try_from(size).ok()?);
            if let Some(raw) = b.get(off..off.checked_add(size)?) {
                let raw = raw.split(|&c| c == 0).next().unwrap_or_default();
                interp = Some(String::from_utf8_lossy(raw).into_owned());
            }
        }
        Some(Elf { machine, interp })
    }

    /// The machine in Rust's `std::env::consts::ARCH` spelling.
    fn arch(&self) -> Option<&'static str> {
        Some(match self.machine {
            3 => "x86",
            62 => "x86_64",
            40 => "arm",
            183 => "aarch64",
            243 => "riscv64",
            8 => "mips",
            20 => "powerpc",
            21 => "powerpc64",
            22 => "s390x",
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn exe(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[tokio::test]
    async fn a_script_that_prints_its_version_passes() {
        let dir = tempfile::tempdir().unwrap();
        let p = exe(dir.path(), "simd", b"#!/bin/sh\necho \"v2.1.0 $1\"\n");
        let r = run(&p, Duration::from_secs(10)).await;
        assert_eq!(r.status, PreflightStatus::Ok, "{r:?}");
        assert_eq!(r.output, "v2.1.0 version");
    }

    #[tokio::test]
    async fn missing_interpreter_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = exe(dir.path(), "simd", b"#!/nonexistent/ld\n");
        let r = run(&p, Duration::from_secs(10)).await;
        assert_eq!(r.status, PreflightStatus::Failed);
        let m = r.message.unwrap();
        assert!(m.contains("No such file or directory"), "{m}");
        assert!(m.contains("/nonexistent/ld"), "{m}");
    }

    #[tokio::test]
    async fn non_zero_exit_carries_stderr() {
        let dir = tempfile::tempdir().unwrap();
        let p = exe(
            dir.path(),
            "simd",
            b"#!/bin/sh\necho 'panic: no upgrade handler' >&2\nexit 3\n",
        );
        let r = run(&p, Duration::from_secs(10)).await;
        assert_eq!(r.status, PreflightStatus::Failed);
        let m = r.message.unwrap();
        assert!(
            m.contains("exit status: 3") && m.contains("panic: no upgrade handler"),
            "{m}"
        );
    }

    /// A `version` that leaves a child behind and hangs: at the time limit the whole group goes,
    /// the child too (a preflight never leaves a process running).
    #[tokio::test]
    async fn a_hanging_binary_is_killed_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("child.pid");
        let script = format!(
            "#!/bin/sh\nsleep 60 &\necho $! > {}\nwait\n",
            pidfile.display()
        );
        let p = exe(dir.path(), "simd", script.as_bytes());
        let r = run(&p, Duration::from_millis(500)).await;
        assert_eq!(r.status, PreflightStatus::Failed);
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // Killed with its group; reaped by init once orphaned (wait for that, bounded).
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while switchyard_exec::ProcessIdentity::of(pid).is_some_and(|p| p.is_alive()) {
            assert!(
                std::time::Instant::now() < deadline,
                "the preflight's child {pid} outlived it"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[tokio::test]
    async fn a_hanging_binary_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let p = exe(dir.path(), "simd", b"#!/bin/sh\nexec sleep 30\n");
        let started = std::time::Instant::now();
        let r = run(&p, Duration::from_millis(300)).await;
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(r.status, PreflightStatus::Failed);
        assert!(r.message.unwrap().contains("did not finish"));
    }

    #[test]
    fn elf_header_of_this_test_binary_matches_the_host() {
        let me = std::env::current_exe().unwrap();
        let head = std::fs::read(&me).unwrap();
        let elf = Elf::parse(&head[..head.len().min(64 * 1024)]).unwrap();
        assert_eq!(elf.arch(), Some(std::env::consts::ARCH));
        assert_eq!(diagnose(&me), None);
    }
}
