//! `switchyard-fakechain [--scenario FILE] [--rpc-port N] [--grpc-port N]`: runs the fake node
//! until killed. On start it prints one JSON line to stdout:
//! `{"rpc":"http://127.0.0.1:PORT","grpc":"http://127.0.0.1:PORT","control":"http://127.0.0.1:PORT/control"}`.
//! Script it with `POST /control` on the RPC port (see the library's `control` module).

use std::io::Write;

use switchyard_fakechain::{FakeChain, Scenario};

fn usage() -> ! {
    eprintln!("usage: switchyard-fakechain [--scenario FILE.json] [--rpc-port N] [--grpc-port N]");
    std::process::exit(2)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut scenario = Scenario::default();
    let (mut rpc_port, mut grpc_port) = (0u16, 0u16);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--scenario" => {
                let path = val();
                let text =
                    std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("{path}: {e}"))?;
                scenario =
                    serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{path}: {e}"))?;
            }
            "--rpc-port" => rpc_port = val().parse().unwrap_or_else(|_| usage()),
            "--grpc-port" => grpc_port = val().parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    let chain = FakeChain::start_on(scenario, rpc_port, grpc_port).await?;
    let line = serde_json::json!({
        "rpc": chain.rpc_url(),
        "grpc": chain.grpc_url(),
        "control": format!("{}/control", chain.rpc_url()),
    });
    let mut out = std::io::stdout();
    writeln!(out, "{line}")?;
    out.flush()?;
    std::future::pending::<()>().await;
    Ok(())
}
