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

/// The halt settings of the node's own `config/app.toml` (its top-level `halt-height` and
/// `halt-time`; 0 or absent is unset). The node reads them at its start; a flag of the same
/// name given to `start` wins over them, as the SDK's configuration reads flags first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppHalt {
    /// `halt-height`: the node stops there, like `--halt-height`.
    pub halt_height: Option<i64>,
    /// `halt-time` (Unix seconds): the node stops at the first block whose time reaches it.
    pub halt_time: Option<i64>,
}

/// The value of `flag` when the node arguments give it (`--flag N` or `--flag=N`): `Some(0)` for
/// an explicit 0 or a value that is not a number, which turns the setting off.
fn flag_value(args: &[String], flag: &str) -> Option<i64> {
    let mut it = args.iter();
    let mut found = None;
    while let Some(a) = it.next() {
        let v = match a.strip_prefix(flag) {
            Some("") => it.next().map(String::as_str),
            Some(rest) => match rest.strip_prefix('=') {
                Some(v) => Some(v),
                None => continue,
            },
            None => continue,
        };
        found = Some(v.and_then(|v| v.parse::<i64>().ok()).unwrap_or(0));
    }
    found
}

/// The operator's own halt height: the flag's when given, else app.toml's; `None` when unset.
fn operator_halt_height(args: &[String], app: &AppHalt) -> Option<i64> {
    flag_value(args, "--halt-height")
        .or(app.halt_height)
        .filter(|h| *h > 0)
}

/// The committed height at which an operator's own halt height N (`--halt-height`, else
/// app.toml's `halt-height`) stops the node: N-1 or N, depending on its SDK version, so the
/// lower one, to cover both.
pub fn operator_halt_stop(args: &[String], app: &AppHalt) -> Option<i64> {
    operator_halt_height(args, app).map(|h| h - 1)
}

/// The operator's own halt time (Unix seconds): `--halt-time` when given, else app.toml's.
pub fn operator_halt_time(args: &[String], app: &AppHalt) -> Option<i64> {
    flag_value(args, "--halt-time")
        .or(app.halt_time)
        .filter(|t| *t > 0)
}

/// The committed height from which the running node is at a halt it was told to make: the
/// armed halt's earliest stop, else the operator's own halt height. A height that stops
/// moving there is that halt, never a stall.
pub fn halt_stop_commit(armed: Option<HaltFlag>, args: &[String], app: &AppHalt) -> Option<i64> {
    armed
        .map(HaltFlag::lowest_commit)
        .or_else(|| operator_halt_stop(args, app))
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
        let none = AppHalt::default();
        let stop = |s: &str| operator_halt_stop(&a(s), &none);
        assert_eq!(stop("start --halt-height=100"), Some(99));
        assert_eq!(stop("start --halt-height 7"), Some(6));
        assert_eq!(stop("start --halt-height=0"), None);
        assert_eq!(stop("start --home /x"), None);
        assert_eq!(stop("start --halt-heightx=5"), None);
        assert_eq!(stop("start --halt-height"), None);
    }

    #[test]
    fn app_toml_halts_count_unless_a_flag_overrides_them() {
        let app = AppHalt {
            halt_height: Some(30),
            halt_time: Some(1_700_000_000),
        };
        assert_eq!(operator_halt_stop(&a("start"), &app), Some(29));
        assert_eq!(
            operator_halt_stop(&a("start --halt-height 50"), &app),
            Some(49)
        );
        // An explicit 0 turns the file's halt off, as the SDK's flag-over-file reading does.
        assert_eq!(operator_halt_stop(&a("start --halt-height=0"), &app), None);
        assert_eq!(operator_halt_time(&a("start"), &app), Some(1_700_000_000));
        assert_eq!(operator_halt_time(&a("start --halt-time=5"), &app), Some(5));
        assert_eq!(operator_halt_time(&a("start --halt-time 0"), &app), None);
        let zero = AppHalt {
            halt_height: Some(0),
            halt_time: Some(0),
        };
        assert_eq!(operator_halt_stop(&a("start"), &zero), None);
        assert_eq!(operator_halt_time(&a("start"), &zero), None);
        assert_eq!(halt_stop_commit(None, &a("start"), &app), Some(29));
    }

    #[test]
    fn the_armed_halt_is_where_the_node_stops_before_the_operators_own() {
        use crate::HaltBehaviour::*;
        let args = a("start --halt-height 50");
        let none = AppHalt::default();
        // Known to commit its halt height: flag H-1, stops with H-1 committed.
        let f = HaltFlag::for_target(100, Some(CommitsThenWaits));
        assert_eq!(halt_stop_commit(Some(f), &args, &none), Some(99));
        // Known to stop before it: flag H, stops with H-1 committed.
        let f = HaltFlag::for_target(100, Some(StopsBefore));
        assert_eq!(halt_stop_commit(Some(f), &args, &none), Some(99));
        // Probing with H-1: may stop with H-2 committed.
        assert_eq!(
            halt_stop_commit(Some(HaltFlag::for_target(100, None)), &args, &none),
            Some(98)
        );
        assert_eq!(halt_stop_commit(None, &args, &none), Some(49));
        assert_eq!(halt_stop_commit(None, &a("start"), &none), None);
    }
}
