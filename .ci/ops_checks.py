#!/usr/bin/env python3
"""Structural and cross-file checks of the operations kit that no off-the-shelf tool does.

  ops_checks.py names       metric names used by monitoring/alerts.yml and grafana-dashboard.json
  ops_checks.py exprs       every PromQL expression of both, Grafana variables filled in (JSON lines)
  ops_checks.py static DIR  all checks below; DIR is scratch space. Exit 1 on any failure.

Why each check exists: the files are edited by hand and must agree with each other and with the
node (ports, peer names, config keys, metric names), which schema validators cannot see.
Needs PyYAML, `promtool`, and optionally a cache-node binary (CACHE_NODE_BIN) and the `dockerfile`
package (the official Dockerfile parser).
"""
import glob
import json
import os
import re
import subprocess
import sys

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALERTS = os.path.join(REPO, "monitoring/alerts.yml")
DASHBOARD = os.path.join(REPO, "monitoring/grafana-dashboard.json")
# Grafana variables replaced by values Prometheus accepts, for checking and live evaluation.
GRAFANA_VARS = {"$__rate_interval": "1m", "$__range": "1h", "$instance": ".*"}
PROMQL_WORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
                "group_left", "group_right", "inf", "nan"}

failures = []


def fail(msg):
    failures.append(msg)
    print(f"FAIL {msg}")


def ok(msg):
    print(f"ok   {msg}")


