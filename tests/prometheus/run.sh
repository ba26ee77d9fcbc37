#!/usr/bin/env bash
# The Prometheus side of issue 12: the alert rules parse and their unit tests pass (promtool),
# and the Grafana dashboard is importable and every query in it parses.
#   tests/prometheus/run.sh OUT_DIR
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:?usage: run.sh OUT_DIR}"
mkdir -p "$out"
promtool check rules "$root/config/prometheus/alerts.yml"
(cd "$here" && promtool test rules alerts_test.yml)
python3 "$here/check_dashboard.py" "$root/config/grafana/mcp-healthd.json" \
  "$root/src/metrics/metrics.cpp" "$out/dashboard-queries.yml"
promtool check rules "$out/dashboard-queries.yml"
