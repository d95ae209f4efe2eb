//! stage_from_source() with archives served from 127.0.0.1: good layouts, and every hostile shape refused.

mod common;

use common::*;
use switchyard_core::BinarySource;
use switchyard_core::UpgradeName;
use switchyard_store::ArchiveError;
use switchyard_store::Layout;
use switchyard_store::{stage_from_source, StageError, StageOptions};
use switchyard_store::{PreflightStatus, StagingRecord};

struct Case {
    dir: tempfile::TempDir,
    layout: Layout,
    name: UpgradeName,
    server: Server,
}

impl Case {
    fn new() -> Case {
        let dir = tempfile::tempdir().unwrap();
        // The node home is one level down so that "outside" (dir/...) is observable.
        let layout = Layout::new(dir.path().join("home"), "simd");
        Case {
            dir,
            layout,
            name: UpgradeName::parse("v2", false).unwrap(),
            server: Server::start(),
        }
    }

    async fn stage_from_source(
        &self,
        file: &str,
        body: Vec<u8>,
        o: &StageOptions,
    ) -> Result<StagingRecord, StageError> {
        let sum = sha256_hex(&body);
        self.server.route(&format!("/{file}"), Route::file(body));
        let src =
            BinarySource::from_url(&self.server.url(&format!("/{file}?checksum=sha256:{sum}")))
                .unwrap();
        stage_from_source(&self.layout, &self.name, &src, o)
            .await
            .map(|out| out.record().cloned().expect("staged by us"))
    }

    /// After a refusal: nothing installed, nothing recorded, nothing left in staging.
    fn assert_nothing_installed(&self) {
        assert!(!self.layout.upgrade_dir(&self.name).exists());
        assert_eq!(
            switchyard_store::load_staging_record(&self.layout, &self.name).unwrap(),
            None
        );
        assert!(staging_is_clean(&self.layout.home));
    }
}

fn archive_err(e: StageError) -> ArchiveError {
    match e {
        StageError::Archive { source, .. } => source,
        other => panic!("expected an archive error, got {other:?}"),
    }
}

#[tokio::test]
async fn tar_gz_with_bin_and_a_library_is_installed_whole() {
    let c = Case::new();
    let bin = script("v2.1.0");
    let tgz = tar_gz(&[
        T::Dir("bin/"),
        T::File("bin/simd", &bin, 0o755),
        T::File("lib/libwasmvm.x86_64.so", b"\x7fELF fake lib", 0o644),
        T::Symlink("lib/libwasmvm.so", "libwasmvm.x86_64.so"),
    ]);
    let rec = c
        .stage_from_source("simd-v2.1.0-linux-amd64.tar.gz", tgz, &opts())
        .await
        .unwrap();
    let dir = c.layout.upgrade_dir(&c.name);
    assert_eq!(std::fs::read(dir.join("bin/simd")).unwrap(), bin);
    assert_eq!(
        std::fs::read(dir.join("lib/libwasmvm.so")).unwrap(),
        b"\x7fELF fake lib"
    );
    assert_eq!(rec.archive.as_deref(), Some("tar.gz"));
    assert_eq!(rec.binary_sha256, sha256_hex(&bin));
    assert_ne!(
        rec.digest,
        format!("sha256:{}", rec.binary_sha256),
        "digest is the archive's"
    );
    assert_eq!(rec.preflight.status, PreflightStatus::Ok);
    assert_eq!(rec.preflight.output, "v2.1.0");
}

#[tokio::test]
async fn zip_with_the_binary_at_its_root_is_moved_into_bin() {
    let c = Case::new();
    let bin = script("v2.2.0");
    // Not marked executable in the archive: staging sets the bit.
    let z = zip(&[
        Z::File("simd", &bin, 0o644),
        Z::File("README.md", b"notes", 0o644),
    ]);
    let rec = c.stage_from_source("simd.zip", z, &opts()).await.unwrap();
    let dir = c.layout.upgrade_dir(&c.name);
    assert_eq!(std::fs::read(dir.join("bin/simd")).unwrap(), bin);
    assert!(dir.join("README.md").is_file());
    assert_eq!(rec.archive.as_deref(), Some("zip"));
    assert_eq!(rec.preflight.output, "v2.2.0");
}

