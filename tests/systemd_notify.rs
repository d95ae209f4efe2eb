//! systemd notifications from `switchyard run` (issue 11): a datagram socket stands in for
//! systemd's `NOTIFY_SOCKET`; the chain is the fake chain, started only after switchyard, so
//! `READY=1` can be seen to follow the node's first RPC answer. Then `STATUS=` lines, `WATCHDOG=1`
//! pings at half `WATCHDOG_USEC`, and `STOPPING=1` on SIGTERM, in that order; the node never sees
//! the variables.

mod common;

use std::os::unix::net::UnixDatagram;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use switchyard_fakechain::{FakeChain, Scenario};

const T: Duration = Duration::from_secs(40);

/// Collects every datagram received on `sock`, in order.
fn collect(sock: UnixDatagram) -> Arc<Mutex<Vec<String>>> {
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match sock.recv(&mut buf) {
                Ok(n) => g
                    .lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned()),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    if Arc::strong_count(&g) == 1 {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    });
    got
}

fn position(msgs: &[String], pred: impl Fn(&str) -> bool) -> Option<usize> {
    msgs.iter().position(|m| pred(m))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_follows_the_first_rpc_answer_then_status_watchdog_and_stopping() {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    home.setup(&genesis, &[]);
    // The node's RPC is the fake chain's, on a port chosen now and served only later.
    let port = home.serve_rpc();
    home.fake("no_rpc", "");
    let sock_path = home.path().join("notify.sock");
    let msgs = collect(UnixDatagram::bind(&sock_path).unwrap());
    let snapshot = || msgs.lock().unwrap().clone();

    let mut sy = home.run(&[
        ("NOTIFY_SOCKET", sock_path.to_str().unwrap()),
        ("WATCHDOG_USEC", "400000"),
    ]);
    // Pings come while the loop turns, before anything answers RPC...
    wait_for(
        "watchdog pings",
        T,
        || snapshot().iter().filter(|m| *m == "WATCHDOG=1").count() >= 3,
        || format!("{:?}\n{}", snapshot(), sy.log()),
    );
    wait_for(
        "the node to start",
        T,
        || home.events().contains("genesis start"),
        || sy.log(),
    );
    // ... and no READY while nothing answers.
    assert!(
        !snapshot().iter().any(|m| m.contains("READY=1")),
        "{:?}",
        snapshot()
    );
    let before_chain = snapshot().len();

    let chain = FakeChain::start_on(
        Scenario {
            height: 120,
            ..Default::default()
        },
        port,
        0,
    )
    .await
    .unwrap();
    wait_for(
        "READY, a status with the height, and a ping after them",
        T,
        || {
            let m = snapshot();
            let ready = position(&m, |m| m == "READY=1");
            let status = position(&m, |m| m.contains("running genesis at height 120"));
            ready
                .zip(status)
                .is_some_and(|(r, s)| m[r.max(s)..].iter().any(|m| m == "WATCHDOG=1"))
        },
        || format!("{:?}\n{}", snapshot(), sy.log()),
    );
    sy.signal(15);
    assert_eq!(sy.wait(T).code(), Some(0), "{}", sy.log());
    drop(chain);
    wait_for(
        "STOPPING",
        T,
        || snapshot().iter().any(|m| m == "STOPPING=1"),
        || format!("{:?}", snapshot()),
    );

    let m = snapshot();
    let ready = position(&m, |m| m == "READY=1").unwrap();
    assert!(
        ready >= before_chain,
        "READY only after the chain answered: {m:?}"
    );
    assert_eq!(m.iter().filter(|m| *m == "READY=1").count(), 1, "{m:?}");
    let status = position(&m, |m| {
        m.starts_with("STATUS=running genesis at height 120")
    })
    .unwrap();
    let ping_after = m[ready..].iter().position(|m| m == "WATCHDOG=1");
    let stopping = position(&m, |m| m == "STOPPING=1").unwrap();
    assert!(ping_after.is_some(), "pings after READY too: {m:?}");
    assert!(ready <= status && status < stopping, "{m:?}");
    assert!(
        m[..ready]
            .iter()
            .any(|s| s.starts_with("STATUS=started the node")),
        "{m:?}"
    );
    assert!(
        !home.events().contains("saw systemd's variables"),
        "the node must not inherit NOTIFY_SOCKET / WATCHDOG_USEC: {}",
        home.events()
    );
}

#[test]
fn an_abstract_socket_without_a_chain_is_ready_when_the_node_starts() {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    home.setup(&genesis, &[]);
    let name = format!("switchyard-test-{}-{}", std::process::id(), line!());
    let addr =
        <std::os::unix::net::SocketAddr as std::os::linux::net::SocketAddrExt>::from_abstract_name(
            name.as_bytes(),
        )
        .unwrap();
    let msgs = collect(UnixDatagram::bind_addr(&addr).unwrap());
    let snapshot = || msgs.lock().unwrap().clone();
    let mut sy = home.run(&[
        ("NOTIFY_SOCKET", &format!("@{name}")),
        ("SWITCHYARD_WATCH_CHAIN", "false"),
    ]);
    wait_for(
        "READY",
        T,
        || snapshot().iter().any(|m| m == "READY=1"),
        || format!("{:?}\n{}", snapshot(), sy.log()),
    );
    // READY came with the spawn; let the node get going before stopping it.
    wait_for("blocks", T, || home.committed() >= 2, || sy.log());
    assert_eq!(sy.stop().code(), Some(0));
    wait_for(
        "STOPPING",
        T,
        || snapshot().iter().any(|m| m == "STOPPING=1"),
        || format!("{:?}", snapshot()),
    );
    // No watchdog asked for: no pings.
    assert!(
        !snapshot().iter().any(|m| m == "WATCHDOG=1"),
        "{:?}",
        snapshot()
    );
}
