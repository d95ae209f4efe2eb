//! systemd service notifications (the `sd_notify` protocol), for a `Type=notify` unit.
//!
//! When `NOTIFY_SOCKET` is set (a path, or `@name` for an abstract socket), `switchyard run`
//! sends datagrams of `KEY=value` lines to it:
//! - `READY=1` once, when the node first answers RPC (the chain watcher's first answer), or at
//!   the node's start when the chain is not watched;
//! - `STATUS=...` whenever what switchyard is doing changes (starting the node, running at
//!   height N, halted for an upgrade, swapping, staging a binary, waiting to restart);
//! - `WATCHDOG=1` every half `WATCHDOG_USEC`, but only while the supervision loop shows progress:
//!   the loop calls [`beat`] on every turn, and a long step it knows about holds a [`busy`]
//!   guard (with the step's own time limit when it has one). A loop that stops turning stops the
//!   pings, and systemd restarts the service.
//! - `STOPPING=1` when a stop signal arrives.
//!
//! Sends never block (a non-blocking datagram socket; a message the manager cannot take is
//! dropped). Without `NOTIFY_SOCKET` every call here does nothing. The variables are not passed
//! on to the node or the hooks (`switchyard_exec` removes them).

use std::collections::BTreeMap;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

struct Notifier {
    socket: UnixDatagram,
    addr: SocketAddr,
    watchdog: Option<Duration>,
    state: Mutex<State>,
}

struct State {
    ready: bool,
    stopping: bool,
    status: String,
    staging: Option<String>,
    sent_status: String,
    last_beat: Instant,
    last_ping: Option<Instant>,
    /// Long steps in progress: id -> until when they vouch for the loop (None: no limit).
    busy: BTreeMap<u64, Option<Instant>>,
    next_busy: u64,
    warned: bool,
}

static NOTIFIER: OnceLock<Option<Notifier>> = OnceLock::new();

fn notifier() -> Option<&'static Notifier> {
    NOTIFIER.get().and_then(|n| n.as_ref())
}

/// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` (once).
pub(crate) fn init() {
    NOTIFIER.get_or_init(|| {
        let path = std::env::var_os("NOTIFY_SOCKET")?;
        let addr = match socket_addr(path.as_encoded_bytes()) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("NOTIFY_SOCKET={path:?} is not usable: {e}; not notifying systemd");
                return None;
            }
        };
        let socket = UnixDatagram::unbound()
            .and_then(|s| s.set_nonblocking(true).map(|()| s))
            .map_err(|e| tracing::warn!("cannot open a socket to notify systemd: {e}"))
            .ok()?;
        Some(Notifier {
            socket,
            addr,
            watchdog: watchdog_interval(
                std::env::var("WATCHDOG_USEC").ok().as_deref(),
                std::env::var("WATCHDOG_PID").ok().as_deref(),
                std::process::id(),
            ),
            state: Mutex::new(State {
                ready: false,
                stopping: false,
                status: String::new(),
                staging: None,
                sent_status: String::new(),
                last_beat: Instant::now(),
                last_ping: None,
                busy: BTreeMap::new(),
                next_busy: 0,
                warned: false,
            }),
        })
    });
}

/// `/path` or `@abstract-name`.
fn socket_addr(raw: &[u8]) -> std::io::Result<SocketAddr> {
    match raw.first() {
        Some(b'@') => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(&raw[1..])
        }
        Some(b'/') => {
            use std::os::unix::ffi::OsStrExt;
            SocketAddr::from_pathname(std::ffi::OsStr::from_bytes(raw))
        }
        _ => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "expected an absolute path or @name",
        )),
    }
}

/// Half the watchdog timeout, if the watchdog is on for this process.
fn watchdog_interval(usec: Option<&str>, pid: Option<&str>, me: u32) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok().filter(|u| *u > 0)?;
    if let Some(pid) = pid {
        if pid.trim().parse::<u32>().ok() != Some(me) {
            return None;
        }
    }
    Some(Duration::from_micros(usec) / 2)
}

fn send(n: &Notifier, st: &mut State, msg: &str) {
    if let Err(e) = n.socket.send_to_addr(msg.as_bytes(), &n.addr) {
        if !st.warned {
            st.warned = true;
            tracing::warn!("notifying systemd failed (further failures are not logged): {e}");
        }
    }
}

fn with_state(f: impl FnOnce(&Notifier, &mut State)) {
    if let Some(n) = notifier() {
        let mut st = n.state.lock().unwrap_or_else(|e| e.into_inner());
        f(n, &mut st);
    }
}

fn send_status(n: &Notifier, st: &mut State) {
    let text = match &st.staging {
        Some(s) if !st.status.is_empty() => format!("{}; staging {s}", st.status),
        Some(s) => format!("staging {s}"),
        None => st.status.clone(),
    };
    if text != st.sent_status && !text.is_empty() {
        send(n, st, &format!("STATUS={text}"));
        st.sent_status = text;
    }
}

/// The service is up (sent once).
pub(crate) fn ready() {
    with_state(|n, st| {
        if !st.ready {
            st.ready = true;
            send(n, st, "READY=1");
        }
    });
}

