#!/usr/bin/env python3
"""End-to-end harness: real single-validator Cosmos SDK chains on 127.0.0.1, taken through real
upgrades under a supervisor (switchyard or cosmovisor), judged from facts the node itself leaves.

Python 3 standard library only. Every process it starts runs in its own session and is killed
(with all its descendants) on exit, on error and on SIGINT/SIGTERM.

Subcommands (each prints one JSON result line per scenario or sub-scenario on stdout):
  facts      `start --halt-height N` on each chaind line: is block N committed, does it exit?
  chain      switchyard: ONE chain taken through every kind of swap (manual upgrades with known,
             halt-committing and unknown SDK versions, a governance upgrade pre-staged during the
             vote, a governance upgrade during which switchyard is SIGKILLed at the halt)
  scenario   one governance upgrade under a supervisor, on the chaind pair (v0.50 -> v0.53) or
             the older simd pair (v0.45 -> v0.46); what bench.sh and the cosmovisor runs use
  localnet   a chain with plain old binary + the upgrade proposal, to poke at by hand
  report     aggregate scenario result lines (JSONL) into bench/downtime.md

Binaries come from the environment (e2e/build-binaries.sh --env): E2E_CHAIND_V050,
E2E_CHAIND_V050_PATCH1, E2E_CHAIND_V053, E2E_CHAIND_V053_NOVER, E2E_CHAIND_V053_PATCH2,
E2E_CHAIND_V054, E2E_COSMOVISOR; E2E_SIMD_OLD, E2E_SIMD_NEW, E2E_SIMD_PATCH (pair "simd");
SWITCHYARD_BIN for switchyard.

Evidence rules. Which binary committed which block is read from facts that cannot be missed:
- every node process logs, as it starts, CometBFT's `ABCI Handshake App Info ... height=<app
  height> ... software-version=<version>`: the app height the new process found is exactly what
  the previous process left committed, and the blocks after it up to the next process start are
  this process's;
- a node halted in consensus failure keeps serving RPC: its `/abci_info` read after the failure
  was logged is what it committed;
- a process exit is a fact; so is the set of running processes when a check runs.
Never from sampling RPC (a fast swap hides the old binary's last commit) and never from
`committed state` log lines. Waiting for a condition polls; no check concludes from a sample.
"""
import argparse
import atexit
import calendar
import hashlib
import http.server
import json
import os
import random
import re
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

