#!/usr/bin/env python3
"""End-to-end harness: a real single-validator Cosmos SDK chain on 127.0.0.1, taken through a real
governance upgrade under a supervisor (switchyard or cosmovisor), measured from the node's own RPC,
files and logs.

Python 3 standard library only. Every process it starts runs in its own session and is killed
(with all its descendants) on exit, on error and on SIGINT/SIGTERM.

Subcommands:
  localnet   init a chain and run it with plain simd (no supervisor), submit + vote the upgrade
             proposal, then wait for the halt; for looking at the chain by hand
  scenario   run one supervised upgrade scenario and print a JSON result line

Binaries come from the environment (see e2e/build-binaries.sh --env): E2E_SIMD_OLD, E2E_SIMD_NEW,
E2E_SIMD_PATCH, E2E_COSMOVISOR, and SWITCHYARD_BIN for switchyard.
"""
import argparse
import atexit
import hashlib
import http.server
import json
import os
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

UPGRADE_NAME = os.environ.get("E2E_UPGRADE_NAME", "v045-to-v046")
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
# ---------------------------------------------------------------------------------------------
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


def simd_has(simd, *words):
    r = run([simd] + list(words) + ["--help"], check=False)
    # cobra answers --help for an unknown subcommand with its parent's help: look at the Usage line
    usage = re.search(r"Usage:\s*\n\s*(\S+)\s+(.*)", r.stdout)
    return r.returncode == 0 and usage is not None and usage.group(2).startswith(" ".join(words))


def init_chain(simd, home, ports, voting_period="15s"):
    rpc, p2p, grpc, grpcweb, api, abci, prom, pprof, rosetta = ports
    run([simd, "init", "val", "--chain-id", CHAIN_ID, "--home", home])
    run([simd, "keys", "add", "val", "--keyring-backend", "test", "--home", home, "--output", "json"])
    addr = run([simd, "keys", "show", "val", "-a", "--keyring-backend", "test", "--home", home]).stdout.strip()
    gen = ["genesis"] if simd_has(simd, "genesis", "add-genesis-account") else []
    run([simd] + gen + ["add-genesis-account", addr, f"100000000000000{DENOM}", "--home", home,
                        "--keyring-backend", "test"])
    run([simd] + gen + ["gentx", "val", f"1000000000{DENOM}", "--chain-id", CHAIN_ID,
                        "--keyring-backend", "test", "--home", home])
    run([simd] + gen + ["collect-gentxs", "--home", home])

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
    # would end early). 1 ms keeps chain time = wall time.
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
        self.base = f"http://127.0.0.1:{port}"

    def get(self, path, timeout=2.0):
        with urllib.request.urlopen(self.base + path, timeout=timeout) as r:
            return json.loads(r.read())

    def try_get(self, path, timeout=1.0):
        try:
            return self.get(path, timeout)
        except Exception:
            return None

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
    def __init__(self, directory):
        self.requests = []
        outer = self

        class H(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **kw):
                super().__init__(*a, directory=directory, **kw)

            def log_message(self, fmt, *args):
                outer.requests.append((time.time(), self.path, fmt % args))

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
def tx_flags(home, rpc_port):
    return ["--from", "val", "--keyring-backend", "test", "--home", home, "--chain-id", CHAIN_ID,
            "--node", f"tcp://127.0.0.1:{rpc_port}", "--yes", "--output", "json", "--gas", "400000",
            "--broadcast-mode", "sync"]


def wait_tx(simd, home, rpc_port, out, timeout=30):
    try:
        txhash = json.loads(out)["txhash"]
        code = json.loads(out).get("code", 0)
    except Exception:
        raise Failure(f"unexpected tx output: {out[:500]}")
    if code:
        raise Failure(f"tx rejected in CheckTx: {out[:800]}")
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = run([simd, "query", "tx", txhash, "--node", f"tcp://127.0.0.1:{rpc_port}", "--output", "json"],
                check=False)
        if r.returncode == 0:
            res = json.loads(r.stdout)
            if int(res.get("code", 0)):
                raise Failure(f"tx {txhash} failed: {res.get('raw_log')}")
            return res
        time.sleep(0.5)
    raise Failure(f"tx {txhash} not included within {timeout}s")


