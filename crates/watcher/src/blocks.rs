//! A stream of new blocks: a websocket subscription to CometBFT `NewBlockHeader` events that
//! reconnects with exponential backoff, with `/status` polling filling the gaps while the socket
//! is down (or silent for too long).
//!
//! Heights are delivered in increasing order and without repeats, whatever source they come from;
//! a jump (blocks missed while reconnecting) is delivered as the one new height.
//!
//! The same session also subscribes to the transactions that put a governance proposal into its
//! voting period (the gov module's `voting_period_start` attribute on `submit_proposal` or
//! `proposal_deposit`), so the watcher can read proposals at once instead of at its next
//! scheduled read: a test chain's vote may last seconds. A node that refuses those two
//! subscriptions still feeds blocks.
//!
//! This build's websocket client has no TLS: for an `https://` RPC address the `wss://`
//! subscription fails and the feed keeps polling (nodes on the same host use plain `http://`).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use crate::respawn::respawn_on_panic;
use crate::rpc::RpcClient;
use crate::wire::{envelope_result, ws_message, BlockHeader, EnvelopeError, WsMessage};

/// Where a block announcement came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockSource {
    /// A `NewBlockHeader` event on the websocket subscription (the app has committed it).
    Websocket,
    /// A `/status` poll, while the websocket is down or turned off.
    Poll,
}

/// One new block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct NewBlock {
    /// The block's height.
    pub height: i64,
    /// The time in the block's header.
    pub time: chrono::DateTime<chrono::Utc>,
    /// How the feed learned of it.
    pub source: BlockSource,
}

/// The state of the block feed itself (for logs and tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedState {
    /// Whether the websocket subscription is up (acknowledged by the node) right now.
    pub websocket_connected: bool,
    /// How many times a websocket session was established.
    pub websocket_sessions: u64,
    /// The last reason the websocket went down.
    pub last_websocket_error: Option<String>,
    /// How many `/status` polls failed while the websocket was down (the node itself was not
    /// answering: restarting, or gone).
    pub polls_failed: u64,
}

/// Tuning of the block feed.
#[derive(Debug, Clone, Copy)]
pub struct BlockFeedOptions {
    /// How often to poll `/status` while the websocket is down.
    pub poll_interval: Duration,
    /// First reconnect delay; doubled after each failure up to `backoff_max`.
    pub backoff_initial: Duration,
    /// Longest delay between two websocket connection attempts.
    pub backoff_max: Duration,
    /// A connected socket that delivers nothing for this long is dropped and reopened.
    pub silence_timeout: Duration,
    /// Largest websocket message (and frame) accepted; a larger one ends the session, and the
    /// feed polls until the next one is up.
    pub max_message_bytes: usize,
    /// `false` polls only (no websocket at all).
    pub use_websocket: bool,
}

impl Default for BlockFeedOptions {
    fn default() -> Self {
        BlockFeedOptions {
            poll_interval: Duration::from_secs(2),
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            silence_timeout: Duration::from_secs(60),
            // Header events are a few KB; a Tx event carries its transaction (a governance
            // proposal storing a contract: a few MB). A node sending more is not followed.
            max_message_bytes: 16 * 1024 * 1024,
            use_websocket: true,
        }
    }
}

/// The subscription ids of one session: blocks, and the two kinds of "voting started" txs.
const BLOCKS_ID: u64 = 1;
/// Block headers, not whole blocks: the feed needs a height and a time, and a `NewBlock` event
/// carries every transaction and signature of the block too (7 KB against 1.2 KB for an empty
/// wasmd block; megabytes on a busy chain), all of it parsed on every block.
const BLOCKS_QUERY: &str = "tm.event = 'NewBlockHeader'";
const VOTING_STARTED: [(u64, &str); 2] = [
    (
        2,
        "tm.event = 'Tx' AND submit_proposal.voting_period_start EXISTS",
    ),
    (
        3,
        "tm.event = 'Tx' AND proposal_deposit.voting_period_start EXISTS",
    ),
];

/// A running block feed. Dropping it stops the task.
#[derive(Debug)]
pub struct BlockFeed {
    blocks: broadcast::Sender<NewBlock>,
    state: watch::Receiver<FeedState>,
    voting_started: watch::Receiver<u64>,
    task: JoinHandle<()>,
}

