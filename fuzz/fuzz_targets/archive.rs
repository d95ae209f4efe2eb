//! Release archives (tar.gz, tar, zip) unpacked into a temporary folder with small caps; nothing
//! may be written outside it. The first byte picks the format.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let kind = ["tar.gz", "tar", "zip"][usize::from(which % 3)];
    let shm = std::path::Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm
    } else {
        &std::env::temp_dir()
    };
    let dir = tempfile::tempdir_in(base).unwrap();
    let file = dir.path().join("download");
    std::fs::write(&file, body).unwrap();
    let inside = dir.path().join("in");
    let dest = inside.join("tree");
    std::fs::create_dir_all(&inside).unwrap();
    let _ = switchyard_store::fuzzing::unpack(&file, kind, &dest, 1 << 20, 64, "simd");
    // Nothing escaped: the only entries next to the tree are ours.
    let mut around: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    around.sort();
    assert_eq!(around, ["download", "in"]);
    let beside: Vec<_> = std::fs::read_dir(&inside)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(beside.iter().all(|n| n == "tree"), "{beside:?}");
});