def submit_upgrade(simd, home, rpc_port, name, height, info, authority=None):
    """Submit a software-upgrade proposal with the old binary's own CLI; return proposal id."""
    flags = tx_flags(home, rpc_port)
    if simd_has(simd, "tx", "upgrade", "software-upgrade"):  # SDK >= 0.50: MsgSoftwareUpgrade
        cmd = [simd, "tx", "upgrade", "software-upgrade", name, "--upgrade-height", str(height),
               "--upgrade-info", info, "--title", f"upgrade {name}", "--summary", "e2e", "--no-validate",
               "--deposit", f"10000000{DENOM}"] + flags
    elif simd_has(simd, "tx", "gov", "submit-legacy-proposal", "software-upgrade"):  # SDK 0.46/0.47
        cmd = [simd, "tx", "gov", "submit-legacy-proposal", "software-upgrade", name, "--upgrade-height",
               str(height), "--upgrade-info", info, "--title", f"upgrade {name}", "--description", "e2e",
               "--no-validate", "--deposit", f"10000000{DENOM}"] + flags
    else:  # SDK 0.45: v1beta1 SoftwareUpgradeProposal
        cmd = [simd, "tx", "gov", "submit-proposal", "software-upgrade", name, "--upgrade-height",
               str(height), "--upgrade-info", info, "--title", f"upgrade {name}", "--description", "e2e",
               "--deposit", f"10000000{DENOM}"] + flags
    r = run(cmd, check=False)
    if r.returncode != 0 and "--no-validate" in cmd:
        cmd.remove("--no-validate")
        r = run(cmd, check=False)
    if r.returncode != 0:
        raise Failure(f"submit proposal failed: {r.stdout[-1500:]} {r.stderr[-1500:]}")
    wait_tx(simd, home, rpc_port, r.stdout)
    props = json.loads(run([simd, "query", "gov", "proposals", "--node", f"tcp://127.0.0.1:{rpc_port}",
                            "--output", "json"]).stdout)["proposals"]
    last = props[-1]
    pid = last.get("proposal_id") or last.get("id")
    end = last.get("voting_end_time")
    return str(pid), end


def vote_yes(simd, home, rpc_port, pid):
    r = run([simd, "tx", "gov", "vote", pid, "yes"] + tx_flags(home, rpc_port))
    wait_tx(simd, home, rpc_port, r.stdout)


def proposal_status(simd, rpc_port, pid):
    r = run([simd, "query", "gov", "proposal", pid, "--node", f"tcp://127.0.0.1:{rpc_port}", "--output", "json"],
            check=False)
    if r.returncode != 0:
        return None
    d = json.loads(r.stdout)
    d = d.get("proposal", d)
    return str(d.get("status"))


def parse_time(ts):
    """RFC3339 with nanoseconds -> epoch seconds."""
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z", ts)
    if not m:
        return None
    import calendar
    t = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
    return t + float(m.group(2) or 0)


