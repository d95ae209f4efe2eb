//! What the operator's node arguments say that matters to the decisions: the heights given to
//! `--unsafe-skip-upgrades`, where the node stops at a halt (the operator's own `--halt-height`,
//! or the one switchyard armed), and whether the node is being *started* (only `start` is armed
//! with a halt height or restarted after a crash).
//!
//! `--unsafe-skip-upgrades` is read the way the node and cosmovisor read it: the heights are the
//! arguments that follow the flag up to the next one that starts with `-`, each of which may be a
//! comma-separated list (the SDK's int-slice form); `--unsafe-skip-upgrades=H[,H...]` works too;
//! the flag may be repeated; anything that is not a whole number is ignored.

use std::collections::BTreeSet;

use crate::HaltFlag;

const SKIP_FLAG: &str = "--unsafe-skip-upgrades";

/// The heights the node was told to skip.
pub fn unsafe_skip_heights(args: &[String]) -> BTreeSet<i64> {
    let mut out = BTreeSet::new();
    let mut add = |list: &str| {
        out.extend(list.split(',').filter_map(|h| h.trim().parse::<i64>().ok()));
    };
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if let Some(v) = a.strip_prefix(SKIP_FLAG).and_then(|r| r.strip_prefix('=')) {
            add(v);
        } else if a == SKIP_FLAG {
            while let Some(next) = args.get(i + 1).filter(|n| !n.starts_with('-')) {
                add(next);
                i += 1;
            }
        }
        i += 1;
    }
    out
}

/// Whether the node command is `start` (the first argument).
pub fn is_start_command(args: &[String]) -> bool {
    args.first().map(String::as_str) == Some("start")
}

/// The committed height at which an operator's own `--halt-height N` stops the node (N-1 or
/// N, depending on its SDK version: the lower one, so both are covered).
pub fn operator_halt_stop(args: &[String]) -> Option<i64> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let v = match a.strip_prefix("--halt-height") {
            Some("") => it.next().map(String::as_str),
            Some(rest) => rest.strip_prefix('='),
            None => None,
        };
        if let Some(h) = v.and_then(|v| v.parse::<i64>().ok()).filter(|h| *h > 0) {
            return Some(h - 1);
        }
    }
    None
}

/// The committed height from which the running node is at a halt it was told to make: the
/// armed halt's earliest stop, else the operator's own `--halt-height`. A height that stops
/// moving there is that halt, never a stall.
pub fn halt_stop_commit(armed: Option<HaltFlag>, args: &[String]) -> Option<i64> {
    armed
        .map(HaltFlag::lowest_commit)
        .or_else(|| operator_halt_stop(args))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn a(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn set(xs: &[i64]) -> BTreeSet<i64> {
        xs.iter().copied().collect()
    }

    #[test]
    fn reads_the_forms_operators_use() {
        assert_eq!(
            unsafe_skip_heights(&a("start --unsafe-skip-upgrades 100 200 --home /h")),
            set(&[100, 200])
        );
        assert_eq!(
            unsafe_skip_heights(&a("start --home /h --unsafe-skip-upgrades=300")),
            set(&[300])
        );
        assert_eq!(
            unsafe_skip_heights(&a("start --unsafe-skip-upgrades 1,2 x 3")),
            set(&[1, 2, 3])
        );
        assert_eq!(
            unsafe_skip_heights(&a(
                "start --unsafe-skip-upgrades=5 --x --unsafe-skip-upgrades 6"
            )),
            set(&[5, 6])
        );
        assert_eq!(
            unsafe_skip_heights(&a("start --unsafe-skip-upgrades")),
            set(&[])
        );
        assert_eq!(
            unsafe_skip_heights(&a("start --unsafe-skip-upgrades-other 7")),
            set(&[])
        );
        assert!(is_start_command(&a("start --home x")));
        assert!(!is_start_command(&a("export")));
        assert!(!is_start_command(&[]));
    }

    proptest! {
        #[test]
        fn never_panics(args in proptest::collection::vec(".{0,12}", 0..12)) {
            let _ = unsafe_skip_heights(&args);
        }

        #[test]
        fn every_listed_height_is_found(hs in proptest::collection::vec(any::<i64>(), 1..6)) {
            let mut args = vec!["start".to_string(), SKIP_FLAG.to_string()];
            args.extend(hs.iter().map(|h| h.to_string()).filter(|h| !h.starts_with('-')));
            args.push("--home".into());
            let want: BTreeSet<i64> = hs.iter().copied().filter(|h| *h >= 0).collect();
            prop_assert_eq!(unsafe_skip_heights(&args), want);
        }
    }

    #[test]
    fn the_operators_halt_height_is_read_in_both_spellings() {
        let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            operator_halt_stop(&a(&["start", "--halt-height=100"])),
            Some(99)
        );
        assert_eq!(
            operator_halt_stop(&a(&["start", "--halt-height", "7"])),
            Some(6)
        );
        assert_eq!(operator_halt_stop(&a(&["start", "--halt-height=0"])), None);
        assert_eq!(operator_halt_stop(&a(&["start", "--home", "/x"])), None);
        assert_eq!(operator_halt_stop(&a(&["start", "--halt-heightx=5"])), None);
    }

    #[test]
    fn the_armed_halt_is_where_the_node_stops_before_the_operators_own() {
        use crate::HaltBehaviour::*;
        let args = a("start --halt-height 50");
        // Known to commit its halt height: flag H-1, stops with H-1 committed.
        let f = HaltFlag::for_target(100, Some(CommitsThenWaits));
        assert_eq!(halt_stop_commit(Some(f), &args), Some(99));
        // Known to stop before it: flag H, stops with H-1 committed.
        let f = HaltFlag::for_target(100, Some(StopsBefore));
        assert_eq!(halt_stop_commit(Some(f), &args), Some(99));
        // Probing with H-1: may stop with H-2 committed.
        assert_eq!(
            halt_stop_commit(Some(HaltFlag::for_target(100, None)), &args),
            Some(98)
        );
        assert_eq!(halt_stop_commit(None, &args), Some(49));
        assert_eq!(halt_stop_commit(None, &a("start")), None);
    }
}