CHAIN_ID = "switchyard-e2e-1"
DENOM = "stake"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def log(msg):
    print(f"[e2e {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Failure(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# processes: every one we start is tracked; cleanup kills its whole tree
# ---------------------------------------------------------------------------------------------
_procs = []
_cleanup_paths = []


def _children_of(pid):
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
            ppid = int(st[st.rindex(")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            kids.append(int(d))
    return kids


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for k in _children_of(p):
            out.append(k)
            todo.append(k)
    return out


def _pids_using(path):
    """Processes whose command line mentions path (our own temp home: unique to this run)."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().decode(errors="replace")
            with open(f"/proc/{d}/environ", "rb") as f:
                env = f.read().decode(errors="replace")
        except OSError:
            continue
        if path in cmd or ("DAEMON_HOME=" + path) in env:
            found.append(int(d))
    return found


def kill_tree(pid, grace=5.0):
    pids = [pid] + descendants(pid)
    for p in pids:
        try:
            os.kill(p, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.time() + grace
    while time.time() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    for p in pids:
        if _alive(p):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            st = f.read()
        return st[st.rindex(")") + 2] != "Z"
    except (OSError, ValueError):
        return False


def start(cmd, logfile, env=None):
    f = open(logfile, "ab")
    p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         env=env, start_new_session=True)
    f.close()
    _procs.append(p)
    return p


def stop(p, grace=5.0):
    if p.poll() is None:
        kill_tree(p.pid, grace)
    try:
        p.wait(timeout=grace + 1)
    except subprocess.TimeoutExpired:
        pass


def cleanup():
    for p in list(_procs):
        try:
            stop(p, grace=3.0)
        except Exception:
            pass
    for path in _cleanup_paths:
        for pid in _pids_using(path):  # anything that escaped its parent (re-parented to init)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


atexit.register(cleanup)


def _on_signal(sig, _frame):
    log(f"signal {sig}: cleaning up")
    cleanup()
    sys.exit(128 + sig)


for _s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(_s, _on_signal)


def run(cmd, check=True, timeout=120, env=None, input=None):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, input=input)
    if check and r.returncode != 0:
        raise Failure(f"command failed ({r.returncode}): {' '.join(cmd)}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return r


# ---------------------------------------------------------------------------------------------
# chain setup
def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def set_toml(path, section, key, value, required=False):
    """Set `key = value` (value is a TOML literal) inside [section] (None: top level)."""
    lines = open(path).read().split("\n")
    cur = None
    done = False
    for i, line in enumerate(lines):
        m = re.match(r"^\s*\[([^\]]+)\]\s*$", line)
        if m:
            cur = m.group(1).strip()
            continue
        if cur == section and re.match(rf"^\s*{re.escape(key)}\s*=", line):
            lines[i] = f"{key} = {value}"
            done = True
            break
    if not done:
        if required:
            raise Failure(f"{path}: no key {key} in [{section}]")
        return False
    open(path, "w").write("\n".join(lines))
    return True


def toml_str(s):
    return json.dumps(s)


def cli_has(binary, *words):
    r = run([binary] + list(words) + ["--help"], check=False)
    # cobra answers --help for an unknown subcommand with its parent's help: look at the Usage line
    usage = re.search(r"Usage:\s*\n\s*(\S+)\s+(.*)", r.stdout)
    return r.returncode == 0 and usage is not None and usage.group(2).startswith(" ".join(words))


def init_chain(binary, home, ports, voting_period="15s"):
    rpc, p2p, grpc, grpcweb, api, abci, prom, pprof, rosetta = ports
    run([binary, "init", "val", "--chain-id", CHAIN_ID, "--home", home])
    run([binary, "keys", "add", "val", "--keyring-backend", "test", "--home", home, "--output", "json"])
    addr = run([binary, "keys", "show", "val", "-a", "--keyring-backend", "test", "--home", home]).stdout.strip()
    gen = ["genesis"] if cli_has(binary, "genesis", "add-genesis-account") else []
    run([binary] + gen + ["add-genesis-account", addr, f"100000000000000{DENOM}", "--home", home,
                        "--keyring-backend", "test"])
    run([binary] + gen + ["gentx", "val", f"1000000000{DENOM}", "--chain-id", CHAIN_ID,
                        "--keyring-backend", "test", "--home", home])
    run([binary] + gen + ["collect-gentxs", "--home", home])

    gpath = os.path.join(home, "config", "genesis.json")
    g = json.load(open(gpath))
    gov = g["app_state"]["gov"]
    for k in ("voting_params", "params"):
        if isinstance(gov.get(k), dict) and "voting_period" in gov[k]:
            gov[k]["voting_period"] = voting_period
    if isinstance(gov.get("params"), dict) and "expedited_voting_period" in gov["params"]:
        gov["params"]["expedited_voting_period"] = "5s"
    for k in ("deposit_params", "params"):
        if isinstance(gov.get(k), dict) and "min_deposit" in gov[k]:
            gov[k]["min_deposit"] = [{"denom": DENOM, "amount": "1000000"}]
    # Tendermint 0.34 makes every block at least time_iota_ms (default 1000) later than the last:
    # with sub-second blocks chain time would run ahead of the wall clock (and the voting period
    # would end early). 1 ms keeps chain time = wall time. CometBFT 0.38/0.39 have no time_iota:
    # block time is the validators' vote time, i.e. wall time (checked by `chain_time_lag`).
    blk = (g.get("consensus_params") or {}).get("block") or {}
    if "time_iota_ms" in blk:
        blk["time_iota_ms"] = "1"
    json.dump(g, open(gpath, "w"), indent=1)

    cfg = os.path.join(home, "config", "config.toml")
    set_toml(cfg, None, "proxy_app", toml_str(f"tcp://127.0.0.1:{abci}"))
    set_toml(cfg, "rpc", "laddr", toml_str(f"tcp://127.0.0.1:{rpc}"), required=True)
    set_toml(cfg, "rpc", "pprof_laddr", toml_str(""))
    set_toml(cfg, "rpc", "grpc_laddr", toml_str(""))
    set_toml(cfg, "p2p", "laddr", toml_str(f"tcp://127.0.0.1:{p2p}"), required=True)
    set_toml(cfg, "p2p", "external_address", toml_str(""))
    set_toml(cfg, "p2p", "pex", "false")
    set_toml(cfg, "p2p", "seeds", toml_str(""))
    set_toml(cfg, "p2p", "persistent_peers", toml_str(""))
    set_toml(cfg, "p2p", "addr_book_strict", "false")
    set_toml(cfg, "consensus", "timeout_commit", toml_str(os.environ.get("E2E_TIMEOUT_COMMIT", "500ms")), required=True)
    set_toml(cfg, "consensus", "timeout_propose", toml_str("2s"))
    set_toml(cfg, "instrumentation", "prometheus", "false")
    set_toml(cfg, "instrumentation", "prometheus_listen_addr", toml_str(f"127.0.0.1:{prom}"))

    app = os.path.join(home, "config", "app.toml")
    set_toml(app, None, "minimum-gas-prices", toml_str(f"0{DENOM}"))
    set_toml(app, "api", "enable", "false")
    set_toml(app, "api", "address", toml_str(f"tcp://127.0.0.1:{api}"))
    set_toml(app, "grpc", "enable", "true")
    set_toml(app, "grpc", "address", toml_str(f"127.0.0.1:{grpc}"), required=True)
    set_toml(app, "grpc-web", "enable", "false")
    set_toml(app, "grpc-web", "address", toml_str(f"127.0.0.1:{grpcweb}"))
    set_toml(app, "rosetta", "enable", "false")
    set_toml(app, "rosetta", "address", toml_str(f"127.0.0.1:{rosetta}"))
    set_toml(app, "telemetry", "enabled", "false")

    cli = os.path.join(home, "config", "client.toml")
    if os.path.exists(cli):
        set_toml(cli, None, "chain-id", toml_str(CHAIN_ID))
        set_toml(cli, None, "keyring-backend", toml_str("test"))
        set_toml(cli, None, "node", toml_str(f"tcp://127.0.0.1:{rpc}"))
    check_loopback_only(home)
    return addr


def check_loopback_only(home):
    """No listen address in the node's config may be anything but loopback (or empty)."""
    bad = []
    for fn in ("config.toml", "app.toml"):
        for line in open(os.path.join(home, "config", fn)):
            m = re.match(r'^\s*(\S*(laddr|address|listen_addr))\s*=\s*"([^"]*)"', line)
            if not m or not m.group(3):
                continue
            v = m.group(3)
            host = re.sub(r"^[a-z]+://", "", v).rsplit(":", 1)[0]
            if host not in ("127.0.0.1", "localhost"):
                bad.append(f"{fn}: {line.strip()}")
    if bad:
        raise Failure("non-loopback listen addresses left in config:\n" + "\n".join(bad))


# ---------------------------------------------------------------------------------------------
# RPC
# ---------------------------------------------------------------------------------------------
class Rpc:
    def __init__(self, port):
        self.port = port
        self.base = f"http://127.0.0.1:{port}"

    def get(self, path, timeout=2.0):
        with urllib.request.urlopen(self.base + path, timeout=timeout) as r:
            return json.loads(r.read())

    def try_get(self, path, timeout=1.0):
        try:
            return self.get(path, timeout)
        except Exception:
            return None

    def status(self):
        s = self.try_get("/status")
        return s["result"] if s else None

    def height(self):
        s = self.try_get("/status")
        if not s:
            return None
        return int(s["result"]["sync_info"]["latest_block_height"])

    def abci(self):
        """(app version string, last committed height) or None."""
        s = self.try_get("/abci_info", timeout=0.5)
        if not s:
            return None
        r = s["result"]["response"]
        return r.get("version", ""), int(r.get("last_block_height", "0") or 0)

    def wait_height(self, h, timeout, what=""):
        deadline = time.time() + timeout
        while time.time() < deadline:
            a = self.abci()
            if a and a[1] >= h:
                return a
            time.sleep(0.1)
        raise Failure(f"chain did not commit height {h} within {timeout}s {what}")


# ---------------------------------------------------------------------------------------------
# a local HTTP server for the plan's binaries map; it records every request and when
# ---------------------------------------------------------------------------------------------
class BinServer:
    """rate: bytes per second each response is paced to (0: as fast as it goes), so a download
    takes as long as from a real release server (E2E_DOWNLOAD_MBPS)."""

    def __init__(self, directory, rate=0):
        self.requests = []
        self.directory = directory
        self.rate = rate
        outer = self

        class H(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **kw):
                super().__init__(*a, directory=directory, **kw)

            def log_message(self, fmt, *args):
                outer.requests.append((time.time(), self.path, fmt % args))

            def copyfile(self, source, outputfile):
                if not outer.rate:
                    return super().copyfile(source, outputfile)
                t0, sent, chunk = time.time(), 0, 256 * 1024
                while True:
                    buf = source.read(chunk)
                    if not buf:
                        return
                    outputfile.write(buf)
                    sent += len(buf)
                    ahead = sent / outer.rate - (time.time() - t0)
                    if ahead > 0:
                        time.sleep(ahead)  # pacing the transfer, not waiting for an event

        class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.httpd = S(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# governance
# ---------------------------------------------------------------------------------------------
# governance: with the running binary's own CLI
# ---------------------------------------------------------------------------------------------
def _bech32(hrp, data):
    """bech32 of bytes (BIP-173), enough to name a module account."""
    charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
    acc, bits, words = 0, 0, []
    for b in data:
        acc = (acc << 8) | b
        bits += 8
        while bits >= 5:
            bits -= 5
            words.append((acc >> bits) & 31)
    if bits:
        words.append((acc << (5 - bits)) & 31)

    def polymod(values):
        gen = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3]
        chk = 1
        for v in values:
            top = chk >> 25
            chk = (chk & 0x1ffffff) << 5 ^ v
            for i in range(5):
                chk ^= gen[i] if ((top >> i) & 1) else 0
        return chk
    hrp_exp = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    pm = polymod(hrp_exp + words + [0] * 6) ^ 1
    checksum = [(pm >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(charset[w] for w in words + checksum)


def module_address(name, hrp="cosmos"):
    """A module account's address: the first 20 bytes of sha256(name) (x/auth NewModuleAddress)."""
    return _bech32(hrp, hashlib.sha256(name.encode()).digest()[:20])


def tx_flags(home, rpc_port):
    return ["--from", "val", "--keyring-backend", "test", "--home", home, "--chain-id", CHAIN_ID,
            "--node", f"tcp://127.0.0.1:{rpc_port}", "--yes", "--output", "json", "--gas", "400000",
            "--broadcast-mode", "sync"]


def wait_tx(cli, home, rpc_port, out, timeout=60):
    try:
        txhash = json.loads(out)["txhash"]
        code = json.loads(out).get("code", 0)
    except Exception:
        raise Failure(f"unexpected tx output: {out[:500]}")
    if code:
        raise Failure(f"tx rejected in CheckTx: {out[:800]}")
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = run([cli, "query", "tx", txhash, "--node", f"tcp://127.0.0.1:{rpc_port}", "--output", "json"],
                check=False)
        if r.returncode == 0:
            res = json.loads(r.stdout)
            if int(res.get("code", 0)):
                raise Failure(f"tx {txhash} failed: {res.get('raw_log')}")
            return res
        time.sleep(0.5)
    raise Failure(f"tx {txhash} not included within {timeout}s")


def submit_upgrade(cli, home, rpc_port, name, height, info, workdir):
    """Submit a software-upgrade proposal with the running binary's own CLI; return (proposal id,
    voting end time)."""
    flags = tx_flags(home, rpc_port)
    if os.path.basename(cli) in ("chaind", "wasmd"):
        # SDK >= 0.50: a gov v1 proposal carrying MsgSoftwareUpgrade, signed by the gov module (its
        # address in the chain's own bech32 prefix: "wasm" on wasmd, "cosmos" on chaind)
        me = run([cli, "keys", "show", "val", "-a", "--keyring-backend", "test", "--home", home]).stdout.strip()
        authority = module_address("gov", hrp=me.rsplit("1", 1)[0])
        proposal = {
            "messages": [{"@type": "/cosmos.upgrade.v1beta1.MsgSoftwareUpgrade", "authority": authority,
                          "plan": {"name": name, "height": str(height), "info": info}}],
            "metadata": "", "deposit": f"10000000{DENOM}", "title": f"upgrade {name}", "summary": "e2e",
            "expedited": False,
        }
        path = os.path.join(workdir, f"proposal-{name}.json")
        with open(path, "w") as f:
            json.dump(proposal, f)
        cmd = [cli, "tx", "gov", "submit-proposal", path] + flags
    elif cli_has(cli, "tx", "gov", "submit-legacy-proposal", "software-upgrade"):  # simd v0.46
        cmd = [cli, "tx", "gov", "submit-legacy-proposal", "software-upgrade", name, "--upgrade-height",
               str(height), "--upgrade-info", info, "--title", f"upgrade {name}", "--description", "e2e",
               "--no-validate", "--deposit", f"10000000{DENOM}"] + flags
    else:  # simd v0.45: v1beta1 SoftwareUpgradeProposal
        cmd = [cli, "tx", "gov", "submit-proposal", "software-upgrade", name, "--upgrade-height",
               str(height), "--upgrade-info", info, "--title", f"upgrade {name}", "--description", "e2e",
               "--deposit", f"10000000{DENOM}"] + flags
    r = run(cmd, check=False)
    if r.returncode != 0 and "--no-validate" in cmd:
        cmd.remove("--no-validate")
        r = run(cmd, check=False)
    if r.returncode != 0:
        raise Failure(f"submit proposal failed: {r.stdout[-1500:]} {r.stderr[-1500:]}")
    wait_tx(cli, home, rpc_port, r.stdout)
    props = json.loads(run([cli, "query", "gov", "proposals", "--node", f"tcp://127.0.0.1:{rpc_port}",
                            "--output", "json"]).stdout)["proposals"]
    last = max(props, key=lambda p: int(p.get("proposal_id") or p.get("id")))
    pid = last.get("proposal_id") or last.get("id")
    return str(pid), last.get("voting_end_time")


def vote_yes(cli, home, rpc_port, pid):
    r = run([cli, "tx", "gov", "vote", pid, "yes"] + tx_flags(home, rpc_port))
    wait_tx(cli, home, rpc_port, r.stdout)


def proposal_status(cli, rpc_port, pid):
    r = run([cli, "query", "gov", "proposal", pid, "--node", f"tcp://127.0.0.1:{rpc_port}", "--output", "json"],
            check=False)
    if r.returncode != 0:
        return None
    d = json.loads(r.stdout)
    d = d.get("proposal", d)
    st = d.get("status")
    # autocli may print the enum as its number: 1 deposit, 2 voting, 3 passed, 4 rejected, 5 failed
    return {1: "PROPOSAL_STATUS_DEPOSIT_PERIOD", 2: "PROPOSAL_STATUS_VOTING_PERIOD", 3: "PROPOSAL_STATUS_PASSED",
            4: "PROPOSAL_STATUS_REJECTED", 5: "PROPOSAL_STATUS_FAILED"}.get(st, str(st))


def parse_time(ts):
    """RFC3339 with nanoseconds -> epoch seconds."""
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z", ts or "")
    if not m:
        return None
    return calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")) + float(m.group(2) or 0)


def chain_time_lag(rpc):
    """Wall clock minus the latest block's time, in seconds (positive: chain time is behind)."""
    s = rpc.status()
    t = parse_time(s["sync_info"]["latest_block_time"]) if s else None
    return round(time.time() - t, 2) if t else None


# ---------------------------------------------------------------------------------------------
# facts from the node's log, its RPC and the process table
# ---------------------------------------------------------------------------------------------
def read_log(path):
    with open(path, "rb") as f:
        return ANSI.sub("", f.read().decode(errors="replace"))


def node_runs(text):
    """One entry per node process start, in order, from CometBFT's handshake line
    `ABCI Handshake App Info ... height=<app height> ... software-version=<v>` (the same words in
    Tendermint 0.34 and CometBFT 0.38/0.39; the key order differs): the binary's version and the
    app height it found committed when it started."""
    runs = []
    for line in text.split("\n"):
        if "ABCI Handshake App Info" in line:
            v = re.search(r"software-version=(\S*)", line)
            h = re.search(r"\bheight=(\d+)", line)
            a = re.search(r"\bhash=([0-9A-Fa-f]*)", line)
            runs.append({"version": v.group(1) if v else "?", "start": int(h.group(1)) if h else None,
                         "app_hash": a.group(1).upper() if a else None})
    return runs


def old_run_touched(text, v_new, H):
    """What the last process before the new binary's first one logged about block H itself (its
    proposal arriving, the block being finalized): informative only — executing H without
    committing it breaks nothing, committing it is caught by swap_evidence."""
    sections, cur = [], []
    for line in text.split("\n"):
        if "ABCI Handshake App Info" in line:
            sections.append(cur)
            cur = []
        cur.append(line)
    sections.append(cur)
    runs = node_runs(text)
    idx = next((i for i, r in enumerate(runs) if r["version"] == v_new), None)
    if not idx:
        return []
    seen = []
    for line in sections[idx]:  # sections[0] is before any start; sections[idx] is runs[idx-1]
        if f"Proposal{{{H}/" in line and "received proposal" in line:
            seen.append("received the proposal for H")
        elif re.search(rf"(finalized|executed) block.*\bheight={H}\b", line):
            seen.append("finalized block H")
        elif re.search(rf"committed state.*\bheight={H}\b", line):
            seen.append("logged committed state for H")
    return sorted(set(seen))


def swap_evidence(runs, v_old, v_new, H, live=None, halted=None):
    """Who committed what around a swap old -> new at H, from the process starts and live facts.

    The first process of the new binary found app height `start` at its handshake: that is exactly
    what the process before it (which must be the old binary) left committed. Everything after
    that up to the next process of another binary is the new binary's; the next start (or the live
    /abci_info of the new binary) tells how far it got. `halted` is /abci_info read from the old
    binary sitting in consensus failure (when the harness held the swap back). Returns a dict."""
    ev = {"old_last": None, "new_start": None, "new_reached": None, "old_before_new": None,
          "halted_abci": halted}
    idx = next((i for i, r in enumerate(runs) if r["version"] == v_new), None)
    if idx is None:
        return ev
    ev["new_start"] = runs[idx]["start"]
    ev["old_before_new"] = runs[idx - 1]["version"] if idx > 0 else None
    if idx > 0 and runs[idx - 1]["version"] == v_old:
        ev["old_last"] = runs[idx]["start"]
    j = idx
    while j + 1 < len(runs) and runs[j + 1]["version"] == v_new:
        j += 1
    if j + 1 < len(runs):
        ev["new_reached"] = runs[j + 1]["start"]
    elif live and live[0] == v_new:
        ev["new_reached"] = live[1]
    return ev


def check_swap(checks, tag, ev, H):
    """The assertions every swap must pass, from swap_evidence."""
    hv = ev.get("halted_abci")
    checks.check(ev["old_last"] == H - 1 and (hv is None or hv[1] == H - 1),
                 f"{tag}: old binary's last committed block is H-1",
                 f"H={H}; app height the new binary found at its handshake: {ev['new_start']} "
                 f"(process before it: {ev['old_before_new']}); halted node's /abci_info: {hv}")
    checks.check(ev["new_start"] == H - 1 and ev["new_reached"] is not None and ev["new_reached"] >= H,
                 f"{tag}: block H was committed by the new binary",
                 f"new binary started at app height {ev['new_start']}, reached {ev['new_reached']}")
    checks.check(ev["new_reached"] is not None and ev["new_reached"] >= H + 5,
                 f"{tag}: new binary reached H+5", f"reached {ev['new_reached']}")


def running_exe(path):
    """Live processes whose executable is `path` (resolved), from the process table now."""
    rp = os.path.realpath(path)
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            exe = os.readlink(f"/proc/{d}/exe")
        except OSError:
            continue
        if exe.removesuffix(" (deleted)") == rp and _alive(int(d)):
            found.append(int(d))
    return found


def current_target(home):
    return os.path.realpath(os.path.join(home, "cosmovisor", "current"))


def poll_for(cond, timeout, every=0.25):
    """Like wait_for, but None at the deadline instead of a failure (for a check that reports it)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(every)
    return None


def wait_for(what, cond, timeout, every=0.1, fail=None):
    """Polls cond() until it returns something truthy (returned); `fail()` may raise early."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        if fail:
            fail()
        time.sleep(every)
    raise Failure(f"timed out after {timeout:.0f}s waiting for {what}")


def wait_new_binary(rpc, v_old, v_new, H, timeout, sup=None, node_log=""):
    """Waits until the new binary answers /abci_info at H+5 or more; the old binary answering at H
    or more is a failure (it committed H), and so is the supervisor exiting."""
    def fail():
        a = rpc.abci()
        if a and a[0] == v_old and a[1] >= H:
            raise Failure(f"old binary {v_old} reports last_block_height {a[1]} >= H={H}: it committed H")
        if sup is not None and sup.poll() is not None:
            raise Failure(f"supervisor exited with {sup.returncode} (see {node_log})")
    return wait_for(f"{v_new} to reach H+5={H + 5}", lambda: (lambda a: a if a and a[0] == v_new and a[1] >= H + 5
                                                                 else None)(rpc.abci()), timeout, fail=fail)


class Watch:
    """Measurements only (downtime, supervisor memory), never evidence: polls data/upgrade-info.json,
    /abci_info and the supervisor's children every 20 ms."""

    def __init__(self, home, rpc, sup_pid, period=None):
        period = float(os.environ.get("E2E_WATCH_PERIOD", "0.02")) if period is None else period
        self.home, self.rpc, self.sup_pid, self.period = home, rpc, sup_pid, period
        self.info_path = os.path.join(home, "data", "upgrade-info.json")
        self.infos = {}               # (name, height) -> the file's mtime when first seen
        self.first_at = {}            # (version, height) -> first time /abci_info showed it
        self.hwm_kb = 0               # supervisor's VmHWM (max over every supervisor process)
        self.node_pids = {}           # pid -> (exe, first seen)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self._stop.is_set():
            now = time.time()
            try:
                d = json.load(open(self.info_path))
                key = (str(d["name"]).lower(), int(d["height"]))
                if key not in self.infos:
                    self.infos[key] = min(now, os.stat(self.info_path).st_mtime)
            except Exception:
                pass  # absent, or written non-atomically: try again next tick
            a = self.rpc.abci()
            if a:
                self.first_at.setdefault(a, time.time())
            self._sample_sup()
            time.sleep(self.period)

    def _sample_sup(self):
        try:
            for line in open(f"/proc/{self.sup_pid}/status"):
                if line.startswith("VmHWM:"):
                    self.hwm_kb = max(self.hwm_kb, int(line.split()[1]))
        except OSError:
            pass
        for k in _children_of(self.sup_pid):
            if k not in self.node_pids:
                try:
                    exe = os.readlink(f"/proc/{k}/exe")
                except OSError:
                    exe = "?"
                self.node_pids[k] = (exe, time.time())

    def halt_time(self, name, height):
        return self.infos.get((name.lower(), height))

    def first_time(self, version, min_height):
        ts = [t for (v, h), t in self.first_at.items() if v == version and h >= min_height]
        return min(ts) if ts else None

    def stop(self):
        self._stop.set()
        self.thread.join(timeout=2)


class Scraper:
    """Reads switchyard's status listener (/metrics) twice a second, as a busy Prometheus would,
    for as long as the scenario runs; counts the answers."""

    def __init__(self, addr, period=0.5):
        self.addr, self.period, self.ok, self.bad = addr, period, 0, 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self._stop.wait(self.period):
            try:
                with urllib.request.urlopen(f"http://{self.addr}/metrics", timeout=2) as r:
                    r.read()
                    self.ok += r.status == 200
                    self.bad += r.status != 200
            except Exception:
                self.bad += 1

    def stop(self):
        self._stop.set()
        self.thread.join(timeout=3)
        return self.ok, self.bad


def check_preupgrade_not_run(checks, tag, text, home, name):
    """chaind has no `pre-upgrade` command: switchyard's probe before the halt must have found that
    (its record for the upgrade says absent, for the binary in place), and the swap must not have
    started the binary for it (the swap's own log line for this upgrade says so)."""
    try:
        rec = json.load(open(os.path.join(home, "cosmovisor", "switchyard", "preupgrade", f"{name}.json")))
    except (OSError, ValueError) as e:
        rec = {"error": str(e)}
    said = [ln for ln in text.splitlines()
            if "has no pre-upgrade command (asked before the halt" in ln and f"upgrade={name}" in ln]
    checks.check(rec.get("command") == "absent" and len(said) == 1,
                 f"{tag}: the binary was asked before the halt whether it has pre-upgrade (no) and not started for it at the halt",
                 f"record: {str(rec)[:200]}; swap log lines: {len(said)}")


def swap_record(home):
    """switchyard's own account of its last swap (cosmovisor/switchyard/last_swap.json): from its
    decision to stop the old node to the new node's start, and each step's share of that."""
    try:
        d = json.load(open(os.path.join(home, "cosmovisor", "switchyard", "last_swap.json")))
    except (OSError, ValueError):
        return None
    steps = {}
    for st in d.get("steps") or []:
        steps[st["step"]] = round(steps.get(st["step"], 0) + st["seconds"], 4)
    started = None
    t0 = parse_time(d.get("started_at"))
    if t0 is not None and d.get("downtime_seconds") is not None:
        started = t0 + d["downtime_seconds"]
    return {"downtime_s": d.get("downtime_seconds"), "steps": steps, "new_started_at": started}


def floor(args):
    """The floor for downtime: no supervisor logic at all. Starts the old binary, polls for its
    data/upgrade-info.json naming the plan every millisecond, then SIGTERMs it, waits for it to
    exit and starts the new binary at once (its output goes where ours goes). What a supervisor
    adds over this is its own share of the downtime."""
    info = os.path.join(args.home, "data", "upgrade-info.json")
    child = subprocess.Popen([args.old, "start", "--home", args.home], stdin=subprocess.DEVNULL)

    def forward(sig, _frame):
        child.send_signal(sig)
    for sg in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sg, forward)
    while child.poll() is None:
        try:
            with open(info) as f:
                if str(json.load(f).get("name", "")).lower() == args.name:
                    break
        except (OSError, ValueError):
            pass  # absent, or being written
        time.sleep(0.001)
    t_seen = time.time()
    if child.poll() is None:
        child.terminate()
        child.wait()
    if args.pre_upgrade:
        # what cosmovisor (and switchyard, for compatibility) also do before starting the new binary:
        # run its `pre-upgrade` command (exit 1: the binary has none)
        subprocess.run([args.new, "pre-upgrade", "--home", args.home], stdin=subprocess.DEVNULL)
    child = subprocess.Popen([args.new, "start", "--home", args.home], stdin=subprocess.DEVNULL)
    if args.times:
        with open(args.times, "w") as f:
            json.dump({"seen": t_seen, "started": time.time()}, f)
    return child.wait()


class FetchAhead(threading.Thread):
    """The floor's download row: what switchyard does when a plan is scheduled, done by a script,
    so that the floor for switchyard's download row has done the same work before the halt. Once
    the node has committed a block at or after the voting end (the block that passes the proposal
    and schedules the plan), it fetches the binary from the same paced server, checks its sha256,
    fsyncs it and renames it into place, then runs it once with `version` and asks it
    `pre-upgrade --help` and a made-up command's `--help`, as switchyard's preflight and
    pre-upgrade probe do. The floor starts that file at the halt. `error` is None when all of it
    worked; `done` is when the last run ended (when the fetch began is in the server's log)."""

    def __init__(self, rpc, voting_end, url, checksum, dest):
        super().__init__(daemon=True)
        self.rpc, self.voting_end, self.url, self.checksum, self.dest = rpc, voting_end, url, checksum, dest
        self.error = self.done = None

    def _plan_block_committed(self):
        s = self.rpc.status()
        t = parse_time(s["sync_info"]["latest_block_time"]) if s else None
        return t is not None and t >= self.voting_end

    def run(self):
        try:
            deadline = time.time() + 120
            while not self._plan_block_committed():
                if time.time() > deadline:
                    raise Failure("no block at or after the voting end within 120 s")
                time.sleep(0.1)  # polling the node as switchyard's watcher does, not a check
            where = os.path.dirname(self.dest)
            tmp = self.dest + ".part"
            h = hashlib.sha256()
            with urllib.request.urlopen(self.url, timeout=60) as r, open(tmp, "wb") as f:
                for chunk in iter(lambda: r.read(256 * 1024), b""):
                    h.update(chunk)
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
            if h.hexdigest() != self.checksum:
                raise Failure(f"fetched binary's sha256 {h.hexdigest()} is not the plan's {self.checksum}")
            os.chmod(tmp, 0o755)
            os.rename(tmp, self.dest)
            fd = os.open(where, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            for argv in (["version"], ["pre-upgrade", "--help"], ["switchyard-no-such-command", "--help"]):
                subprocess.run([self.dest] + argv, cwd=where, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=60)
            self.done = time.time()
        except Exception as e:
            self.error = f"{type(e).__name__}: {e}"


class Checks:
    def __init__(self):
        self.passed, self.failed = [], []

    def check(self, ok, what, detail=""):
        ok = bool(ok)
        (self.passed if ok else self.failed).append(what)
        log(("PASS " if ok else "FAIL ") + what + (f" ({detail})" if detail else ""))
        return ok


def need_env(name):
    v = os.environ.get(name)
    if not v or not os.path.exists(v):
        raise Failure(f"{name} is not set to an existing file (run e2e/build-binaries.sh --env): {v!r}")
    return v


def version_of(binary):
    try:
        return json.loads(run([binary, "version", "--long", "--output", "json"]).stdout).get("version", "")
    except Exception:
        return run([binary, "version"]).stdout.strip()


def find_switchyard():
    b = os.environ.get("SWITCHYARD_BIN") or os.path.join(os.path.dirname(__file__), "..", "target", "release",
                                                         "switchyard")
    if not os.path.exists(b):
        raise Failure(f"switchyard binary not found at {b} (set SWITCHYARD_BIN or cargo build --release)")
    return os.path.abspath(b)


def plan_binary_source(sup_bin, env, name):
    """`binary.source` of upgrade `name` in `switchyard plan --json` (None when absent)."""
    r = run([sup_bin, "plan", "--json"], env=env, check=False, timeout=30)
    try:
        for u in json.loads(r.stdout).get("upgrades") or []:
            if str(u.get("name", "")).lower() == name:
                return (u.get("binary") or {}).get("source")
    except Exception:
        return f"exit {r.returncode}, unreadable: {r.stdout[-200:]!r}"
    return None


def write_registry(path, daemon, versions):
    """A chain-registry chain.json (the older shape, versions inline) for CHAIN_ID: versions is
    [(name, url, sha256 hex)], each with a linux/amd64 binary."""
    doc = {"chain_name": "switchyarde2e", "chain_id": CHAIN_ID, "daemon_name": daemon,
           "codebase": {"versions": [
               {"name": n, "recommended_version": n, "binaries": {"linux/amd64": f"{url}?checksum=sha256:{sha}"}}
               for n, url, sha in versions]}}
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)


def plan_reports_staged(text, name):
    """`switchyard plan --json` prints one object whose `upgrades` list holds
    {"name", "proposal_status", "binary": {"staged": bool, "preflight": {"status": ...}}, "ready"}.
    Staged and preflighted = that upgrade's binary.staged is true and its preflight status is "ok"."""
    try:
        d = json.loads(text)
    except Exception:
        return False
    for u in d.get("upgrades") or []:
        if str(u.get("name", "")).lower() != name:
            continue
        b = u.get("binary") or {}
        pf = b.get("preflight") or {}
        if b.get("staged") is True and pf.get("status") == "ok":
            return True
    return False


def plan_entry(sup_bin, env, name):
    """This upgrade's entry in `switchyard plan --json` (None when absent or unreadable)."""
    r = run([sup_bin, "plan", "--json"], env=env, check=False, timeout=60)
    try:
        for u in json.loads(r.stdout).get("upgrades") or []:
            if str(u.get("name", "")).lower() == name:
                return u
    except Exception:
        pass
    return None


def place_h(rpc, block_time, offset, voting_period):
    """H for a governance upgrade: after the voting period ends (with room for the submit and vote
    txs) even on a slow machine: at least `offset` blocks, more when blocks are fast."""
    vp = float(re.sub(r"s$", "", voting_period))
    return rpc.height() + max(offset, int((vp + 8) / max(block_time, 0.05)) + 1)


def measure_block_time(rpc):
    rpc.wait_height(3, 120, "after start")
    h3, t3 = rpc.abci()[1], time.time()
    rpc.wait_height(h3 + 5, 90, "after start")
    return (time.time() - t3) / 5


# ---------------------------------------------------------------------------------------------
# one governance upgrade under a supervisor (the pair scenarios; bench.sh)
# ---------------------------------------------------------------------------------------------
PAIRS = {
    # pair: (old env, new env, patch env, upgrade name, daemon name)
    "chaind": ("E2E_CHAIND_V050", "E2E_CHAIND_V053", None, "v050-to-v053", "chaind"),
    "simd": ("E2E_SIMD_OLD", "E2E_SIMD_NEW", "E2E_SIMD_PATCH", "v045-to-v046", "simd"),
    # CosmWasm's wasmd: its own "v0.60" upgrade (SDK v0.50 -> v0.53, adds epochs and protocolpool)
    "wasmd": ("E2E_WASMD_OLD", "E2E_WASMD_NEW", "E2E_WASMD_NEXT", "v0.60", "wasmd"),
}
# the name of the manual upgrade (no plan) to the pair's patch binary, with --manual
MANUAL_NAME = {"simd": "patch1", "wasmd": "v0.61"}


def supervisor_env(home, daemon, sup_kind, mode):
    env = dict(os.environ)
    env.update({
        "DAEMON_HOME": home, "DAEMON_NAME": daemon, "DAEMON_RESTART_AFTER_UPGRADE": "true",
        "UNSAFE_SKIP_BACKUP": "true", "DAEMON_ALLOW_DOWNLOAD_BINARIES": "false",
        "COSMOVISOR_DISABLE_LOGS": "false",
    })
    if mode in ("download", "prestage", "prestage-listen"):
        env["DAEMON_ALLOW_DOWNLOAD_BINARIES"] = "true"
    if sup_kind == "switchyard" and not mode.startswith("prestage"):
        env["SWITCHYARD_PRESTAGE_VOTING"] = "false"
    # Pre-staging during the vote is switchyard's default, and proposals are re-read every 60 s
    # (SWITCHYARD_PROPOSALS_EVERY's default): on this chain's 15 s vote only the node's websocket
    # event for the proposal entering its voting period can get the binary staged in time.
    return env


def check_prestaged_in_voting(checks, tag, sup_bin, env, cli, rpc_port, pid, name, staged_path, checksum,
                              voting_end, result):
    """While the proposal is still PROPOSAL_STATUS_VOTING_PERIOD, the binary is staged and
    `switchyard plan --json` reports it staged with preflight ok."""
    staged_in_voting = plan_json = last_st = None
    until = voting_end if voting_end else time.time() + 60
    while time.time() < until:
        st = proposal_status(cli, rpc_port, pid)
        last_st = st or last_st
        if st is not None and "VOTING" not in st:
            break  # the proposal left its voting period
        if os.path.exists(staged_path):
            r = run([sup_bin, "plan", "--json"], env=env, check=False, timeout=30)
            # exit 0: every upcoming upgrade ready, 2: one is not; both print the report
            plan_json = r.stdout if r.returncode in (0, 2) else f"exit {r.returncode}: {r.stderr[-300:]}"
            if r.returncode in (0, 2) and plan_reports_staged(plan_json, name):
                st = proposal_status(cli, rpc_port, pid)
                if st is not None and "VOTING" in st:
                    staged_in_voting = time.time()
                break
        time.sleep(0.3)
    checks.check(staged_in_voting is not None,
                 f"{tag}: new binary staged and preflighted while the proposal was still in voting",
                 f"proposal status {last_st}; staged file present: {os.path.exists(staged_path)}; "
                 f"plan: {(plan_json or '')[:300]}")
    checks.check(os.path.exists(staged_path) and sha256_of(staged_path) == checksum,
                 f"{tag}: staged binary matches the plan's sha256")
    result["staged_before_voting_end_s"] = (
        round(voting_end - staged_in_voting, 2) if staged_in_voting and voting_end else None)


def gov_halt_checks(checks, tag, text, home, name, H):
    """The old binary halted for the plan at H: upgrade-info.json for H, UPGRADE NEEDED logged; the
    new binary ran the handler at H."""
    try:
        d = json.load(open(os.path.join(home, "data", "upgrade-info.json")))
        info = (str(d.get("name")).lower(), int(d.get("height")))
    except Exception as e:
        info = f"unreadable: {e}"
    checks.check(info == (name, H), f"{tag}: old binary halted at H (wrote data/upgrade-info.json for H)", f"{info}")
    checks.check(f'UPGRADE "{name}" NEEDED at height: {H}' in text, f"{tag}: old binary logged UPGRADE NEEDED at H")
    checks.check(f'applying upgrade "{name}" at height: {H}' in text,
                 f'{tag}: new binary ran applying upgrade "{name}" at H')


def scenario(args):
    """One governance upgrade old -> new under a supervisor, on a pair of binaries."""
    old_env, new_env, patch_env, upgrade, daemon = PAIRS[args.pair]
    bin_old, bin_new = need_env(old_env), need_env(new_env)
    sup_kind = args.supervisor
    sup_bin = (find_switchyard() if sup_kind == "switchyard" else
               os.path.abspath(need_env("E2E_COSMOVISOR")) if sup_kind == "cosmovisor" else None)
    v_old, v_new = version_of(bin_old), version_of(bin_new)
    checks = Checks()
    tag = "gov"
    result = {"scenario": f"{sup_kind}/{args.mode}", "supervisor": sup_kind, "mode": args.mode, "pair": args.pair,
              "upgrade": upgrade, "old": v_old, "new": v_new}

    work = tempfile.mkdtemp(prefix=f"switchyard-e2e-{sup_kind}-")
    _cleanup_paths.append(work)
    home = os.path.join(work, "home")
    os.makedirs(home)
    ports = free_ports(9)
    rpc_port = ports[0]
    log(f"{sup_kind}/{args.mode}: home {home}, rpc 127.0.0.1:{rpc_port}, {v_old} -> {v_new}")
    result["voting_period"] = args.voting_period
    init_chain(bin_old, home, ports, voting_period=args.voting_period)

    # the binaries map: the new binary served from 127.0.0.1 with its sha256
    served = os.path.join(work, "www")
    os.makedirs(served)
    os.symlink(os.path.realpath(bin_new), os.path.join(served, daemon))  # served as is, no copy
    srv = BinServer(served, rate=args.download_mbps * 1e6)
    result["download_mbps"] = args.download_mbps or None
    result["binary_bytes"] = os.path.getsize(bin_new)
    checksum = sha256_of(bin_new)
    info = json.dumps({"binaries": {"linux/amd64": f"http://127.0.0.1:{srv.port}/{daemon}?checksum=sha256:{checksum}"}},
                      separators=(",", ":"))

    env = supervisor_env(home, daemon, sup_kind, args.mode)
    listen = None
    if args.mode == "prestage-listen":
        listen = f"127.0.0.1:{free_ports(1)[0]}"
        env["SWITCHYARD_LISTEN"] = listen
    node_log = os.path.join(work, "node.log")
    fetch_ahead = None
    if sup_kind == "floor":
        # no supervisor: the least any supervisor must do at the halt (see floor())
        old_exe = bin_old
        floor_new = bin_new
        if args.mode == "download":
            # the floor for switchyard's download row: the script fetches the binary itself (FetchAhead)
            os.makedirs(os.path.join(work, "fetched"))
            floor_new = os.path.join(work, "fetched", daemon)
        cmd = [sys.executable, os.path.abspath(__file__), "floor", "--home", home, "--old", bin_old,
               "--new", floor_new, "--name", upgrade, "--times", os.path.join(work, "floor_times.json")] \
            + (["--pre-upgrade"] if args.mode == "preupgrade" else [])
    else:
        run([sup_bin, "init", bin_old], env=env)
        if args.mode == "preplaced":
            run([sup_bin, "add-upgrade", upgrade, bin_new], env=env)
        old_exe = os.path.join(home, "cosmovisor", "genesis", "bin", daemon)
        cmd = [sup_bin, "run", "start", "--home", home]
    t_start = time.time()
    sup = start(cmd, node_log, env=env)
    rpc = Rpc(rpc_port)
    watch = Watch(home, rpc, sup.pid)
    scrapes = Scraper(listen) if listen else None
    try:
        block_time = measure_block_time(rpc)
        result["block_time_s"] = round(block_time, 3)
        result["chain_time_lag_s"] = chain_time_lag(rpc)
        H = place_h(rpc, block_time, args.offset, args.voting_period)
        result["H"] = H
        log(f"chain at {rpc.height()}; proposing {upgrade} at H={H}")
        pid, end = submit_upgrade(bin_old, home, rpc_port, upgrade, H, info, work)
        vote_yes(bin_old, home, rpc_port, pid)
        voting_end = parse_time(end)
        log(f"proposal {pid} submitted and voted; voting ends {end} "
            f"({(voting_end - time.time()) if voting_end else float('nan'):.1f}s from now)")
        if sup_kind == "floor" and args.mode == "download":
            if voting_end is None:
                raise Failure(f"the proposal's voting end time {end!r} is unreadable")
            fetch_ahead = FetchAhead(rpc, voting_end, f"http://127.0.0.1:{srv.port}/{daemon}", checksum, floor_new)
            fetch_ahead.start()
        staged_path = os.path.join(home, "cosmovisor", "upgrades", upgrade, "bin", daemon)
        if sup_kind == "switchyard" and args.mode.startswith("prestage"):
            check_prestaged_in_voting(checks, tag, sup_bin, env, bin_old, rpc_port, pid, upgrade, staged_path,
                                      checksum, voting_end, result)
        modules_before = {q: abci_query(rpc, q) for q in WASMD_V060_QUERIES} if args.pair == "wasmd" else None

        # passes, then the halt at H, then H+5 on the new binary
        live = wait_new_binary(rpc, v_old, v_new, H, args.offset * 3 + 180, sup, node_log)
        st = proposal_status(bin_new, rpc_port, pid)
        checks.check(st is not None and "PASSED" in st, f"{tag}: proposal passed", st)
        text = read_log(node_log)
        gov_halt_checks(checks, tag, text, home, upgrade, H)
        runs = node_runs(text)
        result["node_runs"] = runs
        ev = swap_evidence(runs, v_old, v_new, H, live=live)
        result["evidence"] = ev
        check_swap(checks, tag, ev, H)
        if daemon != "simd":  # Tendermint 0.34's handshake line does not give the hash this way
            check_app_hash(checks, tag, rpc, text, v_new, H)
        if modules_before is not None:
            check_new_modules(checks, tag, rpc, modules_before)
        checks.check(not running_exe(old_exe), f"{tag}: old binary's process is gone",
                     f"running {old_exe}: {running_exe(old_exe)}")
        if sup_kind != "floor":
            cur = current_target(home)
            checks.check(cur == os.path.realpath(os.path.join(home, "cosmovisor", "upgrades", upgrade)),
                         f"{tag}: cosmovisor/current points at the upgrade", cur)
        if scrapes:
            ok, bad = scrapes.stop()
            result["listener_scrapes_ok"], result["listener_scrapes_failed"] = ok, bad
            checks.check(ok > 0, f"{tag}: the status listener answered /metrics while the chain ran",
                         f"{ok} answered, {bad} not, on {listen}")

        t_halt = watch.halt_time(upgrade, H)
        t_new_h = watch.first_time(v_new, H)
        result["downtime_s"] = round(t_new_h - t_halt, 3) if (t_new_h and t_halt) else None
        dl_after_halt = [r for r in srv.requests if t_halt and r[0] >= t_halt]
        result["downloads_after_halt"] = len(dl_after_halt)
        result["downloads_total"] = len(srv.requests)
        if srv.requests and t_halt:
            # when the binary was fetched, relative to the halt (negative: before it)
            result["download_at_s_from_halt"] = round(srv.requests[0][0] - t_halt, 2)
        if srv.requests and voting_end:
            result["download_at_s_from_voting_end"] = round(srv.requests[0][0] - voting_end, 2)
        if fetch_ahead:
            fetch_ahead.join(timeout=5)
            checks.check(fetch_ahead.error is None and fetch_ahead.done is not None and t_halt
                         and fetch_ahead.done < t_halt,
                         f"{tag}: the floor's script fetched, checked and ran the new binary before the halt",
                         f"error {fetch_ahead.error}; done {fetch_ahead.done}, halt {t_halt}")
            if fetch_ahead.done and t_halt:
                result["fetched_and_run_s_before_halt"] = round(t_halt - fetch_ahead.done, 2)
        if sup_kind == "switchyard" and args.mode != "download":
            checks.check(not dl_after_halt, f"{tag}: no download happened at the halt",
                         f"{len(dl_after_halt)} requests after the halt")
        log(f"downtime (upgrade-info.json written -> H committed by new binary): {result['downtime_s']}s")
        # when the new binary was started: the floor's own note, or switchyard's swap record
        t_started = None
        if sup_kind == "switchyard":
            result["swap_record"] = swap_record(home)
            t_started = (result["swap_record"] or {}).get("new_started_at")
            try:
                probed = parse_time(json.load(open(os.path.join(
                    home, "cosmovisor", "switchyard", "preupgrade", f"{upgrade}.json")))["probed_at"])
            except (OSError, ValueError, KeyError, TypeError):
                probed = None
            if probed and t_halt:
                # when switchyard asked the new binary about pre-upgrade (its last run of it before the halt)
                result["probed_s_before_halt"] = round(t_halt - probed, 2)
        elif sup_kind == "floor":
            try:
                t_started = json.load(open(os.path.join(work, "floor_times.json")))["started"]
            except (OSError, ValueError, KeyError):
                pass
        if t_started and t_halt and t_new_h:
            result["halt_to_start_s"] = round(t_started - t_halt, 4)
            result["start_to_h_s"] = round(t_new_h - t_started, 4)

        # a manual upgrade at a height, with no plan (switchyard only; the simd pair)
        if args.manual and sup_kind == "switchyard" and patch_env:
            bin_patch = need_env(patch_env)
            r = manual_swap(Ctx(sup_bin, env, home, rpc, watch, node_log, work, daemon, sup), checks, "manual",
                            MANUAL_NAME[args.pair], bin_patch, v_new, version_of(bin_patch), args.manual_offset)
            result["manual"] = r
    except Failure as e:
        checks.check(False, f"{tag}: " + str(e).split("\n")[0])
        result["error"] = str(e)[:2000]
    finally:
        watch._sample_sup()
        result["supervisor_peak_rss_kb"] = watch.hwm_kb
        watch.stop()
        if scrapes:
            scrapes.stop()
        stop(sup)
        srv.close()
        result["log"] = node_log
        result["elapsed_s"] = round(time.time() - t_start, 1)
    result["passed"], result["failed"] = len(checks.passed), len(checks.failed)
    result["failures"] = checks.failed
    if not checks.failed and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
        result["log"] = None
    print(json.dumps(result), flush=True)
    return 0 if not checks.failed else 1


# ---------------------------------------------------------------------------------------------
# swaps on a running switchyard (used by the chain scenario)
# ---------------------------------------------------------------------------------------------
class Ctx:
    """What a swap step needs: the supervisor (which the SIGKILL step replaces) and the chain."""

    def __init__(self, sup_bin, env, home, rpc, watch, node_log, work, daemon, sup):
        self.sup_bin, self.env, self.home, self.rpc, self.watch = sup_bin, env, home, rpc, watch
        self.node_log, self.work, self.daemon, self.sup = node_log, work, daemon, sup

    def current_bin(self):
        return os.path.join(self.home, "cosmovisor", "current", "bin", self.daemon)

    def current_exe(self):
        return os.path.realpath(self.current_bin())


def check_swap_end(c, checks, tag, ev, H, old_exe, text, name):
    """What every swap of the chain scenario ends with: the evidence for H, the old binary's
    process gone, `current` on the upgrade, chaind not started for a pre-upgrade it lacks, and
    switchyard quiet beside the new node."""
    check_swap(checks, tag, ev, H)
    checks.check(not running_exe(old_exe), f"{tag}: old binary's process is gone",
                 f"running {old_exe}: {running_exe(old_exe)}")
    cur = current_target(c.home)
    checks.check(cur == os.path.realpath(os.path.join(c.home, "cosmovisor", "upgrades", name)),
                 f"{tag}: cosmovisor/current points at upgrades/{name}", cur)
    check_preupgrade_not_run(checks, tag, text, c.home, name)
    check_quiet(c, checks, tag)


def cpu_seconds(pid):
    """A process's own CPU time so far (user + system, all its threads), from /proc/<pid>/stat."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def check_app_hash(checks, tag, rpc, text, v_new, H):
    """The new binary's first handshake found the app hash of H-1 (it logs it); block H's header,
    made after that start, must carry exactly that hash: the state the new binary built H on is the
    one the old binary left at H-1, and nobody else's."""
    first = next((r for r in node_runs(text) if r["version"] == v_new), None)
    b = rpc.try_get(f"/block?height={H}", timeout=5)
    try:
        hdr = b["result"]["block"]["header"]["app_hash"].upper()
    except (TypeError, KeyError, AttributeError):
        hdr = None
    checks.check(first is not None and first["app_hash"] and first["app_hash"] == hdr,
                 f"{tag}: block H's header carries the app hash the new binary found at H-1",
                 f"handshake: {first}; header of {H}: {hdr}")


def abci_query(rpc, path):
    """(code, log) of the app's answer to an ABCI query with an empty request, or None when the RPC
    does not answer. Code 0: the app serves the query; an unknown query path is a non-zero code."""
    r = rpc.try_get(f"/abci_query?path=%22{path}%22", timeout=5)
    try:
        resp = r["result"]["response"]
    except (TypeError, KeyError):
        return None
    return int(resp.get("code") or 0), resp.get("log", "")


# Queries of the modules wasmd's "v0.60" upgrade adds (its store upgrade creates both stores).
WASMD_V060_QUERIES = ("/cosmos.epochs.v1beta1.Query/EpochInfos", "/cosmos.protocolpool.v1.Query/CommunityPool")


def check_new_modules(checks, tag, rpc, before):
    """wasmd v0.60's modules answer after the upgrade; `before` is what the old binary answered
    (each must have failed with a non-zero code: the old app has no such module)."""
    for path in WASMD_V060_QUERIES:
        b, a = before.get(path), abci_query(rpc, path)
        checks.check(b is not None and b[0] != 0, f"{tag}: the old binary does not serve {path}", f"{b}")
        checks.check(a is not None and a[0] == 0, f"{tag}: the new binary serves {path} after the upgrade", f"{a}")


def check_quiet(c, checks, tag, blocks=4):
    """Invariant 9 on the real chain: after a swap switchyard takes little CPU beside the node. Its
    CPU time is a running total the kernel keeps, read before and after the new node commits
    `blocks` more blocks, so nothing between the two reads is missed. The bar, a quarter of a core,
    is far above what it takes (a few percent) and far below the spin this check was written
    after (its own reads of upgrade-info.json waking it: more than a core)."""
    a = c.rpc.abci()
    if not a:
        checks.check(False, f"{tag}: switchyard stays quiet beside the new node", "/abci_info does not answer")
        return
    t0, cpu0 = time.time(), cpu_seconds(c.sup.pid)
    wait_for(f"{blocks} more blocks after H", lambda: (lambda b: b if b and b[1] >= a[1] + blocks else None)(c.rpc.abci()),
             60)
    t1, cpu1 = time.time(), cpu_seconds(c.sup.pid)
    share = (cpu1 - cpu0) / (t1 - t0)
    checks.check(share < 0.25, f"{tag}: switchyard stays quiet beside the new node (invariant 9)",
                 f"{share:.0%} of a core over {t1 - t0:.1f} s ({blocks} blocks)")


def manual_swap(c, checks, tag, name, new_bin, v_old, v_new, offset, probe=None):
    """`switchyard add-upgrade <name> <bin> --upgrade-height H` while the node runs; H = height +
    offset. probe: the halt behaviour (halt-behaviours.json's word) the old binary, whose SDK
    version cannot be told, must be found to have by switchyard's probe (`--halt-height H-1`)."""
    r = {"name": name, "old": v_old, "new": v_new}
    old_exe = c.current_exe()
    old_sha = sha256_of(old_exe)
    record_path = os.path.join(c.home, "cosmovisor", "switchyard", "halt-behaviours.json")
    a = c.rpc.abci()
    if not a or a[0] != v_old:
        raise Failure(f"{tag}: expected {v_old} to be running, /abci_info says {a}")
    H = a[1] + offset
    r["H"] = H
    log(f"{tag}: {v_old} -> {v_new} ({name}) at H={H} (chain at {a[1]})")
    run([c.sup_bin, "add-upgrade", name, new_bin, "--upgrade-height", str(H)], env=c.env)
    u = plan_entry(c.sup_bin, c.env, name)
    r["plan_halt"] = (u or {}).get("halt")
    log(f"{tag}: switchyard plan says how {v_old} will be stopped: {r['plan_halt']}")
    live = wait_new_binary(c.rpc, v_old, v_new, H, offset * 3 + 180, c.sup, c.node_log)
    text = read_log(c.node_log)
    runs = node_runs(text)
    ev = swap_evidence(runs, v_old, v_new, H, live=live)
    r["evidence"] = ev
    r["old_process_on_block_H"] = old_run_touched(text, v_new, H)
    if r["old_process_on_block_H"]:
        log(f"{tag}: the old process had begun block H before it stopped: {r['old_process_on_block_H']}")
    check_swap_end(c, checks, tag, ev, H, old_exe, text, name)
    if c.daemon != "simd":  # Tendermint 0.34's handshake line does not give the hash this way
        check_app_hash(checks, tag, c.rpc, text, v_new, H)
    if probe:
        # the probe: --halt-height H-1 on a binary that stops before N leaves H-2 committed with
        # H-1 in its block store; switchyard then starts it again with --halt-height H, so one more
        # process of the old binary starts at app height H-2 (its handshake line), and executes H-1
        olds = [x["start"] for x in runs if x["version"] == v_old]
        r["old_process_starts"] = olds
        if probe == "stops_before":
            checks.check(H - 2 in olds, f"{tag}: probed: the old binary stopped at H-2 under --halt-height H-1 and "
                         f"was started again", f"app heights the old binary's processes started at: {olds}")
        try:
            rec = json.load(open(record_path))
        except (OSError, ValueError) as e:
            rec = {"unreadable": str(e)}
        r["halt_record"] = rec.get(old_sha)
        checks.check(isinstance(rec.get(old_sha), dict) and rec[old_sha].get("behaviour") == probe,
                     f"{tag}: halt behaviour learned by the probe recorded in halt-behaviours.json by the old "
                     f"binary's sha256 ({probe})", f"{old_sha[:12]}…: {json.dumps(rec)[:400]}")
    t_old, t_new = c.watch.first_time(v_old, H - 1), c.watch.first_time(v_new, H)
    r["gap_s"] = round(t_new - t_old, 3) if t_old and t_new else None
    return r


def restore_check(c, checks, tag, prev, halt_bin):
    """After the swap `prev` (a gov_swap result, backup on): switchyard and the node stopped,
    `switchyard restore-backup` puts the backup taken at the halt back; the old binary started on it
    must find the app state after H-1 that the chain had: its handshake line's app hash and height
    are block H's header app_hash (the app hash after H-1, read from the chain before stopping) and
    H-1. halt_bin: the old binary, to start by hand."""
    r = {"after": prev.get("name")}
    H = prev["H"]
    v_old = prev["old"]
    blk = c.rpc.get(f"/block?height={H}", timeout=5.0)
    want = str(blk["result"]["block"]["header"]["app_hash"]).upper()
    r["H"], r["app_hash_after_H-1"] = H, want
    stop(c.sup, grace=15.0)
    wait_for("the node to be gone after switchyard stopped", lambda: not running_exe(c.current_exe()), 30)
    backups = sorted(d for d in os.listdir(c.home) if d.startswith("data-backup-"))
    r["backups"] = backups
    checks.check(any(prev["name"] in d for d in backups), f"{tag}: switchyard took a backup before the swap",
                 f"{backups}")
    out = run([c.sup_bin, "restore-backup"], env=c.env, check=False, timeout=300)
    r["restore_rc"] = out.returncode
    checks.check(out.returncode == 0, f"{tag}: switchyard restore-backup succeeded",
                 f"exit {out.returncode}: {(out.stdout + out.stderr)[-600:]}")
    cur = current_target(c.home)
    checks.check(cur == os.path.realpath(os.path.dirname(os.path.dirname(halt_bin))) or
                 sha256_of(os.path.join(cur, "bin", c.daemon)) == sha256_of(halt_bin),
                 f"{tag}: current points at the binary the backup was taken with", cur)
    rlog = os.path.join(c.work, "restored-old-binary.log")
    open(rlog, "wb").close()
    # started as the operator would after a restore: the binary `current` now points at
    p = start([c.current_bin(), "start", "--home", c.home], rlog, env=c.env)

    def handshake():
        runs = node_runs(read_log(rlog))
        return runs[0] if runs else None

    def exited_first():
        if p.poll() is not None and not handshake():
            raise Failure(f"old binary exited {p.returncode} before its handshake (see {rlog})")
    try:
        got = wait_for("the old binary's handshake on the restored data", handshake, 120, fail=exited_first)
    finally:
        stop(p)
    r["restored_handshake"] = got
    checks.check(got["version"] == v_old and got["start"] == H - 1 and got["app_hash"] == want,
                 f"{tag}: the old binary on the restored data has the app hash the chain had after H-1",
                 f"handshake {got}; block H's app_hash {want}")
    return r


def gov_swap(c, checks, tag, name, new_bin, v_old, v_new, block_time, offset, voting_period, srv,
             prestage=False, kill_at_halt=False, while_old=None, from_registry=False):
    """A governance upgrade at H (placed after the voting period), voted with the running binary's
    CLI. prestage: the binary comes only from the plan's binaries map (DAEMON_ALLOW_DOWNLOAD_BINARIES
    + SWITCHYARD_PRESTAGE_VOTING) and must be staged while the vote is open; otherwise it is placed
    with `add-upgrade <name> <bin>` first. kill_at_halt: switchyard is held (SIGSTOP) once the
    proposal passed, so the old binary halts at H with nobody swapping; once the halt's facts are
    in (upgrade-info.json for H, UPGRADE NEEDED and CONSENSUS FAILURE logged, /abci_info H-1 from
    the old binary still serving RPC), switchyard is SIGKILLed and started again. while_old(): called
    once the vote is in, while the old binary still runs. from_registry: the plan's info is empty
    and the binary comes from the chain-registry file switchyard was started with
    (SWITCHYARD_CHAIN_REGISTRY, written by write_registry for this served name); `plan --json` must
    name the registry as the staged binary's source."""
    r = {"name": name, "old": v_old, "new": v_new, "mode": "prestage" if prestage else "preplaced"}
    cli = c.current_bin()
    old_exe = c.current_exe()
    served_name = f"{c.daemon}-{v_new}"
    os.symlink(os.path.realpath(new_bin), os.path.join(srv.directory, served_name))
    checksum = sha256_of(new_bin)
    info = json.dumps({"binaries": {"linux/amd64": f"http://127.0.0.1:{srv.port}/{served_name}?checksum=sha256:{checksum}"}},
                      separators=(",", ":"))
    if from_registry:
        info = ""
        r["binary_from"] = "registry"
    if not prestage:
        run([c.sup_bin, "add-upgrade", name, new_bin], env=c.env)
    n_req = len(srv.requests)
    H = place_h(c.rpc, block_time, offset, voting_period)
    r["H"] = H
    r["chain_time_lag_s"] = chain_time_lag(c.rpc)
    log(f"{tag}: proposing {name} at H={H} (chain at {c.rpc.height()}, {v_old} -> {v_new})")
    pid, end = submit_upgrade(cli, c.home, c.rpc.port, name, H, info, c.work)
    vote_yes(cli, c.home, c.rpc.port, pid)
    voting_end = parse_time(end)
    log(f"{tag}: proposal {pid} voted; voting ends {end} "
        f"({(voting_end - time.time()) if voting_end else float('nan'):.1f}s from now)")
    if prestage:
        staged_path = os.path.join(c.home, "cosmovisor", "upgrades", name, "bin", c.daemon)
        check_prestaged_in_voting(checks, tag, c.sup_bin, c.env, cli, c.rpc.port, pid, name, staged_path, checksum,
                                  voting_end, r)
        if from_registry:
            src = plan_binary_source(c.sup_bin, c.env, name)
            checks.check(src == "registry", f"{tag}: `plan --json` names the chain registry as the binary's source "
                         f"(the plan's info is empty)", f"binary.source {src!r}")
    if while_old:
        while_old()
    halted = None
    if kill_at_halt:
        st = wait_for(f"proposal {pid} to pass", lambda: (lambda s: s if s and "VOTING" not in s else None)(
            proposal_status(cli, c.rpc.port, pid)), offset * 3 + 120, every=0.5)
        if "PASSED" not in st:
            raise Failure(f"{tag}: proposal {pid} ended {st}")
        a = c.rpc.abci()
        if not a or a[1] >= H - 1:
            raise Failure(f"{tag}: the chain is already at {a} when the proposal passed; H={H} is too close")
        os.kill(c.sup.pid, signal.SIGSTOP)
        log(f"{tag}: switchyard (pid {c.sup.pid}) held with SIGSTOP at height {a[1]}; waiting for the halt at H={H}")
        info_path = os.path.join(c.home, "data", "upgrade-info.json")

        def halt_facts():
            try:
                d = json.load(open(info_path))
                if str(d.get("name")).lower() != name or int(d.get("height")) != H:
                    return None
            except Exception:
                return None
            text = read_log(c.node_log)
            i = text.find(f'UPGRADE "{name}" NEEDED at height: {H}')
            return i >= 0 and "CONSENSUS FAILURE" in text[i:]
        try:
            wait_for(f"the old binary to halt at H={H}", halt_facts, offset * 3 + 120)
            halted = c.rpc.abci()
            st_h = c.rpc.height()
        finally:
            t_kill = time.time()
            os.kill(c.sup.pid, signal.SIGKILL)
        c.sup.wait(timeout=10)
        r["halted_abci"], r["halted_status_height"] = halted, st_h
        log(f"{tag}: old binary halted: /abci_info {halted}, /status height {st_h}; switchyard SIGKILLed "
            f"(exit {c.sup.returncode}); old node process alive right after: {bool(running_exe(old_exe))}")
        checks.check(halted is not None and halted == (v_old, H - 1) and st_h == H,
                     f"{tag}: halted old binary still serves RPC with /abci_info H-1 and /status H",
                     f"/abci_info {halted}, /status {st_h}")
        with open(c.node_log, "ab") as f:
            f.write(f"\n[e2e] switchyard SIGKILLed at the halt; starting it again\n".encode())
        c.sup = start([c.sup_bin, "run", "start", "--home", c.home], c.node_log, env=c.env)
        c.watch.sup_pid = c.sup.pid
        r["restart_after_kill_s"] = round(time.time() - t_kill, 2)
    live = wait_new_binary(c.rpc, v_old, v_new, H, offset * 3 + 180, c.sup, c.node_log)
    st = proposal_status(cli, c.rpc.port, pid)
    checks.check(st is not None and "PASSED" in st, f"{tag}: proposal passed", st)
    text = read_log(c.node_log)
    gov_halt_checks(checks, tag, text, c.home, name, H)
    runs = node_runs(text)
    ev = swap_evidence(runs, v_old, v_new, H, live=live, halted=halted)
    r["evidence"] = ev
    check_swap_end(c, checks, tag, ev, H, old_exe, text, name)
    check_app_hash(checks, tag, c.rpc, text, v_new, H)
    t_halt = c.watch.halt_time(name, H)
    t_new = c.watch.first_time(v_new, H)
    if not kill_at_halt:
        r["downtime_s"] = round(t_new - t_halt, 3) if t_halt and t_new else None
    reqs = srv.requests[n_req:]
    r["downloads"] = len(reqs)
    if prestage:
        after = [q for q in reqs if t_halt and q[0] >= t_halt]
        r["downloads_after_halt"] = len(after)
        checks.check(t_halt is not None and not after, f"{tag}: no download happened at the halt",
                     f"{len(after)} requests after the halt (halt seen: {t_halt is not None})")
    return r


# ---------------------------------------------------------------------------------------------
# the chain scenario: one chain, every kind of swap
# ---------------------------------------------------------------------------------------------
def run_steps(scenario, steps, broken, results, **extra):
    """Runs (step, kind, fn(checks, step)) in order, appending one result per step to `results`
    as it ends (a later step may read an earlier one's) as `switchyard/<scenario>/<step>` with the
    `extra` fields; a step that raises ends the run, and the ones after it are reported as not
    run. `broken`: why none can run (None: they can). Returns `results`."""
    for step, kind, fn in steps:
        checks = Checks()
        res = {"scenario": f"switchyard/{scenario}/{step}", "supervisor": "switchyard",
               "mode": f"{scenario}/{step}", **extra, "kind": kind}
        ts = time.time()
        if broken:
            checks.check(False, f"{step}: not run ({broken})")
        else:
            try:
                res.update(fn(checks, step))
            except Failure as e:
                checks.check(False, f"{step}: " + str(e).split("\n")[0])
                res["error"] = str(e)[:2000]
                broken = f"step {step} did not complete"
        res["elapsed_s"] = round(time.time() - ts, 1)
        res["passed"], res["failed"], res["failures"] = len(checks.passed), len(checks.failed), checks.failed
        results.append(res)
    return results


def chain(args):
    bins = {k: need_env(f"E2E_CHAIND_{k}") for k in
            ("V050", "V050_PATCH1", "V053", "V053_NOVER", "V053_PATCH2", "V054")}
    ver = {k: version_of(b) for k, b in bins.items()}
    sup_bin = find_switchyard()
    daemon = "chaind"
    t0 = time.time()
    work = tempfile.mkdtemp(prefix="switchyard-e2e-chain-")
    _cleanup_paths.append(work)
    home = os.path.join(work, "home")
    os.makedirs(home)
    ports = free_ports(9)
    log(f"chain: home {home}, rpc 127.0.0.1:{ports[0]}; versions {ver}")
    init_chain(bins["V050"], home, ports, voting_period=args.voting_period)
    served = os.path.join(work, "www")
    os.makedirs(served)
    srv = BinServer(served)
    srv.directory = served
    env = supervisor_env(home, daemon, "switchyard", "prestage")
    env["UNSAFE_SKIP_BACKUP"] = "false"  # a backup before every swap; step 6 restores the last one
    run([sup_bin, "init", bins["V050"]], env=env)
    node_log = os.path.join(work, "node.log")
    sup = start([sup_bin, "run", "start", "--home", home], node_log, env=env)
    rpc = Rpc(ports[0])
    watch = Watch(home, rpc, sup.pid)
    c = Ctx(sup_bin, env, home, rpc, watch, node_log, work, daemon, sup)

    steps = [
        ("1-manual-v0.50.9-to-patch1", "manual",
         lambda ch, t: manual_swap(c, ch, t, "patch1", bins["V050_PATCH1"], ver["V050"], ver["V050_PATCH1"],
                                   args.manual_offset)),
        ("2-gov-v050-to-v053-prestaged", "gov",
         lambda ch, t: gov_swap(c, ch, t, "v050-to-v053", bins["V053"], ver["V050_PATCH1"], ver["V053"], block_time,
                                args.offset, args.voting_period, srv, prestage=True)),
        ("3-manual-v0.53-to-nover", "manual",
         lambda ch, t: manual_swap(c, ch, t, "nover", bins["V053_NOVER"], ver["V053"], ver["V053_NOVER"],
                                   args.manual_offset)),
        ("4-manual-nover-to-patch2", "manual",
         lambda ch, t: manual_swap(c, ch, t, "patch2", bins["V053_PATCH2"], ver["V053_NOVER"], ver["V053_PATCH2"],
                                   args.manual_offset, probe="stops_before")),
        ("5-gov-v053-to-v054-sigkill-at-halt", "gov",
         lambda ch, t: gov_swap(c, ch, t, "v053-to-v054", bins["V054"], ver["V053_PATCH2"], ver["V054"], block_time,
                                args.offset, args.voting_period, srv, kill_at_halt=True)),
        ("6-restore-backup-of-v053-to-v054", "restore",
         lambda ch, t: restore_check(c, ch, t, results[-1], bins["V053_PATCH2"])),
    ]
    results = []
    broken = None
    block_time = None
    try:
        block_time = measure_block_time(rpc)
        log(f"chain: block time {block_time:.3f}s, chain time lag {chain_time_lag(rpc)}s")
    except Failure as e:
        broken = f"the chain did not start: {e}"
    run_steps("chain", steps, broken, results)
    watch._sample_sup()
    watch.stop()
    stop(c.sup)
    srv.close()
    res = {"scenario": "switchyard/chain", "supervisor": "switchyard", "mode": "chain", "passed": 0, "failed": 0,
           "node_runs": node_runs(read_log(node_log)), "supervisor_peak_rss_kb": watch.hwm_kb,
           "block_time_s": round(block_time, 3) if block_time else None, "elapsed_s": round(time.time() - t0, 1)}
    failed = any(r["failed"] for r in results)
    res["log"] = node_log if failed or args.keep else None
    for r in results:
        r["log"] = res["log"]
        print(json.dumps(r), flush=True)
    print(json.dumps(res), flush=True)
    if not failed and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


# ---------------------------------------------------------------------------------------------
# the life scenario: one wasmd node between and through its upgrades, watched as a sentry is
# ---------------------------------------------------------------------------------------------
class Listener:
    """switchyard's status listener (SWITCHYARD_LISTEN): /status as JSON, /metrics as numbers."""

    def __init__(self, addr):
        self.addr = addr

    def get(self, path):
        with urllib.request.urlopen(f"http://{self.addr}{path}", timeout=5) as r:
            return r.read().decode()

    def status(self):
        return json.loads(self.get("/status"))

    def metrics(self):
        """{'name{labels}': value} for every sample of the Prometheus text."""
        out = {}
        for line in self.get("/metrics").splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                try:
                    out[k] = float(v)
                except ValueError:
                    pass
        return out


def stall_restarts(m):
    """Restarts for a stall or for a silent RPC (a SIGSTOPped node answers nothing, so it is the
    second: SWITCHYARD_SILENT_RPC_ACTION=restart)."""
    return (m.get('switchyard_node_restarts_total{reason="stall"}', 0.0)
            + m.get('switchyard_node_restarts_total{reason="silent_rpc"}', 0.0))


# What switchyard logs when a SIGSTOPped node's RPC stops answering (not a stall: no answer shows
# the height stood still), and when it answers again.
SILENT_LINE = "has given no fresh answer"


def check_view(c, checks, tag, lis, upgrade, stall_restarts_expected):
    """/status and /metrics against the chain's truth now: the node switchyard reports is the
    process running `current` (pid, binary, upgrade, app version from /abci_info), it is up and
    not stalled, its committed height is the chain's (read before and after the listener, within
    the watcher's refresh of a few blocks), and it was restarted for a stall exactly as often as
    the scenario stalled it."""
    a0 = c.rpc.abci()
    st, m = lis.status(), lis.metrics()
    a1 = c.rpc.abci()
    node = st.get("node") or {}
    pids = running_exe(c.current_exe())
    checks.check(node.get("state") == "running" and node.get("pid") in pids,
                 f"{tag}: /status node is the running process of current", f"node {node}; processes of current: {pids}")
    checks.check(node.get("upgrade") == upgrade and os.path.realpath(node.get("binary") or "") == c.current_exe(),
                 f"{tag}: /status node runs upgrade {upgrade} from current's binary",
                 f"upgrade {node.get('upgrade')}, binary {node.get('binary')}")
    checks.check(a1 is not None and node.get("app_version") == a1[0],
                 f"{tag}: /status app_version is what /abci_info answers", f"{node.get('app_version')} vs {a1}")
    committed = m.get("switchyard_node_committed_height")
    ok_h = a0 and a1 and committed is not None and a0[1] - 3 <= committed <= a1[1]
    checks.check(ok_h, f"{tag}: switchyard_node_committed_height follows the chain",
                 f"metric {committed}, /abci_info {a0} .. {a1}")
    checks.check(m.get("switchyard_node_up") == 1 and m.get("switchyard_node_stalled") == 0
                 and (st.get("stall") or {}).get("state") != "stalled",
                 f"{tag}: node up and not stalled (metrics and /status)",
                 f"node_up {m.get('switchyard_node_up')}, node_stalled {m.get('switchyard_node_stalled')}, "
                 f"stall {st.get('stall')}")
    checks.check(stall_restarts(m) == stall_restarts_expected,
                 f"{tag}: restarted for a stall {stall_restarts_expected} time(s), never at a halt or halt-height stop",
                 f"switchyard_node_restarts_total{{reason=\"stall\" or \"silent_rpc\"}} {stall_restarts(m)}")
    return st, m


def restart_switchyard(c, checks, tag, lis):
    """SIGTERM switchyard: it stops the node gracefully and exits, leaving no node process; started
    again on the same home it runs `current` and the chain goes on from where it stopped."""
    old_exe = c.current_exe()
    before = c.rpc.abci()
    os.kill(c.sup.pid, signal.SIGTERM)
    try:
        c.sup.wait(timeout=60)
    except subprocess.TimeoutExpired:
        raise Failure(f"{tag}: switchyard did not exit within 60 s of SIGTERM")
    left = running_exe(old_exe)
    checks.check(c.sup.returncode == 0 and not left, f"{tag}: SIGTERM: switchyard stopped the node and exited 0",
                 f"exit {c.sup.returncode}; node processes left: {left}")
    with open(c.node_log, "ab") as f:
        f.write(b"\n[e2e] switchyard stopped with SIGTERM; starting it again\n")
    c.sup = start([c.sup_bin, "run", "start", "--home", c.home], c.node_log, env=c.env)
    c.watch.sup_pid = c.sup.pid
    h = (before or ("", 0))[1]
    a = c.rpc.wait_height(h + 5, 120, "after switchyard was started again")
    checks.check(a[0] == before[0], f"{tag}: the node runs {before[0]} again and makes blocks past {h + 5}", f"{a}")
    wait_for("the status listener", lambda: lis.status() if _answers(lis) else None, 30)
    return {"height_before": h, "after": a}


def _answers(lis):
    try:
        lis.status()
        return True
    except Exception:
        return False


def stall_step(c, checks, tag, lis, stall_after):
    """SIGSTOP the node: its process is up but makes no block and answers nothing. switchyard must
    report it (log line, counter) no sooner than the threshold and soon after it — as a silent RPC,
    not a stall, since no answer shows the height stood still — stop the stopped node (SIGKILL
    after the grace) and start it again once (SWITCHYARD_SILENT_RPC_ACTION=restart); the chain
    then goes on and the silence ends."""
    pids = running_exe(c.current_exe())
    if len(pids) != 1:
        raise Failure(f"{tag}: expected one node process of current, found {pids}")
    pid = pids[0]
    a = c.rpc.abci()
    m0 = lis.metrics()
    n_logged = read_log(c.node_log).count(SILENT_LINE)
    os.kill(pid, signal.SIGSTOP)
    t_stop = time.time()
    log(f"{tag}: node pid {pid} held with SIGSTOP at {a}; threshold {stall_after}s")
    try:
        m = wait_for("switchyard to restart the node for the stall",
                     lambda: (lambda m: m if stall_restarts(m) > stall_restarts(m0) else None)(lis.metrics()),
                     stall_after + 60, every=0.1)
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGCONT)  # never leave a stopped process behind if switchyard did not act
    t_seen = time.time()
    r = {"stopped_at": a, "reported_after_s": round(t_seen - t_stop, 2), "threshold_s": stall_after}
    text = read_log(c.node_log)
    checks.check(text.count(SILENT_LINE) == n_logged + 1,
                 f"{tag}: the silent RPC was logged once", f"{text.count(SILENT_LINE) - n_logged} new lines")
    silent = m.get('switchyard_node_restarts_total{reason="silent_rpc"}', 0.0)
    stalled = m.get('switchyard_node_restarts_total{reason="stall"}', 0.0)
    checks.check(silent == 1 and stalled == 0, f"{tag}: restarted for the silent RPC, not called a stall",
                 f"restarts: silent_rpc {silent}, stall {stalled}")
    checks.check(stall_after - 0.5 <= r["reported_after_s"] <= stall_after + 30,
                 f"{tag}: the stall was acted on after the threshold and within 30 s of it",
                 f"{r['reported_after_s']}s after SIGSTOP, threshold {stall_after}s")
    b = c.rpc.wait_height(a[1] + 5, 120, "after the stall restart")
    new_pids = running_exe(c.current_exe())
    checks.check(not _alive(pid) and new_pids and pid not in new_pids,
                 f"{tag}: the stopped process is gone and a new one makes blocks",
                 f"old pid {pid} alive: {_alive(pid)}; now {new_pids}; chain {b}")
    # once: the node makes blocks again for twice the threshold without another stall restart
    c.rpc.wait_height(b[1] + 2, 120)
    t_until = time.time() + 2 * stall_after
    while time.time() < t_until:
        time.sleep(0.5)
    check_view(c, checks, tag, lis, os.path.basename(current_target(c.home)), 1)
    text = read_log(c.node_log)
    checks.check("the node is no longer stalled" in text[text.rfind(SILENT_LINE):],
                 f"{tag}: the end of the silence was logged")
    r["restart_counter"] = stall_restarts(m)
    return r


def life(args):
    """switchyard on one wasmd node for a life: the governance upgrade "v0.60", whose plan info is
    empty, staged during the vote from a chain-registry file, switchyard stopped and started again, a manual upgrade to
    v0.61, then a stall (SIGSTOP) restarted once. Stall detection is on (short threshold, restart)
    the whole time: it must never restart the node at a halt or at a halt-height stop."""
    bins = {k: need_env(f"E2E_WASMD_{k}") for k in ("OLD", "NEW", "NEXT")}
    ver = {k: version_of(b) for k, b in bins.items()}
    sup_bin = find_switchyard()
    daemon = "wasmd"
    t0 = time.time()
    work = tempfile.mkdtemp(prefix="switchyard-e2e-life-")
    _cleanup_paths.append(work)
    home = os.path.join(work, "home")
    os.makedirs(home)
    ports = free_ports(10)
    log(f"life: home {home}, rpc 127.0.0.1:{ports[0]}; versions {ver}")
    init_chain(bins["OLD"], home, ports[:9], voting_period=args.voting_period)
    served = os.path.join(work, "www")
    os.makedirs(served)
    srv = BinServer(served)
    listen = f"127.0.0.1:{ports[9]}"
    # The "v0.60" plan's info is empty: its binary comes from this chain-registry file.
    registry = os.path.join(work, "chain.json")
    write_registry(registry, daemon, [("v0.60", f"http://127.0.0.1:{srv.port}/{daemon}-{ver['NEW']}",
                                       sha256_of(bins["NEW"]))])
    env = supervisor_env(home, daemon, "switchyard", "prestage")
    env["SWITCHYARD_CHAIN_REGISTRY"] = registry
    env.update({"SWITCHYARD_LISTEN": listen, "SWITCHYARD_STALL_AFTER": f"{args.stall_after}s",
                "SWITCHYARD_STALL_MIN_PEERS": "0", "SWITCHYARD_STALL_ACTION": "restart",
                "SWITCHYARD_SILENT_RPC_ACTION": "restart",
                "DAEMON_SHUTDOWN_GRACE": "3s"})
    run([sup_bin, "init", bins["OLD"]], env=env)
    node_log = os.path.join(work, "node.log")
    sup = start([sup_bin, "run", "start", "--home", home], node_log, env=env)
    rpc = Rpc(ports[0])
    watch = Watch(home, rpc, sup.pid)
    c = Ctx(sup_bin, env, home, rpc, watch, node_log, work, daemon, sup)
    lis = Listener(listen)
    before = {}

    def gov(ch, t):
        r = gov_swap(c, ch, t, "v0.60", bins["NEW"], ver["OLD"], ver["NEW"], block_time, args.offset,
                     args.voting_period, srv, prestage=True, from_registry=True,
                     while_old=lambda: before.update({q: abci_query(rpc, q) for q in WASMD_V060_QUERIES}))
        check_new_modules(ch, t, rpc, before)
        check_view(c, ch, t, lis, "v0.60", 0)
        return r

    def manual(ch, t):
        r = manual_swap(c, ch, t, "v0.61", bins["NEXT"], ver["NEW"], ver["NEXT"], args.manual_offset)
        check_view(c, ch, t, lis, "v0.61", 0)
        return r

    def restart(ch, t):
        r = restart_switchyard(c, ch, t, lis)
        check_view(c, ch, t, lis, "v0.60", 0)
        return r

    steps = [
        ("1-gov-v0.60-staged-in-vote", "gov", gov),
        ("2-switchyard-restarted", "restart", restart),
        ("3-manual-v0.61", "manual", manual),
        ("4-stall-sigstop-restarted-once", "stall", lambda ch, t: stall_step(c, ch, t, lis, args.stall_after)),
    ]
    block_time = None
    broken = None
    try:
        block_time = measure_block_time(rpc)
        wait_for("the status listener", lambda: _answers(lis), 30)
        log(f"life: block time {block_time:.3f}s")
    except Failure as e:
        broken = f"the chain did not start: {e}"
    results = run_steps("life", steps, broken, [], pair="wasmd")
    watch._sample_sup()
    watch.stop()
    stop(c.sup)
    srv.close()
    failed = any(r["failed"] for r in results)
    logpath = node_log if failed or args.keep else None
    for r in results:
        r["log"] = logpath
        print(json.dumps(r), flush=True)
    print(json.dumps({"scenario": "switchyard/life", "supervisor": "switchyard", "mode": "life", "pair": "wasmd",
                      "passed": 0, "failed": 0, "supervisor_peak_rss_kb": watch.hwm_kb, "log": logpath,
                      "block_time_s": round(block_time, 3) if block_time else None,
                      "elapsed_s": round(time.time() - t0, 1)}), flush=True)
    if not failed and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


# ---------------------------------------------------------------------------------------------
# unstartable: the plan's binary cannot start on this host (its shared library is not found)
# ---------------------------------------------------------------------------------------------
def break_runpath(src, dst):
    """A copy of `src` whose ELF run path names a folder that does not exist (same length, one
    letter changed), so the loader cannot find the libwasmvm it links: what a binary built on
    another machine does here. The build (build-binaries.sh) set that run path to the `lib` folder
    beside the binary's `bin`. Returns the run path it had."""
    data = open(src, "rb").read()
    good = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(src))), "lib").encode()
    if data.count(good + b"\x00") != 1:
        raise Failure(f"{src} has not exactly one run path {good.decode()} to break")
    bad = good[:-1] + b"X"
    with open(dst, "wb") as f:
        f.write(data.replace(good + b"\x00", bad + b"\x00"))
    os.chmod(dst, 0o755)
    return good.decode()


def unstartable(args):
    """wasmd's "v0.60" plan lists a binary that downloads and verifies but cannot start here.
    switchyard must refuse it at preflight, long before the halt, and say why in the loader's own
    words in `plan`, `/status` and the metrics; at the halt it must leave the old binary stopped at
    H-1 (it never commits H) with one clear message, and never start the new one in a loop. Once
    the operator places a binary that starts, it swaps by itself and the new binary commits H."""
    bin_old, bin_new = need_env("E2E_WASMD_OLD"), need_env("E2E_WASMD_NEW")
    sup_bin = find_switchyard()
    daemon, name = "wasmd", "v0.60"
    v_old = version_of(bin_old)
    checks = Checks()
    tag = "unstartable"
    result = {"scenario": "switchyard/unstartable", "supervisor": "switchyard", "mode": "unstartable",
              "pair": "wasmd"}
    t0 = time.time()
    work = tempfile.mkdtemp(prefix="switchyard-e2e-unstartable-")
    _cleanup_paths.append(work)
    home = os.path.join(work, "home")
    os.makedirs(home)
    ports = free_ports(10)
    init_chain(bin_old, home, ports[:9], voting_period=args.voting_period)
    served = os.path.join(work, "www")
    os.makedirs(served)
    broken = os.path.join(served, daemon)
    result["runpath"] = break_runpath(bin_new, broken)
    checksum = sha256_of(broken)
    srv = BinServer(served)
    info = json.dumps({"binaries": {"linux/amd64": f"http://127.0.0.1:{srv.port}/{daemon}?checksum=sha256:{checksum}"}},
                      separators=(",", ":"))
    listen = f"127.0.0.1:{ports[9]}"
    env = supervisor_env(home, daemon, "switchyard", "prestage")
    env["SWITCHYARD_LISTEN"] = listen
    run([sup_bin, "init", bin_old], env=env)
    node_log = os.path.join(work, "node.log")
    sup = start([sup_bin, "run", "start", "--home", home], node_log, env=env)
    rpc = Rpc(ports[0])
    lis = Listener(listen)
    staged = os.path.join(home, "cosmovisor", "upgrades", name, "bin", daemon)
    loader = "libwasmvm.x86_64.so: cannot open shared object file"
    try:
        block_time = measure_block_time(rpc)
        H = place_h(rpc, block_time, args.offset, args.voting_period)
        result["H"] = H
        pid, end = submit_upgrade(bin_old, home, rpc.port, name, H, info, work)
        vote_yes(bin_old, home, rpc.port, pid)
        log(f"{tag}: proposal {pid} for {name} at H={H} voted; voting ends {end}")

        # before the halt: refused at preflight, in the loader's words, everywhere an operator looks
        def refused():
            u = plan_entry(sup_bin, env, name) or {}
            pf = (u.get("binary") or {}).get("preflight") or {}
            return u if pf.get("status") == "failed" else None
        u = wait_for("the preflight to refuse the binary", refused, args.offset * 3 + 60, every=0.5)
        a = rpc.abci()
        checks.check(a and a[1] < H - 1, f"{tag}: refused before the halt", f"chain at {a}, H={H}")
        msg = u["binary"]["preflight"].get("message") or ""
        checks.check(loader in msg and u.get("ready") is False,
                     f"{tag}: plan --json names the loader's error and says not ready", msg[:300])
        r = run([sup_bin, "plan"], env=env, check=False, timeout=60)
        checks.check(r.returncode == 2 and loader in r.stdout, f"{tag}: plan (text) exits 2 and names the loader's error",
                     f"exit {r.returncode}: {r.stdout[-400:]}")
        # The status API rebuilds its report on its own schedule (every 1-5 s): wait for the
        # rebuild after the preflight (a bounded wait, not one sample that may come before it).
        def status_entry():
            st = lis.status() or {}
            return next((x for x in (st.get("plan") or {}).get("upgrades") or [] if x.get("name") == name), {})
        def status_names_it():
            u = status_entry()
            return u if loader in json.dumps(u) else None
        sup_u = poll_for(status_names_it, 30) or status_entry()
        checks.check(loader in json.dumps(sup_u), f"{tag}: /status names the loader's error", json.dumps(sup_u)[:300])
        def preflight_metrics():
            m = lis.metrics()
            failed = [k for k, v in m.items() if k.startswith("switchyard_upgrade_preflight_failed") and v == 1]
            ok = m.get(f'switchyard_upgrade_check{{upgrade="{name}",source="proposal",check="preflight_ok"}}',
                       m.get(f'switchyard_upgrade_check{{upgrade="{name}",source="plan",check="preflight_ok"}}'))
            return ok == 0 and any("libwasmvm" in k for k in failed)
        shown = poll_for(preflight_metrics, 30)
        m = lis.metrics()
        checks.check(shown, f"{tag}: metrics: preflight_ok 0 and the failure's message as a label",
                     "; ".join(k for k in m if "preflight" in k)[:400])

        # the halt: the old binary stops at H-1, the new one is never started
        info_path = os.path.join(home, "data", "upgrade-info.json")
        wait_for(f"the halt at H={H}", lambda: os.path.exists(info_path), args.offset * 3 + 120, every=0.2)
        said = "cannot go ahead"
        wait_for("switchyard's message at the halt", lambda: said in read_log(node_log), 60)
        # long enough for a crash loop's first restarts (1 s, 2 s, 4 s backoff) to have happened
        time.sleep(10)
        text = read_log(node_log)
        runs = node_runs(text)
        result["node_runs"] = runs
        a = rpc.abci()
        checks.check(all(x["version"] == v_old for x in runs) and not running_exe(staged),
                     f"{tag}: the new binary was never started as the node", f"{runs}")
        checks.check(a is None or a == (v_old, H - 1), f"{tag}: the old binary never committed H",
                     f"/abci_info {a}, H={H}")
        lines = [ln for ln in text.splitlines() if said in ln]
        checks.check(len(lines) == 1, f"{tag}: one clear message at the halt", "\n".join(lines)[:600])
        checks.check(sup.poll() is None, f"{tag}: switchyard keeps running (status served, waiting for a fix)")
        m = lis.metrics()
        checks.check(sum(v for k, v in m.items() if k.startswith("switchyard_node_restarts_total")) == 0
                     and sum(v for k, v in m.items() if k.startswith("switchyard_node_crashes_total")) == 0,
                     f"{tag}: no restart and no crash counted", "; ".join(f"{k} {v}" for k, v in m.items()
                                                                          if "restarts" in k or "crashes" in k))

        # the operator's fix: a binary that starts, placed by hand; switchyard swaps on its own
        v_new = version_of(bin_new)
        t_fix = time.time()
        run([sup_bin, "add-upgrade", name, bin_new, "--force"], env=env)
        live = wait_new_binary(rpc, v_old, v_new, H, 120, sup, node_log)
        result["fixed_to_new_h_s"] = round(time.time() - t_fix, 1)
        text = read_log(node_log)
        ev = swap_evidence(node_runs(text), v_old, v_new, H, live=live)
        result["evidence"] = ev
        check_swap(checks, tag + " after the fix", ev, H)
        check_app_hash(checks, tag + " after the fix", rpc, text, v_new, H)
        checks.check(current_target(home) == os.path.realpath(os.path.join(home, "cosmovisor", "upgrades", name)),
                     f"{tag} after the fix: cosmovisor/current points at upgrades/{name}", current_target(home))
    except Failure as e:
        checks.check(False, f"{tag}: " + str(e).split("\n")[0])
        result["error"] = str(e)[:2000]
    finally:
        stop(sup)
        srv.close()
    result["elapsed_s"] = round(time.time() - t0, 1)
    result["passed"], result["failed"], result["failures"] = len(checks.passed), len(checks.failed), checks.failed
    result["log"] = node_log if checks.failed or args.keep else None
    if not checks.failed and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result), flush=True)
    return 1 if checks.failed else 0


