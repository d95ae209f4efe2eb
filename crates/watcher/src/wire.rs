//! Decoding CometBFT JSON-RPC answers into typed values.
//!
//! Each answer is decoded with `#[derive(Deserialize)]` types (private to this module) into the
//! public values below; errors carry the path of the field that was wrong
//! (`sync_info.latest_block_height: "abc" is not an integer`), via `serde_path_to_error`.
//!
//! CometBFT writes every int64 as a JSON string (`"latest_block_height":"21076916"`); the
//! `int64` helpers also accept plain numbers. Fields a node may leave out (older Tendermint
//! omits `app_version` and `version` from `/abci_info`; an empty app answers `"response":{}`)
//! become `None` or 0, but the fields we cannot do without (a height, a block time) are errors
//! naming the field. Nothing here panics on any input: numbers out of range, times chrono
//! cannot represent, huge strings and deep nesting (serde_json stops at 128 levels) are errors.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

/// `/status`, the part we use.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Status {
    /// The answering node's id (`node_info.id`; empty when it does not say).
    pub node_id: String,
    pub chain_id: String,
    /// CometBFT's version (`node_info.version`).
    pub node_version: String,
    pub latest_block_height: i64,
    pub latest_block_time: DateTime<Utc>,
    pub earliest_block_height: i64,
    pub catching_up: bool,
}

/// `/abci_info`, the part we use.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AbciInfo {
    /// The app's version string (`response.version`), when it reports one.
    pub version: Option<String>,
    /// The app protocol version (`response.app_version`), when reported.
    pub app_version: Option<u64>,
    /// The last height the app committed (0 for a fresh or silent app).
    pub last_block_height: i64,
}

/// One `abci_query` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AbciQueryAnswer {
    pub code: u32,
    pub log: String,
    pub codespace: String,
    /// The decoded `value` (empty when the node sent `""` or `null`).
    pub value: Vec<u8>,
    pub height: i64,
}

/// `/net_info`, the part we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct NetInfo {
    /// `n_peers`: peers connected now.
    pub peers: u32,
    pub listening: bool,
}

/// A block as announced by a `NewBlock` event or read with `/block`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct BlockHeader {
    pub height: i64,
    pub time: DateTime<Utc>,
}

/// Why a JSON answer could not be decoded: the field path and what was wrong.
pub(crate) type DecodeError = String;

/// CometBFT's int64-as-string (or a plain JSON number), for `#[serde(with = "int64")]`.
mod int64 {
    use serde::de::{self, Deserializer, Visitor};
    use std::fmt;

    struct Int64;

    impl Visitor<'_> for Int64 {
        type Value = i64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an integer, or a string holding one")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
            Ok(v)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
            i64::try_from(v).map_err(|_| E::custom(format!("{v} is out of range for an int64")))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
            Err(E::custom(format!("{v} is not an integer")))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
            v.trim().parse().map_err(|_| {
                let shown: String = v.chars().take(40).collect();
                E::custom(format!("{shown:?} is not an integer"))
            })
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        d.deserialize_any(Int64)
    }

    /// The same, where `null` or a missing field is `None` (use with `#[serde(default)]`).
    pub(super) mod opt {
        use super::*;

        struct OptInt64;

        impl<'de> Visitor<'de> for OptInt64 {
            type Value = Option<i64>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer, a string holding one, or null")
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                super::deserialize(d).map(Some)
            }
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<i64>, D::Error> {
            d.deserialize_option(OptInt64)
        }
    }
}

/// Decodes `v` as `T`, naming the field path (under `prefix`) when it fails.
fn decode<T: DeserializeOwned>(v: &Value, prefix: &str) -> Result<T, DecodeError> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let at = match (prefix.is_empty(), path.as_str()) {
            (true, ".") => String::new(),
            (true, p) => format!("{p}: "),
            (false, ".") => format!("{prefix}: "),
            (false, p) => format!("{prefix}.{p}: "),
        };
        format!("{at}{}", e.into_inner())
    })
}