#[tokio::test]
async fn an_archive_url_without_a_suffix_is_recognised_by_its_bytes() {
    let c = Case::new();
    let tgz = tar_gz(&[T::File("simd", &script("v9"), 0o755)]);
    let rec = c.stage_from_source("download", tgz, &opts()).await.unwrap();
    assert_eq!(rec.archive.as_deref(), Some("tar.gz"));
    assert_eq!(rec.preflight.output, "v9");
}

#[tokio::test]
async fn archive_without_the_daemon_lists_what_it_holds() {
    let c = Case::new();
    let tgz = tar_gz(&[T::File("bin/gaiad", &script("v1"), 0o755)]);
    let err = archive_err(
        c.stage_from_source("x.tgz", tgz, &opts())
            .await
            .unwrap_err(),
    );
    assert!(matches!(err, ArchiveError::NoBinary { .. }), "{err:?}");
    assert!(err.to_string().contains("bin/gaiad"), "{err}");
    c.assert_nothing_installed();
}

#[tokio::test]
async fn dot_dot_entries_are_refused_in_tar_and_zip() {
    let c = Case::new();
    let bin = script("v2");
    let tgz = tar_gz(&[
        T::File("bin/simd", &bin, 0o755),
        T::File("../../../evil", b"pwned", 0o755),
    ]);
    let err = archive_err(
        c.stage_from_source("a.tar.gz", tgz, &opts())
            .await
            .unwrap_err(),
    );
    assert!(matches!(err, ArchiveError::UnsafePath { .. }), "{err:?}");
    assert!(err.to_string().contains("../../../evil"), "{err}");
    c.assert_nothing_installed();

    let z = zip(&[
        Z::File("bin/simd", &bin, 0o755),
        Z::File("bin/../../../../evil", b"pwned", 0o644),
    ]);
    let err = archive_err(c.stage_from_source("a.zip", z, &opts()).await.unwrap_err());
    assert!(matches!(err, ArchiveError::UnsafePath { .. }), "{err:?}");
    c.assert_nothing_installed();
    assert!(!c.dir.path().join("evil").exists());

    let tgz = tar_gz(&[T::File("/tmp/switchyard-test-abs-evil", b"pwned", 0o644)]);
    let err = archive_err(
        c.stage_from_source("b.tar.gz", tgz, &opts())
            .await
            .unwrap_err(),
    );
    assert!(err.to_string().contains("absolute"), "{err}");
    assert!(!std::path::Path::new("/tmp/switchyard-test-abs-evil").exists());
}

#[tokio::test]
async fn symlinks_pointing_outside_are_refused() {
    let c = Case::new();
    let bin = script("v2");
    // Outward with .., absolute, and a two-step escape (a -> ., b -> a/..).
    for (i, links) in [
        vec![T::Symlink("lib", "../../../..")],
        vec![T::Symlink("lib", "/etc")],
        vec![T::Symlink("a", "."), T::Symlink("b", "a/..")],
    ]
    .into_iter()
    .enumerate()
    {
        let mut entries = vec![T::File("bin/simd", &bin, 0o755)];
        entries.extend(links);
        let err = archive_err(
            c.stage_from_source(&format!("l{i}.tar.gz"), tar_gz(&entries), &opts())
                .await
                .unwrap_err(),
        );
        assert!(
            matches!(err, ArchiveError::EscapingLink { .. }),
            "case {i}: {err:?}"
        );
        c.assert_nothing_installed();
    }
    // Zip symlinks too.
    let z = zip(&[Z::File("bin/simd", &bin, 0o755), Z::Symlink("up", "../..")]);
    let err = archive_err(c.stage_from_source("l.zip", z, &opts()).await.unwrap_err());
    assert!(matches!(err, ArchiveError::EscapingLink { .. }), "{err:?}");
    c.assert_nothing_installed();
}