# ---------------------------------------------------------------------------------------------
# observing an upgrade: polls upgrade-info.json and /abci_info very often
# ---------------------------------------------------------------------------------------------
class Watch:
    def __init__(self, home, rpc, sup_pid, period=0.02):
        self.home, self.rpc, self.sup_pid, self.period = home, rpc, sup_pid, period
        self.info_path = os.path.join(home, "data", "upgrade-info.json")
        self.t_info = None            # first time data/upgrade-info.json was seen
        self.info_height = None
        self.by_version = {}          # version -> [max last_block_height, first t, first height]
        self.first_at = {}            # (version, height) -> first t seen
        self.hwm_kb = 0               # supervisor's VmHWM
        self.node_pids = {}           # pid -> (exe, first seen)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self._stop.is_set():
            now = time.time()
            if self.t_info is None and os.path.exists(self.info_path):
                try:
                    d = json.load(open(self.info_path))
                    self.info_height = int(d["height"])
                    # the file's own mtime is when the node wrote it; polling only bounds it
                    self.t_info = min(now, os.stat(self.info_path).st_mtime)
                except Exception:
                    pass  # written non-atomically: try again next tick
            a = self.rpc.abci()
            if a:
                v, h = a
                e = self.by_version.setdefault(v, [h, time.time(), h])
                e[0] = max(e[0], h)
                self.first_at.setdefault((v, h), time.time())
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

    def first_time(self, version, min_height):
        ts = [t for (v, h), t in self.first_at.items() if v == version and h >= min_height]
        return min(ts) if ts else None

    def stop(self):
        self._stop.set()
        self.thread.join(timeout=2)


def node_runs(text):
    """Split the node log into one entry per node process start, using CometBFT's handshake line
    `ABCI Handshake App Info ... height=<app height> ... software-version=<v>`; for each: the
    binary's version, the app height it started from, and every height it logged as
    `committed state ... height=<h>`. This tells exactly which binary committed which block."""
    runs = []
    for line in text.split("\n"):
        if "ABCI Handshake App Info" in line:
            v = re.search(r"software-version=(\S+)", line)
            h = re.search(r"\bheight=(\d+)", line)
            runs.append({"version": v.group(1) if v else "?", "start": int(h.group(1)) if h else None,
                         "commits": []})
        elif "committed state" in line and runs:
            h = re.search(r"\bheight=(\d+)", line)
            if h:
                runs[-1]["commits"].append(int(h.group(1)))
    return runs


def committed_by(runs, version):
    """All heights committed by processes running `version`."""
    return [h for r in runs if r["version"] == version for h in r["commits"]]


def read_log(path):
    with open(path, "rb") as f:
        return ANSI.sub("", f.read().decode(errors="replace"))


# ---------------------------------------------------------------------------------------------
# the scenario
# ---------------------------------------------------------------------------------------------
class Checks:
    def __init__(self):
        self.passed, self.failed = [], []

    def check(self, ok, what, detail=""):
        (self.passed if ok else self.failed).append(what)
        log(("PASS " if ok else "FAIL ") + what + (f" ({detail})" if detail else ""))
        return ok


def need_env(name):
    v = os.environ.get(name)
    if not v or not os.path.exists(v):
        raise Failure(f"{name} is not set to an existing file (run e2e/build-binaries.sh --env): {v!r}")
    return v


def version_of(simd):
    try:
        d = json.loads(run([simd, "version", "--long", "--output", "json"]).stdout)
        return d.get("version", "")
    except Exception:
        return run([simd, "version"]).stdout.strip()