impl Drop for BlockFeed {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl BlockFeed {
    /// Starts following `rpc`'s blocks.
    pub fn spawn(rpc: RpcClient, opts: BlockFeedOptions) -> Self {
        let (tx, _) = broadcast::channel(256);
        let (state_tx, state) = watch::channel(FeedState::default());
        let (votes_tx, voting_started) = watch::channel(0u64);
        let t = tx.clone();
        let task = tokio::spawn(respawn_on_panic(
            "block feed",
            opts.backoff_initial,
            move || {
                let out = Outputs {
                    state: state_tx.clone(),
                    voting_started: votes_tx.clone(),
                };
                run(rpc.clone(), opts, t.clone(), out)
            },
            |_| {},
        ));
        BlockFeed {
            blocks: tx,
            state,
            voting_started,
            task,
        }
    }

    /// How many transactions that put a proposal into its voting period the node announced
    /// (changes when one more arrives).
    pub fn voting_started(&self) -> watch::Receiver<u64> {
        self.voting_started.clone()
    }

    /// A receiver of new blocks from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<NewBlock> {
        self.blocks.subscribe()
    }

    /// The feed's own state.
    pub fn state(&self) -> watch::Receiver<FeedState> {
        self.state.clone()
    }
}

struct Emitter {
    tx: broadcast::Sender<NewBlock>,
    last: i64,
}

impl Emitter {
    fn emit(&mut self, h: BlockHeader, source: BlockSource) -> bool {
        if h.height <= self.last {
            return false;
        }
        self.last = h.height;
        let _ = self.tx.send(NewBlock {
            height: h.height,
            time: h.time,
            source,
        });
        true
    }
}

/// What a session reports besides blocks.
struct Outputs {
    state: watch::Sender<FeedState>,
    voting_started: watch::Sender<u64>,
}

async fn run(
    rpc: RpcClient,
    opts: BlockFeedOptions,
    tx: broadcast::Sender<NewBlock>,
    out: Outputs,
) {
    let state = &out.state;
    let mut em = Emitter { tx, last: 0 };
    let mut backoff = switchyard_core::Backoff::new(opts.backoff_initial, opts.backoff_max);
    let ws_url = websocket_url(rpc.base());
    loop {
        if opts.use_websocket {
            match session(&ws_url, &opts, &mut em, &out).await {
                Ok(delivered) => {
                    if delivered {
                        backoff.reset();
                    }
                }
                Err(e) => {
                    tracing::debug!("websocket {ws_url}: {e}");
                    state.send_modify(|s| {
                        s.websocket_connected = false;
                        s.last_websocket_error = Some(e);
                    });
                }
            }
            state.send_modify(|s| s.websocket_connected = false);
        }
        // Down: poll until it is time to try the socket again, or until the node answers again
        // after it did not: a node that restarted (an upgrade, a crash) has its websocket back
        // with its RPC, and waiting out a backoff grown over its restart would miss the events
        // only the socket brings (a proposal entering a short vote).
        let until = tokio::time::Instant::now() + backoff.next_delay();
        let mut node_was_down = false;
        loop {
            match rpc.status().await {
                Ok(s) => {
                    em.emit(
                        BlockHeader {
                            height: s.latest_block_height,
                            time: s.latest_block_time,
                        },
                        BlockSource::Poll,
                    );
                    if node_was_down && opts.use_websocket {
                        backoff.reset();
                        break;
                    }
                }
                Err(e) => {
                    tracing::debug!("polling for blocks: {e}");
                    node_was_down = true;
                    state.send_modify(|s| s.polls_failed += 1);
                }
            }
            let now = tokio::time::Instant::now();
            if opts.use_websocket && now >= until {
                break;
            }
            let wait = if opts.use_websocket {
                opts.poll_interval.min(until - now)
            } else {
                opts.poll_interval
            };
            tokio::time::sleep(wait).await;
        }
    }
}