/// `/status` as the node writes it.
#[derive(Deserialize)]
struct StatusWire {
    #[serde(default)]
    node_info: NodeInfoWire,
    sync_info: SyncInfoWire,
}

#[derive(Deserialize, Default)]
struct NodeInfoWire {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    network: Option<String>,
    #[serde(default)]
    version: Option<String>,
}

#[derive(Deserialize)]
struct SyncInfoWire {
    #[serde(with = "int64")]
    latest_block_height: i64,
    latest_block_time: DateTime<Utc>,
    #[serde(default, with = "int64::opt")]
    earliest_block_height: Option<i64>,
    #[serde(default)]
    catching_up: Option<bool>,
}

impl Status {
    /// Decodes the `result` of `/status`.
    pub fn from_result(r: &Value) -> Result<Self, DecodeError> {
        let w: StatusWire = decode(r, "")?;
        Ok(Status {
            node_id: w.node_info.id.unwrap_or_default(),
            chain_id: w.node_info.network.unwrap_or_default(),
            node_version: w.node_info.version.unwrap_or_default(),
            latest_block_height: w.sync_info.latest_block_height,
            latest_block_time: w.sync_info.latest_block_time,
            earliest_block_height: w.sync_info.earliest_block_height.unwrap_or(1),
            catching_up: w.sync_info.catching_up.unwrap_or(false),
        })
    }
}

/// `/abci_info` as the node writes it.
#[derive(Deserialize)]
struct AbciInfoWire {
    response: AbciInfoResponseWire,
}

#[derive(Deserialize)]
struct AbciInfoResponseWire {
    #[serde(default)]
    version: Option<String>,
    #[serde(default, with = "int64::opt")]
    app_version: Option<i64>,
    #[serde(default, with = "int64::opt")]
    last_block_height: Option<i64>,
}

impl AbciInfo {
    /// Decodes the `result` of `/abci_info`.
    pub fn from_result(r: &Value) -> Result<Self, DecodeError> {
        let w: AbciInfoWire = decode(r, "")?;
        let app_version = w
            .response
            .app_version
            .map(|v| u64::try_from(v).map_err(|_| format!("response.app_version is {v}")))
            .transpose()?;
        Ok(AbciInfo {
            version: w.response.version,
            app_version,
            last_block_height: w.response.last_block_height.unwrap_or(0),
        })
    }
}

/// `/net_info` as the node writes it.
#[derive(Deserialize)]
struct NetInfoWire {
    #[serde(with = "int64")]
    n_peers: i64,
    #[serde(default)]
    listening: Option<bool>,
}

impl NetInfo {
    /// Decodes the `result` of `/net_info`.
    pub fn from_result(r: &Value) -> Result<Self, DecodeError> {
        let w: NetInfoWire = decode(r, "")?;
        Ok(NetInfo {
            peers: u32::try_from(w.n_peers).map_err(|_| format!("n_peers is {}", w.n_peers))?,
            listening: w.listening.unwrap_or(false),
        })
    }
}

/// `abci_query` as the node writes it.
#[derive(Deserialize)]
struct AbciQueryWire {
    response: AbciQueryResponseWire,
}

#[derive(Deserialize)]
struct AbciQueryResponseWire {
    #[serde(default, with = "int64::opt")]
    code: Option<i64>,
    #[serde(default)]
    log: Option<String>,
    #[serde(default)]
    codespace: Option<String>,
    #[serde(default)]
    value: Option<String>,
    #[serde(default, with = "int64::opt")]
    height: Option<i64>,
}