# ---------------------------------------------------------------------------------------------
# idle: what a supervisor costs while the node just makes blocks (bench/idle.md)
# ---------------------------------------------------------------------------------------------
def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def idle(args):
    """Two wasmd chains side by side, one under switchyard and one under cosmovisor (each with its
    default settings: switchyard watching the chain, cosmovisor polling its upgrade-info file), for
    `--seconds` of nothing but blocks. Each supervisor's own CPU time (user + system of its
    process, from /proc/<pid>/stat: a running total, so nothing between the two reads is missed)
    over the wall time, and its RSS at the start and the end. The nodes' own CPU is not counted."""
    bin_old = need_env("E2E_WASMD_OLD")
    sups = {"switchyard": find_switchyard(), "cosmovisor": os.path.abspath(need_env("E2E_COSMOVISOR"))}
    if args.only:
        sups = {args.only: sups[args.only]}
    procs, rpcs, logs = {}, {}, {}
    out = {"scenario": "idle", "seconds": args.seconds, "node": version_of(bin_old)}
    try:
        for kind, sup_bin in sups.items():
            work = tempfile.mkdtemp(prefix=f"switchyard-e2e-idle-{kind}-")
            _cleanup_paths.append(work)
            home = os.path.join(work, "home")
            os.makedirs(home)
            ports = free_ports(9)
            init_chain(bin_old, home, ports, voting_period="60s")
            env = supervisor_env(home, "wasmd", kind, "preplaced")
            env.pop("SWITCHYARD_PRESTAGE_VOTING", None)  # the defaults, as an operator runs it
            run([sup_bin, "init", bin_old], env=env)
            logs[kind] = os.path.join(work, "node.log")
            procs[kind] = start([sup_bin, "run", "start", "--home", home], logs[kind], env=env)
            rpcs[kind] = Rpc(ports[0])
            log(f"idle: {kind} pid {procs[kind].pid}, home {home}")
        for kind in sups:
            rpcs[kind].wait_height(10, 180, f"under {kind}")
        t0 = time.time()
        c0 = {k: cpu_seconds(p.pid) for k, p in procs.items()}
        m0 = {k: rss_kb(p.pid) for k, p in procs.items()}
        h0 = {k: rpcs[k].abci()[1] for k in sups}
        deadline = t0 + args.seconds
        while time.time() < deadline:
            time.sleep(min(5, max(0.0, deadline - time.time())))
            for k, p in procs.items():
                if p.poll() is not None:
                    raise Failure(f"{k} exited during the idle run (see {logs[k]})")
        t1 = time.time()
        for k, p in procs.items():
            cpu = cpu_seconds(p.pid) - c0[k]
            blocks = rpcs[k].abci()[1] - h0[k]
            out[k] = {"cpu_ms_per_s": round(1000 * cpu / (t1 - t0), 3), "cpu_s": round(cpu, 3),
                      "blocks": blocks, "cpu_ms_per_block": round(1000 * cpu / max(blocks, 1), 3),
                      "rss_kb_start": m0[k], "rss_kb_end": rss_kb(p.pid)}
            log(f"idle: {k}: {out[k]}")
        out["wall_s"] = round(t1 - t0, 1)
    finally:
        for p in procs.values():
            stop(p)
    print(json.dumps(out), flush=True)
    return 0