/// One websocket session; `Ok(delivered_any)` when it ended by silence or a clean close.
async fn session(
    url: &str,
    opts: &BlockFeedOptions,
    em: &mut Emitter,
    out: &Outputs,
) -> Result<bool, String> {
    let state = &out.state;
    let cfg = WebSocketConfig::default()
        .max_message_size(Some(opts.max_message_bytes))
        .max_frame_size(Some(opts.max_message_bytes));
    let connect = tokio_tungstenite::connect_async_with_config(url, Some(cfg), false);
    let (mut ws, _) = tokio::time::timeout(opts.silence_timeout, connect)
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| format!("connect: {e}"))?;
    let subscriptions = std::iter::once((BLOCKS_ID, BLOCKS_QUERY)).chain(VOTING_STARTED);
    for (id, query) in subscriptions {
        let sub = serde_json::json!({
            "jsonrpc": "2.0", "id": id, "method": "subscribe", "params": {"query": query}
        });
        ws.send(Message::text(sub.to_string()))
            .await
            .map_err(|e| format!("subscribe: {e}"))?;
    }
    let mut delivered = false;
    let mut acked = false;
    loop {
        let msg = match tokio::time::timeout(opts.silence_timeout, ws.next()).await {
            Err(_) => {
                return Err(format!(
                    "no message for {:.0}s",
                    opts.silence_timeout.as_secs_f64()
                ))
            }
            Ok(None) => return Ok(delivered),
            Ok(Some(Err(e))) => return Err(format!("read: {e}")),
            Ok(Some(Ok(m))) => m,
        };
        let read = match &msg {
            Message::Text(t) => read_message(t.as_str()),
            Message::Binary(b) => read_message(&String::from_utf8_lossy(b)),
            Message::Close(_) => return Ok(delivered),
            _ => continue,
        };
        match read? {
            // The subscription is up once the node acknowledges it with an empty result.
            Announcement::Ack if !acked => {
                acked = true;
                state.send_modify(|s| {
                    s.websocket_connected = true;
                    s.websocket_sessions += 1;
                });
            }
            Announcement::Block(h) => {
                em.emit(h, BlockSource::Websocket);
                delivered = true;
            }
            Announcement::VotingStarted => out.voting_started.send_modify(|n| *n += 1),
            Announcement::Refused(why) => {
                tracing::debug!("websocket {url}: no proposal events: {why}");
            }
            Announcement::Ack | Announcement::Other => {}
        }
    }
}

/// What one websocket message from the node says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Announcement {
    /// An empty `result`: a subscription's acknowledgement.
    Ack,
    Block(BlockHeader),
    /// A transaction put a governance proposal into its voting period.
    VotingStarted,
    /// The node refused a subscription other than the blocks' one (the feed goes on).
    Refused(String),
    /// Another event.
    Other,
}

/// Decodes one websocket message; an error ends the session (and names what was wrong).
///
/// Every block brings one, so it is read without building a JSON tree of it
/// ([`crate::wire::ws_message`]); only a message that way cannot read is read again as a tree,
/// for an error that names the field ([`read_message_slowly`]).
pub(crate) fn read_message(text: &str) -> Result<Announcement, String> {
    match ws_message(text) {
        Ok(WsMessage::Block(h)) => Ok(Announcement::Block(h)),
        Ok(WsMessage::Tx {
            voting_started: true,
        }) => Ok(Announcement::VotingStarted),
        Ok(WsMessage::Tx { .. } | WsMessage::Other) => Ok(Announcement::Other),
        Ok(WsMessage::Error { id, why }) if id.is_some_and(|i| i != BLOCKS_ID) => {
            Ok(Announcement::Refused(why))
        }
        Ok(WsMessage::Error { why, .. }) => {
            Err(format!("the node refused the subscription: {why}"))
        }
        // Only small messages are worth a tree (acknowledgements, errors): a large one that is
        // not a block or Tx event would cost several times its size in memory for nothing.
        Err(e) if text.len() > SLOW_READ_MAX_BYTES => Err(format!(
            "a message of {} bytes that is not a block or transaction event ({e})",
            text.len()
        )),
        Err(_) => read_message_slowly(text),
    }
}

/// The largest message [`read_message_slowly`] is given.
const SLOW_READ_MAX_BYTES: usize = 64 * 1024;

/// [`read_message`] through a JSON tree: slower, but its errors name what was wrong.
pub(crate) fn read_message_slowly(text: &str) -> Result<Announcement, String> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("a message that is not JSON ({e})"))?;
    let id = v.get("id").and_then(serde_json::Value::as_u64);
    let result = match envelope_result(v) {
        Ok(r) => r,
        Err(EnvelopeError::Remote(why)) if id.is_some_and(|i| i != BLOCKS_ID) => {
            return Ok(Announcement::Refused(why))
        }
        Err(EnvelopeError::Remote(why)) => {
            return Err(format!("the node refused the subscription: {why}"))
        }
        Err(EnvelopeError::Shape(why)) => return Err(why),
    };
    if result.as_object().is_some_and(|o| o.is_empty()) {
        return Ok(Announcement::Ack);
    }
    if starts_voting(&result) {
        return Ok(Announcement::VotingStarted);
    }
    match BlockHeader::from_event_result(&result) {
        Ok(Some(h)) => Ok(Announcement::Block(h)),
        Ok(None) => Ok(Announcement::Other),
        Err(e) => Err(format!("a block event that cannot be read: {e}")),
    }
}

