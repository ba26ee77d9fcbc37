#!/usr/bin/env bash
# Benchmarks mcp-healthd against its peers on the fault server (tests/fault_server), all on
# loopback in one run, and writes a Markdown table to stdout and bench/results.md:
#   - mcp-healthd (Release) with 100, 1,000 and 10,000 registered servers of 20 tools each:
#     checks/s and CPU per check for a `check *` of every server, peak RSS, upsert -> published
#     p50/p99, and CPU share at a 30 s interval (steady state);
#   - the floor: mcphd-curl-floor, a bare libcurl multi loop doing the same four exchanges;
#   - the official MCP SDK client (tests/peers/bench-sdk-client.mjs), concurrency 64;
#   - Prometheus blackbox_exporter probing with an HTTP POST of initialize, concurrency 64.
# Usage: scripts/bench.sh [--sizes "100 1000 10000"] [--steady-seconds 30]
set -euo pipefail
cd "$(dirname "$0")/.."
sizes="100 1000 10000"
steady=30
while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) sizes="$2"; shift 2 ;;
    --steady-seconds) steady="$2"; shift 2 ;;
    *) echo "usage: scripts/bench.sh [--sizes \"100 1000 10000\"] [--steady-seconds S]" >&2; exit 2 ;;
  esac
done

./scripts/install-deps.sh
if ! command -v prometheus-blackbox-exporter >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    prometheus-blackbox-exporter >/dev/null
fi
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DMCPHD_TESTS=ON >/dev/null
cmake --build build-release -j"$(nproc)" --target mcp-healthd mcp-fault-server mcphd-curl-floor >/dev/null

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
# The run (a JSON line) whose `key` is the median of the runs given.
median_of() {
  python3 -c "import json,sys; k=sys.argv[1]; runs=sorted((json.loads(r) for r in sys.argv[2:]), key=lambda r: r[k]); print(json.dumps(runs[len(runs)//2]))" "$@"
}

fport=$(free_port); rport=$(free_port)
build-release/tests/mcp-fault-server --port "$fport" >"$work/fault.log" 2>&1 & pids+=($!)
redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" >"$work/redis.log" 2>&1 & pids+=($!)
wait_port "$fport"; wait_port "$rport"
base="http://127.0.0.1:$fport/s/"
concurrency=64

rows=()
for n in $sizes; do
  redis-cli -p "$rport" FLUSHALL >/dev/null
  cfg="$work/daemon-$n.yaml"
  python3 - "$n" "$rport" "$base" "$concurrency" >"$cfg" <<'PY'
import sys
n, rport, base, conc = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
print("redis:\n  url: redis://127.0.0.1:%s/0\ndefaults:\n  interval: 30s\n  timeout: 10s\n"
      "max_concurrent_checks: %s\nservers:" % (rport, conc))
for i in range(n):
    print("  - id: srv-%d\n    url: %ssrv-%d/healthy?tools=20" % (i, base, i))
PY
  build-release/mcp-healthd --config "$cfg" --log-level warning >"$work/daemon-$n.log" 2>&1 &
  dpid=$!; pids+=($dpid)
  sleep 1
  # A first round warms up (connections, first tools messages); then >= 5,000 checks measured.
  python3 bench/drive.py checkall --redis "$rport" --pid "$dpid" --servers "$n" --timeout 600 >/dev/null
  rounds=$(( (5000 + n - 1) / n ))
  # CPU per check varies from run to run on a shared machine: three runs of the daemon and of
  # the floor, alternated (so a slow spell of the machine hits both), medians reported.
  cas=(); floors=()
  for rep in 1 2 3; do
    cas+=("$(python3 bench/drive.py checkall --redis "$rport" --pid "$dpid" --servers "$n" --rounds "$rounds" --timeout 600)")
    floors+=("$(build-release/mcphd-curl-floor --base "$base" --servers "$n" --concurrency "$concurrency" --checks "$(( n < 5000 ? 5000 : n ))")")
  done
  ca=$(median_of cpu_us_per_check "${cas[@]}")
  floor=$(median_of cpu_us_per_check "${floors[@]}")
  up=$(python3 bench/drive.py upsert --redis "$rport" --samples 200 --url-base "$base")
  # Steady state last, when first-time work (new connections, first tools messages) is done:
  # every server is checked once per 30 s interval (10 % jitter) from here on.
  st=$(python3 bench/drive.py steady --redis "$rport" --pid "$dpid" --seconds "$steady" --servers "$n" --interval 30)
  rss=$(awk '/VmHWM/ {print $2}' "/proc/$dpid/status")
  kill "$dpid"; wait "$dpid" 2>/dev/null || true
  rows+=("$n|$(field "$ca" checks_per_s)|$(field "$ca" cpu_us_per_check)|$(field "$floor" cpu_us_per_check)|$(awk -v a="$(field "$ca" cpu_us_per_check)" -v b="$(field "$floor" cpu_us_per_check)" 'BEGIN{printf "%.2f", a/b}')|$(awk -v k="$rss" 'BEGIN{printf "%.1f", k/1024}')|$(field "$up" p50_ms)|$(field "$up" p99_ms)|$(field "$st" core_percent_at_interval)")
done

# The peers, on the same fixture at the same concurrency.
sdks=()
for rep in 1 2 3; do
  sdks+=("$(cd tests/peers && node bench-sdk-client.mjs --base "$base" --servers 100 --concurrency "$concurrency" --checks 2000)")
