//! switchyard's entry point: read the command line, load the configuration, dispatch.
//!
//! The work lives in the `switchyard-*` crates (core, watcher, store, exec) and in
//! [`commands`]; this file only wires them together and turns errors into exit codes.

mod binary_facts;
mod chain_now;
mod chain_registry;
mod cli;
mod commands;
mod config;
mod http;
mod live;
mod logging;
mod metrics;
mod notify;
mod report;
mod shutdown;
mod sums_file;
mod supervisor;
mod test_faults;
mod upgrade_binary;

use std::io::Write;

fn main() {
    // The node's guard process is this binary too (see switchyard_exec's `guard`).
    if std::env::args_os().nth(1).as_deref() == Some(switchyard_exec::GUARD_ARG.as_ref()) {
        let args: Vec<String> = std::env::args_os()
            .skip(2)
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        std::process::exit(switchyard_exec::guard_main(&args));
    }
    let inv = match cli::Invocation::from_args(std::env::args_os().collect()) {
        Ok(inv) => inv,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "switchyard: {e}");
            std::process::exit(2);
        }
    };
    // Generated from the command line's own definition: no configuration needed.
    if let Some(code) = commands::docs(&inv.cli.command) {
        std::process::exit(code);
    }
    let cfg = match config::Config::load(inv.cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            // A broken stderr must not turn into a panic; the exit code still says it.
            let _ = writeln!(std::io::stderr(), "switchyard: configuration error: {e}");
            std::process::exit(1);
        }
    };
    logging::init(&cfg);
    if let Some(word) = &inv.legacy_word {
        tracing::warn!(
            "`switchyard {word} ...` is the pre-v1 cosmovisor form; write `switchyard run {word} ...` (running it as that)"
        );
    }
    let code = match commands::dispatch(inv.cli.command, &cfg) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            if cfg.disable_logs {
                logging::flush();
                let _ = writeln!(std::io::stderr(), "switchyard: {e:#}");
            }
            1
        }
    };
    logging::flush();
    std::process::exit(code);
}
