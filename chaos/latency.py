#!/usr/bin/env python3
"""Analysis of one latency run (chaos/latency.lua): matches every alert written to the shim with
the PagerDuty event the mock received for it (per dedup_key, the n-th alert is the n-th event:
the run has no fault, so no collapse and no duplicate), and gives percentiles of
  write -> PagerDuty    the shim's write() of the status to the mock receiving the event
  publish -> PagerDuty  the event reaching Broker's output (before Broker's own queue) to the mock
  write -> enqueued     to the daemon's "Enqueued." log line (batch committed)
  enqueued -> PagerDuty

usage: latency.py WORK [--label TEXT]  (prints one Markdown table row; --header prints the header)
"""
import argparse
import collections
import datetime
import json
import os
import re
import sys


def pct(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, int(-(-len(sorted_values) * p // 1)) - 1))
    return sorted_values[k]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("work", nargs="?")
    ap.add_argument("--label", default="")
    ap.add_argument("--header", action="store_true")
    args = ap.parse_args()
    if args.header:
        print("| Run | Alerts | write→PagerDuty p50 | p90 | **p99** | max | publish→PagerDuty p99 "
              "| write→enqueued p99 | enqueued→PagerDuty p99 | longest write()/flush() |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        return 0
    work = args.work
    run = json.load(open(os.path.join(work, "run.json")))
    alerts = [json.loads(l) for l in open(os.path.join(work, "alerts.ndjson")) if l.strip()]
    records = [json.loads(l) for l in open(os.path.join(work, "pagerduty.ndjson")) if l.strip()]
    records.sort(key=lambda r: r["n"])
    got = collections.defaultdict(list)
    for r in records:
        if r["processed"]:
            got[r["dedup_key"]].append(r)
    enq = collections.defaultdict(list)
    pat = re.compile(r"^(\S+)Z\s+INFO Enqueued\..*dedup_key=(\S+)")
    for line in open(os.path.join(work, "daemon.log"), errors="replace"):
        m = pat.match(line)
        if m:
            t = datetime.datetime.fromisoformat(m.group(1)).replace(tzinfo=datetime.timezone.utc).timestamp()
            enq[m.group(2)].append(t)
    w2p, p2p, w2e, e2p, problems = [], [], [], [], []
    for a in alerts:
        lst = got.get(a["key"], [])
        if len(lst) < a["n"]:
            problems.append("no PagerDuty event for %s #%d" % (a["key"], a["n"]))
            continue
        r = lst[a["n"] - 1]
        if r["action"] != a["action"]:
            problems.append("%s #%d: %s received, %s expected" % (a["key"], a["n"], r["action"], a["action"]))
            continue
        if a["action"] == "trigger":
            ts = datetime.datetime.fromtimestamp(a["last_check"], datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            if r["timestamp"] != ts:
                problems.append("%s #%d: timestamp %s, expected %s" % (a["key"], a["n"], r["timestamp"], ts))
        w2p.append(r["t"] - a["t_write"])
        p2p.append(r["t"] - a["t_publish"])
        e = enq.get(a["key"], [])
        if len(e) >= a["n"]:
            w2e.append(e[a["n"] - 1] - a["t_write"])
            e2p.append(r["t"] - e[a["n"] - 1])
    extra = sum(len(v) for v in got.values()) - len(w2p)
    for lst in (w2p, p2p, w2e, e2p):
        lst.sort()
    ms = lambda x: "%.0f ms" % (x * 1000) if x < 10 else "%.1f s" % x
    label = args.label or "%s Broker, %d alerts at %g/s, %d OK/s" % (
        run["broker"], run["alerts"], run["alert_rate"], run["background"])
    print("| %s | %d/%d | %s | %s | **%s** | %s | %s | %s | %s | %s |" % (
        label, len(w2p), len(alerts), ms(pct(w2p, .5)), ms(pct(w2p, .9)), ms(pct(w2p, .99)),
        ms(w2p[-1] if w2p else float("nan")), ms(pct(p2p, .99)), ms(pct(w2e, .99)), ms(pct(e2p, .99)),
        ms(run["max_call"])))
    summary = {"label": label, "matched": len(w2p), "alerts": len(alerts), "extra_events": extra,
               "problems": problems[:20], "p50": pct(w2p, .5), "p90": pct(w2p, .9), "p99": pct(w2p, .99),
               "max": w2p[-1] if w2p else None, "run": run}
    with open(os.path.join(work, "latency.json"), "w") as f:
        json.dump(summary, f, indent=1)
    if problems or extra:
        print("latency: %d problems, %d extra events: %s" % (len(problems), extra, problems[:5]), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