# ---------------------------------------------------------------------------------------------
# facts: `start --halt-height N` per SDK line, checked against the halt-height table in docs/node-facts.md
# ---------------------------------------------------------------------------------------------
# line -> (block N committed by the app?, process exits?)
FACTS_EXPECTED = {"v0.50.9": (True, False), "v0.53.8": (False, False), "v0.54.4": (False, False)}


def facts(args):
    rc = 0
    for key in ("V050", "V053", "V054"):
        b = need_env(f"E2E_CHAIND_{key}")
        v = version_of(b)
        checks = Checks()
        res = {"scenario": f"facts/{v}", "supervisor": "-", "mode": f"facts/{v}", "halt_height": args.halt_height}
        t0 = time.time()
        work = tempfile.mkdtemp(prefix=f"switchyard-e2e-facts-{v}-")
        _cleanup_paths.append(work)
        home = os.path.join(work, "home")
        os.makedirs(home)
        ports = free_ports(9)
        node_log = os.path.join(work, "node.log")
        N = args.halt_height
        p = None
        try:
            init_chain(b, home, ports)
            p = start([b, "start", "--home", home, f"--halt-height={N}"], node_log)
            rpc = Rpc(ports[0])

            def halted():  # a fact: the process exited, or consensus failed (logged)
                if p.poll() is not None:
                    return "exited"
                if "CONSENSUS FAILURE" in read_log(node_log):
                    return "consensus-failure"
                a = rpc.abci()
                if a and a[1] > N + 1:
                    raise Failure(f"the node went past halt-height {N}: /abci_info {a}")
                return None
            how = wait_for(f"the node to halt at {N}", halted, 180)
            t_halt = time.time()
            s, a = rpc.status(), rpc.abci()
            alive = p.poll() is None
            st = rpc.status()  # again: it answered RPC after the failure was logged
            res.update({
                "sdk": json.loads(run([b, "version", "--long", "--output", "json"]).stdout).get("cosmos_sdk_version"),
                "cometbft": (s or {}).get("node_info", {}).get("version"),
                "halt": how, "abci_last_block_height": a[1] if a else None,
                "status_latest_block_height": int(s["sync_info"]["latest_block_height"]) if s else None,
                "alive_after_halt": alive and st is not None,
            })
            m = re.search(r'halt per configuration height (\d+)', read_log(node_log))
            res["halt_error"] = m.group(0) if m else None
            if alive:
                p.send_signal(signal.SIGTERM)
                try:
                    res["exit_code_after_sigterm"] = p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    res["exit_code_after_sigterm"] = None
                res["alive_s_after_halt_until_sigterm"] = round(time.time() - t_halt, 2)
            else:
                res["exit_code"] = p.returncode
            commits, exits = FACTS_EXPECTED.get(v, (None, None))
            got_commit = None if a is None else (a[1] == N if a[1] in (N, N - 1) else f"other: {a[1]}")
            res["committed_N"] = got_commit
            res["exits"] = not alive
            if commits is not None:
                checks.check(got_commit == commits, f"facts {v}: block N {'is' if commits else 'is not'} committed "
                             f"(docs/node-facts.md)", f"N={N}, /abci_info last_block_height {a}")
                checks.check((not alive) == exits, f"facts {v}: the process {'exits' if exits else 'keeps running and serving RPC'} "
                             f"(docs/node-facts.md)", f"halt seen as {how}; RPC after it: {st is not None}")
                want_status = (N + 1) if commits else N
                checks.check(res["status_latest_block_height"] == want_status,
                             f"facts {v}: /status latest_block_height is one block ahead of the app",
                             f"/status {res['status_latest_block_height']}, /abci_info {a}")
        except Failure as e:
            checks.check(False, f"facts {v}: " + str(e).split("\n")[0])
            res["error"] = str(e)[:2000]
        finally:
            if p is not None:
                stop(p)
        res["elapsed_s"] = round(time.time() - t0, 1)
        res["passed"], res["failed"], res["failures"] = len(checks.passed), len(checks.failed), checks.failed
        res["log"] = node_log if checks.failed or args.keep else None
        if not checks.failed and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        print(json.dumps(res), flush=True)
        rc |= 1 if checks.failed else 0
    return rc


