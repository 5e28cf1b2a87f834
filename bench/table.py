#!/usr/bin/env python3
"""Turn a bench/run.sh result directory into the markdown table of docs/benchmarks.md.

    python3 bench/table.py bench/results/<run>     # prints markdown, also writes <run>/table.md

Inputs written by run.sh:
  rows.tsv          id, group, label, kind (wrk|redis|cc), compare (row id or -), pipelined (0/1)
  raw/ID.rN.out     the load generator's output of run N
  raw/ID.rN.meta    key=value: cpu_ticks (server CPU over the run), clk_tck, requests (redis -n),
                    fwd (forwarded requests counted by the node the load went to)
  memory.tsv        target, entries, rss_before_kb, rss_after_kb
  manifest.txt      hardware and software, printed as is
"""

import json
import re
import statistics
import sys
from pathlib import Path

# A bare monoio responder (httparse, fixed body), measured earlier on the same machine kind, pinned:
# server µs/req per driver, used only when the run has no bare_* rows of its own. The GET-hit
# target is "no worse than the bare responder".
BARE_MONOIO_US = {"io_uring": 13.0, "epoll": 10.0}


def parse_out(kind, text, meta):
    """requests, rps, p50 µs, p99 µs, errors of one run (None when the output is unusable)."""
    if kind == "wrk":
        m = re.search(r"^WRK_JSON (\{.*\})$", text, re.M)
        if not m:
            return None
        d = json.loads(m.group(1))
        errors = sum(d["errors"].values())
        return d["requests"], d["rps"], d["p50_us"], d["p99_us"], errors
    if kind == "redis":
        for line in text.splitlines():
            cols = [c.strip('"') for c in line.strip().split(",")]
            if cols and cols[0].upper().startswith("GET") and len(cols) >= 7:
                rps = float(cols[1])
                return int(meta.get("requests", 0)), rps, float(cols[4]) * 1000, float(cols[6]) * 1000, 0
        return None
    if kind == "cc":
        try:
            d = json.loads(text[text.index("{"):])
        except (ValueError, json.JSONDecodeError):
            return None
        lat = d["latency_us"]
        return d["requests"], d["throughput_rps"], lat["p50"], lat["p99"], d["errors_total"]
    return None


def read_meta(path):
    meta = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                meta[k.strip()] = v.strip()
    return meta


def load_rows(run):
    rows = []
    for line in (run / "rows.tsv").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        rid, group, label, kind, compare, pipelined = line.split("\t")[:6]
        runs = []
        for out in sorted((run / "raw").glob(f"{rid}.r*.out")):
            meta = read_meta(out.with_suffix(".meta"))
            parsed = parse_out(kind, out.read_text(errors="replace"), meta)
            if not parsed:
                continue
            requests, rps, p50, p99, errors = parsed
            ticks = float(meta.get("cpu_ticks", "nan"))
            clk = float(meta.get("clk_tck", "100"))
            us = ticks / clk * 1e6 / requests if requests else float("nan")
            fwd = float(meta["fwd"]) / requests if "fwd" in meta and requests else None
            runs.append({"requests": requests, "rps": rps, "p50": p50, "p99": p99,
                         "errors": errors, "us": us, "fwd": fwd})
        rows.append({"id": rid, "group": group, "label": label, "kind": kind,
                     "compare": compare, "pipelined": pipelined == "1", "runs": runs})
    return rows


def med(values):
    values = [v for v in values if v is not None and v == v]
    return statistics.median(values) if values else None


def summarize(row):
    r = row["runs"]
    if not r:
        return None
    rps = [x["rps"] for x in r]
    return {"rps": med(rps), "min": min(rps), "max": max(rps), "p50": med([x["p50"] for x in r]),
            "p99": med([x["p99"] for x in r]), "us": med([x["us"] for x in r]),
            "errors": sum(x["errors"] for x in r), "fwd": med([x["fwd"] for x in r]), "n": len(r)}


def n0(v):
    return "—" if v is None else f"{v:,.0f}"


def n1(v):
    return "—" if v is None else f"{v:.1f}" if v < 100 else f"{v:,.0f}"


