//! switchyard is SIGKILLed at every step of a swap (test-only fault points), then started again:
//! the second start must finish the pending upgrade, `current` must always point at a complete
//! binary, and every block must still run exactly once, on the right binary.

mod common;

use std::time::Duration;

use common::*;

const POINTS: &[&str] = &[
    "after-journal",
    "after-stop",
    "after-backup",
    "after-preupgrade",
    "after-switch",
    "after-record",
];

#[test]
fn killed_at_each_step_of_a_swap_recovers_on_the_next_start() {
    for point in POINTS {
        let home = Home::new();
        let genesis = home.binary("genesis", "", "v0.50.10");
        let v2 = home.binary("v2", "v2", "v0.50.10");
        home.setup(&genesis, &[("v2", &v2)]);
        home.fake("plan", "v2 5");

        let mut first = home.run(&[("SWITCHYARD_TEST_FAULT", point)]);
        let status = first.wait(Duration::from_secs(30));
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            status.signal(),
            Some(9),
            "{point}: expected a SIGKILL at the fault point\n{}",
            first.log()
        );

        // Right after the kill, `current` names a complete, executable binary.
        let target = home.current_target();
        assert!(
            target == "genesis" || target == "upgrades/v2",
            "{point}: current -> {target:?}"
        );
        let bin = home
            .path()
            .join("cosmovisor")
            .join(&target)
            .join("bin")
            .join(DAEMON);
        assert!(bin.is_file(), "{point}: {} missing", bin.display());
        // The old node was told to stop when its supervisor died.
        wait_for(
            "the orphaned node to stop",
            Duration::from_secs(10),
            || home.events().contains("genesis stopped at"),
            || home.events(),
        );

        let mut second = home.run(&[]);
        wait_for(
            "the new binary past the upgrade",
            Duration::from_secs(30),
            || home.committed() >= 8,
            || format!("{point}:\n{}\n{}", second.log(), home.events()),
        );
        assert_eq!(second.stop().code(), Some(0));
        assert_eq!(home.current_target(), "upgrades/v2", "{point}");
        assert_each_height_once(&home.executed(), |h, id| {
            if h < 5 {
                id == "genesis"
            } else {
                id == "v2"
            }
        });
        assert_eq!(
            home.applied().matches("\"name\": \"v2\"").count(),
            1,
            "{point}: {}",
            home.applied()
        );
        assert!(
            !home.path().join("cosmovisor/switchyard/swap.json").exists(),
            "{point}: journal left behind"
        );
        assert_eq!(
            home.events().matches("genesis start").count(),
            1,
            "{point}: old binary restarted\n{}",
            home.events()
        );
        assert!(
            second.log().contains("finishing it"),
            "{point}: {}",
            second.log()
        );
    }
}
