//! switchyard's reports: the typed JSON contract ([`schema`]) that `switchyard plan --json` and
//! the status API (`GET /status`) share, and the building of the upgrade report from the chain
//! and the store ([`upgrades`]).

pub mod schema;
pub mod upgrades;

pub use schema::*;
