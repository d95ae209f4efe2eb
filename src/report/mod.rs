//! switchyard's reports: the typed JSON contract ([`schema`]) that `switchyard plan --json` and
//! the status API (`GET /status`) share, and the building of the upgrade report from the chain
//! and the store ([`upgrades`]).

pub(crate) mod schema;
pub(crate) mod upgrades;

pub(crate) use schema::*;
