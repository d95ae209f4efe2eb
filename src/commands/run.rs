//! `switchyard run <node args...>`: supervise the node (see [`crate::supervisor`]).

use crate::config::Config;

pub(super) fn run(cfg: &Config, args: Vec<String>) -> anyhow::Result<i32> {
    // A restore killed half-way leaves data/ complete but `current` possibly not yet matching
    // it: never start a node on that.
    if let Ok(layout) = cfg.layout() {
        if let Some(rec) = switchyard_store::backup::pending_restore(&layout)? {
            anyhow::bail!(
                "a restore of {} was interrupted; run `switchyard restore-backup` to finish it before starting the node",
                rec.backup.display()
            );
        }
    }
    crate::supervisor::run(cfg, args)
}