#[tokio::test]
async fn writing_through_a_symlink_is_refused() {
    let c = Case::new();
    let outside = c.dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    // An inside link to a folder, then a file written "through" it; and the classic
    // link-then-file-through-link pair aimed outside.
    let tgz = tar_gz(&[
        T::Dir("real/"),
        T::Symlink("via", "real"),
        T::File("via/x", b"data", 0o644),
        T::File("bin/simd", &script("v2"), 0o755),
    ]);
    let err = archive_err(
        c.stage_from_source("w.tar.gz", tgz, &opts())
            .await
            .unwrap_err(),
    );
    assert!(matches!(err, ArchiveError::UnsafePath { .. }), "{err:?}");
    assert!(err.to_string().contains("via/x"), "{err}");
    c.assert_nothing_installed();
}

#[tokio::test]
async fn device_files_and_foreign_hard_links_are_refused() {
    let c = Case::new();
    let bin = script("v2");
    let tgz = tar_gz(&[T::File("bin/simd", &bin, 0o755), T::CharDevice("dev/null")]);
    let err = archive_err(
        c.stage_from_source("d.tar.gz", tgz, &opts())
            .await
            .unwrap_err(),
    );
    assert!(
        matches!(
            err,
            ArchiveError::Special {
                what: "character device",
                ..
            }
        ),
        "{err:?}"
    );
    c.assert_nothing_installed();

    let tgz = tar_gz(&[
        T::File("bin/simd", &bin, 0o755),
        T::HardLink("passwd", "../../../../etc/passwd"),
    ]);
    let err = archive_err(
        c.stage_from_source("h.tar.gz", tgz, &opts())
            .await
            .unwrap_err(),
    );
    assert!(matches!(err, ArchiveError::UnsafePath { .. }), "{err:?}");
    c.assert_nothing_installed();

    // A hard link to a file unpacked earlier is fine.
    let tgz = tar_gz(&[
        T::File("simd-2.0", &bin, 0o755),
        T::HardLink("bin/simd", "simd-2.0"),
    ]);
    c.stage_from_source("ok.tar.gz", tgz, &opts())
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(c.layout.upgrade_binary(&c.name)).unwrap(),
        bin
    );
}

#[tokio::test]
async fn a_zip_bomb_stops_at_the_unpack_cap() {
    let c = Case::new();
    // 64 MiB of zeros deflates to about 64 KiB: a 1000:1 bomb.
    let zeros = vec![0u8; 64 << 20];
    let z = zip(&[Z::File("bin/simd", &zeros, 0o755)]);
    assert!(z.len() < 1 << 20, "the bomb should be small: {}", z.len());
    let mut o = opts();
    o.max_unpacked_bytes = 16 << 20;
    let err = archive_err(c.stage_from_source("bomb.zip", z, &o).await.unwrap_err());
    assert!(
        matches!(err, ArchiveError::TooLarge { limit } if limit == 16 << 20),
        "{err:?}"
    );
    assert!(err.to_string().contains("decompression bomb"), "{err}");
    c.assert_nothing_installed();

    // The same holds for a gzip bomb in a tar.
    let tgz = tar_gz(&[T::File("bin/simd", &zeros, 0o755)]);
    let err = archive_err(
        c.stage_from_source("bomb.tar.gz", tgz, &o)
            .await
            .unwrap_err(),
    );
    assert!(matches!(err, ArchiveError::TooLarge { .. }), "{err:?}");
    c.assert_nothing_installed();
}

