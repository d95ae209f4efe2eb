//! `switchyard run <node args...>`: supervise the node (see [`crate::supervisor`]).

use crate::config::Config;

pub fn run(cfg: &Config, args: Vec<String>) -> anyhow::Result<i32> {
    crate::supervisor::run(cfg, args)
}
