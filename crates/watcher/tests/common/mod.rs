//! Helpers shared by the watcher's integration tests.
#![allow(dead_code)]

use std::time::Duration;

use switchyard_fakechain::{FakeChain, Scenario};
use switchyard_watcher::{ChainClient, Endpoints, Limits};

pub(crate) fn limits() -> Limits {
    Limits {
        timeout: Duration::from_secs(2),
        max_response_bytes: 1024 * 1024,
    }
}

pub(crate) async fn start(s: Scenario) -> FakeChain {
    FakeChain::start(s).await.expect("fake chain starts")
}

pub(crate) fn rpc_only(c: &FakeChain) -> Endpoints {
    Endpoints {
        rpc: Some(c.rpc_url()),
        grpc: None,
    }
}

pub(crate) fn both(c: &FakeChain) -> Endpoints {
    Endpoints {
        rpc: Some(c.rpc_url()),
        grpc: Some(c.grpc_url()),
    }
}

pub(crate) async fn client(e: &Endpoints) -> ChainClient {
    ChainClient::connect(e, limits())
        .await
        .expect("client connects")
}

/// A 127.0.0.1 port nothing listens on.
pub(crate) fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
