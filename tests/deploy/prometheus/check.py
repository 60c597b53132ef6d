#!/usr/bin/env python3
"""check.py: the Python half of tests/deploy/prometheus/run.sh (standard library only).

  check.py dashboard DASHBOARD.json
      the Grafana dashboard's model: unique panel ids, gridPos inside the 24 columns and no two
      panels overlapping, every panel but rows with a Prometheus datasource and targets that each
      have an expr and a unique refId, variables that exist.
  check.py config PROMETHEUS.yml KUBERNETES.yml OUT.yml METRICS_HOST:PORT
      writes the configuration Prometheus runs with in the test: deploy/prometheus/prometheus.yml
      with its target replaced by the relay's metrics address and 1 s intervals, plus the job of
      prometheus-kubernetes.yml renamed mesh-relay-k8s, its kubernetes_sd_configs replaced by one
      static target carrying the pod metadata labels that Kubernetes would give (annotations
      prometheus.io/scrape, /port, /path) and a wrong port, so that its relabelling is what makes
      the scrape work.
  check.py get URL
      prints the body of a GET (exit 1 unless 200).
  check.py wait PROMETHEUS_URL EXPR
      waits (30 s at most) until EXPR returns data.
  check.py live PROMETHEUS_URL DASHBOARD.json ALERTS.yml [EXPECT...]
      against the running Prometheus: the scrape targets are up, every rule of ALERTS.yml is
      loaded and evaluated without error, each EXPECT expression (a PromQL condition about the
      traffic the test made) returns data, then every PromQL expression of the dashboard (panel
      targets, after substituting its variables) and every operand of every alert condition
      returns data, and no NaN (see operands).
"""
import json
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

RATE_INTERVAL = "1m"  # what Grafana's $__rate_interval is with a 15 s scrape interval
GRAFANA_BUILTINS = {"__rate_interval", "__interval", "__range", "__interval_ms", "__range_s"}
OK = 0
FAILED = []


def result(ok, what, detail=""):
    global OK
    if ok:
        OK += 1
        print(f"ok - {what}{': ' + detail if detail else ''}")
    else:
        FAILED.append(what)
        print(f"not ok - {what}{': ' + detail if detail else ''}")


def finish():
    print(f"{OK} passed, {len(FAILED)} failed")
    return 1 if FAILED or OK == 0 else 0


# ---- the dashboard's model ---------------------------------------------------------------------


def all_panels(dash):
    for p in dash.get("panels", []):
        yield p
        for q in p.get("panels", []) or []:  # collapsed rows hold their panels
            yield q


def dashboard_vars(dash):
    return [v for v in dash.get("templating", {}).get("list", [])]


def var_query(v):
    q = v.get("query")
    return q.get("query", "") if isinstance(q, dict) else (q or "")


def referenced_vars(expr):
    return set(re.findall(r"\$\{?(\w+)", expr))


def check_dashboard(path):
    with open(path) as f:
        dash = json.load(f)
    result(dash.get("schemaVersion", 0) >= 36, "dashboard: schemaVersion >= 36 (Grafana 9/10/11)",
           str(dash.get("schemaVersion")))
    result(bool(dash.get("uid")) and bool(dash.get("title")), "dashboard: uid and title")
    vs = dashboard_vars(dash)
    names = {v.get("name") for v in vs}
    ds = [v for v in vs if v.get("type") == "datasource" and v.get("query") == "prometheus"]
    result(len(ds) == 1, "dashboard: a datasource variable of type prometheus")
    dsname = ds[0]["name"] if ds else None
    inst = [v for v in vs if v.get("name") == "instance"]
    result(len(inst) == 1 and "label_values(mesh_relay_build_info" in var_query(inst[0])
           and var_query(inst[0]).rstrip().endswith("instance)"),
           "dashboard: an instance variable from label_values(mesh_relay_build_info..., instance)")
    for v in vs:
        if v.get("type") == "query":
            d = v.get("datasource") or {}
            result(d.get("uid") == "${%s}" % dsname,
                   f"variable {v.get('name')}: on the datasource variable")
    ids, cells, exprs = set(), {}, 0
    for p in all_panels(dash):
        pid, title = p.get("id"), p.get("title", "?")
        where = f"panel {pid} ({title})"
        result(isinstance(pid, int) and pid not in ids, f"{where}: a unique id")
        ids.add(pid)
        g = p.get("gridPos") or {}
        good = all(isinstance(g.get(k), int) for k in "hwxy") and g["w"] > 0 and g["h"] > 0 \
            and g["x"] >= 0 and g["y"] >= 0 and g["x"] + g["w"] <= 24
        result(good, f"{where}: gridPos inside 24 columns", json.dumps(g))
        if good:
            clash = None
            for x in range(g["x"], g["x"] + g["w"]):
                for y in range(g["y"], g["y"] + g["h"]):
                    clash = clash or cells.get((x, y))
                    cells[(x, y)] = pid
            result(clash is None, f"{where}: overlaps no other panel",
                   f"panel {clash}" if clash else "")
        if p.get("type") == "row":
            continue
        d = p.get("datasource") or {}
        result(d.get("type") == "prometheus" and d.get("uid") == "${%s}" % dsname,
               f"{where}: datasource is the Prometheus variable", json.dumps(d))
        targets = p.get("targets") or []
        refids = [t.get("refId") for t in targets]
        result(len(targets) > 0 and len(set(refids)) == len(refids) and all(refids),
               f"{where}: targets with unique refIds")
        for t in targets:
            expr = t.get("expr", "")
            exprs += 1
            result(bool(expr.strip()), f"{where} {t.get('refId')}: an expr")
            unknown = referenced_vars(expr) - names - GRAFANA_BUILTINS
            result(not unknown, f"{where} {t.get('refId')}: variables defined",
                   ", ".join(sorted(unknown)))
            td = t.get("datasource")
            if td is not None:
                result(td.get("uid") == "${%s}" % dsname,
                       f"{where} {t.get('refId')}: target datasource")
    result(exprs >= 20, "dashboard: PromQL targets", str(exprs))
    return dash


