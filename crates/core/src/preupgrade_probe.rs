//! Whether a new binary has a `pre-upgrade` command, judged long before the halt.
//!
//! At the halt, cosmovisor runs `<new> pre-upgrade` and reads its exit code; exit 1 means "no
//! such command, carry on". On a Cosmos SDK binary that run is a full start of a 100 MB Go
//! program (a quarter of a second on a busy host), spent while the chain waits, only to learn
//! what could have been learned days earlier. So switchyard asks before the halt, with two runs
//! that cannot change anything (`--help` is answered before any command code runs):
//!
//! - the probe: `<new> pre-upgrade --help`;
//! - the control: `<new> switchyard-no-such-command --help`, a command no binary has.
//!
//! If the binary answers the probe exactly as it answers the control (same exit code 1, same
//! output once the command names are swapped), `pre-upgrade` is, to this binary, an unknown
//! command: running it at the halt would exit 1 and the upgrade would go on. Only then
//! ([`PreUpgradeCommand::Absent`]) is the run at the halt skipped. A binary that shows help for
//! `pre-upgrade` has the command; anything else is not known. In both cases the command runs at
//! the halt, as cosmovisor would run it.

use std::collections::BTreeSet;

use crate::decide::Known;
use crate::name::UpgradeName;
use crate::staging_rules::ProposalPhase;

/// The command name of the control run: one that no node binary has.
pub const CONTROL_COMMAND: &str = "switchyard-no-such-command";

/// How one `--help` run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeRun {
    /// The exit code; `None` when it was killed by a signal or ran out of time.
    pub exit: Option<i32>,
    /// Its stdout and stderr, as captured.
    pub output: String,
}

/// What the two runs say about the binary's `pre-upgrade`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PreUpgradeCommand {
    /// It answered `pre-upgrade` exactly as an unknown command, with exit 1.
    Absent,
    /// It showed help for `pre-upgrade`, and answered an unknown command otherwise.
    Present,
    /// Neither could be told.
    Unknown,
}

/// Judges the probe against the control (see the module docs).
pub fn judge_preupgrade(probe: &ProbeRun, control: &ProbeRun) -> PreUpgradeCommand {
    let as_probe = control.output.replace(CONTROL_COMMAND, "pre-upgrade");
    match (probe.exit, control.exit) {
        (Some(1), Some(1)) if probe.output == as_probe => PreUpgradeCommand::Absent,
        (Some(0), Some(c)) if c != 0 => PreUpgradeCommand::Present,
        _ => PreUpgradeCommand::Unknown,
    }
}

/// How many times the probe pair is run at most, when [`ask_again`] says so.
pub const PROBE_ATTEMPTS: u32 = 3;

/// Whether the two runs are worth running again: both exited with code 1, as for an unknown
/// command, but their outputs differ. A binary that prints the time of day in its error
/// (wasmd's console log: `2:05AM ERR ... unknown command`) answers differently when the two
/// runs fall on either side of a minute; asked again at once, both fall in the same minute. A
/// pair that differs for any other reason differs again, and stays unknown.
pub fn ask_again(probe: &ProbeRun, control: &ProbeRun) -> bool {
    probe.exit == Some(1)
        && control.exit == Some(1)
        && judge_preupgrade(probe, control) == PreUpgradeCommand::Unknown
}

/// Whether the binary's `pre-upgrade` must run at the halt: always, unless it is known to be
/// absent from this very file.
pub fn preupgrade_needed(known: Option<PreUpgradeCommand>) -> bool {
    known != Some(PreUpgradeCommand::Absent)
}

/// An upgrade proposal whose binary may be probed before its plan is scheduled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposedUpgrade {
    /// The plan's name.
    pub name: UpgradeName,
    /// The plan's height.
    pub height: i64,
    /// Where the proposal stands.
    pub phase: ProposalPhase,
}

