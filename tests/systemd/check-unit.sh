#!/usr/bin/env bash
# Checks systemd/mcp-healthd.service: `systemd-analyze verify` (with ExecStart pointed at the
# built daemon, since it is not installed here) and the sandbox rating, which must stay <= 1.5.
# Usage: check-unit.sh PATH_TO_MCP_HEALTHD
set -euo pipefail
daemon="$1"
unit="$(dirname "$0")/../../systemd/mcp-healthd.service"
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "check-unit: systemd-analyze is missing (scripts/install-deps.sh installs systemd)" >&2
  exit 1
fi
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
sed "s|/usr/local/bin/mcp-healthd|$daemon|" "$unit" > "$dir/mcp-healthd.service"
systemd-analyze verify "$dir/mcp-healthd.service"
rating="$(systemd-analyze security --offline=yes "$dir/mcp-healthd.service" 2>&1 |
          sed -n 's/.*Overall exposure level for mcp-healthd.service: \([0-9.]*\).*/\1/p')"
echo "check-unit: systemd-analyze verify passed; exposure level $rating (must be <= 1.5)"
# --threshold is on the internal 0-100 scale: 15 means 1.5.
systemd-analyze security --offline=yes --threshold=15 "$dir/mcp-healthd.service" >/dev/null
