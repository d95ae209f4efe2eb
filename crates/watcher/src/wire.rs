//! Decoding CometBFT JSON-RPC answers into typed values.
//!
//! CometBFT writes every int64 as a JSON string (`"latest_block_height":"21076916"`); we also
//! accept plain numbers. Fields a node may leave out (older Tendermint omits `app_version` and
//! `version` from `/abci_info`; an empty app answers `"response":{}`) become `None` or 0, but
//! the fields we cannot do without (a height, a block time) are errors naming the field.

use chrono::{DateTime, Utc};
use serde_json::Value;

/// `/status`, the part we use.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Status {
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
pub struct AbciQueryAnswer {
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
pub type DecodeError = String;

fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

fn int_at(v: &Value, path: &[&str]) -> Result<Option<i64>, DecodeError> {
    match at(v, path) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| format!("{} is {s:?}, not an integer", path.join("."))),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| format!("{} is {n}, not an integer", path.join("."))),
        Some(other) => Err(format!("{} is {other}, not an integer", path.join("."))),
    }
}

fn need_int(v: &Value, path: &[&str]) -> Result<i64, DecodeError> {
    int_at(v, path)?.ok_or_else(|| format!("{} is missing", path.join(".")))
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(v, path).and_then(Value::as_str)
}

fn time_at(v: &Value, path: &[&str]) -> Result<DateTime<Utc>, DecodeError> {
    let s = str_at(v, path).ok_or_else(|| format!("{} is missing", path.join(".")))?;
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{} is {s:?}, not an RFC 3339 time: {e}", path.join(".")))
}

impl Status {
    /// Decodes the `result` of `/status`.
    pub fn from_result(r: &Value) -> Result<Self, DecodeError> {
        let catching_up = match at(r, &["sync_info", "catching_up"]) {
            Some(Value::Bool(b)) => *b,
            None | Some(Value::Null) => false,
            Some(other) => return Err(format!("sync_info.catching_up is {other}, not a boolean")),
        };
        Ok(Status {
            chain_id: str_at(r, &["node_info", "network"])
                .unwrap_or_default()
                .to_string(),
            node_version: str_at(r, &["node_info", "version"])
                .unwrap_or_default()
                .to_string(),
            latest_block_height: need_int(r, &["sync_info", "latest_block_height"])?,
            latest_block_time: time_at(r, &["sync_info", "latest_block_time"])?,
            earliest_block_height: int_at(r, &["sync_info", "earliest_block_height"])?.unwrap_or(1),
            catching_up,
        })
    }
}

impl AbciInfo {
    /// Decodes the `result` of `/abci_info`.
    pub fn from_result(r: &Value) -> Result<Self, DecodeError> {
        let resp = r
            .get("response")
            .filter(|v| v.is_object())
            .ok_or("response is missing")?;
        let app_version = int_at(resp, &["app_version"])?
            .map(|v| u64::try_from(v).map_err(|_| format!("response.app_version is {v}")))
            .transpose()?;
        Ok(AbciInfo {
            version: str_at(resp, &["version"]).map(str::to_string),
            app_version,
            last_block_height: int_at(resp, &["last_block_height"])?.unwrap_or(0),
        })
    }
}

impl NetInfo {
    /// Decodes the `result` of `/net_info`.
    pub fn from_result(r: &Value) -> Result<Self, DecodeError> {
        let n = need_int(r, &["n_peers"])?;
        Ok(NetInfo {
            peers: u32::try_from(n).map_err(|_| format!("n_peers is {n}"))?,
            listening: matches!(r.get("listening"), Some(Value::Bool(true))),
        })
    }
}

impl AbciQueryAnswer {
    /// Decodes the `result` of `abci_query`.
    pub fn from_result(r: &Value) -> Result<Self, DecodeError> {
        use base64::Engine as _;
        let resp = r
            .get("response")
            .filter(|v| v.is_object())
            .ok_or("response is missing")?;
        let code = match int_at(resp, &["code"])? {
            None => 0,
            Some(c) => u32::try_from(c).map_err(|_| format!("response.code is {c}"))?,
        };
        let value = match resp.get("value") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => base64::engine::general_purpose::STANDARD
                .decode(s.trim())
                .map_err(|e| format!("response.value is not base64: {e}"))?,
            Some(other) => return Err(format!("response.value is {other}, not a base64 string")),
        };
        Ok(AbciQueryAnswer {
            code,
            log: str_at(resp, &["log"]).unwrap_or_default().to_string(),
            codespace: str_at(resp, &["codespace"]).unwrap_or_default().to_string(),
            value,
            height: int_at(resp, &["height"])?.unwrap_or(0),
        })
    }
}

