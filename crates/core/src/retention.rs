//! Which of a node's backups `SWITCHYARD_BACKUP_KEEP` removes.
//!
//! Backups are ordered by the sequence number each one's record carries (one more than the
//! highest of the node's backups already there when it was taken), then by the time in their
//! name: the sequence does not depend on the clock, so a backup stamped in the future by a
//! wrong clock is not "newest" for ever. Records from before the sequence existed carry 0 and
//! sort by their time among themselves, before every numbered one. The backup just taken is
//! never removed, whatever the order says.
//!
//! Pure: the store lists the backups and removes what this returns.

/// What orders one backup among a node's others.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BackupOrder {
    /// The record's sequence number (0 for records from before it existed).
    pub sequence: u64,
    /// The time in its name (`YYYYMMDDTHHMMSSZ`), then the name itself, for ties.
    pub name: String,
}

/// The indices into `backups` of those to remove so that `keep` remain (at least 1 is always
/// kept), oldest first; `just_taken`, an index into `backups`, is never among them.
pub fn backups_to_remove(
    backups: &[BackupOrder],
    keep: usize,
    just_taken: Option<usize>,
) -> Vec<usize> {
    let keep = keep.max(1);
    let mut order: Vec<usize> = (0..backups.len()).collect();
    order.sort_by(|&a, &b| backups[a].cmp(&backups[b]));
    // The just-taken one counts as one of those kept, and the newest others fill the rest.
    let candidates: Vec<usize> = order
        .into_iter()
        .filter(|&i| Some(i) != just_taken)
        .collect();
    let room = keep - usize::from(just_taken.is_some_and(|i| i < backups.len()));
    let excess = candidates.len().saturating_sub(room);
    candidates.into_iter().take(excess).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(sequence: u64, name: &str) -> BackupOrder {
        BackupOrder {
            sequence,
            name: name.into(),
        }
    }

    #[test]
    fn a_backup_stamped_in_the_future_does_not_push_out_the_one_just_taken() {
        // 0: taken by a clock set a year ahead; 1: just taken, with the right time.
        let all = [
            b(1, "data-backup-20271122T000000Z-v2"),
            b(2, "data-backup-20261122T000000Z-v3"),
        ];
        assert_eq!(backups_to_remove(&all, 1, Some(1)), [0]);
        // By the sequence alone, too: the record's order wins over the name's time.
        assert_eq!(backups_to_remove(&all, 1, None), [0]);
    }

    #[test]
    fn the_just_taken_one_is_never_removed_even_if_it_sorts_oldest() {
        let all = [
            b(0, "data-backup-20301122T000000Z-v1"),
            b(0, "data-backup-20261122T000000Z-v2"),
        ];
        assert_eq!(backups_to_remove(&all, 1, Some(1)), [0]);
    }

    #[test]
    fn old_records_sort_by_time_before_numbered_ones_and_keep_is_at_least_one() {
        let all = [
            b(3, "data-backup-20250101T000000Z-c"),
            b(0, "data-backup-20260101T000000Z-b"),
            b(0, "data-backup-20240101T000000Z-a"),
        ];
        assert_eq!(backups_to_remove(&all, 2, None), [2]);
        assert_eq!(backups_to_remove(&all, 0, None), [2, 1]);
        assert!(backups_to_remove(&all, 5, None).is_empty());
    }
}