# ---------------------------------------------------------------------------------------------
# localnet: plain old binary, for looking at things by hand
# ---------------------------------------------------------------------------------------------
def localnet(args):
    old_env, new_env, _, upgrade, daemon = PAIRS[args.pair]
    bin_old, bin_new = need_env(old_env), need_env(new_env)
    work = args.dir or tempfile.mkdtemp(prefix="switchyard-e2e-localnet-")
    _cleanup_paths.append(work)
    home = os.path.join(work, "home")
    os.makedirs(home, exist_ok=True)
    ports = free_ports(9)
    init_chain(bin_old, home, ports, voting_period=args.voting_period)
    served = os.path.join(work, "www")
    os.makedirs(served, exist_ok=True)
    os.symlink(os.path.realpath(bin_new), os.path.join(served, daemon))
    srv = BinServer(served)
    info = json.dumps({"binaries": {"linux/amd64":
                                    f"http://127.0.0.1:{srv.port}/{daemon}?checksum=sha256:{sha256_of(bin_new)}"}})
    node_log = os.path.join(work, "node.log")
    p = start([bin_old, "start", "--home", home], node_log)
    rpc = Rpc(ports[0])
    rpc.wait_height(3, 90)
    H = rpc.height() + args.offset
    pid, end = submit_upgrade(bin_old, home, ports[0], upgrade, H, info, work)
    vote_yes(bin_old, home, ports[0], pid)
    log(f"home={home} rpc=127.0.0.1:{ports[0]} grpc=127.0.0.1:{ports[2]} proposal {pid} at H={H}, voting ends {end}; "
        f"binaries at http://127.0.0.1:{srv.port}/{daemon}; log {node_log}")
    info_path = os.path.join(home, "data", "upgrade-info.json")
    wait_for("upgrade-info.json", lambda: os.path.exists(info_path), args.offset * 3 + 60, every=0.2)
    wait_for("the consensus failure", lambda: "CONSENSUS FAILURE" in read_log(node_log) or p.poll() is not None, 30)
    log(f"upgrade-info.json: {open(info_path).read()}")
    log(f"status height {rpc.height()}, abci_info {rpc.abci()}, process alive: {p.poll() is None}")
    if args.hold:
        log(f"holding for {args.hold}s")
        time.sleep(args.hold)
    stop(p)
    srv.close()
    return 0


