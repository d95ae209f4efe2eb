//! Verify throughput: how fast switchyard's streaming hasher checks a large file.
//!
//! Runs [`switchyard_store::hash_file`] (the same `Hasher` a download feeds chunk by
//! chunk) over one file, best of several runs after a warm-up read, and prints one line that
//! `bench/verify_throughput.sh` parses:
//!
//! ```text
//! switchyard-verify algo=sha256 bytes=... best_secs=... mb_per_s=... digest=...
//! ```
//!
//! Environment: `VERIFY_BENCH_FILE` (hash this file; else a file of `VERIFY_BENCH_MB` MiB,
//! default 256, is made in a temporary folder), `VERIFY_BENCH_RUNS` (default 3),
//! `VERIFY_BENCH_ALGOS` (comma list, default `sha256`).

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use switchyard_core::ChecksumAlgo;
use switchyard_store::hash_file;

fn env_num(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn algo(name: &str) -> Option<ChecksumAlgo> {
    Some(match name.trim() {
        "md5" => ChecksumAlgo::Md5,
        "sha1" => ChecksumAlgo::Sha1,
        "sha256" => ChecksumAlgo::Sha256,
        "sha512" => ChecksumAlgo::Sha512,
        _ => return None,
    })
}

/// Fills `path` with `mib` MiB of pseudo-random bytes (xorshift: incompressible, no syscalls).
fn make_file(path: &PathBuf, mib: u64) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..mib {
        for chunk in block.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        f.write_all(&block)?;
    }
    f.flush()
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is expected.
    let runs = env_num("VERIFY_BENCH_RUNS", 3).max(1);
    let _tmp;
    let path = match std::env::var_os("VERIFY_BENCH_FILE") {
        Some(p) => PathBuf::from(p),
        None => {
            let dir = tempfile::tempdir().expect("temporary folder");
            let p = dir.path().join("blob.bin");
            make_file(&p, env_num("VERIFY_BENCH_MB", 256)).expect("writing the test file");
            _tmp = dir;
            p
        }
    };
    let algos = std::env::var("VERIFY_BENCH_ALGOS").unwrap_or_else(|_| "sha256".into());
    // Warm-up: the file is read once so every run hashes from the page cache, as sha256sum will.
    let _ = hash_file(&path, ChecksumAlgo::Md5);
    for name in algos.split(',') {
        let Some(a) = algo(name) else {
            eprintln!("unknown algorithm {name:?}");
            std::process::exit(2);
        };
        let mut best = f64::INFINITY;
        let mut last = None;
        for _ in 0..runs {
            let t = Instant::now();
            let (sum, bytes) = hash_file(&path, a).expect("hashing the file");
            best = best.min(t.elapsed().as_secs_f64());
            last = Some((sum, bytes));
        }
        let (sum, bytes) = last.expect("at least one run");
        println!(
            "switchyard-verify algo={} bytes={bytes} best_secs={best:.4} mb_per_s={:.1} digest={}",
            a.as_str(),
            bytes as f64 / best / 1e6,
            sum.hex
        );
    }
}