/// What switchyard is doing now (sent when it changes).
pub(crate) fn status(text: impl Into<String>) {
    let text = text.into();
    with_state(|n, st| {
        st.status = text;
        send_status(n, st);
    });
}

/// The upgrade being staged in the background (None when done).
pub(crate) fn staging(name: Option<&str>) {
    with_state(|n, st| {
        st.staging = name.map(str::to_string);
        send_status(n, st);
    });
}

/// A stop was asked for (sent once).
pub(crate) fn stopping() {
    with_state(|n, st| {
        if !st.stopping {
            st.stopping = true;
            send(n, st, "STOPPING=1");
        }
    });
}

/// The supervision loop made progress.
pub(crate) fn beat() {
    with_state(|_, st| st.last_beat = Instant::now());
}

/// A long step in progress; while it lives (and until `limit`, when given) the loop counts as
/// healthy.
pub(crate) struct Busy(Option<u64>);

/// Marks a long step of the loop; see [`Busy`].
pub(crate) fn busy(limit: Option<Duration>) -> Busy {
    let mut id = None;
    with_state(|_, st| {
        let this = st.next_busy;
        st.next_busy += 1;
        st.busy.insert(this, limit.map(|l| Instant::now() + l));
        id = Some(this);
    });
    Busy(id)
}

impl Drop for Busy {
    fn drop(&mut self) {
        if let Some(id) = self.0 {
            with_state(|_, st| {
                st.busy.remove(&id);
                // Finishing a step is progress too.
                st.last_beat = Instant::now();
            });
        }
    }
}

/// Whether the loop showed progress since the last ping, or vouches for itself through a step.
fn healthy(st: &State, now: Instant) -> bool {
    st.last_ping.is_none_or(|p| st.last_beat > p)
        || st.busy.values().any(|until| until.is_none_or(|u| now < u))
}

/// Starts the watchdog pings (on the supervisor's runtime) when the watchdog is on, until
/// `shutdown` is triggered.
pub(crate) fn spawn_watchdog(shutdown: &crate::shutdown::Shutdown) {
    let Some(every) = notifier().and_then(|n| n.watchdog) else {
        return;
    };
    let stop = shutdown.clone();
    shutdown.spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.triggered() => return,
                _ = tick.tick() => {}
            }
            with_state(|n, st| {
                let now = Instant::now();
                if healthy(st, now) {
                    send(n, st, "WATCHDOG=1");
                    st.last_ping = Some(now);
                } else if st.last_ping.is_some_and(|p| now - p > every * 3) {
                    // Say it once per stall, while the log still works.
                    tracing::error!("the supervision loop made no progress for {:?}: no longer telling systemd's watchdog it is alive", now - st.last_beat);
                    st.last_ping = Some(now);
                }
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchdog_settings_follow_sd_watchdog_enabled() {
        assert_eq!(
            watchdog_interval(Some("4000000"), None, 7),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            watchdog_interval(Some("4000000"), Some("7"), 7),
            Some(Duration::from_secs(2))
        );
        assert_eq!(watchdog_interval(Some("4000000"), Some("8"), 7), None);
        assert_eq!(watchdog_interval(Some("0"), None, 7), None);
        assert_eq!(watchdog_interval(Some("x"), None, 7), None);
        assert_eq!(watchdog_interval(None, None, 7), None);
    }

    #[test]
    fn addresses_are_paths_or_abstract_names() {
        use std::os::linux::net::SocketAddrExt;
        let a = socket_addr(b"@sy-test").unwrap();
        assert_eq!(a.as_abstract_name(), Some(&b"sy-test"[..]));
        let p = socket_addr(b"/run/systemd/notify").unwrap();
        assert_eq!(
            p.as_pathname(),
            Some(std::path::Path::new("/run/systemd/notify"))
        );
        assert!(socket_addr(b"vsock:2:1234").is_err());
        assert!(socket_addr(b"").is_err());
    }

    #[test]
    fn healthy_means_progress_since_the_last_ping_or_a_step_within_its_limit() {
        let t0 = Instant::now();
        let mut st = State {
            ready: false,
            stopping: false,
            status: String::new(),
            staging: None,
            sent_status: String::new(),
            last_beat: t0,
            last_ping: None,
            busy: BTreeMap::new(),
            next_busy: 0,
            warned: false,
        };
        assert!(healthy(&st, t0), "the first ping goes out");
        st.last_ping = Some(t0 + Duration::from_secs(1));
        assert!(!healthy(&st, t0 + Duration::from_secs(2)), "no beat since");
        st.last_beat = t0 + Duration::from_secs(2);
        assert!(healthy(&st, t0 + Duration::from_secs(3)));
        st.last_ping = Some(t0 + Duration::from_secs(3));
        st.busy.insert(0, Some(t0 + Duration::from_secs(10)));
        assert!(healthy(&st, t0 + Duration::from_secs(9)));
        assert!(
            !healthy(&st, t0 + Duration::from_secs(11)),
            "a step past its own limit no longer vouches"
        );
        st.busy.insert(1, None);
        assert!(healthy(&st, t0 + Duration::from_secs(100)));
    }
}