def _median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def _machine():
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "kernel": os.uname().release}


def _median_gap_interval(xs, floor_xs, draws=4000):
    """A 95% bootstrap interval for median(xs) - median(floor_xs): how finely this many runs can
    tell a row from the floor. A node's own start varies by +-70 ms from run to run on a VM, so a
    20 ms gap needs many runs before the interval is narrower than the gap. Fixed seed: the same
    results give the same interval."""
    if len(xs) < 3 or len(floor_xs) < 3:
        return None
    rnd = random.Random(9)
    gaps = sorted(_median(rnd.choices(xs, k=len(xs))) - _median(rnd.choices(floor_xs, k=len(floor_xs)))
                  for _ in range(draws))
    return gaps[int(draws * 0.025)], gaps[int(draws * 0.975) - 1]


def report(args):
    rows = []
    for src, path in enumerate(args.results):
        for line in open(path):
            line = line.strip()
            if line.startswith("{"):
                try:
                    r = json.loads(line)
                except ValueError:
                    continue
                r["_src"] = src  # which bench it came from: a row is compared with its own benches' floor
                rows.append(r)
    groups = {}
    for r in rows:
        if "supervisor" not in r or r.get("supervisor") == "-" or str(r.get("mode", "")).startswith("chain"):
            continue
        groups.setdefault((r["supervisor"], r["mode"]), []).append(r)

    def med(sup, mode, key):
        return _median([r.get(key) for r in groups.get((sup, mode), []) if not r.get("failed")])

    m = _machine()
    sample = next((r for r in rows if r.get("old")), {})
    out = []
    out.append("# Upgrade downtime: switchyard vs cosmovisor on a real chain\n")
    pooled = len(args.results) > 1
    made = (f"Pooled from {len(args.results)} runs of `e2e/bench.sh` ({args.runs} runs per row)" if pooled
            else f"Generated by `e2e/bench.sh` ({args.runs} runs per row) on {m['date']}")
    out.append(f"{made}; "
               f"machine: {m['nproc']} cores, {m['cpu']}, Linux {m['kernel']}.\n")
    out.append(f"Chain: single-validator node on 127.0.0.1, timeout_commit "
               f"{os.environ.get('E2E_TIMEOUT_COMMIT', '500ms')}; governance upgrade "
               f"`{sample.get('upgrade', '?')}` from {sample.get('old', '?')} to {sample.get('new', '?')} "
               f"(both built from the Go module proxy by `e2e/build-binaries.sh`: our own chaind for SDK v0.50+, "
               f"simd for the older pair); "
               f"cosmovisor {os.environ.get('E2E_COSMOVISOR_VERSION', '?')}; "
               f"switchyard: {os.environ.get('E2E_SWITCHYARD_DESC', '?')}.\n")
    out.append("**Downtime** = from the old binary's halt (the moment it wrote `data/upgrade-info.json`: the file's "
               "mtime) to the first moment the new binary answers `/abci_info` with `last_block_height >= H` (block H "
               f"committed by the new binary), polled every {os.environ.get('E2E_WATCH_PERIOD', '0.02')} s. The binary server "
               f"sends at {os.environ.get('E2E_DOWNLOAD_MBPS') or 'unpaced'} MB/s "
               f"(the new binary is {sample.get('binary_bytes', 0) / 1e6:.0f} MB). **Peak RSS** is the supervisor process's own "
               "`VmHWM` (from `/proc/<pid>/status`), not the node's. Both supervisors run with "
               "`UNSAFE_SKIP_BACKUP=true` and otherwise their defaults.\n")
    out.append("| supervisor | binary for the upgrade | runs ok | median downtime (s) | all downtimes (s) | "
               "median peak RSS (MiB) | binary fetched (s from halt, median) | requests after halt |")
    out.append("|---|---|---|---|---|---|---|---|")
    label = {"preplaced": "pre-placed (`add-upgrade`)",
             "download": "auto-download (`DAEMON_ALLOW_DOWNLOAD_BINARIES=true`)",
             "prestage": "auto-download + `SWITCHYARD_PRESTAGE_VOTING=true`",
             "prestage-listen": "as above + `SWITCHYARD_LISTEN` (status listener on, /metrics read every 0.5 s)",
             ("floor", "preplaced"): "no supervisor: a script that SIGTERMs the halted node and starts the new binary",
             ("floor", "preupgrade"): "the same script, also running `<new> pre-upgrade` first (as cosmovisor does)",
             ("floor", "download"): "the same script, which also fetched the binary itself when the plan was "
                                    "scheduled (same paced server, sha256, fsync) and ran it with `version` and "
                                    "`pre-upgrade --help`, as switchyard does before the halt"}
    for (sup, mode) in sorted(groups):
        rs = groups[(sup, mode)]
        ok = [r for r in rs if not r.get("failed")]
        d = med(sup, mode, "downtime_s")
        rss = med(sup, mode, "supervisor_peak_rss_kb")
        dls = sorted({r.get("downloads_after_halt") for r in ok})
        fetched = _median([r.get("download_at_s_from_halt") for r in ok])
        out.append(f"| {sup} | {label.get((sup, mode)) or label.get(mode, mode)} | {len(ok)}/{len(rs)} | "
                   f"{'%.3f' % d if d is not None else 'n/a'} | "
                   f"{', '.join('%.3f' % r['downtime_s'] for r in ok if r.get('downtime_s') is not None)} | "
                   f"{'%.1f' % (rss / 1024) if rss else 'n/a'} | "
                   f"{'%.2f' % fetched if fetched is not None else '-'} | {', '.join(map(str, dls))} |")
    out.append("")
    out.append("Ratios (switchyard / cosmovisor, medians; below 1 means switchyard is faster or smaller):\n")

    def ratio(a, b):
        return "%.2f" % (a / b) if a is not None and b else "n/a"
    out.append(f"- downtime, both pre-placed: {ratio(med('switchyard', 'preplaced', 'downtime_s'), med('cosmovisor', 'preplaced', 'downtime_s'))}")
    out.append(f"- downtime, both with `DAEMON_ALLOW_DOWNLOAD_BINARIES=true` (cosmovisor downloads at the halt; "
               f"switchyard fetches as soon as the plan is scheduled): "
               f"{ratio(med('switchyard', 'download', 'downtime_s'), med('cosmovisor', 'download', 'downtime_s'))}")
    out.append(f"- downtime, switchyard pre-staging during the vote vs cosmovisor downloading at the halt: "
               f"{ratio(med('switchyard', 'prestage', 'downtime_s'), med('cosmovisor', 'download', 'downtime_s'))}")
    fl = med("floor", "preplaced", "downtime_s")

    def downtimes(sup, mode, srcs=None):
        return [r["downtime_s"] for r in groups.get((sup, mode), [])
                if not r.get("failed") and r.get("downtime_s") is not None and (srcs is None or r["_src"] in srcs)]

    def beside_floor(sup, mode, floor_mode="preplaced"):
        """A row's downtimes and the floor's, both from only the benches that ran both: the floor
        itself moves from one bench to the next by tens of milliseconds (0.28-0.36 s medians), so
        a row is only compared with the floor runs interleaved with its own."""
        both = ({r["_src"] for r in groups.get((sup, mode), [])}
                & {r["_src"] for r in groups.get(("floor", floor_mode), [])})
        return downtimes(sup, mode, both), downtimes("floor", floor_mode, both)

    def gap(sup, mode, floor_mode="preplaced"):
        xs, fs = beside_floor(sup, mode, floor_mode)
        return (_median(xs) - _median(fs)) if xs and fs else None

    def ms(g):
        return "%+.0f ms" % (g * 1000) if g is not None else "n/a"
    out.append(f"- switchyard's own share of the downtime, over the floor (its median minus the median of the floor "
               f"runs of the same benches; all the floor's runs: {'%.3f s' % fl if fl is not None else 'n/a'}): "
               f"pre-placed {ms(gap('switchyard', 'preplaced'))}, pre-staged {ms(gap('switchyard', 'prestage'))}, "
               f"downloaded {ms(gap('switchyard', 'download'))}; cosmovisor pre-placed "
               f"{ms(gap('cosmovisor', 'preplaced'))}. Goal for switchyard: at most +20 ms.")
    gaps = []
    for mode in ("preplaced", "prestage", "prestage-listen", "download"):
        xs, fs = beside_floor("switchyard", mode)
        iv = _median_gap_interval(xs, fs)
        if iv:
            gaps.append(f"{mode} {ms(gap('switchyard', mode))} [{iv[0] * 1000:+.0f}, {iv[1] * 1000:+.0f}] ms "
                        f"({len(xs)} runs, {len(fs)} floor runs)")
    if gaps:
        out.append("- how finely these runs resolve that share: 95% bootstrap interval of switchyard's median "
                   "minus the floor's: " + "; ".join(gaps))
    dl_all, fd_all = beside_floor("switchyard", "download", "download")
    iv = _median_gap_interval(dl_all, fd_all)
    if iv:
        plain = gap("floor", "download")
        out.append(f"- the download row against the floor that also fetched and ran the binary before the halt "
                   f"(median {_median(fd_all):.3f} s, {len(fd_all)} runs; {ms(plain)} over the plain floor of the "
                   f"same benches): switchyard {ms(_median(dl_all) - _median(fd_all))} "
                   f"[{iv[0] * 1000:+.0f}, {iv[1] * 1000:+.0f}] ms ({len(dl_all)} runs)")
    fp = med("floor", "preupgrade", "downtime_s")
    cp = med('cosmovisor', 'preplaced', 'downtime_s')
    out.append(f"- the floor with the new binary's `pre-upgrade` run first (cosmovisor runs it at every halt; "
               f"switchyard asks the binary before the halt and does not run it when it has no such command): "
               f"{'%.3f s' % fp if fp is not None else 'n/a'}; cosmovisor pre-placed over it: "
               + ("%+.0f ms" % ((cp - fp) * 1000) if fp is not None and cp is not None else "n/a"))
    own = {}
    for (sup, mode), rs in groups.items():
        if sup != "switchyard":
            continue
        for r in rs:
            sr = r.get("swap_record") or {}
            if r.get("failed") or sr.get("downtime_s") is None:
                continue
            own.setdefault(mode, []).append(sr["downtime_s"] - sr["steps"].get("stop", 0))
    if own:
        out.append("- switchyard's own time inside the swap, from its own record (`last_swap.json`: from its decision "
                   "to stop the old node to the new node's start, less the old node's own shutdown, which the floor "
                   "waits for too), median and all runs: "
                   + "; ".join(f"{mode} {_median(v) * 1000:.1f} ms ({', '.join('%.1f' % (x * 1000) for x in v)})"
                               for mode, v in sorted(own.items())))
    split = [(k, med(k[0], k[1], "halt_to_start_s"), med(k[0], k[1], "start_to_h_s")) for k in sorted(groups)]
    split = [x for x in split if x[1] is not None]
    if split:
        fl_start = med("floor", "preplaced", "halt_to_start_s")
        out.append("- where the downtime goes, medians: **halt → new binary started** (the floor's own note of when it "
                   "started the binary; switchyard's `last_swap.json`) and new binary started → block H committed "
                   "(the node's own start; a supervisor can still slow it, as switchyard's spinning halt-file watcher did by taking its CPU): "
                   + "; ".join(f"{sup} {mode} {a * 1000:.1f} ms"
                               + (f" ({(a - fl_start) * 1000:+.1f} ms over the floor)" if fl_start is not None
                                  and (sup, mode) != ("floor", "preplaced") else "")
                               + f" + {b * 1000:.0f} ms" for (sup, mode), a, b in split))
    out.append(f"- status listener on vs off (pre-staged, medians): "
               f"{'%.3f' % med('switchyard', 'prestage-listen', 'downtime_s') if med('switchyard', 'prestage-listen', 'downtime_s') is not None else 'n/a'} s vs "
               f"{'%.3f' % med('switchyard', 'prestage', 'downtime_s') if med('switchyard', 'prestage', 'downtime_s') is not None else 'n/a'} s")
    sw_rss = _median([r.get("supervisor_peak_rss_kb") for k, v in groups.items() if k[0] == "switchyard"
                      for r in v if not r.get("failed")])
    cv_rss = _median([r.get("supervisor_peak_rss_kb") for k, v in groups.items() if k[0] == "cosmovisor"
                      for r in v if not r.get("failed")])
    out.append(f"- supervisor peak RSS (all runs): {ratio(sw_rss, cv_rss)} "
               f"({'%.1f' % (sw_rss / 1024) if sw_rss else 'n/a'} MiB vs {'%.1f' % (cv_rss / 1024) if cv_rss else 'n/a'} MiB)")
    failed = [r for r in rows if r.get("failed")]
    if failed:
        out.append("\nRuns with failed checks (excluded from the medians):\n")
        for r in failed:
            out.append(f"- {r.get('supervisor')}/{r.get('mode')}: {'; '.join(r.get('failures', []))[:300]}")
    if pooled:
        given = " ".join(f"--results {p}" for p in args.results)
        out.append(f"\nRaw results: {', '.join(f'`{p}`' for p in args.results)}, pooled by "
                   f"`python3 e2e/e2e.py report {given} --out {args.out}`.")
    else:
        out.append("\nRaw results: `bench/downtime.jsonl` (one JSON object per run). Rerun: `e2e/bench.sh [RUNS]`.")
    open(args.out, "w").write("\n".join(out) + "\n")
    print("\n".join(out))
    return 0