def scenario(args):
    simd_old = need_env("E2E_SIMD_OLD")
    simd_new = need_env("E2E_SIMD_NEW")
    sup_kind = args.supervisor
    if sup_kind == "switchyard":
        sup_bin = os.environ.get("SWITCHYARD_BIN") or os.path.join(os.path.dirname(__file__), "..", "target",
                                                                   "release", "switchyard")
        if not os.path.exists(sup_bin):
            raise Failure(f"switchyard binary not found at {sup_bin} (set SWITCHYARD_BIN or cargo build --release)")
    else:
        sup_bin = need_env("E2E_COSMOVISOR")
    sup_bin = os.path.abspath(sup_bin)
    v_old, v_new = version_of(simd_old), version_of(simd_new)
    checks = Checks()
    result = {"supervisor": sup_kind, "mode": args.mode, "upgrade": UPGRADE_NAME, "old": v_old, "new": v_new}

    work = tempfile.mkdtemp(prefix=f"switchyard-e2e-{sup_kind}-")
    _cleanup_paths.append(work)
    home = os.path.join(work, "home")
    os.makedirs(home)
    ports = free_ports(9)
    rpc_port = ports[0]
    log(f"{sup_kind}/{args.mode}: home {home}, rpc 127.0.0.1:{rpc_port}, {v_old} -> {v_new}")
    if sup_kind == "switchyard" and args.mode == "prestage" and "E2E_VOTING_PERIOD" not in os.environ:
        # Pre-staging during the vote needs switchyard to re-read proposals while the vote is open.
        # Its default re-read is every 60 s; with no SWITCHYARD_PROPOSALS_EVERY knob, vote for 70 s.
        r = run([sup_bin, "config", "--json"], env=dict(os.environ, DAEMON_HOME=home, DAEMON_NAME="simd"),
                check=False)
        if '"SWITCHYARD_PROPOSALS_EVERY"' not in r.stdout:
            args.voting_period = "70s"
            log("switchyard has no SWITCHYARD_PROPOSALS_EVERY: voting period 70s so its 60 s proposal "
                "re-read falls inside the vote")
    result["voting_period"] = args.voting_period
    init_chain(simd_old, home, ports, voting_period=args.voting_period)

    # the binaries map: the new simd served from 127.0.0.1 with its sha256
    served = os.path.join(work, "www")
    os.makedirs(served)
    shutil.copy2(simd_new, os.path.join(served, "simd"))
    srv = BinServer(served)
    checksum = sha256_of(simd_new)
    info = json.dumps({"binaries": {"linux/amd64": f"http://127.0.0.1:{srv.port}/simd?checksum=sha256:{checksum}"}},
                      separators=(",", ":"))

    env = dict(os.environ)
    env.update({
        "DAEMON_HOME": home, "DAEMON_NAME": "simd", "DAEMON_RESTART_AFTER_UPGRADE": "true",
        "UNSAFE_SKIP_BACKUP": "true", "DAEMON_ALLOW_DOWNLOAD_BINARIES": "false",
        "COSMOVISOR_DISABLE_LOGS": "false",
    })
    if args.mode in ("download", "prestage"):
        env["DAEMON_ALLOW_DOWNLOAD_BINARIES"] = "true"
    if sup_kind == "switchyard":
        env["SWITCHYARD_PRESTAGE_VOTING"] = "true" if args.mode == "prestage" else "false"
        # The watcher re-reads proposals every 60 s by default (fine for real, days-long votes); this
        # chain votes for 15 s. Asked of switchyard: a knob with this name (ignored if unknown).
        env.setdefault("SWITCHYARD_PROPOSALS_EVERY", "2s")
    run([sup_bin, "init", simd_old], env=env)
    if args.mode == "preplaced":
        run([sup_bin, "add-upgrade", UPGRADE_NAME, simd_new], env=env)

    node_log = os.path.join(work, "node.log")
    t_start = time.time()
    sup = start([sup_bin, "run", "start", "--home", home], node_log, env=env)
    rpc = Rpc(rpc_port)
    watch = Watch(home, rpc, sup.pid)
    try:
        rpc.wait_height(3, 90, "after start")
        t3 = time.time()
        rpc.wait_height(8, 60, "after start")
        block_time = (time.time() - t3) / 5
        h0 = rpc.height()
        # H must come after the voting period ends (with room for the submit and vote txs), also on
        # a slow machine: at least --offset blocks, more when blocks are fast.
        vp = float(re.sub(r"s$", "", args.voting_period))
        H = h0 + max(args.offset, int((vp + 8) / max(block_time, 0.05)) + 1)
        result["block_time_s"] = round(block_time, 3)
        result["H"] = H
        log(f"chain at {h0}; proposing {UPGRADE_NAME} at H={H}")
        pid, end = submit_upgrade(simd_old, home, rpc_port, UPGRADE_NAME, H, info)
        vote_yes(simd_old, home, rpc_port, pid)
        t_voted = time.time()
        voting_end = parse_time(end) if end else None
        log(f"proposal {pid} submitted and voted; voting ends {end} "
            f"({(voting_end - time.time()) if voting_end else float('nan'):.1f}s from now)")

        staged_path = os.path.join(home, "cosmovisor", "upgrades", UPGRADE_NAME, "bin", "simd")
        if sup_kind == "switchyard" and args.mode == "prestage":
            # staged + preflighted while the proposal is still in its voting period
            staged_in_voting = None
            plan_json = None
            last_st = None
            until = voting_end if voting_end else time.time() + 60
            while time.time() < until:
                st = proposal_status(simd_old, rpc_port, pid)
                last_st = st or last_st
                if st is not None and "VOTING" not in st:
                    break  # the proposal left its voting period
                if os.path.exists(staged_path):
                    r = run([sup_bin, "plan", "--json"], env=env, check=False, timeout=30)
                    # exit 0: every upcoming upgrade ready, 2: one is not; both print the report
                    plan_json = r.stdout if r.returncode in (0, 2) else f"exit {r.returncode}: {r.stderr[-300:]}"
                    if r.returncode in (0, 2) and plan_reports_staged(plan_json, UPGRADE_NAME):
                        st = proposal_status(simd_old, rpc_port, pid)
                        if st is not None and "VOTING" in st:
                            staged_in_voting = time.time()
                        break
                time.sleep(0.3)
            checks.check(staged_in_voting is not None,
                         "new binary staged and preflighted while the proposal was still in voting",
                         f"proposal status {last_st}; staged file present: {os.path.exists(staged_path)}; "
                         f"plan: {(plan_json or '')[:300]}")
            checks.check(os.path.exists(staged_path) and sha256_of(staged_path) == checksum,
                         "staged binary matches the plan's sha256")
            result["staged_before_voting_end_s"] = (
                round(voting_end - staged_in_voting, 2) if staged_in_voting and voting_end else None)

        # passes, then the halt at H, then H+5 on the new binary
        rpc_deadline = time.time() + args.offset * 3 + 120
        while time.time() < rpc_deadline:
            a = rpc.abci()
            if a and a[0] == v_new and a[1] >= H + 5:
                break
            if a and a[0] == v_old and a[1] >= H:
                raise Failure(f"old binary {v_old} committed block {a[1]} >= H={H}")
            if sup.poll() is not None:
                raise Failure(f"supervisor exited with {sup.returncode} (see {node_log})")
            time.sleep(0.1)
        else:
            raise Failure(f"new binary did not reach H+5={H + 5} (see {node_log})")
        st = proposal_status(simd_new, rpc_port, pid)
        checks.check(st is not None and "PASSED" in st, "proposal passed", st)

        text = read_log(node_log)
        t_halt = watch.t_info
        checks.check(watch.info_height == H, "old binary halted at H (wrote data/upgrade-info.json for H)",
                     f"height {watch.info_height}")
        checks.check(f'UPGRADE "{UPGRADE_NAME}" NEEDED at height: {H}' in text, "old binary logged UPGRADE NEEDED at H")
        runs = node_runs(text)
        result["node_runs"] = [{"version": r["version"], "start": r["start"],
                                "last": r["commits"][-1] if r["commits"] else None} for r in runs]
        old_commits = committed_by(runs, v_old)
        old_max = max(old_commits) if old_commits else None
        checks.check(old_max == H - 1, "old binary's last committed block is H-1",
                     f"log: {old_max}; /abci_info sampling: {watch.by_version.get(v_old, [None])[0]}")
        checks.check(f'applying upgrade "{UPGRADE_NAME}" at height: {H}' in text,
                     f'new binary ran applying upgrade "{UPGRADE_NAME}" at H')
        new_commits = committed_by(runs, v_new)
        checks.check(H in new_commits and H not in old_commits, "block H was executed by the new binary",
                     f"node runs: {result['node_runs']}")
        old_exes = [p for p, (exe, _) in watch.node_pids.items() if os.path.realpath(simd_old) == exe
                    or exe.endswith("/genesis/bin/simd")]
        checks.check(all(not _alive(p) for p in old_exes), "old binary process was stopped",
                     f"old pids {old_exes}")
        cur = os.path.realpath(os.path.join(home, "cosmovisor", "current"))
        checks.check(cur == os.path.realpath(os.path.join(home, "cosmovisor", "upgrades", UPGRADE_NAME)),
                     "current points at the upgrade", cur)
        a = rpc.abci()
        checks.check(a and a[1] >= H + 5, "chain produced H+5 blocks after the upgrade", f"{a}")

        t_new_h = watch.first_time(v_new, H)
        downtime = (t_new_h - t_halt) if (t_new_h and t_halt) else None
        result["downtime_s"] = round(downtime, 3) if downtime is not None else None
        dl_after_halt = [r for r in srv.requests if t_halt and r[0] >= t_halt]
        result["downloads_after_halt"] = len(dl_after_halt)
        result["downloads_total"] = len(srv.requests)
        if srv.requests and t_halt:
            # when the binary was fetched, relative to the halt (negative: before it)
            result["download_at_s_from_halt"] = round(srv.requests[0][0] - t_halt, 2)
        if srv.requests and voting_end:
            result["download_at_s_from_voting_end"] = round(srv.requests[0][0] - voting_end, 2)
        if sup_kind == "switchyard" and args.mode != "download":
            checks.check(not dl_after_halt, "no download happened at the halt",
                         f"{len(dl_after_halt)} requests after the halt")
        log(f"downtime (upgrade-info.json written -> H committed by new binary): {result['downtime_s']}s")

        # a manual upgrade at a height, with no plan (switchyard only)
        if args.manual and sup_kind == "switchyard":
            manual_upgrade(args, sup_bin, env, home, rpc, watch, node_log, checks, result, v_new)
    except Failure as e:
        checks.check(False, str(e).split("\n")[0])
        result["error"] = str(e)[:2000]
    finally:
        watch._sample_sup()
        result["supervisor_peak_rss_kb"] = watch.hwm_kb
        watch.stop()
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


