"""Runs every benchmark scenario against Shaddock and the reference servers,
in alternating turns, and prints the table with the ratios to the targets.

Each run starts the server afresh, pinned to one core, and the load
generator pinned to the other. The load generator reads the server's CPU
time and RSS from /proc at the edges of its measured window
(--server-pid), so "CPU µs per op" stays meaningful when the load generator
is the bottleneck. Started by bench/run after the release builds.
"""
import argparse
import datetime
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHADDOCK = os.path.join(ROOT, ".build/release/shaddock")
BENCH_BIN = os.path.join(ROOT, "bench/.build/release")
LOAD = os.path.join(BENCH_BIN, "shaddock-load")

SERVERS = {
    # name: (command with {port}, what it serves)
    "shaddock": [SHADDOCK, "serve", "--port", "{port}", "--threads", "1", "--heartbeat", "{heartbeat}"],
    "shaddock-echo": [SHADDOCK, "echo", "--port", "{port}", "--threads", "1"],
    # Codable bodies (the default a Swift developer reaches for) ...
    "nio": [os.path.join(BENCH_BIN, "nio-reference"), "--port", "{port}", "--threads", "1", "--mode", "pomelo",
            "--heartbeat", "{heartbeat}"],
    # ... and Foundation's JSONSerialization, the slower alternative.
    "nio-jsonser": [os.path.join(BENCH_BIN, "nio-reference"), "--port", "{port}", "--threads", "1", "--mode", "pomelo",
                    "--json", "serialization", "--heartbeat", "{heartbeat}"],
    "nio-echo": [os.path.join(BENCH_BIN, "nio-reference"), "--port", "{port}", "--threads", "1", "--mode", "echo"],
    "uv-floor": [os.path.join(BENCH_BIN, "uv-floor"), "--port", "{port}"],
    # TLS terminated by Shaddock itself (plain clients could share the port).
    "shaddock-tls": [SHADDOCK, "serve", "--port", "{port}", "--threads", "1", "--heartbeat", "{heartbeat}",
                     "--tls-cert", "{tls_cert}", "--tls-key", "{tls_key}"],
    # permessage-deflate (connector.compression.deflate) ...
    "shaddock-deflate": [SHADDOCK, "serve", "--port", "{port}", "--threads", "1", "--heartbeat", "{heartbeat}",
                         "--config", "{deflate_config}"],
    # ... Shaddock embedded with a handler of its own: a 300-byte profile answer ...
    "shaddock-profile": [os.path.join(BENCH_BIN, "shaddock-profile"), "{port}", "{heartbeat}"],
    "shaddock-profile-deflate": [os.path.join(BENCH_BIN, "shaddock-profile"), "{port}", "{heartbeat}", "deflate"],
    "shaddock-profile-protobuf": [os.path.join(BENCH_BIN, "shaddock-profile"), "{port}", "{heartbeat}", "protobuf"],
    # ... and the same service on Hummingbird with its permessage-deflate.
    "hb-deflate": [os.path.join(BENCH_BIN, "hb-reference"), "--port", "{port}", "--heartbeat", "{heartbeat}",
                   "--reply", "profile", "--deflate"],
    # Behind a balancer: PROXY protocol headers trusted from loopback.
    "shaddock-proxy": [SHADDOCK, "serve", "--port", "{port}", "--threads", "1", "--heartbeat", "{heartbeat}",
                       "--config", "{proxy_config}"],
}

CLUSTER_FILE = os.path.join(ROOT, "deploy/chat-cluster/servers.json")
NATS_SERVER = next((p for p in ("/usr/sbin/nats-server", "/usr/bin/nats-server") if os.path.exists(p)), "nats-server")
# Servers of several processes, started in this order; the last one listens
# on {port}; the load measures their CPU and RSS summed.
GROUPS = {
    # The chat example as a cluster: chat.* forwarded to a chat server.
    "cluster": [
        [NATS_SERVER, "-a", "127.0.0.1", "-p", "{nats}"],
        [SHADDOCK, "serve", "--config", CLUSTER_FILE, "--server-id", "chat-server-1",
         "--nats", "nats://127.0.0.1:{nats}", "--threads", "1", "--log-level", "error"],
        [SHADDOCK, "serve", "--config", CLUSTER_FILE, "--server-id", "connector-server-1",
         "--nats", "nats://127.0.0.1:{nats}", "--threads", "1", "--log-level", "error",
         "--host", "127.0.0.1", "--port", "{port}", "--heartbeat", "{heartbeat}"],
    ],
}
# The NATS floor: a responder on Shaddock's NATS client; the requester is
# the "load" (scenario mode nats-floor), on the server core with them.
GROUPS["nats-floor"] = [
    [NATS_SERVER, "-a", "127.0.0.1", "-p", "{nats}"],
    [LOAD, "nats-responder", "--port", "{nats}"],
]
# What an operator would otherwise deploy: nginx (Debian's, one process,
# its stream module) terminating TLS in front of a plain `shaddock serve`;
# CPU summed over both. "NGINX" is replaced by nginx with a configuration
# written for the run's ports (see nginx_command).
GROUPS["nginx-tls"] = [
    [SHADDOCK, "serve", "--host", "127.0.0.1", "--port", "{port2}", "--threads", "1", "--heartbeat", "{heartbeat}"],
    ["NGINX"],
]
NGINX = next((p for p in ("/usr/sbin/nginx", "/usr/bin/nginx") if os.path.exists(p)), "nginx")
NGINX_STREAM = "/usr/lib/nginx/modules/ngx_stream_module.so"