def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    offset = int(os.environ.get("E2E_UPGRADE_OFFSET", "40"))
    vp = os.environ.get("E2E_VOTING_PERIOD", "15s")
    s = sub.add_parser("scenario")
    s.add_argument("--supervisor", choices=["switchyard", "cosmovisor", "floor"], required=True)
    s.add_argument("--mode", choices=["preplaced", "download", "prestage", "prestage-listen", "preupgrade"],
                   required=True, help="preupgrade: the floor, also running the new binary's pre-upgrade")
    s.add_argument("--download-mbps", type=float, default=float(os.environ.get("E2E_DOWNLOAD_MBPS", "0")),
                   help="pace the binary server to this many MB/s (0: unpaced)")
    s.add_argument("--pair", choices=sorted(PAIRS), default="chaind")
    s.add_argument("--offset", type=int, default=offset)
    s.add_argument("--voting-period", default=vp)
    s.add_argument("--manual", action="store_true", help="also do a manual upgrade at a height (pairs simd, wasmd)")
    s.add_argument("--manual-offset", type=int, default=15)
    s.add_argument("--keep", action="store_true", help="keep the work dir even when all checks pass")
    c = sub.add_parser("chain")
    c.add_argument("--offset", type=int, default=offset)
    c.add_argument("--voting-period", default=vp)
    c.add_argument("--manual-offset", type=int, default=int(os.environ.get("E2E_MANUAL_OFFSET", "15")))
    c.add_argument("--keep", action="store_true")
    li = sub.add_parser("life")
    li.add_argument("--offset", type=int, default=offset)
    li.add_argument("--voting-period", default=vp)
    li.add_argument("--manual-offset", type=int, default=int(os.environ.get("E2E_MANUAL_OFFSET", "15")))
    li.add_argument("--stall-after", type=int, default=6, help="SWITCHYARD_STALL_AFTER, seconds")
    li.add_argument("--keep", action="store_true")
    un = sub.add_parser("unstartable")
    un.add_argument("--offset", type=int, default=offset)
    un.add_argument("--voting-period", default=vp)
    un.add_argument("--keep", action="store_true")
    idl = sub.add_parser("idle")
    idl.add_argument("--seconds", type=int, default=600)
    idl.add_argument("--only", choices=["switchyard", "cosmovisor"],
                     help="run one supervisor (e.g. to profile it); the report then has one row")
    f = sub.add_parser("facts")
    f.add_argument("--halt-height", type=int, default=12)
    f.add_argument("--keep", action="store_true")
    lo = sub.add_parser("localnet")
    lo.add_argument("--pair", choices=sorted(PAIRS), default="chaind")
    lo.add_argument("--dir")
    lo.add_argument("--offset", type=int, default=40)
    lo.add_argument("--voting-period", default="15s")
    lo.add_argument("--hold", type=int, default=0)
    fl = sub.add_parser("floor")
    fl.add_argument("--home", required=True)
    fl.add_argument("--old", required=True)
    fl.add_argument("--new", required=True)
    fl.add_argument("--name", required=True)
    fl.add_argument("--pre-upgrade", action="store_true")
    fl.add_argument("--times", help="write when the halt was seen and the new binary started here (JSON)")
    r = sub.add_parser("report")
    r.add_argument("--results", required=True, action="append",
                   help="a JSONL of scenario results; repeat it to pool several bench runs in one report")
    r.add_argument("--out", required=True)
    r.add_argument("--runs", default="?")
    a = ap.parse_args()
    try:
        return {"report": report, "scenario": scenario, "chain": chain, "life": life, "unstartable": unstartable, "idle": idle,
                "facts": facts,
                "localnet": localnet,
                "floor": floor}[a.cmd](a)
    except Failure as e:
        log(f"ERROR: {e}")
        print(json.dumps({"scenario": a.cmd, "error": str(e)[:2000], "passed": 0, "failed": 1,
                          "failures": [str(e).split(chr(10))[0]]}), flush=True)
        return 1
    finally:
        cleanup()


if __name__ == "__main__":
    sys.exit(main())