def manual_upgrade(args, sup_bin, env, home, rpc, watch, node_log, checks, result, v_cur):
    simd_patch = need_env("E2E_SIMD_PATCH")
    v_patch = version_of(simd_patch)
    h = rpc.height()
    H2 = h + args.manual_offset
    result["H2"] = H2
    log(f"manual upgrade: patch1 ({v_patch}) at H2={H2} (chain at {h})")
    run([sup_bin, "add-upgrade", "patch1", simd_patch, "--height", str(H2)], env=env)
    deadline = time.time() + args.manual_offset * 3 + 120
    while time.time() < deadline:
        a = rpc.abci()
        if a and a[0] == v_patch and a[1] >= H2 + 5:
            break
        if a and a[0] == v_cur and a[1] >= H2:
            raise Failure(f"manual: old binary {v_cur} committed block {a[1]} >= H2={H2} (no swap at H2)")
        time.sleep(0.1)
    else:
        raise Failure(f"patch binary did not reach H2+5={H2 + 5}")
    text = read_log(node_log)
    runs = node_runs(text)
    result["node_runs"] = [{"version": r["version"], "start": r["start"],
                            "last": r["commits"][-1] if r["commits"] else None} for r in runs]
    cur_commits = committed_by(runs, v_cur)
    cur_max = max(cur_commits) if cur_commits else None
    checks.check(cur_max == H2 - 1, "manual: old process's last committed block is H2-1",
                 f"log: {cur_max}; /abci_info sampling: {watch.by_version.get(v_cur, [None])[0]}")
    patch_runs = [r for r in runs if r["version"] == v_patch]
    checks.check(bool(patch_runs) and patch_runs[0]["start"] == H2 - 1 and H2 in committed_by(runs, v_patch)
                 and H2 not in cur_commits, "manual: block H2 was executed by the new binary",
                 f"node runs: {result['node_runs']}")
    a = rpc.abci()
    checks.check(a and a[0] == v_patch and a[1] >= H2 + 5, "manual: chain continues on the patch binary", f"{a}")
    cur = os.path.realpath(os.path.join(home, "cosmovisor", "current"))
    checks.check(cur.endswith("/upgrades/patch1"), "manual: current points at patch1", cur)
    t_old_last = watch.first_time(v_cur, H2 - 1)
    t_new = watch.first_time(v_patch, H2)
    if t_old_last and t_new:
        result["manual_gap_s"] = round(t_new - t_old_last, 3)