impl BlockHeader {
    /// Decodes the `result` of `/block` (`block.header`).
    pub fn from_block_result(r: &Value) -> Result<Self, DecodeError> {
        Ok(BlockHeader {
            height: need_int(r, &["block", "header", "height"])?,
            time: time_at(r, &["block", "header", "time"])?,
        })
    }

    /// Decodes the `result` of a websocket event; `Ok(None)` for the empty subscription ack
    /// (`{}`) and for events other than `NewBlock`.
    pub fn from_event_result(r: &Value) -> Result<Option<Self>, DecodeError> {
        let Some(data) = r.get("data") else {
            return Ok(None);
        };
        if str_at(data, &["type"]) != Some("tendermint/event/NewBlock") {
            return Ok(None);
        }
        let header =
            at(data, &["value", "block", "header"]).ok_or("data.value.block.header is missing")?;
        Ok(Some(BlockHeader {
            height: need_int(header, &["height"])?,
            time: time_at(header, &["time"])?,
        }))
    }
}

/// Splits a JSON-RPC 2.0 envelope into its `result`, or the error it carries.
pub fn envelope_result(v: &Value) -> Result<&Value, EnvelopeError> {
    if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
        let msg = str_at(err, &["message"]).unwrap_or("error");
        let data = match err.get("data") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        let code = err.get("code").map(|c| c.to_string()).unwrap_or_default();
        return Err(EnvelopeError::Remote(
            format!("{msg} ({code}) {data}").trim().to_string(),
        ));
    }
    v.get("result").ok_or_else(|| {
        EnvelopeError::Shape("neither result nor error in the JSON-RPC answer".into())
    })
}