# ---- the configuration Prometheus runs with ----------------------------------------------------


def replace_once(text, old, new, what):
    n = text.count(old)
    if n != 1:
        sys.exit(f"check.py config: expected {old!r} once in {what}, found {n} times")
    return text.replace(old, new)


def make_config(static_path, k8s_path, out_path, target):
    with open(static_path) as f:
        cfg = f.read()
    cfg = replace_once(cfg, "- localhost:9464", f"- {target}", static_path)
    cfg = replace_once(cfg, "scrape_interval: 15s", "scrape_interval: 1s", static_path)
    cfg = replace_once(cfg, "evaluation_interval: 15s", "evaluation_interval: 1s", static_path)
    with open(k8s_path) as f:
        k8s = f.read()
    job = k8s[k8s.index("scrape_configs:") + len("scrape_configs:"):]
    job = replace_once(job, "- job_name: mesh-relay\n", "- job_name: mesh-relay-k8s\n", k8s_path)
    host, port = target.rsplit(":", 1)
    static = (
        "    static_configs:\n"
        f"      - targets: ['{host}:1']\n"  # a pod's address; the annotation gives the port
        "        labels:\n"
        "          __meta_kubernetes_namespace: relays\n"
        "          __meta_kubernetes_pod_name: mesh-relay-0\n"
        "          __meta_kubernetes_pod_label_app_kubernetes_io_name: mesh-relay\n"
        "          __meta_kubernetes_pod_annotation_prometheus_io_scrape: 'true'\n"
        f"          __meta_kubernetes_pod_annotation_prometheus_io_port: '{port}'\n"
        "          __meta_kubernetes_pod_annotation_prometheus_io_path: /metrics\n")
    job = replace_once(job, "    kubernetes_sd_configs:\n      - role: pod\n", static, k8s_path)
    with open(out_path, "w") as f:
        f.write(cfg.rstrip("\n") + "\n" + job.lstrip("\n"))


# ---- Prometheus' HTTP API ----------------------------------------------------------------------


def http_get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def api(base, path, **params):
    url = base.rstrip("/") + path + ("?" + urllib.parse.urlencode(params) if params else "")
    try:
        _, body = http_get(url)
    except urllib.error.HTTPError as e:
        body = e.read()
    except OSError as e:
        return {"status": "error", "error": str(e)}
    try:
        return json.loads(body)
    except ValueError:
        return {"status": "error", "error": body[:200].decode(errors="replace")}


def query(base, expr):
    return api(base, "/api/v1/query", query=expr)


def nonempty(r):
    return r.get("status") == "success" and len(r.get("data", {}).get("result", [])) > 0


def has_data(base, expr):
    r = query(base, expr)
    return nonempty(r), describe(r)


def has_numbers(r):
    """Non-empty, and no NaN (a ratio or quantile of nothing): the test's traffic is inside
    every rate window, so each expression has something to say."""
    return nonempty(r) and all(s.get("value", [0, "NaN"])[1] != "NaN" for s in r["data"]["result"])


def describe(r):
    if r.get("status") != "success":
        return f"{r.get('errorType', '')} {r.get('error', '')}".strip()
    res = r["data"]["result"]
    if not res:
        return "no data"
    vals = [s["value"][1] for s in res if "value" in s]
    nan = sum(v == "NaN" for v in vals)
    return f"{len(res)} series" + (f" ({nan} NaN)" if nan else "")