impl AbciQueryAnswer {
    /// Decodes the `result` of `abci_query`.
    pub(crate) fn from_result(r: &Value) -> Result<Self, DecodeError> {
        use base64::Engine as _;
        let w: AbciQueryWire = decode(r, "")?;
        let code = match w.response.code {
            None => 0,
            Some(c) => u32::try_from(c).map_err(|_| format!("response.code is {c}"))?,
        };
        let value = match w.response.value {
            None => Vec::new(),
            Some(s) => base64::engine::general_purpose::STANDARD
                .decode(s.trim())
                .map_err(|e| format!("response.value is not base64: {e}"))?,
        };
        Ok(AbciQueryAnswer {
            code,
            log: w.response.log.unwrap_or_default(),
            codespace: w.response.codespace.unwrap_or_default(),
            value,
            height: w.response.height.unwrap_or(0),
        })
    }
}

/// `/block` (and a `NewBlock` event's `value`): the header is all we read.
#[derive(Deserialize)]
struct BlockWire {
    block: BlockInnerWire,
}

#[derive(Deserialize)]
struct BlockInnerWire {
    header: HeaderWire,
}

#[derive(Deserialize)]
struct HeaderWire {
    #[serde(with = "int64")]
    height: i64,
    time: DateTime<Utc>,
}

/// A websocket event's `result`: `{"query":..., "data": {"type": ..., "value": ...}}`, or `{}`.
#[derive(Deserialize)]
struct EventWire {
    #[serde(default)]
    data: Option<EventDataWire>,
}

#[derive(Deserialize)]
struct EventDataWire {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    value: Option<Value>,
}

impl BlockHeader {
    /// Decodes the `result` of `/block` (`block.header`).
    pub fn from_block_result(r: &Value) -> Result<Self, DecodeError> {
        let w: BlockWire = decode(r, "")?;
        Ok(BlockHeader {
            height: w.block.header.height,
            time: w.block.header.time,
        })
    }

    /// Decodes the `result` of a websocket event; `Ok(None)` for the empty subscription ack
    /// (`{}`) and for events other than `NewBlockHeader` (`value.header`) and `NewBlock`
    /// (`value.block.header`).
    pub fn from_event_result(r: &Value) -> Result<Option<Self>, DecodeError> {
        let w: EventWire = decode(r, "")?;
        let Some(data) = w.data else {
            return Ok(None);
        };
        let header = match data.kind.as_deref() {
            Some(NEW_BLOCK_HEADER) => {
                let value = data.value.ok_or("data.value is missing")?;
                decode::<HeaderEventWire>(&value, "data.value")?.header
            }
            Some(NEW_BLOCK) => {
                let value = data.value.ok_or("data.value is missing")?;
                decode::<BlockWire>(&value, "data.value")?.block.header
            }
            _ => return Ok(None),
        };
        Ok(Some(BlockHeader {
            height: header.height,
            time: header.time,
        }))
    }
}

const NEW_BLOCK_HEADER: &str = "tendermint/event/NewBlockHeader";
const NEW_BLOCK: &str = "tendermint/event/NewBlock";

/// A `NewBlockHeader` event's value: `{"header": ...}` (Tendermint 0.34 and 0.37 add the
/// block's tx count and begin/end-block results, which we do not read).
#[derive(Deserialize)]
struct HeaderEventWire {
    header: HeaderWire,
}

/// One websocket message, as the block feed reads it on every block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WsMessage {
    /// A `NewBlockHeader` or `NewBlock` event.
    Block(BlockHeader),
    /// A `Tx` event; `voting_started` when its attributes name a proposal's
    /// `voting_period_start` (`submit_proposal.` or `proposal_deposit.voting_period_start`).
    Tx { voting_started: bool },
    /// Another event.
    Other,
    /// A JSON-RPC error answering the request with this id.
    Error { id: Option<u64>, why: String },
}