# ---------------------------------------------------------------------------------------------
# localnet: plain simd, for looking at things by hand
# ---------------------------------------------------------------------------------------------
def localnet(args):
    simd_old = need_env("E2E_SIMD_OLD")
    simd_new = need_env("E2E_SIMD_NEW")
    work = args.dir or tempfile.mkdtemp(prefix="switchyard-e2e-localnet-")
    _cleanup_paths.append(work)
    home = os.path.join(work, "home")
    os.makedirs(home, exist_ok=True)
    ports = free_ports(9)
    init_chain(simd_old, home, ports, voting_period=args.voting_period)
    served = os.path.join(work, "www")
    os.makedirs(served, exist_ok=True)
    shutil.copy2(simd_new, os.path.join(served, "simd"))
    srv = BinServer(served)
    info = json.dumps({"binaries": {"linux/amd64":
                                    f"http://127.0.0.1:{srv.port}/simd?checksum=sha256:{sha256_of(simd_new)}"}})
    node_log = os.path.join(work, "node.log")
    p = start([simd_old, "start", "--home", home], node_log)
    rpc = Rpc(ports[0])
    rpc.wait_height(3, 90)
    H = rpc.height() + args.offset
    pid, end = submit_upgrade(simd_old, home, ports[0], UPGRADE_NAME, H, info)
    vote_yes(simd_old, home, ports[0], pid)
    log(f"home={home} rpc=127.0.0.1:{ports[0]} grpc=127.0.0.1:{ports[2]} proposal {pid} at H={H}, voting ends {end}; "
        f"binaries at http://127.0.0.1:{srv.port}/simd; log {node_log}")
    info_path = os.path.join(home, "data", "upgrade-info.json")
    deadline = time.time() + args.offset * 3 + 60
    while time.time() < deadline and not os.path.exists(info_path):
        time.sleep(0.2)
    time.sleep(1)
    log(f"upgrade-info.json: {open(info_path).read() if os.path.exists(info_path) else 'never written'}")
    log(f"status height {rpc.height()}, abci_info {rpc.abci()}, process alive: {p.poll() is None}")
    if args.hold:
        log(f"holding for {args.hold}s")
        time.sleep(args.hold)
    stop(p)
    srv.close()
    return 0


