#!/usr/bin/env bash
# Benchmarks mcp-healthd against its peers on the fault server (tests/fault_server), all on
# loopback in one run, and writes a Markdown table to stdout and bench/results.md:
#   - mcp-healthd (Release) with 100, 1,000 and 10,000 registered servers of 20 tools each, named
#     per server (prefix=srv<i>: a fleet of distinct servers; 10,000 servers offering the same 20
#     names would each carry 20 shadowed_name findings, 10 of them in every health message):
#     checks/s and CPU per check for a `check *` of every server (three runs: median and
#     spread), peak RSS, upsert -> published p50/p99, and CPU share at a 30 s interval (steady
#     state); then the same build with -DMCPHD_COUNT_ALLOCATIONS: our allocations (operator new
#     calls) per check;
#   - the floor: mcphd-curl-floor, a bare libcurl multi loop doing the same four exchanges;
#   - the official MCP SDK client (tests/peers/bench-sdk-client.mjs), concurrency 64;
#   - Prometheus blackbox_exporter probing with an HTTP POST of initialize, concurrency 64;
#   - three mcp-healthd members sharing one Redis (cluster.enabled) with the 10,000 servers in an
#     identical config: CPU per check of the three together for a `check *` split among them,
#     against one member's (when 10000 is among the sizes).
# Usage: scripts/bench.sh [--sizes "100 1000 10000"] [--steady-seconds 30]
set -euo pipefail
cd "$(dirname "$0")/.."
sizes="100 1000 10000"
steady=30
one_cas=()
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
# The same daemon counting its operator new calls (reported on /healthz): run apart, so the
# counting costs nothing in the CPU figures.
cmake -S . -B build-alloc -DCMAKE_BUILD_TYPE=Release -DMCPHD_TESTS=OFF -DMCPHD_COUNT_ALLOCATIONS=ON >/dev/null
cmake --build build-alloc -j"$(nproc)" --target mcp-healthd >/dev/null

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
# "min–max" of `key` over the runs given.
spread_of() {
  python3 -c "import json,sys; k=sys.argv[1]; v=sorted(json.loads(r)[k] for r in sys.argv[2:]); print('%g–%g' % (v[0], v[-1]))" "$@"
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
  mport=$(free_port)
  python3 - "$n" "$rport" "$base" "$concurrency" "$mport" >"$cfg" <<'PY'
import sys
n, rport, base, conc, mport = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
print("redis:\n  url: redis://127.0.0.1:%s/0\nmetrics:\n  listen: 127.0.0.1:%s\n"
      "defaults:\n  interval: 30s\n  timeout: 10s\nmax_concurrent_checks: %s\nservers:"
      % (rport, mport, conc))
for i in range(n):
    print("  - id: srv-%d\n    url: %ssrv-%d/healthy?tools=20&prefix=srv%d" % (i, base, i, i))
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
  if [ "$n" = 10000 ]; then one_cas=("${cas[@]}"); fi
  up=$(python3 bench/drive.py upsert --redis "$rport" --samples 200 --url-base "$base")
  # Steady state last, when first-time work (new connections, first tools messages) is done:
  # every server is checked once per 30 s interval (10 % jitter) from here on.
  st=$(python3 bench/drive.py steady --redis "$rport" --pid "$dpid" --seconds "$steady" --servers "$n" --interval 30)
  rss=$(awk '/VmHWM/ {print $2}' "/proc/$dpid/status")
  kill "$dpid"; wait "$dpid" 2>/dev/null || true
  # Our allocations per check: the counting build, same config, after a warm-up round.
  redis-cli -p "$rport" FLUSHALL >/dev/null
  build-alloc/mcp-healthd --config "$cfg" --log-level warning >"$work/daemon-alloc-$n.log" 2>&1 &
  apid=$!; pids+=($apid)
  wait_port "$mport"
  python3 bench/drive.py checkall --redis "$rport" --pid "$apid" --servers "$n" --timeout 600 >/dev/null
  al=$(python3 bench/drive.py checkall --redis "$rport" --pid "$apid" --servers "$n" --rounds "$rounds" --timeout 600 --healthz "$mport")
  kill "$apid"; wait "$apid" 2>/dev/null || true
  rows+=("$n|$(field "$ca" checks_per_s)|$(field "$ca" cpu_us_per_check)|$(spread_of cpu_us_per_check "${cas[@]}")|$(field "$floor" cpu_us_per_check)|$(spread_of cpu_us_per_check "${floors[@]}")|$(awk -v a="$(field "$ca" cpu_us_per_check)" -v b="$(field "$floor" cpu_us_per_check)" 'BEGIN{printf "%.2f", a/b}')|$(field "$al" allocations_per_check)|$(awk -v k="$rss" 'BEGIN{printf "%.1f", k/1024}')|$(field "$up" p50_ms)|$(field "$up" p99_ms)|$(field "$st" core_percent_at_interval)")
done

# Three members on one Redis, the 10,000 servers in an identical config on each: a `check *` is
# split among them (one command_done), each checks the servers it owns. CPU of the three
# together per check, three runs, against the one-member runs of the same servers above.
cluster_rows=()
if [ ${#one_cas[@]} -gt 0 ]; then
  n=10000
  redis-cli -p "$rport" FLUSHALL >/dev/null
  cpids=()
  for m in a b c; do
    python3 - "$n" "$rport" "$base" "$concurrency" "member-$m" >"$work/member-$m.yaml" <<'PY'
import sys
n, rport, base, conc, member = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
print("redis:\n  url: redis://127.0.0.1:%s/0\ncluster:\n  enabled: true\n  member_id: %s\n"
      "defaults:\n  interval: 30s\n  timeout: 10s\nmax_concurrent_checks: %s\nservers:"
      % (rport, member, conc))
for i in range(n):
    print("  - id: srv-%d\n    url: %ssrv-%d/healthy?tools=20&prefix=srv%d" % (i, base, i, i))
PY
    build-release/mcp-healthd --config "$work/member-$m.yaml" --log-level warning >"$work/member-$m.log" 2>&1 &
    cpids+=($!); pids+=($!)
  done
  members=$(IFS=,; echo "${cpids[*]}")
  # Until the three share the servers: a member that gains servers another one checked takes
  # them after 1.5 heartbeats plus the timeout (13 s), and holds its part of a `check *` until
  # then; so warm-up rounds run until one `check *` is answered by every server within 5 s
  # (no member taking servers over).
  settled=""
  for _ in 1 2 3 4 5 6; do
    if w=$(python3 bench/drive.py checkall --redis "$rport" --pid "$members" --servers "$n" --timeout 30) &&
      [ "$(python3 -c 'import json,sys; print(int(json.loads(sys.argv[1])["wall_s"] < 5))' "$w")" = 1 ]; then
      settled=1; break
    fi
  done
  if [ -z "$settled" ]; then
    echo "bench: the three members did not settle; see $work/member-*.log" >&2
    exit 1
  fi
  ccs=()
  for rep in 1 2 3; do
    ccs+=("$(python3 bench/drive.py checkall --redis "$rport" --pid "$members" --servers "$n" --rounds 1 --timeout 600)")
  done
  cc=$(median_of cpu_us_per_check "${ccs[@]}")
  one=$(median_of cpu_us_per_check "${one_cas[@]}")
  owned=$(for m in a b c; do redis-cli -p "$rport" HGET "mcp:member:member-$m" owned; done | paste -sd/)
  for p in "${cpids[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done
  cluster_rows+=("1|$n|$(field "$one" checks_per_s)|$(field "$one" cpu_us_per_check)|$(spread_of cpu_us_per_check "${one_cas[@]}")|all")
  cluster_rows+=("3|$n|$(field "$cc" checks_per_s)|$(field "$cc" cpu_us_per_check)|$(spread_of cpu_us_per_check "${ccs[@]}")|$owned")
fi

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
    target = urllib.parse.quote("%ssrv-%d/healthy?tools=20&prefix=srv%d" % (base, i % 100, i % 100), safe="")
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
  echo "and of the floor: medians of three alternated runs, with the range of the three beside them;"
  echo "of the SDK client: median of three runs. Allocations: operator new calls of a build with"
  echo "-DMCPHD_COUNT_ALLOCATIONS (run apart), per check of a \`check *\` round after a warm-up round."
  echo
  echo "| servers | checks/s (check \*) | daemon CPU/check µs | (3 runs) | floor CPU/check µs | (3 runs) | daemon/floor | our allocations/check | peak RSS MiB | upsert→published p50 ms | p99 ms | CPU at a 30 s interval, % of a core |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
  for r in "${rows[@]}"; do echo "| ${r//|/ | } |"; done
  echo
  if [ ${#cluster_rows[@]} -gt 0 ]; then
    echo "Several daemons on one Redis (cluster.enabled, identical config of 10,000 servers), a"
    echo "\`check *\` of every server split among them: CPU per check of all daemons together."
    echo
    echo "| daemons | servers | checks/s (check \*) | CPU/check µs, all daemons | (3 runs) | servers owned |"
    echo "|---|---|---|---|---|---|"
    for r in "${cluster_rows[@]}"; do echo "| ${r//|/ | } |"; done
    echo
  fi
  echo "| peer (same fixture, concurrency $concurrency) | checks/s | CPU/check µs | what a check is |"
  echo "|---|---|---|---|"
  echo "| MCP SDK Client (Node) | $(field "$sdk" checks_per_s) | $(field "$sdk" cpu_us_per_check) | initialize, initialized, tools/list, DELETE |"
  echo "| blackbox_exporter | $(field "$bb" checks_per_s) | $(field "$bb" cpu_us_per_check) | one POST of initialize |"
  echo
  CLUSTER_ROWS="$(printf '%s\n' "${cluster_rows[@]}")" \
  python3 - "$(field "$sdk" cpu_us_per_check)" "${rows[@]}" <<'PY'
import os, sys
# Each row: servers|checks/s|daemon µs|daemon range|floor µs|floor range|ratio|allocations|
# peak MiB|p50|p99|core %; below, columns are picked by name.
sdk = float(sys.argv[1])
names = ["n", "cps", "d", "drange", "f", "frange", "ratio", "allocs", "rss", "p50", "p99", "core"]
rows = [dict(zip(names, r.split("|"))) for r in sys.argv[2:]]
# Why a target can be missed on this kind of machine; printed only for a target not met.
reasons = {
    "floor": "the floor only moves bytes; per check the daemon also parses and validates "
             "every JSON response, hashes every tool, renders and writes the health message "
             "(HSET + PUBLISH, more system calls), drives libcurl through its socket API with "
             "per-request options and keeps per-server state; where each microsecond goes, and "
             "what would remove it, is in the closing note of issue 11",
    "sdk": "as for the floor ratio: with 100 servers each `check *` round drains the 64 "
           "slots (fewer checks per loop iteration), with 10,000 the per-server state "
           "outgrows the caches; runs also vary by about 15 %",
    "core": "CPU per check at this size (above) times the checks per second",
    "rss": "per-server state (schedule, health state, last health message, tool hashes) "
           "plus the YAML parse of a 10,000-server config at start-up, and since tool baselines "
           "(issue 14) the index of tool names for shadowed_name (a keyed 64-bit hash per name: "
           "about 8 MB for these 200,000 names) and each server's judged state (about 2.5 MB)",
    "p99": "the check itself includes the server's response time",
    "allocs": "the tools' names, the request and response objects, libuv timers and Redis "
              "replies; see the closing note of issue 11",
}
def line(name, measured, target, ok, key):
    verdict = "met" if ok else "not met: " + reasons[key]
    print("| %s | %s | %s | %s |" % (name, measured, target, verdict))
print("| target | measured | wanted | verdict |")
print("|---|---|---|---|")
for r in rows:
    d, f = float(r["d"]), float(r["f"])
    line("CPU per check vs the floor, %s servers" % r["n"], "%.2f×" % (d / f), "≤ 1.3×", d / f <= 1.3, "floor")
for r in rows:
    line("our allocations per check, %s servers" % r["n"], r["allocs"], "< 80", float(r["allocs"]) < 80, "allocs")
for r in rows:
    d = float(r["d"])
    line("SDK client CPU per check vs the daemon, %s servers" % r["n"], "%.1f×" % (sdk / d), "≥ 20×", sdk / d >= 20, "sdk")
for r in rows:
    if r["n"] == "10000":
        line("10,000 servers at a 30 s interval", "%s %% of a core" % r["core"], "< 10 %", float(r["core"]) < 10, "core")
        line("peak RSS, 10,000 servers of 20 tools", "%s MiB" % r["rss"], "≤ 64 MiB", float(r["rss"]) <= 64, "rss")
for r in rows:
    line("upsert → published p99, %s servers" % r["n"], "%s ms" % r["p99"], "≤ 5 ms + server time", float(r["p99"]) <= 5, "p99")
# daemons|servers|checks/s|µs|range|owned: one member's runs, then the three members'.
cluster = [c.split("|") for c in os.environ.get("CLUSTER_ROWS", "").splitlines() if c]
if len(cluster) == 2:
    one, three = float(cluster[0][3]), float(cluster[1][3])
    lo, hi = (float(x) for x in cluster[0][4].split("–"))
    reasons["cluster"] = "the members also heartbeat, forward and count the parts of the split command"
    line("CPU per check, 3 members together vs 1 member, 10,000 servers",
         "%.1f vs %.1f µs (%.2f×)" % (three, one, three / one),
         "within one member's run-to-run spread (%g–%g µs, ± %g)" % (lo, hi, hi - lo),
         three - one <= hi - lo, "cluster")
PY
} | tee bench/results.md