/// A `Tx` event whose attributes say a proposal entered its voting period (the event's
/// `events` map, `"type.attribute": [values]`, names `voting_period_start`).
fn starts_voting(result: &serde_json::Value) -> bool {
    let is_tx = result
        .pointer("/data/type")
        .and_then(serde_json::Value::as_str)
        == Some("tendermint/event/Tx");
    let events = result.get("events").and_then(serde_json::Value::as_object);
    is_tx
        && events.is_some_and(|e| {
            ["submit_proposal", "proposal_deposit"]
                .iter()
                .any(|t| e.contains_key(&format!("{t}.voting_period_start")))
        })
}

/// `http://host:port` → `ws://host:port/websocket`.
pub(crate) fn websocket_url(base: &str) -> String {
    let rest = base
        .strip_prefix("https://")
        .map(|r| format!("wss://{r}"))
        .or_else(|| base.strip_prefix("http://").map(|r| format!("ws://{r}")))
        .unwrap_or_else(|| base.to_string());
    format!("{}/websocket", rest.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::{read_message, Announcement};

    /// A `Tx` event as CometBFT sends it to a subscriber (its `events` map flattens every
    /// attribute of the tx to `type.key`), for a gov v1 submit that met the minimum deposit.
    fn tx_event(id: u64, events: serde_json::Value) -> String {
        serde_json::json!({"jsonrpc": "2.0", "id": id, "result": {
            "query": "tm.event = 'Tx' AND submit_proposal.voting_period_start EXISTS",
            "data": {"type": "tendermint/event/Tx", "value": {"TxResult": {
                "height": "41", "index": 0, "tx": "CgA=", "result": {"code": 0, "events": []}}}},
            "events": events
        }})
        .to_string()
    }

    #[test]
    fn a_tx_that_starts_a_vote_is_announced() {
        let submit = tx_event(
            2,
            serde_json::json!({
                "tm.event": ["Tx"], "tx.height": ["41"],
                "message.action": ["/cosmos.gov.v1.MsgSubmitProposal"],
                "submit_proposal.proposal_id": ["3"],
                "submit_proposal.voting_period_start": ["3"]
            }),
        );
        assert_eq!(read_message(&submit), Ok(Announcement::VotingStarted));
        let deposit = tx_event(
            3,
            serde_json::json!({"tm.event": ["Tx"], "proposal_deposit.voting_period_start": ["4"]}),
        );
        assert_eq!(read_message(&deposit), Ok(Announcement::VotingStarted));
        // a deposit that does not reach the minimum starts nothing
        let short = tx_event(
            3,
            serde_json::json!({"tm.event": ["Tx"], "proposal_deposit.proposal_id": ["4"]}),
        );
        assert_eq!(read_message(&short), Ok(Announcement::Other));
    }

    #[test]
    fn a_refused_proposal_subscription_does_not_end_the_session() {
        let refused = r#"{"jsonrpc":"2.0","id":2,"error":{"code":-32603,"message":"Internal error","data":"failed to parse query"}}"#;
        assert!(matches!(
            read_message(refused),
            Ok(Announcement::Refused(_))
        ));
        // the blocks' own subscription refused is the end of the session
        let blocks = refused.replace(r#""id":2"#, r#""id":1"#);
        assert!(read_message(&blocks).is_err());
    }

    #[test]
    fn a_large_message_that_is_no_event_is_refused_without_a_tree() {
        let big = format!(
            r#"{{"jsonrpc":"2.0","id":1,"result":{{"junk":[{}0]}}}}"#,
            "0,".repeat(100_000)
        );
        let e = read_message(&big).unwrap_err();
        assert!(
            e.contains("a message of 200") && e.contains("not a block"),
            "{e}"
        );
        // The same shape, small, is read the slow way: another event, the session goes on.
        let small = r#"{"jsonrpc":"2.0","id":1,"result":{"junk":[0]}}"#;
        assert_eq!(read_message(small), Ok(Announcement::Other));
    }

    #[test]
    fn websocket_urls() {
        assert_eq!(
            super::websocket_url("http://127.0.0.1:26657"),
            "ws://127.0.0.1:26657/websocket"
        );
        assert_eq!(
            super::websocket_url("https://rpc.example/"),
            "wss://rpc.example/websocket"
        );
    }
}