def table(run):
    rows = load_rows(run)
    by_id = {row["id"]: row for row in rows}
    for row in rows:
        row["s"] = summarize(row)
    out = []
    out.append("| scenario | target | req/s median (min..max) | p50 µs | p99 µs | server µs/req | comparison |")
    out.append("|---|---|---|---|---|---|---|")
    for row in rows:
        s = row["s"]
        if not s:
            out.append(f"| {row['group']} | {row['label']} | no result | | | | |")
            continue
        lat_ok = not row["pipelined"]
        cmp = ""
        other = by_id.get(row["compare"])
        if other and other.get("s"):
            o = other["s"]
            if row["group"] == "cluster" and s["fwd"]:
                # All nodes' CPU per client request = (1 - f) * local + f * forwarded, so the cost
                # of one forwarded GET (both hops) follows from the single-node row.
                fwd_cost = o["us"] + (s["us"] - o["us"]) / s["fwd"]
                cmp = (f"{s['fwd'] * 100:.0f}% forwarded; CPU/req of the 3 nodes together "
                       f"×{s['us'] / o['us']:.2f} vs one node alone ({o['us']:.1f} µs), so a forwarded "
                       f"GET costs ≈{fwd_cost:.1f} µs = ×{fwd_cost / o['us']:.2f} a local one")
            elif row["label"].startswith("ours"):
                cmp = (f"this ÷ \"{other['label']}\": req/s ×{s['rps'] / o['rps']:.2f}, "
                       f"CPU/req ×{s['us'] / o['us']:.2f}")
            else:
                cmp = (f"\"{other['label']}\" ÷ this: req/s ×{o['rps'] / s['rps']:.2f}, "
                       f"CPU/req ×{o['us'] / s['us']:.2f}")
        errs = f" ({s['errors']} errors)" if s["errors"] else ""
        out.append(
            f"| {row['group']} | {row['label']}{errs} | {n0(s['rps'])} ({n0(s['min'])}..{n0(s['max'])}) | "
            f"{n1(s['p50']) if lat_ok else '—'} | {n1(s['p99']) if lat_ok else '—'} | {n1(s['us'])} | {cmp} |")
    mem = run / "memory.tsv"
    mem_rows = []
    if mem.exists():
        out.append("")
        out.append("| memory (1 node, 1 thread) | entries | RSS before | RSS after | bytes per entry |")
        out.append("|---|---|---|---|---|")
        for line in mem.read_text().splitlines():
            if not line.strip():
                continue
            target, entries, before, after = line.split("\t")[:4]
            entries, before, after = int(entries), int(before), int(after)
            per = (after - before) * 1024 / entries if entries else float("nan")
            mem_rows.append((target, per))
            out.append(f"| {target} | {entries:,} | {before / 1024:,.1f} MiB | {after / 1024:,.1f} MiB | {per:.1f} |")
    out.append("")
    out.extend(targets(rows, by_id, mem_rows))
    return "\n".join(out)


def targets(rows, by_id, mem_rows):
    """The issue's targets, checked against this run."""
    def s(rid):
        row = by_id.get(rid)
        return row["s"] if row else None

    lines = ["Targets (from this run):", ""]
    nginx = s("nginx_hit")
    for rid, drv, bare in (("ours_uring_hit", "io_uring", "bare_uring_hit"),
                           ("ours_epoll_hit", "epoll", "bare_epoll_hit")):
        o = s(rid)
        if not o:
            continue
        b = s(bare)
        floor = round(b["us"], 1) if b else BARE_MONOIO_US[drv]
        where = "in this run" if b else "(benchmarking.md)"
        lines.append(f"- GET hit, {drv}: {o['us']:.1f} µs/req vs bare monoio {floor} {where} "
                     f"{'✓' if o['us'] <= floor else '✗'}; req/s {o['rps']:,.0f} vs nginx "
                     f"{nginx['rps']:,.0f} {'✓' if nginx and o['rps'] >= nginx['rps'] else '✗'}; "
                     f"p99 {o['p99']:.0f} µs {'✓' if o['p99'] <= 1000 else '✗'}"
                     if nginx else f"- GET hit, {drv}: {o['us']:.1f} µs/req (no nginx figure)")
    redis16 = s("redis_p16")
    for rid, drv in (("ours_uring_p16", "io_uring"), ("ours_epoll_p16", "epoll")):
        o = s(rid)
        if o and redis16:
            lines.append(f"- pipelined x16, {drv}: {o['rps']:,.0f} req/s vs Redis -P 16 {redis16['rps']:,.0f} "
                         f"{'✓' if o['rps'] >= redis16['rps'] else '✗'}")
    c, local = s("cluster_get"), s("ours_uniform")
    if c and local and c["fwd"]:
        cost = local["us"] + (c["us"] - local["us"]) / c["fwd"]
        lines.append(f"- forwarded GET: {cost / local['us']:.2f}× a local one "
                     f"{'✓' if cost < 2 * local['us'] else '✗'} (target: well under 2×)")
    ours = [p for t, p in mem_rows if t.startswith("ours")]
    red = [p for t, p in mem_rows if t.startswith("redis")]
    if ours and red:
        lines.append(f"- memory per entry: ours {ours[0]:.0f} B vs Redis {red[0]:.0f} B "
                     f"{'✓' if ours[0] < red[0] else '✗'}")
    return lines


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    run = Path(sys.argv[1])
    md = table(run)
    manifest = run / "manifest.txt"
    text = (manifest.read_text() if manifest.exists() else "") + "\n" + md + "\n"
    (run / "table.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