# Two connectors: a room whose members sit on both.
GROUPS["cluster2"] = GROUPS["cluster"] + [
    [SHADDOCK, "serve", "--config", CLUSTER_FILE, "--server-id", "connector-server-2",
     "--nats", "nats://127.0.0.1:{nats}", "--threads", "1", "--log-level", "error",
     "--host", "127.0.0.1", "--port", "{port2}", "--heartbeat", "{heartbeat}"],
]

# The move request as JSON and as pomelo-protobuf (entityId 4242, x -17,
# y 905, speed 2.5, note "north gate").
# (Braces doubled: load options go through str.format.)
MOVE_BODIES = ["--body", '{{"entityId":4242,"x":-17,"y":905,"speed":2.5,"note":"north gate"}}',
               "--proto-body", "089221102118920e25000020402a0a6e6f7274682067617465"]

# name: (load mode, load options, servers in turn)
SCENARIOS = [
    ("echo-d1", "ws-echo", ["--depth", "1"], ["uv-floor", "shaddock-echo", "nio-echo"]),
    ("pomelo-d1", "pomelo", ["--depth", "1"], ["shaddock", "nio", "nio-jsonser"]),
    ("echo-d16", "ws-echo", ["--depth", "16"], ["uv-floor", "shaddock-echo", "nio-echo"]),
    ("pomelo-d16", "pomelo", ["--depth", "16"], ["shaddock", "nio", "nio-jsonser"]),
    ("connect", "connect", ["--connections", "100", "--source", "127.0.0.1-127.0.0.60"], ["shaddock", "nio"]),
    ("hold-9000", "hold", ["--connections", "9000", "--setup-concurrency", "512"], ["shaddock", "nio"]),
    ("broadcast-5000", "broadcast", ["--connections", "5000", "--depth", "128"], ["shaddock"]),
    # chat.chatHandler.send in a room of one (one push per request): through
    # a connector, NATS and a chat server, and in one process.
    # Beside them, the floor: request/reply over the same nats-server with
    # Shaddock's own NATS client and nothing else (requester, responder and
    # nats-server measured, all on the server core), with as many requests
    # outstanding as the connector has in flight (100 connections × depth).
    ("forward-d1", "pomelo", ["--depth", "1", "--chat-alone"], ["cluster", "shaddock"]),
    ("nats-floor-d1", "nats-floor", ["--depth", "100"], ["nats-floor"]),
    ("forward-d16", "pomelo", ["--depth", "16", "--chat-alone"], ["cluster", "shaddock"]),
    ("nats-floor-d16", "nats-floor", ["--depth", "1600"], ["nats-floor"]),
    # A chat server pushing to a 5,000-member room whose members sit on two
    # connectors (one NATS message per connector per push).
    ("forward-broadcast", "broadcast", ["--connections", "5000", "--depth", "128", "--also-port", "{port2}",
                                        "--setup-concurrency", "32", "--timeout", "60", "--setup-timeout", "120"],
     ["cluster2"]),
    # Sessions on a connector that is part of a cluster.
    ("cluster-connect", "connect", ["--connections", "100", "--source", "127.0.0.1-127.0.0.60"], ["cluster"]),
    ("cluster-hold-9000", "hold", ["--connections", "9000", "--setup-concurrency", "512"], ["cluster"]),
    # TLS: wss request/response (compare pomelo-d1/-d16 for plain
    # WebSocket), full and resumed handshakes (a connection set up with its
    # Pomelo handshake, then closed), idle wss sessions; Shaddock
    # terminating TLS itself against nginx in front of Shaddock.
    # "+plain": the same server and load without TLS, alternating in the
    # same turns, so that the cost of TLS is a ratio within one run.
    ("wss-d1", "pomelo", ["--depth", "1", "--tls"], ["shaddock-tls", "nginx-tls", "shaddock+plain"]),
    ("wss-d16", "pomelo", ["--depth", "16", "--tls"], ["shaddock-tls", "nginx-tls", "shaddock+plain"]),
    ("tls-connect", "connect", ["--connections", "100", "--source", "127.0.0.1-127.0.0.60", "--tls"],
     ["shaddock-tls", "nginx-tls"]),
    ("tls-resume", "connect", ["--connections", "100", "--source", "127.0.0.1-127.0.0.60", "--tls", "--tls-resume"],
     ["shaddock-tls", "nginx-tls"]),
    # Set-ups with a PROXY v2 header each (a balancer in front), beside the
    # same load without it in the same turns.
    ("proxy-connect", "connect", ["--connections", "100", "--source", "127.0.0.1-127.0.0.60", "--proxy-v2"],
     ["shaddock-proxy", "shaddock+plain"]),
    ("tls-hold-9000", "hold", ["--connections", "9000", "--setup-concurrency", "512", "--tls"], ["shaddock-tls"]),
    # permessage-deflate as a browser offers it: a 300-byte JSON answer per
    # request (requests compressed too), against Hummingbird's
    # permessage-deflate and against the same server without deflate; a
    # 5,000-member room hearing 300-byte chat lines; idle sessions.
    ("deflate-d1", "pomelo", ["--depth", "1", "--deflate", "--route", "connector.entryHandler.profile"],
     ["shaddock-profile-deflate", "hb-deflate", "shaddock-profile+plain"]),
    ("deflate-d16", "pomelo", ["--depth", "16", "--deflate", "--route", "connector.entryHandler.profile"],
     ["shaddock-profile-deflate", "hb-deflate", "shaddock-profile+plain"]),
    ("broadcast-deflate-5000", "broadcast", ["--connections", "5000", "--depth", "128", "--deflate", "--chat-bytes", "300"],
     ["shaddock-deflate", "shaddock+plain"]),
    # pomelo-protobuf: a typed handler's move (four numbers and a string in,
    # five numbers and a string out) with protobuf bodies, beside the same
    # server and load with JSON bodies, in the same turns.
    ("protobuf-d1", "pomelo", ["--depth", "1", "--route", "connector.entryHandler.move"] + MOVE_BODIES,
     ["shaddock-profile-protobuf", "shaddock-profile+plain"]),
    ("protobuf-d16", "pomelo", ["--depth", "16", "--route", "connector.entryHandler.move"] + MOVE_BODIES,
     ["shaddock-profile-protobuf", "shaddock-profile+plain"]),
    ("hold-deflate-9000", "hold", ["--connections", "9000", "--setup-concurrency", "512", "--deflate"],
     ["shaddock-deflate", "hb-deflate", "shaddock+plain"]),
]
ONCE = {"hold-9000", "broadcast-5000", "forward-broadcast", "cluster-hold-9000", "tls-hold-9000",
        "broadcast-deflate-5000", "hold-deflate-9000"}  # slow to set up: one turn each


