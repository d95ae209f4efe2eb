//! Backup time: how long [`switchyard_store::backup::take`] takes on a node's data folder, and
//! how long [`switchyard_store::backup::estimate`] (what `plan` and metrics call) takes.
//!
//! Each run drops the page cache first when it can (root; `BACKUP_BENCH_DROP_CACHES=0` keeps
//! it), times one backup, prints one line that `bench/backup.sh` parses, and removes the backup:
//!
//! ```text
//! switchyard-backup run=1 secs=... linked_files=... linked_bytes=... copied_files=... copied_bytes=... cloned_files=... cross_device=...
//! switchyard-estimate secs=... copied_bytes=... linked_bytes=... fits=...
//! ```
//!
//! Environment: `BACKUP_BENCH_HOME` (a node home whose `data/` is backed up; else a small
//! synthetic one is made in a temporary folder), `BACKUP_BENCH_ROOT` (the backup folder; default
//! the home), `BACKUP_BENCH_RUNS` (default 3).

use std::path::{Path, PathBuf};
use std::time::Instant;

use switchyard_core::{Current, UpgradeName};
use switchyard_store::backup::{self, BackupRequest};
use switchyard_store::Layout;

fn drop_caches() -> bool {
    if std::env::var("BACKUP_BENCH_DROP_CACHES").as_deref() == Ok("0") {
        return false;
    }
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok()
}

/// A small data folder (a few hundred table files) when no home is given.
fn synthetic_home(dir: &Path) -> std::io::Result<()> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for db in ["application.db", "blockstore.db", "state.db", "tx_index.db"] {
        let d = dir.join("data").join(db);
        std::fs::create_dir_all(&d)?;
        for i in 0..100 {
            let bytes: Vec<u8> = (0..256 * 1024)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            std::fs::write(d.join(format!("{:06}.ldb", 10 + i)), bytes)?;
        }
        std::fs::write(d.join("000009.log"), vec![1u8; 4 << 20])?;
        std::fs::write(d.join("MANIFEST-000008"), vec![2u8; 64 << 10])?;
        std::fs::write(d.join("CURRENT"), "MANIFEST-000008\n")?;
    }
    Ok(())
}

fn main() {
    let tmp;
    let home = match std::env::var_os("BACKUP_BENCH_HOME") {
        Some(h) => PathBuf::from(h),
        None => {
            tmp = tempfile::tempdir().expect("a temporary folder");
            synthetic_home(tmp.path()).expect("writing the synthetic data folder");
            tmp.path().to_path_buf()
        }
    };
    let root = std::env::var_os("BACKUP_BENCH_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.clone());
    let runs: u32 = std::env::var("BACKUP_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let layout = Layout::new(&home, "bench");
    let upgrade = UpgradeName::parse("bench", false).expect("a valid name");

    for run in 1..=runs {
        let dropped = drop_caches();
        let started = Instant::now();
        let b = backup::take(
            &BackupRequest {
                layout: &layout,
                backup_root: &root,
                from: &Current::Genesis,
                upgrade: &upgrade,
                upgrade_height: 1,
                swap_started_at: None,
            },
            &|_| {},
        );
        let secs = started.elapsed().as_secs_f64();
        let b = match b {
            Ok(b) => b,
            Err(e) => {
                eprintln!("backup failed: {e}");
                std::process::exit(1);
            }
        };
        let s = b.meta.stats;
        println!(
            "switchyard-backup run={run} secs={secs:.4} cold_cache={dropped} linked_files={} linked_bytes={} copied_files={} copied_bytes={} cloned_files={} cloned_bytes={} cross_device={}",
            s.linked_files, s.linked_bytes, s.copied_files, s.copied_bytes, s.cloned_files, s.cloned_bytes, b.meta.cross_device
        );
        std::fs::remove_dir_all(&b.path).expect("removing the backup");
    }

    let dropped = drop_caches();
    let started = Instant::now();
    let e = backup::estimate(&layout.data_dir(), &root).expect("estimate");
    let cold = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let _ = backup::estimate(&layout.data_dir(), &root).expect("estimate");
    let warm = started.elapsed().as_secs_f64();
    println!(
        "switchyard-estimate cold_secs={cold:.4} cold_cache={dropped} warm_secs={warm:.4} files={} copied_bytes={} linked_bytes={} fits={}",
        e.linked_files + e.copied_files,
        e.copied_bytes,
        e.linked_bytes,
        e.fits
    );
}