/// The upgrades whose binaries should be probed now: the chain's scheduled plan, the manual
/// upgrades, proposals that passed, and proposals in voting when `include_voting`
/// (`SWITCHYARD_PRESTAGE_VOTING`: the operator lets a proposal's binary be run before it
/// passes); none already applied or at a height skipped by `--unsafe-skip-upgrades`. Probing
/// during the vote means a binary placed by hand is asked days before the halt, as a staged
/// one is, not in the blocks between the plan's scheduling and its height.
pub fn binaries_to_probe(
    known: &Known,
    proposals: &[ProposedUpgrade],
    include_voting: bool,
) -> BTreeSet<UpgradeName> {
    let plan = known
        .plan
        .iter()
        .filter(|p| !known.skip_heights.contains(&p.height))
        .map(|p| &p.name);
    let manual = known.manual.iter().map(|m| &m.name);
    let proposed = proposals
        .iter()
        .filter(|p| match p.phase {
            ProposalPhase::Passed => true,
            ProposalPhase::Voting => include_voting,
            ProposalPhase::Deposit | ProposalPhase::Other => false,
        })
        .filter(|p| !known.skip_heights.contains(&p.height))
        .map(|p| &p.name);
    plan.chain(manual)
        .chain(proposed)
        .filter(|n| !known.applied.contains_key(*n))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(exit: Option<i32>, output: &str) -> ProbeRun {
        ProbeRun {
            exit,
            output: output.to_string(),
        }
    }

    #[test]
    fn what_cosmos_sdk_binaries_answer() {
        // Our chaind: errors silenced, exit 1, nothing printed.
        assert_eq!(
            judge_preupgrade(&run(Some(1), ""), &run(Some(1), "")),
            PreUpgradeCommand::Absent
        );
        // A main that prints cobra's error.
        assert_eq!(
            judge_preupgrade(
                &run(
                    Some(1),
                    "Error: unknown command \"pre-upgrade\" for \"gaiad\"\n"
                ),
                &run(
                    Some(1),
                    &format!("Error: unknown command \"{CONTROL_COMMAND}\" for \"gaiad\"\n")
                )
            ),
            PreUpgradeCommand::Absent
        );
        // A binary with the command shows its help.
        assert_eq!(
            judge_preupgrade(
                &run(Some(0), "Usage:\n  gaiad pre-upgrade [flags]\n"),
                &run(Some(1), "")
            ),
            PreUpgradeCommand::Present
        );
        // A root that accepts any argument: nothing can be told.
        assert_eq!(
            judge_preupgrade(&run(Some(0), "help"), &run(Some(0), "help")),
            PreUpgradeCommand::Unknown
        );
        // Output that changes between runs (a timestamp) cannot be compared.
        assert_eq!(
            judge_preupgrade(
                &run(Some(1), "12:00:01 unknown command"),
                &run(Some(1), "12:00:02 unknown command")
            ),
            PreUpgradeCommand::Unknown
        );
        // Killed or timed out.
        assert_eq!(
            judge_preupgrade(&run(None, ""), &run(Some(1), "")),
            PreUpgradeCommand::Unknown
        );
    }

    #[test]
    fn the_upcoming_upgrades_are_probed() {
        use crate::schedule::{ManualUpgrade, ScheduledPlan};
        let n = |s: &str| UpgradeName::parse(s, false).unwrap();
        let mut k = Known {
            plan: Some(ScheduledPlan {
                name: n("v2"),
                height: 100,
            }),
            manual: vec![
                ManualUpgrade {
                    name: n("fix1"),
                    height: 50,
                },
                ManualUpgrade {
                    name: n("old"),
                    height: 10,
                },
            ],
            ..Known::default()
        };
        k.applied.insert(n("old"), 10);
        assert_eq!(
            binaries_to_probe(&k, &[], true)
                .into_iter()
                .collect::<Vec<_>>(),
            vec![n("fix1"), n("v2")]
        );
        k.skip_heights.insert(100);
        assert_eq!(
            binaries_to_probe(&k, &[], true)
                .into_iter()
                .collect::<Vec<_>>(),
            vec![n("fix1")]
        );
    }

    #[test]
    fn proposals_are_probed_once_passed_and_in_voting_when_allowed() {
        let n = |s: &str| UpgradeName::parse(s, false).unwrap();
        let p = |name: &str, height: i64, phase: ProposalPhase| ProposedUpgrade {
            name: n(name),
            height,
            phase,
        };
        let mut k = Known::default();
        k.applied.insert(n("done"), 5);
        let proposals = [
            p("voting", 200, ProposalPhase::Voting),
            p("passed", 300, ProposalPhase::Passed),
            p("deposit", 400, ProposalPhase::Deposit),
            p("rejected", 500, ProposalPhase::Other),
            p("done", 5, ProposalPhase::Passed),
        ];
        let names = |k: &Known, include_voting| {
            binaries_to_probe(k, &proposals, include_voting)
                .into_iter()
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&k, true), vec![n("passed"), n("voting")]);
        assert_eq!(names(&k, false), vec![n("passed")]);
        k.skip_heights.insert(300);
        assert_eq!(names(&k, true), vec![n("voting")]);
    }

    #[test]
    fn answers_that_differ_only_by_the_clock_are_asked_again() {
        // wasmd's two runs on either side of a minute.
        let probe = run(Some(1), "2:05AM ERR unknown command \"pre-upgrade\"\n");
        let control = run(
            Some(1),
            &format!("2:06AM ERR unknown command \"{CONTROL_COMMAND}\"\n"),
        );
        assert!(ask_again(&probe, &control));
        // Same minute: judged, nothing to ask again.
        let same = run(
            Some(1),
            &format!("2:05AM ERR unknown command \"{CONTROL_COMMAND}\"\n"),
        );
        assert!(!ask_again(&probe, &same));
        // Help shown, or a run that did not end as an unknown command: asking again tells nothing.
        assert!(!ask_again(&run(Some(0), "Usage"), &control));
        assert!(!ask_again(&run(None, ""), &control));
    }

    #[test]
    fn only_a_known_absence_skips_the_run() {
        assert!(!preupgrade_needed(Some(PreUpgradeCommand::Absent)));
        assert!(preupgrade_needed(Some(PreUpgradeCommand::Present)));
        assert!(preupgrade_needed(Some(PreUpgradeCommand::Unknown)));
        assert!(preupgrade_needed(None));
    }

    proptest! {
        /// Absent is said only when both runs exited 1 and their outputs match, so the run at
        /// the halt would have exited 1 (cosmovisor's "no such command, carry on").
        #[test]
        fn absent_needs_exit_1_and_the_same_answer(
            pe in proptest::option::of(-1i32..40), ce in proptest::option::of(-1i32..40),
            po in "[a-z\" -]{0,30}", co in "[a-z\" -]{0,30}",
        ) {
            let v = judge_preupgrade(&run(pe, &po), &run(ce, &co));
            if v == PreUpgradeCommand::Absent {
                prop_assert_eq!(pe, Some(1));
                prop_assert_eq!(ce, Some(1));
                prop_assert_eq!(po, co.replace(CONTROL_COMMAND, "pre-upgrade"));
            }
            if v == PreUpgradeCommand::Present {
                prop_assert_eq!(pe, Some(0));
                prop_assert!(ce != Some(0));
            }
        }

        /// The same answer to both, with the command's name in it, is an absence.
        #[test]
        fn the_same_error_naming_the_command_is_absent(prefix in "[a-zA-Z :]{0,20}", suffix in "[a-z \n]{0,20}") {
            let probe = format!("{prefix}\"pre-upgrade\"{suffix}");
            let control = format!("{prefix}\"{CONTROL_COMMAND}\"{suffix}");
            prop_assert_eq!(
                judge_preupgrade(&run(Some(1), &probe), &run(Some(1), &control)),
                PreUpgradeCommand::Absent
            );
        }
    }
}
