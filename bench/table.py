#!/usr/bin/env python3
"""Turn a bench/run.sh result directory into the markdown table of docs/benchmarks.md.

    python3 bench/table.py bench/results/<run>     # prints markdown, also writes <run>/table.md

Inputs written by run.sh:
  rows.tsv          id, group, label, kind (wrk|redis|cc), compare (row id or -), pipelined (0/1)
  raw/ID.rN.out     the load generator's output of run N
  raw/ID.rN.meta    key=value: cpu_ticks (server CPU over the run), clk_tck, requests (redis -n),
                    fwd (forwarded requests counted by the node the load went to), switches
                    (voluntary context switches of the server's threads: parks), client_ticks
                    (the load generator's CPU over the run), client_cpus (its threads)
  memory.tsv        target, entries, rss_before_kb, rss_after_kb
  manifest.txt      hardware and software, printed as is
  flags.tsv         the flags group's set-ups (one tag a line; flags.meta: default=TAG)
  hop.txt           bench/hop.rs's output (hop group)
  wake.txt          bench/wake.rs's output (hop group)
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

# The "before" figures of issue 13 (2026-12-02, same machine kind), shown next to this run's.
ISSUE13_BEFORE = {
    "colo_shipped": 31_000,   # req/s, shipped 3-node configs, 1000 uniform keys via node 1
    "colo_threads1": 70_000,  # the same with threads: 1 on each node
    "hop_idle_us": 47.0,      # a lone mesh round trip
    "threads2_cpu": 1.3,      # threads: 2 ÷ threads: 1 uniform-GET CPU/req (12-14 vs ~10 µs)
}


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
        for out in sorted((run / "raw").glob(f"{rid}.r*.out"), key=round_of):
            meta = read_meta(out.with_suffix(".meta"))
            parsed = parse_out(kind, out.read_text(errors="replace"), meta)
            if not parsed:
                continue
            requests, rps, p50, p99, errors = parsed
            ticks = float(meta.get("cpu_ticks", "nan"))
            clk = float(meta.get("clk_tck", "100"))
            us = ticks / clk * 1e6 / requests if requests else float("nan")
            fwd = float(meta["fwd"]) / requests if "fwd" in meta and requests else None
            load = float(meta["load"]) if "load" in meta else None
            parks = float(meta["switches"]) / requests if "switches" in meta and requests else None
            client = (float(meta["client_ticks"]) / clk * 1e6 / requests
                      if "client_ticks" in meta and requests else None)
            client_cpus = int(meta.get("client_cpus", "1"))
            runs.append({"round": round_of(out), "requests": requests, "rps": rps, "p50": p50, "p99": p99,
                         "errors": errors, "us": us, "fwd": fwd, "load": load, "parks": parks,
                         "client_us": client, "client_cpus": client_cpus})
        rows.append({"id": rid, "group": group, "label": label, "kind": kind,
                     "compare": compare, "pipelined": pipelined == "1", "runs": runs})
    return rows


# A load generator busy this share of its CPUs is at its ceiling (what is left is its waits in
# epoll between replies).
CLIENT_CEILING = 0.95


def round_of(out):
    """The round of a raw output file, `ID.rN.out` -> N (sorted by number: r10 after r9)."""
    m = re.search(r"\.r(\d+)\.out$", out.name)
    return int(m.group(1)) if m else 0


def by_round(a, b, key):
    """" (round by round ×lo..×hi, median ×m)": row a's figure over row b's, each round's pair
    measured back to back (run_queued interleaves the rows of a group), so a load that drifts
    across the run moves both figures of a pair alike; beside the ratio of the two medians,
    which the verdicts use."""
    if not a or not b:
        return ""
    theirs = {x["round"]: x[key] for x in b["runs"]}
    ratios = [x[key] / theirs[x["round"]] for x in a["runs"]
              if theirs.get(x["round"]) and x[key] == x[key]]
    if len(ratios) < 2:
        return ""
    return (f" (round by round ×{min(ratios):.2f}..×{max(ratios):.2f}, "
            f"median ×{statistics.median(ratios):.2f})")


def client_note(ours, peer, peer_name, what=""):
    """"; load generator busy 99 % (ours) and 98 % (nginx)": how much of its CPU the load
    generator used in the two rows. Near 100 % in both, req/s is the generator's ceiling, not
    the servers' (a closed loop waits on its slowest part); compare the servers' CPU then."""
    if not ours or not peer or ours.get("client_busy") is None or peer.get("client_busy") is None:
        return ""
    a, b = ours["client_busy"], peer["client_busy"]
    verdict = ": the load generator is the limit" if min(a, b) >= CLIENT_CEILING else ""
    return f"; load generator busy{what} {a:.0%} (ours) and {b:.0%} ({peer_name}){verdict}"


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
            "errors": sum(x["errors"] for x in r), "fwd": med([x["fwd"] for x in r]), "n": len(r),
            "parks": med([x.get("parks") for x in r]),
            "client_us": med([x.get("client_us") for x in r]),
            # The load generator's share of its CPUs: its CPU per request times the requests a
            # second, over its threads (1.0 = every thread busy all the time: at its ceiling).
            "client_busy": med([x["client_us"] * x["rps"] / 1e6 / x.get("client_cpus", 1)
                                for x in r if x.get("client_us")]),
            "load": [x["load"] for x in r if x.get("load") is not None]}


def n0(v):
    return "—" if v is None else f"{v:,.0f}"


def n1(v):
    # Below 1 (server µs per pipelined request) one decimal hid the differences the rows
    # compare: 0.50 and 0.37 both printed as 0.5 and 0.4.
    if v is None:
        return "—"
    return f"{v:.2f}" if v < 1 else f"{v:.1f}" if v < 100 else f"{v:,.0f}"


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
            elif row["label"].startswith("ours") or row["group"] in ("colocated", "zipf"):
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
    out.extend(flags_table(run, by_id))
    out.extend(hop_table(run))
    out.append("")
    out.extend(targets(rows, by_id, mem_rows))
    out.extend(perf_targets(run, by_id))
    return "\n".join(out)


def load_range(rows):
    """1-minute load average over the runs of these rows, "min..max" (run.sh records it)."""
    loads = [v for row in rows if row and row.get("s") for v in row["s"]["load"]]
    return f"{min(loads):.1f}..{max(loads):.1f}" if loads else "?"


def flags_table(run, by_id):
    """The flags group side by side: one line per ring set-up (and epoll)."""
    f = run / "flags.tsv"
    if not f.exists():
        return []
    tags = [t for t in f.read_text().split() if t]
    default = read_meta(run / "flags.meta").get("default", "coop")

    def s(rid):
        row = by_id.get(rid)
        return row["s"] if row and row.get("s") else None

    nginx_hit, nginx_p16 = s("flags_nginx_hit"), s("flags_nginx_p16")
    epoll_hit, epoll_p16 = s("flags_epoll_hit_ours"), s("flags_epoll_p16_ours")
    used = [by_id.get(i) for i in by_id if i.startswith("flags_")]
    out = ["", f"Ring set-ups (flags group, rows interleaved; load average {load_range(used)}; "
               f"µs = server CPU per request):", "",
           "| set-up | GET hit req/s | µs | ÷ nginx | ÷ epoll | bare GET req/s | µs | "
           "pipelined req/s | µs | ÷ epoll | bare pipelined req/s | µs | ours ÷ bare CPU |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def ratio(a, b, key="rps"):
        return f"×{a[key] / b[key]:.2f}" if a and b and b[key] else "—"

    for t in tags:
        oh, bh = s(f"flags_{t}_hit_ours"), s(f"flags_{t}_hit_bare")
        op, bp = s(f"flags_{t}_p16_ours"), s(f"flags_{t}_p16_bare")
        name = f"**{t}** (default)" if t == default else t
        out.append(
            f"| {name} | {n0(oh and oh['rps'])} | {n1(oh and oh['us'])} | {ratio(oh, nginx_hit)} | "
            f"{ratio(oh, epoll_hit)} | {n0(bh and bh['rps'])} | {n1(bh and bh['us'])} | "
            f"{n0(op and op['rps'])} | {n1(op and op['us'])} | {ratio(op, epoll_p16)} | "
            f"{n0(bp and bp['rps'])} | {n1(bp and bp['us'])} | {ratio(op, bp, 'us')} |")
    if nginx_hit:
        out.append(f"| nginx | {n0(nginx_hit['rps'])} | {n1(nginx_hit['us'])} | | | | | "
                   f"{n0(nginx_p16 and nginx_p16['rps'])} | {n1(nginx_p16 and nginx_p16['us'])} | | | | |")
    return out


def hop_lines(run, name="hop.txt"):
    """(case, ns/op) from bench/hop.rs's (or bench/wake.rs's) output."""
    f = run / name
    if not f.exists():
        return []
    cases = []
    for line in f.read_text().splitlines():
        m = re.match(r"^(.*?)\s{2,}([\d,.]+)\s*(µs|ns)/op", line)
        if m:
            v = float(m.group(2).replace(",", ""))
            cases.append((m.group(1).strip(), v * (1000 if m.group(3) == "µs" else 1)))
    return cases


def hop_table(run):
    cases = hop_lines(run)
    if not cases:
        return []
    out = ["", "Cross-core hop (bench/hop.rs, median ns per message):", "",
           "| case | ns/op |", "|---|---|"]
    out.extend(f"| {c} | {v:,.0f} |" for c, v in cases)
    wake = hop_lines(run, "wake.txt")
    if wake:
        out += ["", "Waking a sleeping thread on the other CPU (bench/wake.rs, median ns per round trip; "
                "'CPU of both threads': CPU time per round trip):", "", "| case | ns |", "|---|---|"]
        out.extend(f"| {c} | {v:,.0f} |" for c, v in wake)
    return out


def other_generator(default, s, rr):
    """The flags group's rows under cache-client bench (bench/perf.sh flags_other_generator):
    default ÷ epoll and ÷ nginx req/s per generator driver, beside the verdicts, not one."""
    lines = []
    for gen in ("epoll", "uring"):
        parts = []
        for kind, name in (("hit", "GET hit"), ("p16", "pipelined")):
            d = f"flags_{default}_{kind}_cc_{gen}"
            # nginx answers a pipelined batch one request per round of its event loop (164k
            # req/s under wrk too): no peer for pipelining, as in the verdicts.
            for peer in ("epoll", "nginx") if kind == "hit" else ("epoll",):
                p = f"flags_{peer}_{kind}_cc_{gen}"
                if s(d) and s(p):
                    parts.append(f"{name} ÷ {peer} ×{s(d)['rps'] / s(p)['rps']:.2f}{rr(d, p)}")
        if parts:
            lines.append(f"  under cache-client bench ({gen} driver; not a verdict): " + "; ".join(parts))
    return lines


def perf_targets(run, by_id):
    """Issue 13's targets, checked against this run's flags/colocated/hop/zipf rows."""
    def s(rid):
        row = by_id.get(rid)
        return row["s"] if row and row.get("s") else None

    def rr(a, b, key="rps"):
        return by_round(by_id.get(a), by_id.get(b), key)

    lines = []
    default = read_meta(run / "flags.meta").get("default", "coop")
    d_hit, e_hit, n_hit = s(f"flags_{default}_hit_ours"), s("flags_epoll_hit_ours"), s("flags_nginx_hit")
    d_p16, e_p16, b_p16 = s(f"flags_{default}_p16_ours"), s("flags_epoll_p16_ours"), s(f"flags_{default}_p16_bare")
    if d_hit and e_hit and d_p16 and e_p16:
        ok = d_hit["rps"] >= e_hit["rps"] and d_p16["rps"] >= e_p16["rps"]
        lines.append(f"- default driver (io_uring, {default}) ≥ epoll: GET hit {d_hit['rps']:,.0f} vs "
                     f"{e_hit['rps']:,.0f}{rr(f'flags_{default}_hit_ours', 'flags_epoll_hit_ours')}, "
                     f"pipelined {d_p16['rps']:,.0f} vs {e_p16['rps']:,.0f}"
                     f"{rr(f'flags_{default}_p16_ours', 'flags_epoll_p16_ours')} {'✓' if ok else '✗'}")
        lines.append(f"  (CPU per request: GET hit {d_hit['us']:.1f} vs {e_hit['us']:.1f} µs, pipelined "
                     f"{d_p16['us']:.2f} vs {e_p16['us']:.2f} µs"
                     f"{client_note(d_hit, e_hit, 'epoll', ', GET hit')}"
                     f"{client_note(d_p16, e_p16, 'epoll', ', pipelined')})")
    lines.extend(other_generator(default, s, rr))
    if d_hit and n_hit:
        r = d_hit["rps"] / n_hit["rps"]
        lines.append(f"- GET hit ≥ 1.1× nginx: ×{r:.2f} {'✓' if r >= 1.1 else '✗'}"
                     f"{rr(f'flags_{default}_hit_ours', 'flags_nginx_hit')}; CPU per request "
                     f"{d_hit['us']:.1f} vs {n_hit['us']:.1f} µs{client_note(d_hit, n_hit, 'nginx')}")
    if d_p16 and b_p16:
        r = d_p16["us"] / b_p16["us"]
        lines.append(f"- pipelined CPU/req ≤ 1.3× the bare responder ({default} ring both): "
                     f"{d_p16['us']:.2f} vs {b_p16['us']:.2f} µs = ×{r:.2f} {'✓' if r <= 1.3 else '✗'}"
                     f"{rr(f'flags_{default}_p16_ours', f'flags_{default}_p16_bare', 'us')}")
        same = s("flags_same_head_p16")
        if same:
            lines.append(f"  (the bare responder sending our head's bytes: {same['us']:.2f} µs, ours ÷ it "
                         f"×{d_p16['us'] / same['us']:.2f}: what is left is our user-space work)")
    c, c1, v1 = s("colo_shipped"), s("colo_threads1"), s("colo_v1")
    if c:
        before = ISSUE13_BEFORE["colo_shipped"]
        r = c["rps"] / before
        extra = f"; threads: 1 on each {c1['rps']:,.0f} (issue: {ISSUE13_BEFORE['colo_threads1']:,})" if c1 else ""
        lines.append(f"- shipped 3-node local cluster ≥ 2× the issue's {before:,} req/s: {c['rps']:,.0f} = "
                     f"×{r:.2f} {'✓' if r >= 2 else '✗'}{extra}")
        if v1:
            # The same-run before: version 1 built from the history, on this machine, this run.
            r1 = c["rps"] / v1["rps"]
            lines.append(f"  same run, ≥ 2× version 1 with its shipped configs ({v1['rps']:,.0f} req/s): "
                         f"×{r1:.2f} {'✓' if r1 >= 2 else '✗'}{rr('colo_shipped', 'colo_v1')}")
        pinned = s("colo_pinned")
        if pinned:
            lines.append(f"  (with pin_threads: true, the default before stop 34: {pinned['rps']:,.0f} req/s, "
                         f"shipped ÷ it ×{c['rps'] / pinned['rps']:.2f})")
        batch = s("colo_batch")
        if batch:
            # Opt-in: it gains under a closed loop; next to a busy thread it costs the tail
            # (docs/benchmarks.md, "Co-located nodes and SCHED_BATCH").
            vs_v1 = f", ÷ version 1 ×{batch['rps'] / v1['rps']:.2f}" if v1 else ""
            lines.append(f"  (with worker_scheduling: batch, opt-in: {batch['rps']:,.0f} req/s, ÷ shipped "
                         f"×{batch['rps'] / c['rps']:.2f}{rr('colo_batch', 'colo_shipped')}{vs_v1})")
    # "Idle" = the other core is parked when the message arrives: bench/hop.rs's "after ... idle"
    # cases when it has them, else every lone round trip.
    lone = [(n, v) for n, v in hop_lines(run) if " 1 in flight" in n and "round trip" in n]
    idle = [(n, v) for n, v in lone if "idle" in n] or lone
    if idle:
        best = min(v for _, v in idle) / 1000
        shown = "; ".join(f"{n.replace('mesh round trip, ', '')} {v / 1000:.1f}" for n, v in idle)
        lines.append(f"- idle cross-core round trip ≤ 20 µs: best {best:.1f} µs {'✓' if best <= 20 else '✗'} "
                     f"({shown}; issue: {ISSUE13_BEFORE['hop_idle_us']:.0f} µs)")
    t1, t2 = s("hop_t1"), s("hop_t2")
    if t1 and t2:
        r = t2["us"] / t1["us"]
        lines.append(f"- threads: 2 uniform-GET CPU/req ≤ 1.15× threads: 1: {t2['us']:.1f} vs {t1['us']:.1f} µs "
                     f"= ×{r:.2f} {'✓' if r <= 1.15 else '✗'}{rr('hop_t2', 'hop_t1', 'us')} "
                     f"(issue: ×{ISSUE13_BEFORE['threads2_cpu']:.1f})")
        if t1.get("parks") is not None and t2.get("parks") is not None:
            # A worker that runs out of work parks and is woken again, a switch between threads
            # each time. With both workers on one CPU every hop is such a switch (stop 41); on
            # two CPUs, one the generator's, most of the parks come with the load's split, not
            # the hops (the split control below, stop 42).
            lines.append(f"  (the workers parked {100 * t2['parks']:.1f} vs {100 * t1['parks']:.1f} "
                         f"times per 100 requests)")
    c1, c2, split = s("hop_t1_cc"), s("hop_t2_cc"), s("hop_split_cc")
    if c1 and c2 and split:
        # One generator for the three (cache-client bench deals the connections between the two
        # nodes of the split): threads: 2 ÷ threads: 1 = the split's share × the hops' share.
        lines.append(f"  one generator for all three (cache-client bench): threads: 2 ÷ threads: 1 "
                     f"×{c2['us'] / c1['us']:.2f}{rr('hop_t2_cc', 'hop_t1_cc', 'us')} = the load "
                     f"split over its two workers' CPUs, no hop (two threads: 1 nodes placed as they are) "
                     f"×{split['us'] / c1['us']:.2f}{rr('hop_split_cc', 'hop_t1_cc', 'us')}, times "
                     f"the hops ×{c2['us'] / split['us']:.2f}{rr('hop_t2_cc', 'hop_split_cc', 'us')}")
    zon, zoff = s("zipf_on"), s("zipf_off")
    if zon and zoff:
        lines.append(f"- Zipf cluster, hot-key copies on ÷ off: req/s ×{zon['rps'] / zoff['rps']:.2f} "
                     f"({zon['rps']:,.0f} vs {zoff['rps']:,.0f}), CPU/req ×{zon['us'] / zoff['us']:.2f}")
    hon, hoff = s("zipf_hot_on"), s("zipf_hot_off")
    if hon and hoff:
        lines.append(f"- one key read through a node that does not own it, hot-key copies on ÷ off: req/s "
                     f"×{hon['rps'] / hoff['rps']:.2f}{rr('zipf_hot_on', 'zipf_hot_off')} "
                     f"({hon['rps']:,.0f} vs {hoff['rps']:,.0f}), CPU/req ×{hon['us'] / hoff['us']:.2f}")
    return lines


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
                     f"{client_note(o, nginx, 'nginx')}"
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
