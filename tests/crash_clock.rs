//! The crash-loop window is measured on the monotonic clock (issue 13.6). switchyard runs under
//! libfaketime with only its wall clock faked, and the test steps that clock an hour forward after
//! each crash, as NTP or an operator's `date -s` might: three crashes within seconds must still
//! be a crash loop. (On wall time each crash would look an hour after the last, and the node
//! would be restarted forever.)

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

const T: Duration = Duration::from_secs(40);
/// Debian's `libfaketime` package (`apt-get install faketime`; scripts/test.sh installs it).
const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

#[test]
fn a_wall_clock_step_does_not_hide_a_crash_loop() {
    assert!(
        Path::new(LIBFAKETIME).is_file(),
        "this test needs {LIBFAKETIME}: apt-get install faketime"
    );
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    home.setup(&genesis, &[]);
    home.fake("crash_at", "2");
    let clock = home.path().join("faketime");
    std::fs::write(&clock, "+0\n").unwrap();
    let mut sy = home.run(&[
        ("LD_PRELOAD", LIBFAKETIME),
        ("FAKETIME_TIMESTAMP_FILE", clock.to_str().unwrap()),
        ("FAKETIME_NO_CACHE", "1"),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
        ("COSMOVISOR_TIMEFORMAT_LOGS", "rfc3339"),
        ("SWITCHYARD_CRASH_LOOP_MAX", "3"),
        ("SWITCHYARD_CRASH_LOOP_WINDOW", "10m"),
        ("SWITCHYARD_RESTART_BACKOFF_INITIAL", "1s"),
        ("SWITCHYARD_RESTART_BACKOFF_MAX", "1s"),
    ]);
    // After each crash, while switchyard waits its second to restart, the wall clock jumps.
    for n in 1..=2 {
        wait_for(
            &format!("crash {n}"),
            T,
            || sy.log().matches("node crashed; restarting").count() >= n,
            || format!("{}\n{}", sy.log(), home.events()),
        );
        std::fs::write(&clock, format!("+{}\n", n * 3600)).unwrap();
    }
    let status = sy.wait(T);
    let log = sy.log();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("crashed 3 times"), "{log}");
    assert_eq!(home.events().matches("crash at 2").count(), 3);
    // The step did reach switchyard: its own log timestamps moved by the two hours.
    let stamps: Vec<chrono::DateTime<chrono::FixedOffset>> = log
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|w| chrono::DateTime::parse_from_rfc3339(w).ok())
        .collect();
    let span = *stamps.last().unwrap() - *stamps.first().unwrap();
    assert!(span >= chrono::Duration::hours(2), "{span:?}\n{log}");
}