def tls_files():
    """A self-signed RSA 2048 certificate for localhost, made once per run
    in a temporary folder (Shaddock and nginx serve the same one)."""
    global TLS_DIR
    if TLS_DIR is None:
        TLS_DIR = tempfile.mkdtemp(prefix="shaddock-bench-tls-")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-keyout", os.path.join(TLS_DIR, "key.pem"), "-out", os.path.join(TLS_DIR, "cert.pem"),
                        "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, capture_output=True)
    return {"tls_cert": os.path.join(TLS_DIR, "cert.pem"), "tls_key": os.path.join(TLS_DIR, "key.pem")}


TLS_DIR = None


def proxy_config():
    """A configuration file that trusts PROXY headers from loopback."""
    path = os.path.join(tempfile.gettempdir(), "shaddock-bench-proxy.json")
    with open(path, "w") as f:
        json.dump({"connector": {"proxyProtocol": {"trusted": ["127.0.0.0/8"], "required": True}}}, f)
    return path


def deflate_config():
    """A configuration file with permessage-deflate on (its defaults)."""
    path = os.path.join(tempfile.gettempdir(), "shaddock-bench-deflate.json")
    with open(path, "w") as f:
        json.dump({"connector": {"compression": {"deflate": True}}}, f)
    return path


def nginx_command(ports, files):
    """nginx in one process (no master), its stream module terminating TLS
    on {port} and proxying to Shaddock on {port2}: tickets on (its default),
    a session cache as operators configure one."""
    conf = os.path.join(TLS_DIR, f"nginx-{ports['port']}.conf")
    with open(conf, "w") as f:
        f.write(f"""load_module {NGINX_STREAM};
worker_processes 1;
worker_rlimit_nofile 20000;
pid {TLS_DIR}/nginx-{ports['port']}.pid;
error_log {TLS_DIR}/nginx-error.log error;
events {{ worker_connections 20000; }}
stream {{
    server {{
        listen 127.0.0.1:{ports['port']} ssl;
        ssl_certificate {files['tls_cert']};
        ssl_certificate_key {files['tls_key']};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:SSL:10m;
        proxy_pass 127.0.0.1:{ports['port2']};
    }}
}}
""")
    return [NGINX, "-c", conf, "-g", "daemon off; master_process off;"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not listen")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def run_one(scenario, server, args):
    name, mode, options, _ = scenario
    label = server
    if server.endswith("+plain"):
        server = server[:-len("+plain")]
        options = [o for o in options if o not in ("--tls", "--tls-resume", "--proxy-v2", "--deflate")]
    ports = {"port": free_port(), "port2": free_port(), "nats": free_port()}
    port = ports["port"]
    heartbeat = "10" if mode == "hold" else "0"
    procs = []
    try:
        files = tls_files() if "tls" in server else {}
        if "proxy" in server:
            files = {"proxy_config": proxy_config()}
        if "deflate" in server:
            files = {"deflate_config": deflate_config()}
        for command in GROUPS[server] if server in GROUPS else [SERVERS[server]]:
            if command == ["NGINX"]:
                command = nginx_command(ports, files)
            command = [part.format(heartbeat=heartbeat, **ports, **files) for part in command]
            procs.append(subprocess.Popen(["taskset", "-c", args.server_core] + command,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            # Each process that listens is waited for before the next starts.
            for key in ("nats", "port", "port2"):
                if str(ports[key]) in command or any(f":{ports[key]}" in part for part in command):
                    wait_listening(ports[key], procs[-1])
        options = [part.format(**ports) for part in options]
        # Start-up (the runtime's pages, lazily touched libraries) settles
        # before the baseline of "RSS per session" is read; a cluster's
        # servers find each other (announcements every second).
        time.sleep(1.0 if mode == "hold" else 1.5 if len(procs) > 1 else 0.2)
        baseline = sum(rss_kib(p.pid) for p in procs)
        # The floor's requester takes the connector's place, on the server core.
        floor = mode == "nats-floor"
        load = ["taskset", "-c", args.server_core if floor else args.load_core, LOAD, mode,
                "--port", str(ports["nats"] if floor else port),
                "--duration", str(args.duration), "--warmup", str(args.warmup)] + options
        for p in procs:
            load += ["--server-pid", str(p.pid)]
        if mode == "hold":
            # Idle sessions are measured idle: at the end of 3 s held.
            load[load.index("--duration") + 1] = "3"
        out = subprocess.run(load, capture_output=True, text=True, timeout=600)
        lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
        if not lines:
            raise RuntimeError(f"no result from the load generator: {out.stdout}{out.stderr}")
        result = json.loads(lines[-1])
        result["server_name"] = label
        result["scenario"] = name
        result["rss_baseline_kib"] = baseline
        if mode == "hold" and result.get("server"):
            held = result["server"]["rss_end_kib"] - baseline
            result["rss_per_session_bytes"] = held * 1024 / max(1, result["sessions_up"])
        return result
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    swift = subprocess.run(["swift", "--version"], capture_output=True, text=True).stdout.splitlines()
    return {"cpu": model, "cores": os.cpu_count(), "memory_gib": round(mem_kib / 2**20, 1),
            "kernel": platform.release(), "swift": swift[0] if swift else "", "commit": commit}


def median(values):
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def summarize(results):
    """Per (scenario, server): medians over the turns."""
    table = {}
    for r in results:
        key = (r["scenario"], r["server_name"])
        table.setdefault(key, []).append(r)
    rows = {}
    for key, runs in table.items():
        rows[key] = {
            "throughput": median([r["throughput"] for r in runs]),
            "cpu_us": median([(r.get("server") or {}).get("cpu_us_per_op") for r in runs]),
            "p99_us": median([r["latency_us"]["p99"] for r in runs]),
            "rss_per_session": median([r.get("rss_per_session_bytes") for r in runs]),
            "wire_bytes": median([r.get("wire_bytes_per_message") for r in runs]),
            "errors": sum(r["errors_total"] for r in runs),
            "turns": len(runs),
        }
    return rows


def ratio(a, b):
    return a / b if a is not None and b else None


def targets(rows):
    def get(scenario, server, field):
        return rows.get((scenario, server), {}).get(field)

    checks = []

    def check(name, value, limit, at_most=True):
        ok = value is not None and (value <= limit if at_most else value >= limit)
        checks.append({"target": name, "value": value, "limit": limit, "at_most": at_most, "met": ok})

    cpu = lambda s, v: get(s, v, "cpu_us")
    check("pomelo depth 1: CPU/req vs C floor's echo", ratio(cpu("pomelo-d1", "shaddock"), cpu("echo-d1", "uv-floor")), 1.25)
    check("pomelo depth 1: CPU/req vs NIO", ratio(cpu("pomelo-d1", "shaddock"), cpu("pomelo-d1", "nio")), 0.6)
    check("pomelo depth 16: CPU/req vs C floor's echo", ratio(cpu("pomelo-d16", "shaddock"), cpu("echo-d16", "uv-floor")), 2.0)
    check("pomelo depth 16: CPU/req vs NIO", ratio(cpu("pomelo-d16", "shaddock"), cpu("pomelo-d16", "nio")), 0.3)
    check("RSS per idle WebSocket session, 9,000 held (bytes)", get("hold-9000", "shaddock", "rss_per_session"), 1024)
    check("connection setup rate vs NIO", ratio(get("connect", "shaddock", "throughput"), get("connect", "nio", "throughput")),
          2.5, at_most=False)
    check("broadcast to 5,000 members (pushes/s)", get("broadcast-5000", "shaddock", "throughput"), 3e6, at_most=False)
    check("forwarded request, depth 1: CPU µs over the 3 processes", cpu("forward-d1", "cluster"), 18)
    check("forwarded request, depth 16: CPU µs over the 3 processes", cpu("forward-d16", "cluster"), 2)
    check("forwarded vs in-process, depth 16: CPU/req", ratio(cpu("forward-d16", "cluster"), cpu("forward-d16", "shaddock")), 2.5)
    check("cross-frontend broadcast (pushes/s)", get("forward-broadcast", "cluster2", "throughput"), 2e6, at_most=False)
    check("RSS per idle session on a clustered connector, 9,000 held (bytes)",
          get("cluster-hold-9000", "cluster", "rss_per_session"), 1024)
    check("wss depth 1: CPU/req vs plain WebSocket", ratio(cpu("wss-d1", "shaddock-tls"), cpu("wss-d1", "shaddock+plain")), 1.3)
    check("wss depth 16: CPU/req vs plain WebSocket (no target)",
          ratio(cpu("wss-d16", "shaddock-tls"), cpu("wss-d16", "shaddock+plain")), 99)
    check("wss depth 1: CPU/req vs nginx + Shaddock", ratio(cpu("wss-d1", "shaddock-tls"), cpu("wss-d1", "nginx-tls")), 0.5)
    check("full TLS set-ups per second vs nginx + Shaddock",
          ratio(get("tls-connect", "shaddock-tls", "throughput"), get("tls-connect", "nginx-tls", "throughput")), 1.0,
          at_most=False)
    check("resumed vs full TLS set-ups per second",
          ratio(get("tls-resume", "shaddock-tls", "throughput"), get("tls-connect", "shaddock-tls", "throughput")), 5.0,
          at_most=False)
    check("RSS per idle wss session, 9,000 held (bytes)", get("tls-hold-9000", "shaddock-tls", "rss_per_session"), 2048)
    check("set-up CPU with a PROXY v2 header vs without (no target)",
          ratio(cpu("proxy-connect", "shaddock-proxy"), cpu("proxy-connect", "shaddock+plain")), 99)
    check("deflate depth 1: CPU/req vs Hummingbird with deflate",
          ratio(cpu("deflate-d1", "shaddock-profile-deflate"), cpu("deflate-d1", "hb-deflate")), 0.5)
    check("deflate depth 16: CPU/req vs Hummingbird with deflate (no target)",
          ratio(cpu("deflate-d16", "shaddock-profile-deflate"), cpu("deflate-d16", "hb-deflate")), 99)
    check("deflate depth 1: CPU/req vs without deflate (no target)",
          ratio(cpu("deflate-d1", "shaddock-profile-deflate"), cpu("deflate-d1", "shaddock-profile+plain")), 99)
    # The rate the server's CPU allows (1 / CPU per push): with deflate the
    # load generator, which inflates every push on its one core, is what
    # bounds the pushes received.
    check("broadcast to 5,000 with deflate vs without: pushes per server CPU second",
          ratio(cpu("broadcast-deflate-5000", "shaddock+plain"), cpu("broadcast-deflate-5000", "shaddock-deflate")),
          0.8, at_most=False)
    check("protobuf depth 1: CPU/req vs JSON bodies",
          ratio(cpu("protobuf-d1", "shaddock-profile-protobuf"), cpu("protobuf-d1", "shaddock-profile+plain")), 1.1)
    check("protobuf depth 16: CPU/req vs JSON bodies",
          ratio(cpu("protobuf-d16", "shaddock-profile-protobuf"), cpu("protobuf-d16", "shaddock-profile+plain")), 1.1)
    rss = lambda v: get("hold-deflate-9000", v, "rss_per_session")
    extra = rss("shaddock-deflate") - rss("shaddock+plain") if rss("shaddock-deflate") is not None and rss("shaddock+plain") is not None else None
    check("RSS per idle deflate session over one without (bytes)", extra, 64)
    check("RSS per idle deflate session vs Hummingbird's", ratio(rss("shaddock-deflate"), rss("hb-deflate")), 0.05)
    return checks


def fmt(value, digits=0):
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def print_table(rows, checks):
    print()
    print(f"{'scenario':<23}{'server':<25}{'ops/s':>12}{'CPU µs/op':>11}{'p99 µs':>10}{'RSS B/sess':>11}"
          f"{'wire B/msg':>11}{'errors':>8}")
    for (scenario, server), row in rows.items():
        print(f"{scenario:<23}{server:<25}{fmt(row['throughput']):>12}{fmt(row['cpu_us'], 3):>11}"
              f"{fmt(row['p99_us']):>10}{fmt(row['rss_per_session']):>11}{fmt(row['wire_bytes'], 1):>11}{row['errors']:>8}")
    print()
    print("targets:")
    for c in checks:
        sign = "≤" if c["at_most"] else "≥"
        digits = 0 if c["limit"] >= 100 else 2
        print(f"  {'met ' if c['met'] else 'MISS'}  {c['target']}: {fmt(c['value'], digits)} ({sign} {fmt(c['limit'], digits)})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=4, help="seconds measured per turn")
    parser.add_argument("--warmup", type=float, default=1)
    parser.add_argument("--turns", type=int, default=2, help="turns per server and scenario (alternating)")
    parser.add_argument("--only", help="comma-separated scenario names")
    parser.add_argument("--server-core", default="0")
    parser.add_argument("--load-core", default="1")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench/results"))
    args = parser.parse_args()

    chosen = [s for s in SCENARIOS if not args.only or s[0] in args.only.split(",")]
    started = time.time()
    results = []
    for scenario in chosen:
        turns = 1 if scenario[0] in ONCE else args.turns
        for turn in range(turns):
            order = scenario[3] if turn % 2 == 0 else list(reversed(scenario[3]))
            for server in order:
                try:
                    r = run_one(scenario, server, args)
                except Exception as error:  # a broken run is reported, not hidden
                    print(f"{scenario[0]} {server}: FAILED: {error}", file=sys.stderr)
                    continue
                results.append(r)
                cpu = (r.get("server") or {}).get("cpu_us_per_op")
                print(f"{scenario[0]:<18}{server:<15}{fmt(r['throughput']):>12}/s  cpu {fmt(cpu, 3)} µs/op  "
                      f"p99 {fmt(r['latency_us']['p99'])} µs  errors {r['errors_total']}", flush=True)
    rows = summarize(results)
    checks = targets(rows)
    print_table(rows, checks)
    os.makedirs(args.out, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = os.path.join(args.out, f"{stamp}.json")
    with open(path, "w") as f:
        json.dump({"machine": machine(), "started": stamp, "seconds": round(time.time() - started, 1),
                   "options": vars(args), "runs": results,
                   "summary": [{"scenario": k[0], "server": k[1], **v} for k, v in rows.items()],
                   "targets": checks}, f, indent=1)
    print(f"\nresults: {os.path.relpath(path, ROOT)} ({time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
