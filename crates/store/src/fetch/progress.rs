//! Download progress: an indicatif bar when stderr is a terminal, plain log lines otherwise.
//!
//! Log lines go through `tracing` at most every 10% (or every 10 s when the size is unknown), so
//! a journald or file log gets a readable trail without a line per chunk.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub(crate) struct Progress {
    label: String,
    mode: Mode,
    total: Option<u64>,
    started: Instant,
    last_log: Instant,
    last_decile: u64,
}

enum Mode {
    Off,
    Bar(ProgressBar),
    Log,
}

impl Progress {
    /// `enabled`: whether to report at all; the bar/log choice follows stderr.
    pub(crate) fn new(enabled: bool, label: &str) -> Self {
        let mode = if !enabled {
            Mode::Off
        } else if std::io::stderr().is_terminal() {
            // Hidden until the response says how big it is (see `set_total`).
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
            bar.set_message(label.to_string());
            Mode::Bar(bar)
        } else {
            Mode::Log
        };
        let now = Instant::now();
        Progress {
            label: label.to_string(),
            mode,
            total: None,
            started: now,
            last_log: now,
            last_decile: 0,
        }
    }

    pub(crate) fn set_total(&mut self, total: Option<u64>) {
        self.total = total;
        if let Mode::Bar(bar) = &self.mode {
            let template = match total {
                Some(t) => {
                    bar.set_length(t);
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
                }
                None => "{msg} {bytes} {bytes_per_sec}",
            };
            bar.set_style(
                ProgressStyle::with_template(template)
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            if bar.is_hidden() {
                bar.set_draw_target(ProgressDrawTarget::stderr());
            }
        }
    }

    pub(crate) fn set_position(&mut self, pos: u64) {
        match &self.mode {
            Mode::Off => {}
            Mode::Bar(bar) => bar.set_position(pos),
            Mode::Log => {
                let due = match self.total {
                    Some(t) if t > 0 => {
                        let decile = pos.saturating_mul(10) / t;
                        let due = decile > self.last_decile;
                        if due {
                            self.last_decile = decile;
                        }
                        due
                    }
                    _ => self.last_log.elapsed() >= Duration::from_secs(10),
                };
                if due {
                    self.last_log = Instant::now();
                    let rate = pos as f64 / self.started.elapsed().as_secs_f64().max(1e-3) / 1e6;
                    match self.total {
                        Some(t) => tracing::info!(
                            "{}: {} of {} bytes ({}%), {rate:.1} MB/s",
                            self.label,
                            pos,
                            t,
                            pos * 100 / t.max(1)
                        ),
                        None => tracing::info!("{}: {pos} bytes, {rate:.1} MB/s", self.label),
                    }
                }
            }
        }
    }

    /// Something worth saying between attempts (a retry, a resume).
    pub(crate) fn note(&self, msg: &str) {
        match &self.mode {
            Mode::Bar(bar) => bar.println(format!("{}: {msg}", self.label)),
            _ => tracing::warn!("{}: {msg}", self.label),
        }
    }

    pub(crate) fn finish(&self) {
        if let Mode::Bar(bar) = &self.mode {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Mode::Bar(bar) = &self.mode {
            if !bar.is_finished() {
                bar.abandon();
            }
        }
    }
}
