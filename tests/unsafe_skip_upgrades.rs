//! `--unsafe-skip-upgrades H...` among the node's arguments: a plan at a skipped height is not
//! swapped for (no swap, no pre-upgrade, no backup) and the old binary runs on through it — also
//! in the emergency procedure, where the node already halted at H and is restarted with the
//! flag while its `data/upgrade-info.json` is still on disk.

mod common;

use std::time::Duration;

use common::*;

const T: Duration = Duration::from_secs(40);

#[test]
fn a_skipped_plan_height_is_run_through_by_the_old_binary() {
    for args in [
        vec![
            "--unsafe-skip-upgrades",
            "3",
            "5",
            "--x-crisis-skip-assert-invariants",
        ],
        vec!["--unsafe-skip-upgrades=5"],
    ] {
        let home = Home::new();
        let genesis = home.binary("genesis", "", "v0.50.10");
        let v2 = home.binary("v2", "v2", "v0.50.10");
        home.setup(&genesis, &[("v2", &v2)]);
        home.fake("plan", "v2 5");
        let mut sy = home.run_with_args(&args, &[]);
        wait_for(
            "blocks past the skipped height",
            T,
            || home.committed() >= 8,
            || format!("{args:?}\n{}\n{}", sy.log(), home.events()),
        );
        assert_eq!(sy.stop().code(), Some(0));
        assert_eq!(home.current_target(), "genesis", "{args:?}");
        assert_each_height_once(&home.executed(), |_, id| id == "genesis");
        let events = home.events();
        assert!(events.contains("skipped upgrade v2 at 5"), "{events}");
        assert!(!events.contains("pre-upgrade"), "{events}");
        assert!(
            !home.path().read_dir().unwrap().any(|e| e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("data-backup")),
            "a backup was taken"
        );
    }
}

#[test]
fn the_emergency_skip_after_a_halt_starts_the_old_binary_with_the_flag() {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    home.setup(&genesis, &[]);
    home.fake("plan", "v2 5");
    // No binary for v2: the halt ends supervision with a clear error.
    let mut first = home.run(&[]);
    let status = first.wait(T);
    assert_eq!(status.code(), Some(1), "{}", first.log());
    assert!(
        first.log().contains("no binary for upgrade v2"),
        "{}",
        first.log()
    );
    assert!(home.path().join("data/upgrade-info.json").is_file());
    let first_log = first.log().len();
    // The operator restarts with --unsafe-skip-upgrades 5: the old binary runs on.
    let mut second = home.run_with_args(&["--unsafe-skip-upgrades", "5"], &[]);
    wait_for(
        "blocks past the skipped height",
        T,
        || home.committed() >= 8,
        || format!("{}\n{}", second.log(), home.events()),
    );
    assert_eq!(second.stop().code(), Some(0));
    let log = second.log()[first_log..].to_string();
    assert!(
        log.contains("--unsafe-skip-upgrades skips its height"),
        "{log}"
    );
    assert!(!log.contains("no binary for upgrade"), "{log}");
    assert!(
        home.events().contains("genesis start --home")
            && home.events().contains("--unsafe-skip-upgrades 5"),
        "{}",
        home.events()
    );
    assert_eq!(home.current_target(), "genesis");
    assert_each_height_once(&home.executed(), |_, id| id == "genesis");
}