# ---- PromQL: the operands of an alert condition ------------------------------------------------

MODIFIERS = re.compile(r"^\s*(bool\b)?\s*((on|ignoring)\s*\([^)]*\))?"
                       r"\s*((group_left|group_right)\b\s*(\([^)]*\))?)?\s*")
NUMBER = re.compile(r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$")


def top_level_split(expr, ops):
    """Splits expr at the operators in ops that stand outside parentheses, brackets, braces and
    strings. Word operators (and, or, unless) match whole words only."""
    parts, depth, quote, start, i = [], 0, None, 0, 0
    while i < len(expr):
        c = expr[i]
        if quote:
            if c == "\\":
                i += 2
                continue
            if c == quote:
                quote = None
        elif c in "\"'`":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0:
            for op in ops:
                if not expr.startswith(op, i):
                    continue
                if op[0].isalpha():
                    before = expr[i - 1] if i else " "
                    after = expr[i + len(op)] if i + len(op) < len(expr) else " "
                    if before.isalnum() or before == "_" or after.isalnum() or after == "_":
                        continue
                parts.append(expr[start:i])
                i += len(op)
                start = i
                break
            else:
                i += 1
                continue
            continue
        i += 1
    parts.append(expr[start:])
    return parts


def wraps(e):
    """e is one parenthesised expression: its first parenthesis closes at its last character."""
    depth, quote, i = 0, None, 0
    while i < len(e):
        c = e[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = None
        elif c in "\"'`":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0 and i != len(e) - 1:
                return False
        i += 1
    return e.startswith("(") and e.endswith(")")


def strip_parens(e):
    e = e.strip()
    while wraps(e):
        e = e[1:-1].strip()
    return e


def operands(expr):
    """The series an alert's condition is made of: the expression split at its top-level set
    operators (and, or, unless) and comparisons, without their matching modifiers and without
    number literals; absent(X) stands for X. Each must return data from a Prometheus that scrapes
    a healthy relay, whether or not the alert fires."""
    out = []
    for part in top_level_split(expr, ["and", "or", "unless"]):
        part = MODIFIERS.sub("", part, count=1)
        for side in top_level_split(part, ["==", "!=", ">=", "<=", ">", "<"]):
            side = strip_parens(MODIFIERS.sub("", side, count=1))
            if not side or NUMBER.match(side):
                continue
            m = re.fullmatch(r"absent(_over_time)?\s*\((.*)\)", side, re.S)
            out.append(strip_parens(m.group(2)) if m else side)
    return out


# ---- live checks -------------------------------------------------------------------------------


def wait_for(what, fn, secs):
    deadline = time.monotonic() + secs
    last = None
    while True:
        ok, last = fn()
        if ok or time.monotonic() > deadline:
            result(ok, what, last or "")
            return ok
        time.sleep(0.5)


def count_alert_rules(alerts_path):
    with open(alerts_path) as f:
        return len(re.findall(r"^\s*-\s*alert:\s*\S", f.read(), re.M))


def substitute(expr, values):
    expr = expr.replace("${__rate_interval}", RATE_INTERVAL)
    expr = expr.replace("$__rate_interval", RATE_INTERVAL)
    for name, value in values.items():
        expr = expr.replace("${%s}" % name, value).replace("$" + name, value)
    return expr


def grafana_escape(value):
    """A label value in a regex inside a PromQL string, escaped as Grafana's Prometheus data
    source does (a backslash, doubled inside the string literal, before regex metacharacters)."""
    value = value.replace("\\", "\\\\\\\\")
    return re.sub(r"([$^*{}\[\]'+?.()|])", r"\\\\\1", value)


def resolve_vars(base, dash):
    """Grafana's label_values(SELECTOR, LABEL) for each query variable, in order, as Grafana's
    "All" of a multi-value variable: the values joined as a regex alternation."""
    values = {}
    for v in dashboard_vars(dash):
        if v.get("type") != "query":
            continue
        q = substitute(var_query(v), values)
        m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", q, re.S)
        if not m:
            result(False, f"variable {v['name']}: a label_values(SELECTOR, LABEL) query", q)
            continue
        r = query(base, m.group(1))
        series = r.get("data", {}).get("result", [])
        got = sorted({s["metric"].get(m.group(2)) for s in series} - {None})
        result(bool(got), f"variable {v['name']}: {q}", ", ".join(got) or describe(r))
        values[v["name"]] = "(" + "|".join(grafana_escape(g) for g in got) + ")" if got else ""
    return values


def check_live(base, dash_path, alerts_path, expects):
    with open(dash_path) as f:
        dash = json.load(f)

    def targets_up():
        r = api(base, "/api/v1/targets", state="active")
        ts = r.get("data", {}).get("activeTargets", [])
        up = {t["labels"].get("job"): t for t in ts if t.get("health") == "up"}
        return {"mesh-relay", "mesh-relay-k8s"} <= set(up), "; ".join(
            f"{t['labels'].get('job')} {t['scrapeUrl']} {t['health']} {t.get('lastError', '')}"
            for t in ts)
    wait_for("targets: mesh-relay and mesh-relay-k8s scraped, health up", targets_up, 30)

    r = api(base, "/api/v1/targets", state="active")
    k8s = [t for t in r.get("data", {}).get("activeTargets", [])
           if t["labels"].get("job") == "mesh-relay-k8s"]
    labels = k8s[0]["labels"] if k8s else {}
    result(len(k8s) == 1 and labels.get("namespace") == "relays"
           and labels.get("pod") == "mesh-relay-0" and k8s[0]["scrapeUrl"].endswith("/metrics")
           and ":1/" not in k8s[0]["scrapeUrl"],
           "prometheus-kubernetes.yml's relabelling: the annotated port and path, namespace and "
           "pod labels", k8s[0]["scrapeUrl"] if k8s else "no target")

    want = count_alert_rules(alerts_path)

    def rules_evaluated():
        r = api(base, "/api/v1/rules", type="alert")
        rules = [x for g in r.get("data", {}).get("groups", []) for x in g.get("rules", [])]
        done = [x for x in rules if not x.get("lastEvaluation", "").startswith("0001")]
        return len(rules) == want and len(done) == want, \
            f"{len(done)} of {len(rules)} loaded rules evaluated, {want} in {alerts_path}"
    wait_for("rules: every alert of alerts.yml loaded and evaluated", rules_evaluated, 30)
    # (an evaluation before the first scrape finds no up series: MeshRelayTargetMissing is
    # pending until the next one)
    for name in ("MeshRelayDown", "MeshRelayTargetMissing"):
        def inactive(name=name):
            r = api(base, "/api/v1/rules", type="alert")
            st = [x.get("state") for g in r.get("data", {}).get("groups", [])
                  for x in g.get("rules", []) if x["name"] == name]
            return st == ["inactive"], ", ".join(map(str, st)) or "no such rule"
        wait_for(f"rule {name}: inactive while the relay is scraped", inactive, 10)
    r = api(base, "/api/v1/rules", type="alert")
    rules = [x for g in r.get("data", {}).get("groups", []) for x in g.get("rules", [])]
    for x in rules:
        result(x.get("health") == "ok" and not x.get("lastError"), f"rule {x['name']}: evaluates",
               f"state {x.get('state')}"
               + (f", error {x.get('lastError')}" if x.get("lastError") else ""))

    for e in expects:
        wait_for(f"traffic seen by Prometheus: {e}", lambda e=e: has_data(base, e), 30)

    values = resolve_vars(base, dash)
    for p in all_panels(dash):
        for t in p.get("targets", []) or []:
            expr = substitute(t.get("expr", ""), values)
            r = query(base, expr)
            result(has_numbers(r), f"dashboard \"{p.get('title')}\" {t.get('refId')}: {expr}",
                   describe(r))

    for x in rules:
        full = query(base, x["query"])
        result(full.get("status") == "success", f"alert {x['name']}: the whole expression runs",
               describe(full))
        ops = operands(x["query"])
        result(len(ops) > 0, f"alert {x['name']}: has operands", str(len(ops)))
        for o in ops:
            r = query(base, o)
            result(has_numbers(r), f"alert {x['name']} operand: {o}", describe(r))


def main(argv):
    if len(argv) >= 2 and argv[1] == "dashboard":
        check_dashboard(argv[2])
        return finish()
    if len(argv) == 6 and argv[1] == "config":
        make_config(*argv[2:])
        return 0
    if len(argv) == 3 and argv[1] == "get":
        try:
            status, body = http_get(argv[2])
        except OSError as e:
            sys.stderr.write(f"check.py get {argv[2]}: {e}\n")
            return 1
        sys.stdout.write(body.decode())
        return 0 if status == 200 else 1
    if len(argv) == 4 and argv[1] == "wait":
        ok = wait_for(f"Prometheus has: {argv[3]}", lambda: has_data(argv[2], argv[3]), 30)
        return 0 if ok else 1
    if len(argv) >= 5 and argv[1] == "live":
        check_live(argv[2], argv[3], argv[4], argv[5:])
        return finish()
    if len(argv) == 3 and argv[1] == "operands":  # for a look by hand
        print("\n".join(operands(argv[2])))
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