/// Decodes one websocket message without building a JSON tree of it: only the fields the feed
/// reads are kept (the header's height and time, the names of a Tx event's attributes), and the
/// rest (a NewBlock's transactions and commit, a Tx's result) is skipped as it is parsed. `Err`
/// for anything else (not JSON, a block event without a usable height or time, a subscription's
/// acknowledgement); the caller then reads the message the slow way ([`envelope_result`],
/// [`BlockHeader::from_event_result`]), which decides those and names the field that is wrong.
/// Where this read answers, the slow one answers the same (the fuzz target checks it).
pub(crate) fn ws_message(text: &str) -> Result<WsMessage, serde_json::Error> {
    // A derived struct also deserializes from a JSON array (its fields in order), which the
    // slow read refuses as "not an object": only an object is a message here.
    if !text
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .starts_with('{')
    {
        return Err(serde::de::Error::custom(
            "a message that is not a JSON object",
        ));
    }
    let w: WsWire = serde_json::from_str(text)?;
    if let Some(err) = w.error {
        return Ok(WsMessage::Error {
            id: w.id.as_ref().and_then(Value::as_u64),
            why: err.describe(),
        });
    }
    let slow = |why: &str| Err(serde::de::Error::custom(why));
    let Some(r) = w.result else {
        return slow("neither result nor error");
    };
    let Some(data) = r.data else {
        // An acknowledgement is an empty object, which this read cannot tell from one with
        // fields it does not know; acknowledgements are few, the slow read decides.
        return slow("a result without data");
    };
    let header = match (data.kind.as_deref(), data.value) {
        (Some(NEW_BLOCK_HEADER), Some(v)) => v.header,
        (Some(NEW_BLOCK), Some(v)) => v.block.map(|b| b.header),
        _ => None,
    };
    Ok(match (data.kind.as_deref(), header) {
        (Some(NEW_BLOCK_HEADER | NEW_BLOCK), Some(h)) => WsMessage::Block(BlockHeader {
            height: h.height,
            time: h.time,
        }),
        (Some(NEW_BLOCK_HEADER | NEW_BLOCK), None) => {
            return slow("a block event without its header")
        }
        (Some("tendermint/event/Tx"), _) => WsMessage::Tx {
            voting_started: r.events.is_some_and(|e| {
                e.contains_key("submit_proposal.voting_period_start")
                    || e.contains_key("proposal_deposit.voting_period_start")
            }),
        },
        _ => WsMessage::Other,
    })
}

#[derive(Deserialize)]
struct WsWire {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    result: Option<WsResultWire>,
    #[serde(default)]
    error: Option<RpcErrorWire>,
}

#[derive(Deserialize)]
struct WsResultWire {
    #[serde(default)]
    data: Option<WsDataWire>,
    #[serde(default)]
    events: Option<std::collections::HashMap<String, serde::de::IgnoredAny>>,
}

#[derive(Deserialize)]
struct WsDataWire {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    value: Option<WsValueWire>,
}

/// The value of a block event (`header` for NewBlockHeader, `block.header` for NewBlock); any
/// other event's value has neither.
#[derive(Deserialize)]
struct WsValueWire {
    #[serde(default)]
    header: Option<HeaderWire>,
    #[serde(default)]
    block: Option<BlockInnerWire>,
}

/// A JSON-RPC 2.0 envelope.
#[derive(Deserialize)]
struct EnvelopeWire {
    #[serde(default)]
    result: Option<Value>,
    #[serde(default)]
    error: Option<RpcErrorWire>,
}

#[derive(Deserialize)]
struct RpcErrorWire {
    #[serde(default)]
    code: Option<Value>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    data: Option<Value>,
}