def load_yaml_docs(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def dashboard_panels():
    with open(DASHBOARD, encoding="utf-8") as f:
        dash = json.load(f)
    out = []
    for p in dash["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))  # collapsed rows nest their panels
    return dash, out


def exprs():
    """(where, expression) for every alert and dashboard query, Grafana variables substituted."""
    out = []
    for group in load_yaml_docs(ALERTS)[0]["groups"]:
        for rule in group["rules"]:
            out.append((f"alert {rule['alert']}", rule["expr"]))
    for p in dashboard_panels()[1]:
        for t in p.get("targets", []):
            e = t["expr"]
            for k, v in GRAFANA_VARS.items():
                e = e.replace(k, v)
            out.append((f"panel '{p['title']}' {t['refId']}", e))
    return out


def metric_names(expr):
    """Metric names in a PromQL expression: identifiers left after removing strings, label
    matchers, ranges, grouping clauses, function calls and keywords."""
    e = re.sub(r'"(?:\\.|[^"\\])*"', "", expr)
    e = re.sub(r"\{[^}]*\}", "", e)
    e = re.sub(r"\[[^\]]*\]", "", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", e)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        word, rest = m.group(0), e[m.end():]
        if word.lower() in PROMQL_WORDS or re.match(r"\s*\(", rest):
            continue
        if re.fullmatch(r"\d.*", word):
            continue
        names.add(word)
    return names


def all_names():
    names = set()
    for _, e in exprs():
        names |= metric_names(e)
    return sorted(names)


# --- checks -------------------------------------------------------------------------------------

def check_promql(scratch):
    """promtool parses every expression: dashboard queries become recording rules to check."""
    rules = [{"record": f"dashboard:expr_{i}", "expr": e} for i, (_, e) in enumerate(exprs())]
    path = os.path.join(scratch, "dashboard_exprs.rules.yml")
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)
    r = subprocess.run(["promtool", "check", "rules", path], capture_output=True, text=True)
    if r.returncode:
        fail(f"promtool rejects a dashboard/alert expression:\n{r.stdout}{r.stderr}")
    else:
        ok(f"promtool parses all {len(rules)} alert and dashboard expressions")


def check_dashboard():
    dash, panels = dashboard_panels()
    ids = [p["id"] for p in panels]
    if len(ids) != len(set(ids)):
        fail("dashboard panel ids are not unique")
    boxes = []
    for p in panels:
        g = p["gridPos"]
        if g["x"] + g["w"] > 24:
            fail(f"panel '{p['title']}' is wider than the grid")
        for q, box in boxes:
            if (g["x"] < box["x"] + box["w"] and box["x"] < g["x"] + g["w"]
                    and g["y"] < box["y"] + box["h"] and box["y"] < g["y"] + g["h"]):
                fail(f"panels '{q}' and '{p['title']}' overlap")
        boxes.append((p["title"], g))
        if p["type"] == "row":
            continue
        if not p.get("targets") or not p.get("description"):
            fail(f"panel '{p['title']}' needs targets and a description")
        if p.get("datasource", {}).get("uid") != "${datasource}":
            fail(f"panel '{p['title']}' must use the $datasource variable")
    titles = " ".join(p["title"].lower() for p in panels)
    # The list of what the dashboard shows.
    for topic in ["hit rate", "qps", "response time", "nodes up", "evenness", "migration",
                  "bytes", "connections", "forwarded share"]:
        if topic not in titles:
            fail(f"dashboard has no panel about '{topic}'")
    ok(f"dashboard: {len(panels)} panels, unique ids, no overlaps, required topics present")


def check_alert_tests():
    """Every alert has a unit test in which it fires."""
    alerts = [r["alert"] for g in load_yaml_docs(ALERTS)[0]["groups"] for r in g["rules"]]
    tests = load_yaml_docs(os.path.join(REPO, "monitoring/alerts_test.yml"))[0]["tests"]
    fired = {a["alertname"] for t in tests for a in t.get("alert_rule_test", []) if a.get("exp_alerts")}
    missing = [a for a in alerts if a not in fired]
    if missing:
        fail(f"alerts without a firing unit test: {missing}")
    seed = {"CacheNodeDown", "HighErrorRate"}
    if not seed <= set(alerts):
        fail(f"the seed's alerts {seed - set(alerts)} are missing")
    ok(f"all {len(alerts)} alerts have a firing test in alerts_test.yml")


def check_metric_names_in_src():
    """Names used by alerts/dashboard that no source file mentions (warning only: the live check
    monitoring/check_live.sh is authoritative, and some metrics may land in src later)."""
    src = ""
    for path in glob.glob(os.path.join(REPO, "src/**/*.rs"), recursive=True):
        with open(path, encoding="utf-8") as f:
            src += f.read()
    missing = []
    for n in all_names():
        base = re.sub(r"_(bucket|sum|count)$", "", n)
        if n != "up" and f'"{n}' not in src and f'"{base}' not in src:
            missing.append(n)
    if missing:
        print(f"WARN metric names not found in src/ (yet?): {', '.join(missing)}")
    else:
        ok("every metric name used is exported somewhere in src/")


def node_check(cfg_text, label, scratch, env=None):
    """Validate a node config with the real binary, when one is available (env: extra variables,
    for configs that use ${VAR})."""
    binary = os.environ.get("CACHE_NODE_BIN")
    if not binary:
        return
    path = os.path.join(scratch, "cfg-" + re.sub(r"\W", "_", label) + ".yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(cfg_text)
    r = subprocess.run([binary, "--config", path, "--check"], capture_output=True, text=True,
                       env={**os.environ, **(env or {})})
    if r.returncode:
        fail(f"{label}: cache-node --check rejects it: {r.stdout}{r.stderr}")


def check_cluster_configs(kind, configs, services, scratch):
    """configs: node id -> (config text, port the service publishes). Peers must be the services."""
    seed_keys = set(yaml.safe_load(open(os.path.join(REPO, "config/node1.yaml"))))
    for node_id, (text, port) in configs.items():
        cfg = yaml.safe_load(text)
        node_check(text, f"{kind} {node_id}", scratch)
        # data_dir: where a deployment keeps its warm-restart snapshots (its own volume).
        if set(cfg) - {"data_dir"} != seed_keys - {"data_dir"}:
            fail(f"{kind} {node_id}: keys {sorted(cfg)} differ from config/node1.yaml's {sorted(seed_keys)}")
        if cfg["node_id"] != node_id or cfg["address"] != f":{port}":
            fail(f"{kind} {node_id}: node_id/address {cfg['node_id']} {cfg['address']} do not match port {port}")
        want = {n: f"{services[n][0]}:{services[n][1]}" for n in services}
        if cfg["cluster_nodes"] != want:
            fail(f"{kind} {node_id}: cluster_nodes {cfg['cluster_nodes']} != {want}")
    ok(f"{kind}: {len(configs)} node configs agree on peers, ports and keys")


def check_compose(scratch):
    compose = load_yaml_docs(os.path.join(REPO, "docker-compose.yml"))[0]
    configs, services = {}, {}
    for name, svc in compose["services"].items():
        cfg_arg = [a for a in svc["command"] if a.startswith("-config=")][0].split("=", 1)[1]
        path = os.path.join(REPO, cfg_arg)
        if not os.path.exists(path):
            fail(f"compose {name}: {cfg_arg} does not exist")
            continue
        text = open(path, encoding="utf-8").read()
        cfg = yaml.safe_load(text)
        port = cfg["address"].lstrip(":")
        # Published on the host's loopback only (docs/security.md, "What to bind where").
        if svc["ports"] != [f"127.0.0.1:{port}:{port}"] or svc["environment"]["CACHE_PORT"] != port:
            fail(f"compose {name}: ports/CACHE_PORT do not match 127.0.0.1:{port}:{port} "
                 f"(the config's port, published on loopback)")
        configs[cfg["node_id"]] = (text, port)
        services[cfg["node_id"]] = (name, port)
    check_cluster_configs("docker-compose", configs, services, scratch)


def check_k8s(scratch):
    docs = [d for p in sorted(glob.glob(os.path.join(REPO, "k8s/*.yaml"))) for d in load_yaml_docs(p)]
    cm = [d for d in docs if d["kind"] == "ConfigMap"][0]
    svcs = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    deps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    configs, services = {}, {}
    for name, dep in deps.items():
        pod = dep["spec"]["template"]["spec"]
        c = pod["containers"][0]
        key = c["command"][-1].split("/config/")[1]
        port = c["ports"][0]["containerPort"]
        svc = svcs.get(name)
        if not svc or svc["spec"]["selector"] != dep["spec"]["selector"]["matchLabels"] \
                or svc["spec"]["ports"][0]["port"] != port:
            fail(f"k8s {name}: no Service of the same name selecting it on port {port}")
        for probe in ("readinessProbe", "livenessProbe"):
            if c.get(probe, {}).get("httpGet", {}).get("path") != "/api/v1/health":
                fail(f"k8s {name}: {probe} must GET /api/v1/health")
        if not pod["securityContext"].get("runAsNonRoot") or "limits" not in c.get("resources", {}):
            fail(f"k8s {name}: needs runAsNonRoot and resource limits")
        text = cm["data"][key]
        node_id = yaml.safe_load(text)["node_id"]
        configs[node_id] = (text, str(port))
        services[node_id] = (name, str(port))
    check_cluster_configs("k8s", configs, services, scratch)
    for sts in (d for d in docs if d["kind"] == "StatefulSet"):
        name, pod = sts["metadata"]["name"], sts["spec"]["template"]["spec"]
        c = pod["containers"][0]
        svc = svcs.get(sts["spec"]["serviceName"], {}).get("spec", {})
        if svc.get("clusterIP") != "None" or not svc.get("publishNotReadyAddresses"):
            fail(f"k8s {name}: serviceName must be a headless Service publishing not-ready pods")
        if any(c.get(p, {}).get("httpGet", {}).get("path") != "/api/v1/health"
               for p in ("readinessProbe", "livenessProbe")) or "preStop" not in c.get("lifecycle", {}):
            fail(f"k8s {name}: needs probes on /api/v1/health and a preStop leave")
        cm_name = [v["configMap"]["name"] for v in pod["volumes"] if "configMap" in v][0]
        text = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == cm_name][0][
            "data"][c["command"][-1].split("/config/")[1]]
        for ordinal in (0, 2):  # one config for every pod: ${HOSTNAME} is the pod's name
            node_check(text, f"k8s {name}-{ordinal}", scratch, {"HOSTNAME": f"{name}-{ordinal}"})
        ok(f"k8s {name}: headless Service, probes, preStop, config loads for pods 0 and 2")


def check_dockerfile():
    try:
        import dockerfile  # the official BuildKit parser, compiled into a wheel
    except ImportError:
        fail("python package 'dockerfile' missing (pip install dockerfile)")
        return
    cmds = dockerfile.parse_file(os.path.join(REPO, "Dockerfile"))
    froms = [c.value[0] for c in cmds if c.cmd == "FROM"]
    if froms != ["rust:1-slim-bookworm", "debian:bookworm-slim"]:
        fail(f"Dockerfile stages {froms}")
    runs = " ".join(" ".join(c.value) for c in cmds if c.cmd == "RUN")
    if "cargo build --release --locked" not in runs:
        fail("Dockerfile does not run cargo build --release --locked")
    users = [c.value[0] for c in cmds if c.cmd == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        fail("Dockerfile runtime stage must end with a non-root USER")
    health = [c for c in cmds if c.cmd == "HEALTHCHECK"]
    if not health or "/api/v1/health" not in " ".join(health[-1].value):
        fail("Dockerfile needs a HEALTHCHECK on /api/v1/health")
    expose = [v for c in cmds if c.cmd == "EXPOSE" for v in c.value]
    if expose != ["8001", "8002", "8003"]:
        fail(f"Dockerfile EXPOSE {expose}")
    cmd = [c.value for c in cmds if c.cmd == "CMD"][-1]
    if list(cmd) != ["./cache-node", "-config=config/node1.yaml"]:
        fail(f"Dockerfile CMD {cmd}")
    # Every context path a COPY reads must exist and be let through by .dockerignore's allow-list.
    allowed = [l[1:].strip().rstrip("/") for l in open(os.path.join(REPO, ".dockerignore"))
               if l.startswith("!")]
    for c in cmds:
        if c.cmd == "COPY" and not any(f.startswith("--from") for f in c.flags):
            for src in c.value[:-1]:
                let_in = any(src.rstrip("/") == a or src.startswith(a + "/") for a in allowed)
                if not os.path.exists(os.path.join(REPO, src)) or not let_in:
                    fail(f"Dockerfile COPY {src}: missing, or excluded by .dockerignore")
    ok("Dockerfile: stages, locked release build, non-root user, health check, ports, CMD, context")


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "names":
        print("\n".join(all_names()))
    elif cmd == "exprs":
        for where, e in exprs():
            print(json.dumps({"where": where, "expr": e}))
    elif cmd == "static" and len(sys.argv) == 3:
        scratch = sys.argv[2]
        for check in (check_alert_tests, check_dashboard, check_metric_names_in_src,
                      check_dockerfile, lambda: check_promql(scratch),
                      lambda: check_compose(scratch), lambda: check_k8s(scratch)):
            try:
                check()
            except Exception as e:  # a malformed file must fail the check, not crash past it
                fail(f"{getattr(check, '__name__', 'check')}: {type(e).__name__}: {e}")
        if failures:
            print(f"{len(failures)} ops check(s) failed")
            sys.exit(1)
    else:
        print(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