/// What [`envelope_result`] found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvelopeError {
    /// The node answered with a JSON-RPC error.
    Remote(String),
    /// Not a JSON-RPC answer at all.
    Shape(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn real(name: &str) -> Value {
        let p = format!(
            "{}/../../tests/fixtures/real/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
    }

    #[test]
    fn real_status_answers_decode() {
        let s = Status::from_result(
            envelope_result(&real("cosmos-node-exporter/status.json")).unwrap(),
        )
        .unwrap();
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
            "tendermint-rs/kvstore_fixtures__v0_34__incoming__status.json",
            "tendermint-rs/kvstore_fixtures__v0_37__incoming__status.json",
            "tendermint-rs/kvstore_fixtures__v0_38__incoming__status.json",
            "tendermint-rs/gaia_fixtures__incoming__status.json",
            "vatz-cosmoshub/status_cosmoshub-4.json",
        ] {
            let s = Status::from_result(envelope_result(&real(f)).unwrap())
                .unwrap_or_else(|e| panic!("{f}: {e}"));
            assert!(s.latest_block_height > 0, "{f}");
        }
    }

    #[test]
    fn real_net_info_answers_decode() {
        let n = NetInfo::from_result(
            envelope_result(&real("vatz-cosmoshub/net_info_agoric-3.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            n,
            NetInfo {
                peers: 41,
                listening: true
            }
        );
        for f in [
            "tendermint-rs/kvstore_fixtures__v0_34__incoming__net_info.json",
            "tendermint-rs/kvstore_fixtures__v0_38__incoming__net_info.json",
            "tendermint-rs/gaia_fixtures__incoming__net_info.json",
        ] {
            let n = NetInfo::from_result(envelope_result(&real(f)).unwrap())
                .unwrap_or_else(|e| panic!("{f}: {e}"));
            assert_eq!(n.peers, 0, "{f}");
        }
        let err = NetInfo::from_result(&serde_json::json!({"n_peers": "-1"})).unwrap_err();
        assert!(err.contains("n_peers"), "{err}");
        let err = NetInfo::from_result(&serde_json::json!({"listening": true})).unwrap_err();
        assert!(err.contains("n_peers is missing"), "{err}");
    }

    #[test]
    fn real_abci_info_answers_decode() {
        let i = AbciInfo::from_result(
            envelope_result(&real(
                "tendermint-rs/kvstore_fixtures__v0_38__incoming__abci_info.json",
            ))
            .unwrap(),
        )
        .unwrap();
        assert_eq!(
            (i.version.as_deref(), i.app_version, i.last_block_height),
            (Some("2.0.0"), Some(1), 198)
        );
        let i = AbciInfo::from_result(
            envelope_result(&real(
                "tendermint-rs/gaia_fixtures__incoming__abci_info_0.json",
            ))
            .unwrap(),
        )
        .unwrap();
        assert_eq!(
            (i.version, i.app_version, i.last_block_height),
            (None, None, 154)
        );
        let i = AbciInfo::from_result(
            envelope_result(&real(
                "tendermint-rs/gaia_fixtures__incoming__abci_info_2.json",
            ))
            .unwrap(),
        )
        .unwrap();
        assert_eq!(i.last_block_height, 0);
    }

    #[test]
    fn real_abci_query_answers_decode() {
        let a = AbciQueryAnswer::from_result(
            envelope_result(&real("tendermint-rs/kvstore_fixtures__v0_38__incoming__abci_query_with_existing_key.json"))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            (a.value.as_slice(), a.height, a.log.as_str()),
            (&b"value"[..], 254, "exists")
        );
        let a = AbciQueryAnswer::from_result(
            envelope_result(&real(
                "tendermint-rs/kvstore_fixtures__v0_38__incoming__abci_query_with_non_existent_key.json",
            ))
            .unwrap(),
        )
        .unwrap();
        assert!(a.value.is_empty());
        let a = AbciQueryAnswer::from_result(
            envelope_result(&real("cosmos-node-exporter/upgrade-plan-empty.json")).unwrap(),
        )
        .unwrap();
        assert!(a.value.is_empty());
        assert_eq!(a.height, 21094637);
    }

    #[test]
    fn real_new_block_events_decode() {
        for (f, h) in [
            (
                "tendermint-rs/kvstore_fixtures__v0_34__incoming__subscribe_newblock_0.json",
                None,
            ),
            (
                "tendermint-rs/kvstore_fixtures__v0_37__incoming__subscribe_newblock_0.json",
                Some(56),
            ),
            (
                "tendermint-rs/kvstore_fixtures__v0_38__incoming__subscribe_newblock_0.json",
                Some(235),
            ),
            (
                "tendermint-rs/gaia_fixtures__incoming__subscribe_newblock_0.json",
                Some(167),
            ),
        ] {
            let b = BlockHeader::from_event_result(envelope_result(&real(f)).unwrap())
                .unwrap()
                .unwrap();
            if let Some(h) = h {
                assert_eq!(b.height, h, "{f}");
            }
        }
        let ack = real("tendermint-rs/kvstore_fixtures__v0_38__incoming__subscribe_newblock.json");
        assert_eq!(ack, serde_json::json!({}));
        let b = BlockHeader::from_block_result(
            envelope_result(&real(
                "tendermint-rs/kvstore_fixtures__v0_38__incoming__block_at_height_10.json",
            ))
            .unwrap(),
        )
        .unwrap();
        assert_eq!(b.height, 10);
    }

    #[test]
    fn real_rpc_error_is_reported() {
        let e = envelope_result(&real(
            "tendermint-rs/kvstore_fixtures__v0_38__incoming__subscribe_malformed.json",
        ))
        .unwrap_err();
        let EnvelopeError::Remote(msg) = e else {
            panic!()
        };
        assert!(
            msg.contains("Internal error") && msg.contains("failed to parse query"),
            "{msg}"
        );
    }

    #[test]
    fn wrong_shapes_are_errors_naming_the_field() {
        let e =
            Status::from_result(&serde_json::json!({"sync_info": {"latest_block_height": "abc"}}))
                .unwrap_err();
        assert!(e.contains("latest_block_height"), "{e}");
        let e =
            Status::from_result(&serde_json::json!({"sync_info": {"latest_block_height": "5"}}))
                .unwrap_err();
        assert!(e.contains("latest_block_time"), "{e}");
        let e = AbciQueryAnswer::from_result(&serde_json::json!({"response": {"value": "!!"}}))
            .unwrap_err();
        assert!(e.contains("base64"), "{e}");
        assert!(envelope_result(&serde_json::json!([1])).is_err());
    }
}