impl RpcErrorWire {
    /// `message (code) data`, as the node's error reads.
    fn describe(self) -> String {
        let msg = self.message.unwrap_or_else(|| "error".into());
        let data = match self.data {
            Some(Value::String(s)) => s,
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        let code = self.code.map(|c| c.to_string()).unwrap_or_default();
        format!("{msg} ({code}) {data}").trim().to_string()
    }
}

/// Splits a JSON-RPC 2.0 envelope into its `result`, or the error it carries.
pub(crate) fn envelope_result(v: Value) -> Result<Value, EnvelopeError> {
    if !v.is_object() {
        return Err(EnvelopeError::Shape(
            "the JSON-RPC answer is not an object".into(),
        ));
    }
    let w: EnvelopeWire = decode(&v, "").map_err(EnvelopeError::Shape)?;
    if let Some(err) = w.error {
        return Err(EnvelopeError::Remote(err.describe()));
    }
    w.result.ok_or_else(|| {
        EnvelopeError::Shape("neither result nor error in the JSON-RPC answer".into())
    })
}

/// What [`envelope_result`] found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EnvelopeError {
    /// The node answered with a JSON-RPC error.
    Remote(String),
    /// Not a JSON-RPC answer at all.
    Shape(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CometBFT versions recorded in tests/fixtures/cometbft (kvstore app), and the gaia
    /// chain on Tendermint 0.34.9.
    const VERSIONS: [&str; 4] = [
        "kvstore_fixtures__v0_34",
        "kvstore_fixtures__v0_37",
        "kvstore_fixtures__v0_38",
        "gaia_fixtures",
    ];

    fn real(name: &str) -> Value {
        let p = format!(
            "{}/tests/fixtures/cometbft/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"));
        serde_json::from_str(&text).unwrap()
    }

    fn result(name: &str) -> Value {
        envelope_result(real(name)).unwrap_or_else(|e| panic!("{name}: {e:?}"))
    }