# ---------------------------------------------------------------------------------------------
# report: aggregate scenario result lines (JSONL) into bench/downtime.md
# ---------------------------------------------------------------------------------------------
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


def report(args):
    rows = []
    for line in open(args.results):
        line = line.strip()
        if line.startswith("{"):
            try:
                rows.append(json.loads(line))
            except ValueError:
                pass
    groups = {}
    for r in rows:
        if "supervisor" not in r:
            continue
        groups.setdefault((r["supervisor"], r["mode"]), []).append(r)

    def med(sup, mode, key):
        return _median([r.get(key) for r in groups.get((sup, mode), []) if not r.get("failed")])

    m = _machine()
    sample = next((r for r in rows if r.get("old")), {})
    out = []
    out.append("# Upgrade downtime: switchyard vs cosmovisor on a real chain\n")
    out.append(f"Generated by `e2e/bench.sh` ({args.runs} runs per row) on {m['date']}; "
               f"machine: {m['nproc']} cores, {m['cpu']}, Linux {m['kernel']}.\n")
    out.append(f"Chain: single-validator simd on 127.0.0.1, timeout_commit "
               f"{os.environ.get('E2E_TIMEOUT_COMMIT', '500ms')}; governance upgrade "
               f"`{sample.get('upgrade', UPGRADE_NAME)}` from simd {sample.get('old', '?')} to {sample.get('new', '?')} "
               f"(both built from the Go module proxy by `e2e/build-binaries.sh`); "
               f"cosmovisor {os.environ.get('E2E_COSMOVISOR_VERSION', '?')}; "
               f"switchyard: {os.environ.get('E2E_SWITCHYARD_DESC', '?')}.\n")
    out.append("**Downtime** = from the old binary's halt (the moment it wrote `data/upgrade-info.json`: the file's "
               "mtime) to the first moment the new binary answers `/abci_info` with `last_block_height >= H` (block H "
               "committed by the new binary), polled every 20 ms. **Peak RSS** is the supervisor process's own "
               "`VmHWM` (from `/proc/<pid>/status`), not the node's. Both supervisors run with "
               "`UNSAFE_SKIP_BACKUP=true` and otherwise their defaults.\n")
    out.append("| supervisor | binary for the upgrade | runs ok | median downtime (s) | all downtimes (s) | "
               "median peak RSS (MiB) | binary fetched (s from halt, median) | requests after halt |")
    out.append("|---|---|---|---|---|---|---|---|")
    label = {"preplaced": "pre-placed (`add-upgrade`)",
             "download": "auto-download (`DAEMON_ALLOW_DOWNLOAD_BINARIES=true`)",
             "prestage": "auto-download + `SWITCHYARD_PRESTAGE_VOTING=true`"}
    for (sup, mode) in sorted(groups):
        rs = groups[(sup, mode)]
        ok = [r for r in rs if not r.get("failed")]
        d = med(sup, mode, "downtime_s")
        rss = med(sup, mode, "supervisor_peak_rss_kb")
        dls = sorted({r.get("downloads_after_halt") for r in ok})
        fetched = _median([r.get("download_at_s_from_halt") for r in ok])
        out.append(f"| {sup} | {label.get(mode, mode)} | {len(ok)}/{len(rs)} | "
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
    out.append("\nRaw results: `bench/downtime.jsonl` (one JSON object per run). Rerun: `e2e/bench.sh [RUNS]`.")
    open(args.out, "w").write("\n".join(out) + "\n")
    print("\n".join(out))
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("scenario")
    s.add_argument("--supervisor", choices=["switchyard", "cosmovisor"], required=True)
    s.add_argument("--mode", choices=["preplaced", "download", "prestage"], required=True)
    s.add_argument("--offset", type=int, default=int(os.environ.get("E2E_UPGRADE_OFFSET", "40")))
    s.add_argument("--voting-period", default=os.environ.get("E2E_VOTING_PERIOD", "15s"))
    s.add_argument("--manual", action="store_true", help="also do the manual upgrade at a height")
    s.add_argument("--manual-offset", type=int, default=15)
    s.add_argument("--keep", action="store_true", help="keep the work dir even when all checks pass")
    l = sub.add_parser("localnet")
    l.add_argument("--dir")
    l.add_argument("--offset", type=int, default=40)
    l.add_argument("--voting-period", default="15s")
    l.add_argument("--hold", type=int, default=0)
    r = sub.add_parser("report")
    r.add_argument("--results", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--runs", default="?")
    a = ap.parse_args()
    try:
        if a.cmd == "report":
            return report(a)
        return scenario(a) if a.cmd == "scenario" else localnet(a)
    except Failure as e:
        log(f"ERROR: {e}")
        print(json.dumps({"error": str(e)[:2000], "passed": 0, "failed": 1}), flush=True)
        return 1
    finally:
        cleanup()


if __name__ == "__main__":
    sys.exit(main())
