//! Where switchyard's log lines go: stderr, written by a thread of its own, never by the code that
//! logs.
//!
//! Failing to log is never a reason to stop supervising. A log line is handed to a bounded queue
//! ([`QUEUE_LINES`] lines) and the caller goes on at once; one writer thread writes the queue to
//! file descriptor 2. So:
//! - a stalled reader (a full pipe, a journald that does not read) blocks only that thread; once
//!   the queue is full, new lines are dropped and counted;
//! - a broken stream (EPIPE: the reader is gone; any other write error) loses the line being
//!   written, counted too; SIGPIPE is ignored by Rust programs, so it is an error, not death;
//! - every line is a fresh write to descriptor 2, so once writing works again (the pipe drains, or
//!   descriptor 2 is replaced with a working stream) lines flow again, and the first one says how
//!   many were lost.
//!
//! Nothing here panics or prints by itself. [`flush`] waits, for a bounded time, for the queue to
//! be written (at exit).
//!
//! (tracing-appender's non-blocking writer is close, but prints to stdout/stderr itself when its
//! writer fails, which is exactly the case this exists for.)

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Lines queued at most while stderr does not take them.
pub(crate) const QUEUE_LINES: usize = 1024;
/// Longest line kept (longer ones are cut; a log line is a few hundred bytes).
const LINE_LIMIT: usize = 16 * 1024;

enum Msg {
    Line(Vec<u8>),
    /// Answered once every line queued before it was written (or lost).
    Flush(SyncSender<()>),
}

struct Sink {
    tx: SyncSender<Msg>,
    /// Lines lost since the last successful write.
    lost: Arc<AtomicU64>,
}

static SINK: OnceLock<Sink> = OnceLock::new();

/// Starts the writer thread (once). Lines logged before this are written synchronously by the
/// caller's own writer, so call it first.
pub(crate) fn start() {
    SINK.get_or_init(|| {
        let (tx, rx) = sync_channel(QUEUE_LINES);
        let lost = Arc::new(AtomicU64::new(0));
        let thread_lost = lost.clone();
        // Without the thread every line is counted as lost; supervision is not affected.
        let _ = std::thread::Builder::new()
            .name("switchyard-log".into())
            .spawn(move || write_loop(rx, &thread_lost, &mut std::io::stderr()));
        Sink { tx, lost }
    });
}

/// Writes each queued line to `err` (a fresh write each time), counting failures.
fn write_loop(rx: Receiver<Msg>, lost: &AtomicU64, err: &mut dyn Write) {
    for msg in rx {
        match msg {
            Msg::Flush(done) => {
                let _ = done.try_send(());
            }
            Msg::Line(line) => {
                let n = lost.load(Ordering::Relaxed);
                if n > 0 {
                    let note = format!(
                        "switchyard: {n} log line(s) were lost while stderr could not be written\n"
                    );
                    if err.write_all(note.as_bytes()).is_ok() {
                        lost.fetch_sub(n, Ordering::Relaxed);
                    }
                }
                if err.write_all(&line).is_err() {
                    lost.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// Queues one line, or counts it as lost; never blocks.
fn send(line: &[u8]) {
    match SINK.get() {
        Some(sink) => queue(sink, line),
        None => {
            let _ = std::io::stderr().write_all(line);
        }
    }
}

fn queue(sink: &Sink, line: &[u8]) {
    let mut bytes = line[..line.len().min(LINE_LIMIT)].to_vec();
    if bytes.len() < line.len() {
        bytes.extend_from_slice(b"...\n");
    }
    match sink.tx.try_send(Msg::Line(bytes)) {
        Ok(()) => {}
        Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
            sink.lost.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Waits up to `limit` for every line queued so far to be written (or lost).
pub(crate) fn flush(limit: Duration) {
    let Some(sink) = SINK.get() else { return };
    let (done_tx, done_rx) = sync_channel(1);
    let deadline = std::time::Instant::now() + limit;
    // The queue may be full: keep offering the marker until the deadline.
    let mut msg = Msg::Flush(done_tx);
    loop {
        match sink.tx.try_send(msg) {
            Ok(()) => break,
            Err(TrySendError::Full(m)) if std::time::Instant::now() < deadline => {
                msg = m;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => return,
        }
    }
    let left = deadline.saturating_duration_since(std::time::Instant::now());
    let _ = done_rx.recv_timeout(left);
}

/// The `MakeWriter` for tracing: one event is one `write` of the whole formatted line.
#[derive(Clone, Copy, Default)]
pub(crate) struct SinkWriter;

impl Write for SinkWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        send(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for SinkWriter {
    type Writer = SinkWriter;
    fn make_writer(&'a self) -> Self::Writer {
        SinkWriter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream that fails while `broken` is set, as a pipe without a reader does.
    struct Flaky {
        broken: Arc<std::sync::atomic::AtomicBool>,
        got: Arc<std::sync::Mutex<Vec<u8>>>,
    }

    impl Write for Flaky {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.broken.load(Ordering::SeqCst) {
                return Err(std::io::ErrorKind::BrokenPipe.into());
            }
            self.got.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_lost_while_the_stream_is_broken_are_counted_and_announced_when_it_works_again() {
        let (tx, rx) = sync_channel(QUEUE_LINES);
        let lost = Arc::new(AtomicU64::new(0));
        let broken = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let got = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut w = Flaky {
            broken: broken.clone(),
            got: got.clone(),
        };
        let sink = Sink {
            tx,
            lost: lost.clone(),
        };
        let writer_lost = lost.clone();
        let t = std::thread::spawn(move || write_loop(rx, &writer_lost, &mut w));
        let barrier = |sink: &Sink| {
            let (d, r) = sync_channel(1);
            sink.tx.send(Msg::Flush(d)).unwrap();
            r.recv().unwrap();
        };
        queue(&sink, b"one\n");
        queue(&sink, b"two\n");
        barrier(&sink);
        assert_eq!(lost.load(Ordering::SeqCst), 2);
        broken.store(false, Ordering::SeqCst);
        queue(&sink, b"three\n");
        barrier(&sink);
        assert_eq!(
            String::from_utf8(got.lock().unwrap().clone()).unwrap(),
            "switchyard: 2 log line(s) were lost while stderr could not be written\nthree\n"
        );
        assert_eq!(lost.load(Ordering::SeqCst), 0);
        drop(sink);
        t.join().unwrap();
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_blocking() {
        // Nobody writes: the queue fills, then every further line is counted, at once.
        let (tx, _rx) = sync_channel(QUEUE_LINES);
        let sink = Sink {
            tx,
            lost: Arc::new(AtomicU64::new(0)),
        };
        let started = std::time::Instant::now();
        for _ in 0..QUEUE_LINES + 10 {
            queue(&sink, b"line\n");
        }
        assert_eq!(sink.lost.load(Ordering::SeqCst), 10);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn an_overlong_line_is_cut() {
        let (tx, rx) = sync_channel(4);
        let sink = Sink {
            tx,
            lost: Arc::new(AtomicU64::new(0)),
        };
        queue(&sink, &vec![b'x'; LINE_LIMIT * 3]);
        match rx.try_recv().unwrap() {
            Msg::Line(l) => {
                assert_eq!(l.len(), LINE_LIMIT + 4);
                assert!(l.ends_with(b"...\n"));
            }
            Msg::Flush(_) => panic!("a line was queued"),
        }
    }
}
