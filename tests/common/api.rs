//! Helpers for the status API tests: a client for switchyard's listener, the documented schema
//! (compiled from the very file the binary uses, with unknown fields refused), and a reader of
//! the Prometheus exposition.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub(crate) use crate::common::schema;

pub(crate) use schema::StatusReport;

/// A free port on 127.0.0.1.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) struct Api {
    pub base: String,
    client: reqwest::blocking::Client,
}

/// One sample of the exposition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Api {
    pub(crate) fn new(port: u16) -> Api {
        Api {
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
        }
    }

    /// `GET path`: (status code, body), or `None` while nothing answers.
    pub(crate) fn get(&self, path: &str) -> Option<(u16, String)> {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .ok()?;
        let code = r.status().as_u16();
        Some((code, r.text().ok()?))
    }

    /// Any method.
    pub(crate) fn request(&self, method: &str, path: &str) -> Option<(u16, String)> {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let r = self
            .client
            .request(m, format!("{}{path}", self.base))
            .send()
            .ok()?;
        let code = r.status().as_u16();
        Some((code, r.text().ok()?))
    }

    /// `/status`, parsed strictly into the documented schema (a body that does not parse fails
    /// the test).
    pub(crate) fn status(&self) -> Option<StatusReport> {
        let (code, body) = self.get("/status")?;
        assert_eq!(code, 200, "{body}");
        Some(parse_status(&body))
    }

    pub(crate) fn samples(&self) -> Option<Vec<Sample>> {
        let (code, body) = self.get("/metrics")?;
        assert_eq!(code, 200, "{body}");
        Some(parse_exposition(&body))
    }

    /// The value of `name` with (at least) these labels.
    pub(crate) fn metric(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        find(&self.samples()?, name, labels)
    }

    /// Polls `/status` until `cond` holds; panics after `timeout` with the last document and
    /// `context()`.
    pub(crate) fn wait_status(
        &self,
        what: &str,
        timeout: Duration,
        mut cond: impl FnMut(&StatusReport) -> bool,
        context: impl Fn() -> String,
    ) -> StatusReport {
        let start = Instant::now();
        let mut last = None;
        loop {
            if let Some(s) = self.status() {
                if cond(&s) {
                    return s;
                }
                last = Some(s);
            }
            if start.elapsed() > timeout {
                panic!(
                    "timed out waiting for {what}\nlast status: {}\n{}",
                    last.map(|s| serde_json::to_string_pretty(&s).unwrap())
                        .unwrap_or_default(),
                    context()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Polls `/metrics` until `cond` holds for the samples.
    pub(crate) fn wait_metrics(
        &self,
        what: &str,
        timeout: Duration,
        mut cond: impl FnMut(&[Sample]) -> bool,
        context: impl Fn() -> String,
    ) -> Vec<Sample> {
        let start = Instant::now();
        loop {
            if let Some(s) = self.samples() {
                if cond(&s) {
                    return s;
                }
            }
            if start.elapsed() > timeout {
                panic!(
                    "timed out waiting for {what}\nmetrics: {}\n{}",
                    self.get("/metrics").map(|(_, b)| b).unwrap_or_default(),
                    context()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Parses a `/status` body into the schema, and checks that writing it back gives the same
/// JSON (nothing was dropped or renamed on the way).
pub(crate) fn parse_status(body: &str) -> StatusReport {
    let s: StatusReport = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("/status does not fit the documented schema: {e}\n{body}"));
    let original: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        serde_json::to_value(&s).unwrap(),
        original,
        "the schema does not round-trip /status"
    );
    s
}

/// The value of `name` with (at least) these labels in `samples`.
pub(crate) fn find(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

/// A small reader of the text exposition (enough for switchyard's own series).
pub(crate) fn parse_exposition(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let mut map = BTreeMap::new();
        for pair in labels.split("\",").filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or_else(|| panic!("{line}"));
            map.insert(k.to_string(), v.trim_matches('"').to_string());
        }
        out.push(Sample {
            name: name.to_string(),
            labels: map,
            value: value.parse().unwrap_or_else(|_| panic!("{line}")),
        });
    }
    out
}
