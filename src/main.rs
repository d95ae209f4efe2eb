//! switchyard's entry point: parse the command line, load the configuration, dispatch.
//!
//! The work lives in the `switchyard-*` crates (core, watcher, store, exec) and in
//! [`commands`]; this file only wires them together and turns errors into exit codes.

mod binary_facts;
mod chain_now;
mod cli;
mod commands;
mod config;
mod logging;
mod supervisor;
mod upgrade_binary;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    let cfg = match config::Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("switchyard: configuration error: {e}");
            std::process::exit(1);
        }
    };
    logging::init(&cfg);
    let code = match commands::dispatch(cli.command, &cfg) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            if cfg.disable_logs {
                eprintln!("switchyard: {e:#}");
            }
            1
        }
    };
    std::process::exit(code);
}