    #[test]
    fn real_status_answers_decode_for_every_version() {
        let want = [
            ("kvstore_fixtures__v0_34", 67, "0.34.21"),
            ("kvstore_fixtures__v0_37", 53, "0.37.0-alpha.3"),
            ("kvstore_fixtures__v0_38", 232, "0.38.0-alpha.1"),
        ];
        for (v, height, version) in want {
            let f = format!("{v}__incoming__status.json");
            let s = Status::from_result(&result(&f)).unwrap_or_else(|e| panic!("{f}: {e}"));
            assert_eq!(
                (s.latest_block_height, s.node_version.as_str()),
                (height, version),
                "{f}"
            );
            assert!(
                !s.chain_id.is_empty() && s.earliest_block_height >= 1,
                "{f}"
            );
        }
        let s = Status::from_result(&result("cosmos-node-exporter__status.json")).unwrap();
        assert_eq!(s.chain_id, "cosmoshub-4");
        assert_eq!(s.latest_block_height, 21076916);
        assert_eq!(s.earliest_block_height, 21065923);
        assert_eq!(s.node_version, "0.37.6");
        assert!(!s.catching_up);
        assert_eq!(
            s.latest_block_time.to_rfc3339(),
            "2024-06-29T17:20:23.080417853+00:00"
        );
        for f in [
            "gaia_fixtures__incoming__status.json",
            "vatz-cosmoshub__status_cosmoshub-4.json",
        ] {
            let s = Status::from_result(&result(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
            assert!(s.latest_block_height > 0, "{f}");
        }
    }

    #[test]
    fn real_net_info_answers_decode() {
        let n = NetInfo::from_result(&result("vatz-cosmoshub__net_info_agoric-3.json")).unwrap();
        assert_eq!(
            n,
            NetInfo {
                peers: 41,
                listening: true
            }
        );
        for f in [
            "kvstore_fixtures__v0_34__incoming__net_info.json",
            "kvstore_fixtures__v0_38__incoming__net_info.json",
            "gaia_fixtures__incoming__net_info.json",
        ] {
            let n = NetInfo::from_result(&result(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
            assert_eq!(n.peers, 0, "{f}");
        }
        let err = NetInfo::from_result(&serde_json::json!({"n_peers": "-1"})).unwrap_err();
        assert!(err.contains("n_peers"), "{err}");
        let err = NetInfo::from_result(&serde_json::json!({"listening": true})).unwrap_err();
        assert!(err.contains("n_peers"), "{err}");
    }

    #[test]
    fn real_abci_info_answers_decode_for_every_version() {
        for (v, version, height) in [
            ("kvstore_fixtures__v0_34", "0.17.0", 36),
            ("kvstore_fixtures__v0_37", "1.0.0", 161),
            ("kvstore_fixtures__v0_38", "2.0.0", 198),
        ] {
            let f = format!("{v}__incoming__abci_info.json");
            let i = AbciInfo::from_result(&result(&f)).unwrap_or_else(|e| panic!("{f}: {e}"));
            assert_eq!(
                (i.version.as_deref(), i.app_version, i.last_block_height),
                (Some(version), Some(1), height),
                "{f}"
            );
        }
        let i =
            AbciInfo::from_result(&result("gaia_fixtures__incoming__abci_info_0.json")).unwrap();
        assert_eq!(
            (i.version, i.app_version, i.last_block_height),
            (None, None, 154)
        );
        let i =
            AbciInfo::from_result(&result("gaia_fixtures__incoming__abci_info_2.json")).unwrap();
        assert_eq!(i.last_block_height, 0);
        AbciInfo::from_result(&result("gaia_fixtures__incoming__abci_info_1.json")).unwrap();
    }

    #[test]
    fn real_abci_query_answers_decode_for_every_version() {
        for (v, height) in [
            ("kvstore_fixtures__v0_34", 89),
            ("kvstore_fixtures__v0_37", 75),
            ("kvstore_fixtures__v0_38", 254),
        ] {
            let f = format!("{v}__incoming__abci_query_with_existing_key.json");
            let a =
                AbciQueryAnswer::from_result(&result(&f)).unwrap_or_else(|e| panic!("{f}: {e}"));
            assert_eq!(
                (a.value.as_slice(), a.height, a.log.as_str(), a.code),
                (&b"value"[..], height, "exists", 0),
                "{f}"
            );
            let f = format!("{v}__incoming__abci_query_with_non_existent_key.json");
            let a =
                AbciQueryAnswer::from_result(&result(&f)).unwrap_or_else(|e| panic!("{f}: {e}"));
            assert!(a.value.is_empty(), "{f}");
        }
        let a =
            AbciQueryAnswer::from_result(&result("cosmos-node-exporter__upgrade-plan-empty.json"))
                .unwrap();
        assert!(a.value.is_empty());
        assert_eq!(a.height, 21094637);
        let a = AbciQueryAnswer::from_result(&result("cosmos-node-exporter__upgrade-plan.json"))
            .unwrap();
        assert!(!a.value.is_empty());
    }

    #[test]
    fn real_blocks_decode_and_height_zero_is_the_nodes_error() {
        for v in VERSIONS {
            for h in [1, 10] {
                let f = format!("{v}__incoming__block_at_height_{h}.json");
                let b = BlockHeader::from_block_result(&result(&f))
                    .unwrap_or_else(|e| panic!("{f}: {e}"));
                assert_eq!(b.height, h, "{f}");
            }
            let f = format!("{v}__incoming__block_at_height_0.json");
            let e = envelope_result(real(&f)).unwrap_err();
            assert!(
                matches!(&e, EnvelopeError::Remote(m) if m.contains("height must be greater than 0")),
                "{f}: {e:?}"
            );
        }
        let b =
            BlockHeader::from_block_result(&result("cosmos-node-exporter__block.json")).unwrap();
        assert!(b.height > 0);
    }

    fn real_text(name: &str) -> String {
        let p = format!(
            "{}/tests/fixtures/cometbft/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    #[test]
    fn recorded_header_events_decode_without_a_tree_and_match_the_slow_read() {
        let header = "wasmd-v0.55.1__incoming__subscribe_newblockheader_0.json";
        let block = "wasmd-v0.55.1__incoming__subscribe_newblock_0.json";
        let want = BlockHeader {
            height: 55,
            time: "2026-12-07T07:51:59.224073767Z".parse().unwrap(),
        };
        assert_eq!(
            ws_message(&real_text(header)).unwrap(),
            WsMessage::Block(want)
        );
        assert_eq!(
            BlockHeader::from_event_result(&result(header)),
            Ok(Some(want))
        );
        // Whole-block events of every recorded version: both reads agree.
        let mut files = vec![block.to_string()];
        files.extend(VERSIONS.map(|v| format!("{v}__incoming__subscribe_newblock_0.json")));
        files.push("gaia_fixtures__incoming__subscribe_newblock_1.json".into());
        for f in files {
            let slow = BlockHeader::from_event_result(&result(&f))
                .unwrap()
                .unwrap();
            assert_eq!(
                ws_message(&real_text(&f)).unwrap(),
                WsMessage::Block(slow),
                "{f}"
            );
        }
        // An acknowledgement is left to the slow read.
        let ack = real_text("wasmd-v0.55.1__incoming__subscribe_newblockheader.json");
        assert!(ws_message(&ack).is_err());
    }

    #[test]
    fn a_header_event_the_fast_read_refuses_is_an_error_naming_the_field() {
        let text = real_text("wasmd-v0.55.1__incoming__subscribe_newblockheader_0.json")
            .replace(r#""height":"55""#, r#""height":"fifty-five""#);
        assert!(ws_message(&text).is_err());
        let v: Value = serde_json::from_str(&text).unwrap();
        let e = BlockHeader::from_event_result(&envelope_result(v).unwrap()).unwrap_err();
        assert!(e.contains("data.value.header.height"), "{e}");
        let headless = r#"{"jsonrpc":"2.0","id":1,"result":{"query":"q","data":{"type":"tendermint/event/NewBlockHeader","value":{}},"events":{}}}"#;
        assert!(ws_message(headless).is_err());
    }

    #[test]
    fn errors_and_other_events_in_the_fast_read() {
        let refused = r#"{"jsonrpc":"2.0","id":2,"error":{"code":-32603,"message":"Internal error","data":"failed to parse query"}}"#;
        assert_eq!(
            ws_message(refused).unwrap(),
            WsMessage::Error {
                id: Some(2),
                why: "Internal error (-32603) failed to parse query".into()
            }
        );
        let other = r#"{"jsonrpc":"2.0","id":1,"result":{"query":"q","data":{"type":"tendermint/event/Vote","value":{"Vote":{}}},"events":{}}}"#;
        assert_eq!(ws_message(other).unwrap(), WsMessage::Other);
        let tx = r#"{"jsonrpc":"2.0","id":3,"result":{"query":"q","data":{"type":"tendermint/event/Tx","value":{"TxResult":{"height":"9"}}},"events":{"proposal_deposit.voting_period_start":["4"]}}}"#;
        assert_eq!(
            ws_message(tx).unwrap(),
            WsMessage::Tx {
                voting_started: true
            }
        );
    }

    #[test]
    fn real_new_block_events_decode_for_every_version() {
        for (v, h) in [
            ("kvstore_fixtures__v0_34", 70),
            ("kvstore_fixtures__v0_37", 56),
            ("kvstore_fixtures__v0_38", 235),
            ("gaia_fixtures", 167),
        ] {
            let f = format!("{v}__incoming__subscribe_newblock_0.json");
            let b = BlockHeader::from_event_result(&result(&f))
                .unwrap_or_else(|e| panic!("{f}: {e}"))
                .unwrap_or_else(|| panic!("{f}: not a NewBlock"));
            assert_eq!(b.height, h, "{f}");
            // The subscription acknowledgement is an empty object: no block.
            let f = format!("{v}__incoming__subscribe_newblock.json");
            let ack = real(&f);
            assert_eq!(ack, serde_json::json!({}), "{f}");
            assert_eq!(BlockHeader::from_event_result(&ack), Ok(None), "{f}");
        }
        let b = BlockHeader::from_event_result(&result(
            "gaia_fixtures__incoming__subscribe_newblock_1.json",
        ))
        .unwrap()
        .unwrap();
        assert!(b.height > 167);
    }

    #[test]
    fn real_rpc_errors_are_reported_for_every_version() {
        for v in &VERSIONS[..3] {
            let f = format!("{v}__incoming__subscribe_malformed.json");
            let e = envelope_result(real(&f)).unwrap_err();
            let EnvelopeError::Remote(msg) = e else {
                panic!("{f}: {e:?}")
            };
            assert!(
                msg.contains("Internal error") && msg.contains("failed to parse query"),
                "{f}: {msg}"
            );
        }
    }

    #[test]
    fn wrong_shapes_are_errors_naming_the_field() {
        use serde_json::json;
        let e =
            Status::from_result(&json!({"sync_info": {"latest_block_height": "abc"}})).unwrap_err();
        assert!(e.contains("sync_info.latest_block_height"), "{e}");
        let e =
            Status::from_result(&json!({"sync_info": {"latest_block_height": "5"}})).unwrap_err();
        assert!(e.contains("latest_block_time"), "{e}");
        let e = Status::from_result(&json!({"sync_info": {"latest_block_height": "5",
            "latest_block_time": "yesterday"}}))
        .unwrap_err();
        assert!(e.contains("sync_info.latest_block_time"), "{e}");
        let e = Status::from_result(&json!({"sync_info": {"latest_block_height": 5,
            "latest_block_time": "2024-01-01T00:00:00Z", "catching_up": "yes"}}))
        .unwrap_err();
        assert!(e.contains("sync_info.catching_up"), "{e}");
        let e = AbciQueryAnswer::from_result(&json!({"response": {"value": "!!"}})).unwrap_err();
        assert!(e.contains("base64"), "{e}");
        let e = AbciQueryAnswer::from_result(&json!({"response": {"value": 5}})).unwrap_err();
        assert!(e.contains("response.value"), "{e}");
        let e = AbciInfo::from_result(&json!({})).unwrap_err();
        assert!(e.contains("response"), "{e}");
        let e =
            BlockHeader::from_event_result(&json!({"data": {"type": "tendermint/event/NewBlock",
            "value": {"block": {"header": {"height": "x"}}}}}))
            .unwrap_err();
        assert!(e.contains("data.value.block.header.height"), "{e}");
        assert!(envelope_result(json!([1])).is_err());
        assert!(envelope_result(json!({"id": 1})).is_err());
    }

    /// Extreme values from a hostile node are errors or plain values, never panics.
    #[test]
    fn extreme_values_decode_or_fail_cleanly() {
        use serde_json::json;
        let status = |h: Value, t: &str| {
            Status::from_result(&json!({"sync_info": {"latest_block_height": h,
                "latest_block_time": t}}))
        };
        for h in [json!(i64::MIN.to_string()), json!(i64::MAX), json!("-1")] {
            assert!(status(h.clone(), "2024-01-01T00:00:00Z").is_ok(), "{h}");
        }
        for h in [
            json!("9223372036854775808"),
            json!(u64::MAX),
            json!(1.5),
            json!("1e3"),
        ] {
            let e = status(h.clone(), "2024-01-01T00:00:00Z").unwrap_err();
            assert!(e.contains("latest_block_height"), "{h}: {e}");
        }
        for t in ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z"] {
            assert!(status(json!("5"), t).is_ok(), "{t}");
        }
        // More than 9 fractional digits are truncated (as Go does), not refused.
        assert!(status(json!("5"), "2024-01-01T00:00:00.9999999999999Z").is_ok());
        for t in [
            "+262144-01-01T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01T24:00:61Z",
        ] {
            assert!(status(json!("5"), t).is_err(), "{t}");
        }
        let huge = "9".repeat(1 << 20);
        let e = status(json!(huge), "2024-01-01T00:00:00Z").unwrap_err();
        assert!(
            e.len() < 300,
            "the error does not carry the whole input: {}",
            e.len()
        );
        let e = AbciQueryAnswer::from_result(&json!({"response": {"code": -1}})).unwrap_err();
        assert!(e.contains("response.code"), "{e}");
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(
            serde_json::from_str::<Value>(&deep).is_err(),
            "nesting is bounded"
        );
    }
}