#[tokio::test]
async fn too_many_entries_are_refused() {
    let c = Case::new();
    let names: Vec<String> = (0..50).map(|i| format!("f{i}")).collect();
    let mut entries: Vec<T<'_>> = names.iter().map(|n| T::File(n, b"", 0o644)).collect();
    let bin = script("v2");
    entries.push(T::File("bin/simd", &bin, 0o755));
    let mut o = opts();
    o.max_archive_entries = 20;
    let err = archive_err(
        c.stage_from_source("many.tar.gz", tar_gz(&entries), &o)
            .await
            .unwrap_err(),
    );
    assert!(
        matches!(err, ArchiveError::TooManyEntries { limit: 20 }),
        "{err:?}"
    );
    c.assert_nothing_installed();
}

/// A tmpfs mounted for the test (we run as root); unmounted when dropped. Fails loudly when it
/// cannot be mounted: the cross-filesystem cases must really be exercised.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &std::path::Path, options: &str) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let out = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                options,
                "switchyard-test",
                &at.to_string_lossy(),
            ])
            .output()
            .expect("running mount(8)");
        assert!(
            out.status.success(),
            "this test needs to mount a tmpfs (run it as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .args(["-l", &self.0.to_string_lossy()])
            .status();
    }
}

/// `upgrades/` on another filesystem (a mount, or a symlink to a bigger disk): every staging
/// attempt used to fail with "Invalid cross-device link (os error 18)".
#[tokio::test]
async fn upgrades_on_another_filesystem_is_staged_there() {
    let bin = script("v2.0.0");
    // upgrades/ is itself a mount point.
    let c = Case::new();
    let upgrades = c.layout.upgrades_dir();
    let _m = Tmpfs::mount(&upgrades, "size=16m");
    let rec = c
        .stage_from_source("simd", bin.clone(), &opts())
        .await
        .unwrap();
    assert_eq!(std::fs::read(&rec.binary_path).unwrap(), bin);
    assert!(
        !upgrades.join(".switchyard-staging").exists(),
        "work area removed"
    );
    assert!(staging_is_clean(&c.layout.home));

    // upgrades/ is a symlink to a folder on another disk; an archive this time.
    let c = Case::new();
    let disk = c.dir.path().join("bigger-disk");
    let _m = Tmpfs::mount(&disk, "size=16m");
    std::fs::create_dir_all(c.layout.root()).unwrap();
    std::os::unix::fs::symlink(&disk, c.layout.upgrades_dir()).unwrap();
    let tgz = tar_gz(&[
        T::File("bin/simd", &bin, 0o755),
        T::File("lib/x.so", b"lib", 0o644),
    ]);
    let rec = c
        .stage_from_source("simd.tar.gz", tgz, &opts())
        .await
        .unwrap();
    assert_eq!(std::fs::read(disk.join("v2/bin/simd")).unwrap(), bin);
    assert_eq!(std::fs::read(disk.join("v2/lib/x.so")).unwrap(), b"lib");
    assert_eq!(rec.binary_path, c.layout.upgrade_binary(&c.name));

    // upgrades/v2/ exists and is its own mount (e.g. the operator put upgrade-info.json there).
    let c = Case::new();
    let dst = c.layout.upgrade_dir(&c.name);
    let _m = Tmpfs::mount(&dst, "size=16m");
    std::fs::write(dst.join("upgrade-info.json"), b"{}").unwrap();
    c.stage_from_source("simd", bin.clone(), &opts())
        .await
        .unwrap();
    assert_eq!(std::fs::read(dst.join("bin/simd")).unwrap(), bin);
    assert!(
        !dst.join(".switchyard-staging").exists(),
        "work area removed"
    );
}

#[tokio::test]
async fn a_read_only_upgrades_folder_is_an_error_naming_it() {
    let c = Case::new();
    let upgrades = c.layout.upgrades_dir();
    let _m = Tmpfs::mount(&upgrades, "size=1m,ro");
    let e = c
        .stage_from_source("simd", script("v2.0.0"), &opts())
        .await
        .unwrap_err();
    assert!(matches!(e, StageError::NotWritable { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains(&*upgrades.to_string_lossy()), "{msg}");
    assert!(staging_is_clean(&c.layout.home));
}
