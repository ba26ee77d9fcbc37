#!/usr/bin/env python3
"""Checks config/grafana/mcp-healthd.json without Grafana (not packaged for Debian 12).

  check_dashboard.py DASHBOARD.json METRICS_SOURCE.cpp OUT_RULES.yml

Structure: importable as is (a datasource input and a `datasource` variable that every panel and
query uses, unique panel ids, grid positions, a query per target). Queries: every metric named
is one the daemon exports (read from src/metrics/metrics.cpp), and every expression, with
Grafana's variables substituted, is written into OUT_RULES.yml as a recording rule for
`promtool check rules` to parse. Exits 1 naming each problem.
"""
import json
import re
import sys

SUBSTITUTIONS = {
    "$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h",
    "${datasource}": "prometheus", "$datasource": "prometheus",
    "$instance": ".*", "$server": ".*",
}


def main():
    dashboard, metrics_source, out = sys.argv[1:4]
    d = json.load(open(dashboard))
    exported = set(re.findall(r'"(mcp_[a-z_]+)"', open(metrics_source).read()))
    problems = []
    for key in ("title", "uid", "panels", "templating", "schemaVersion"):
        if key not in d:
            problems.append("no %s" % key)
    variables = {v["name"]: v for v in d.get("templating", {}).get("list", [])}
    ds = variables.get("datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        problems.append("no datasource variable of type datasource for prometheus")
    if not any(i.get("type") == "datasource" and i.get("pluginId") == "prometheus"
               for i in d.get("__inputs", [])):
        problems.append("no prometheus datasource in __inputs (import would not ask for one)")
    ids = [p.get("id") for p in d.get("panels", [])]
    if len(ids) != len(set(ids)):
        problems.append("panel ids are not unique: %s" % ids)
    exprs = []
    for p in d.get("panels", []):
        name = "panel %s (%s)" % (p.get("id"), p.get("title"))
        if p.get("datasource", {}).get("uid") != "${datasource}":
            problems.append(name + ": does not use ${datasource}")
        grid = p.get("gridPos", {})
        if not all(isinstance(grid.get(k), int) for k in ("x", "y", "w", "h")):
            problems.append(name + ": no gridPos")
        if not p.get("targets"):
            problems.append(name + ": no targets")
        for t in p.get("targets", []):
            if t.get("datasource", {}).get("uid") != "${datasource}":
                problems.append(name + ": a target does not use ${datasource}")
            if not t.get("expr"):
                problems.append(name + ": a target has no expr")
                continue
            exprs.append((name, t["expr"]))
    for v in variables.values():
        q = v.get("query")
        if isinstance(q, dict) and q.get("query", "").startswith("label_values("):
            m = re.match(r"label_values\((.*),\s*(\w+)\)$", q["query"])
            if not m:
                problems.append("variable %s: unparsable %s" % (v["name"], q["query"]))
            else:
                exprs.append(("variable " + v["name"], m.group(1)))
    with open(out, "w") as f:
        f.write("groups:\n  - name: dashboard-queries\n    rules:\n")
        for i, (where, expr) in enumerate(exprs):
            for k, val in SUBSTITUTIONS.items():
                expr = expr.replace(k, val)
            if "$" in expr:
                problems.append("%s: unknown variable in %s" % (where, expr))
            for metric in re.findall(r"\bmcp_[a-z_]+", expr):
                base = re.sub(r"_(bucket|sum|count)$", "", metric)
                if metric not in exported and base not in exported:
                    problems.append("%s: %s is not a metric mcp-healthd exports" % (where, metric))
            f.write("      - record: dashboard:query_%d\n        expr: %s\n" % (i, json.dumps(expr)))
    for p in problems:
        print("dashboard: " + p, file=sys.stderr)
    print("dashboard: %d panels, %d queries" % (len(ids), len(exprs)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