done
sdk=$(median_of cpu_us_per_check "${sdks[@]}")
bport=$(free_port)
cat >"$work/blackbox.yml" <<EOF2
modules:
  mcp_initialize:
    prober: http
    timeout: 5s
    http:
      method: POST
      headers:
        Content-Type: application/json
        Accept: application/json, text/event-stream
      body: '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"blackbox","version":"1"}}}'
      valid_status_codes: [200]
EOF2
prometheus-blackbox-exporter --config.file="$work/blackbox.yml" --web.listen-address="127.0.0.1:$bport" >"$work/blackbox.log" 2>&1 &
bpid=$!; pids+=($bpid)
wait_port "$bport"
bb=$(python3 - "$bport" "$base" "$bpid" "$concurrency" <<'PY'
import concurrent.futures, json, os, sys, time, urllib.parse, urllib.request
port, base, pid, conc = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def cpu():
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
def probe(i):
    target = urllib.parse.quote("%ssrv-%d/healthy?tools=20" % (base, i % 100), safe="")
    body = urllib.request.urlopen("http://127.0.0.1:%s/probe?module=mcp_initialize&target=%s" % (port, target)).read()
    return b"probe_success 1" in body
n = 2000
c0, t0 = cpu(), time.monotonic()
with concurrent.futures.ThreadPoolExecutor(conc) as ex:
    ok = sum(ex.map(probe, range(n)))
wall, used = time.monotonic() - t0, cpu() - c0
print(json.dumps({"checks": n, "failures": n - ok, "cpu_us_per_check": round(used * 1e6 / n, 1),
                  "checks_per_s": round(n / wall, 1)}))
PY
)

machine="$(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(uname -r)"
{
  echo "# mcp-healthd benchmark — $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "Machine: $machine. Fixture: mcp-fault-server, servers of 20 tools; concurrency $concurrency."
  echo "Command: scripts/bench.sh --sizes \"$sizes\" --steady-seconds $steady (the last column is"
  echo "the daemon's CPU per check over $steady s of its own 30 s schedule, measured after the other"
  echo "columns, times the checks that N servers at a 30 s interval need). CPU per check of the daemon"
  echo "and of the floor: medians of three alternated runs; of the SDK client: median of three runs."
  echo
  echo "| servers | checks/s (check \*) | daemon CPU/check µs | floor CPU/check µs | daemon/floor | peak RSS MiB | upsert→published p50 ms | p99 ms | CPU at a 30 s interval, % of a core |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for r in "${rows[@]}"; do echo "| ${r//|/ | } |"; done
  echo
  echo "| peer (same fixture, concurrency $concurrency) | checks/s | CPU/check µs | what a check is |"
  echo "|---|---|---|---|"
  echo "| MCP SDK Client (Node) | $(field "$sdk" checks_per_s) | $(field "$sdk" cpu_us_per_check) | initialize, initialized, tools/list, DELETE |"
  echo "| blackbox_exporter | $(field "$bb" checks_per_s) | $(field "$bb" cpu_us_per_check) | one POST of initialize |"
  echo
  python3 - "$(field "$sdk" cpu_us_per_check)" "${rows[@]}" <<'PY'
import sys
# Each row: servers|checks/s|daemon µs|floor µs|ratio|peak MiB|p50|p99|core %.
sdk = float(sys.argv[1])
rows = [r.split("|") for r in sys.argv[2:]]
# Why a target can be missed on this kind of machine; printed only for a target not met.
reasons = {
    "floor": "the floor only moves bytes; per check the daemon also validates and parses "
             "every JSON response, hashes every tool (SHA-256), renders and writes the "
             "health message (HSET + PUBLISH) and keeps per-server state; with 100 servers "
             "each `check *` round drains the 64 slots, so fewer checks share a loop "
             "iteration; with 10,000 malloc and the caches slow down on the larger heap; "
             "profile in the closing note of issue 5",
    "sdk": "as for the floor ratio: with 100 servers each `check *` round drains the 64 "
           "slots (fewer checks per loop iteration), with 10,000 the per-server state "
           "outgrows the caches; runs also vary by about 15 %",
    "core": "CPU per check at this size (above) times the checks per second",
    "rss": "per-server state (schedule, health state, last health message, tool hashes) "
           "plus the YAML parse of a 10,000-server config at start-up",
    "p99": "the check itself includes the server's response time",
}
def line(name, measured, target, ok, key):
    verdict = "met" if ok else "not met: " + reasons[key]
    print("| %s | %s | %s | %s |" % (name, measured, target, verdict))
print("| target | measured | wanted | verdict |")
print("|---|---|---|---|")
for r in rows:
    n, d, f = r[0], float(r[2]), float(r[3])
    line("CPU per check vs the floor, %s servers" % n, "%.2f×" % (d / f), "≤ 1.3×", d / f <= 1.3, "floor")
for r in rows:
    n, d = r[0], float(r[2])
    line("SDK client CPU per check vs the daemon, %s servers" % n, "%.1f×" % (sdk / d), "≥ 20×", sdk / d >= 20, "sdk")
for r in rows:
    if r[0] == "10000":
        line("10,000 servers at a 30 s interval", "%s %% of a core" % r[8], "< 10 %", float(r[8]) < 10, "core")
        line("peak RSS, 10,000 servers of 20 tools", "%s MiB" % r[5], "≤ 64 MiB", float(r[5]) <= 64, "rss")
for r in rows:
    line("upsert → published p99, %s servers" % r[0], "%s ms" % r[7], "≤ 5 ms + server time", float(r[7]) <= 5, "p99")
PY
} | tee bench/results.md
