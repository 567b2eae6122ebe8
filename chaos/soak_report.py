#!/usr/bin/env python3
"""The soak run's verdict and plot (called by chaos/soak; see chaos/README-chaos.md, "Soak").

Reads the work directory the driver (chaos/soak.lua) wrote: samples.csv, expected.ndjson,
pagerduty.ndjson, driver.json, status.json, dead_letters.json, daemon/daemon.log.

Growth: after a warm-up, the median of the first tenth of the remaining samples is compared
with the median of the last tenth. The warm-up is the first 10 minutes, a sixth of the run when
that is shorter — but at least 32 check periods of a service (capped at half the run): the
daemon keeps the fingerprints of the last 32 statuses of each resource (its replay window,
DESIGN §4.2), so each resource's stored state grows until its 32nd status, and spool.db with it
(20,000 services checked every 10 s: 320 s). A series fails when it grew by more than 10 % AND by more than its absolute floor (so
that tiny values do not flap): RSS 8 MiB, spool.db 4 MiB, WAL 8 MiB, open files 4, lag 10 s.
The two lags are judged on the samples taken outside the PagerDuty fault windows (and the 40 s
after each): a 429 pauses the routing key for 30 s by design; what is judged is whether the
lag grows over the run, not the faults' own transient.

Loss: every PagerDuty event the stream called for (expected.ndjson: a trigger at each change to
CRITICAL, with its check time; a resolve at each recovery) was taken by PagerDuty (2xx), in
order per dedup key (chaos/check.py's alignment: re-sends of the last event allowed, episodes
collapsed per DESIGN §4.4 only with a logged collapse); no dead letter; the queue empty.

Plot: soak.png, one panel per series (gnuplot, pngcairo).

usage: soak_report.py WORK [--binary TEXT] [--command TEXT] [--revision TEXT]
"""
import argparse
import collections
import csv
import json
import os
import statistics
import subprocess
import sys

sys.dont_write_bytecode = True  # no chaos/__pycache__ in the work tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check  # noqa: E402

MIB = 1024 * 1024
# series: (column, label, unit divisor, unit, absolute floor in the column's unit, judged outside faults)
SERIES = [
    ("rss_kb", "daemon RSS", 1024, "MiB", 8 * 1024, False),
    ("spool_bytes", "spool.db", MIB, "MiB", 4 * MIB, False),
    ("wal_bytes", "spool.db-wal", MIB, "MiB", 8 * MIB, False),
    ("open_fds", "open files", 1, "", 4, False),
    ("lag_s", "delivery lag (oldest pending)", 1, "s", 10, True),
    ("broker_lag_s", "Broker lag (oldest unacknowledged)", 1, "s", 10, True),
]


def load_samples(path):
    with open(path) as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def warm_up(duration, period):
    """The brief's warm-up (10 minutes, a sixth of a short run), at least 32 check periods (the
    replay window fills), at most half the run."""
    return min(max(min(600.0, duration / 6.0), 32 * period), duration / 2.0)


def growth(samples, duration, warm):
    """rows: per series (name, first median, last median, growth, floor, ok, n, unit)."""
    after = [s for s in samples if warm <= s["elapsed_s"] <= duration]
    rows = []
    for col, label, div, unit, floor, quiet_only in SERIES:
        pts = [s for s in after if not (quiet_only and s["fault"] >= 1)]
        if len(pts) < 4:
            rows.append((label, None, None, None, floor / div, False, len(pts), unit))
            continue
        tenth = max(1, len(pts) // 10)
        first = statistics.median(s[col] for s in pts[:tenth])
        last = statistics.median(s[col] for s in pts[-tenth:])
        grew = last - first
        ok = not (grew > 0.10 * first and grew > floor)
        rows.append((label, first / div, last / div, (grew / first) if first else None, floor / div, ok, tenth, unit))
    return rows


def losses(work):
    """Align what PagerDuty took with what the stream called for, per dedup key."""
    expected = collections.defaultdict(list)
    with open(os.path.join(work, "expected.ndjson")) as f:
        for line in f:
            if line.strip():
                e = json.loads(line)
                expected[e["k"]].append({"action": e["a"], "timestamp": e["ts"] if e["a"] == "trigger" else None})
    taken = collections.defaultdict(list)
    answers = collections.Counter()
    with open(os.path.join(work, "pagerduty.ndjson")) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                answers["%s %s" % (r["mode"], r["status"] or "closed")] += 1
                if r["processed"]:
                    taken[r["dedup_key"]].append({"action": r["action"], "n": r["n"], "t": r["t"],
                                                  "timestamp": r["timestamp"] if r["action"] == "trigger" else None})
    logged, _info = check.parse_daemon_log(os.path.join(work, "daemon", "daemon.log"))
    totals = collections.Counter()
    problems = []
    for key in sorted(set(expected) | set(taken)):
        for g in taken.get(key, []):
            g.setdefault("n", None)
        d, runs, cev, dups, issues, missing = check.align(expected.get(key, []), taken.get(key, []), logged.get(key, 0))
        totals["delivered"] += d
        totals["collapsed_runs"] += runs
        totals["collapsed_events"] += cev
        totals["duplicates"] += dups
        totals["missing"] += len(missing)
        totals["issues"] += len(issues)
        if (issues or missing) and len(problems) < 20:
            problems.append({"dedup_key": key, "missing": [expected[key][k] for k in missing][:3],
                             "issues": [x["kind"] for x in issues][:3]})
    totals["expected"] = sum(len(v) for v in expected.values())
    totals["taken"] = sum(len(v) for v in taken.values())
    totals["logged_collapses"] = sum(logged.values())
    return totals, answers, problems


def plot(work, samples_path, png, title, windows=(), warm=None):
    """One panel per series, gnuplot's pngcairo terminal."""
    panels = [
        ("rss_kb", 1024, "daemon RSS (MiB)"),
        ("spool_bytes", MIB, "spool.db (MiB)"),
        ("wal_bytes", MIB, "spool.db-wal (MiB)"),
        ("open_fds", 1, "daemon open files"),
        ("lag_s", 1, "delivery lag: oldest pending (s)"),
        ("broker_lag_s", 1, "Broker lag: oldest unacknowledged (s)"),
        ("events_sent", 1, "statuses sent to Broker (cumulative)"),
        ("pd_received", 1, "PagerDuty requests received (cumulative)"),
    ]
    with open(samples_path) as f:
        cols = {name: i for i, name in enumerate(f.readline().strip().split(","), 1)}
    lines = [
        "set terminal pngcairo size 1400,1500 font 'DejaVu Sans,10'",
        "set output '%s'" % png,
        "set datafile separator ','",
        "set key off",
        "set grid",
        "set xlabel 'elapsed (min)'",
        "set yrange [0:*]",
        "set autoscale xfix",
        "set multiplot layout 4,2 title '%s'" % title.replace("'", ""),
    ]
    # the PagerDuty fault windows (light red), the end of the warm-up (dashed)
    for k, win in enumerate(windows, 1):
        lines.append("set object %d rect from %.3f, graph 0 to %.3f, graph 1 fc rgb '#f4c7c3' fs solid 0.5 "
                     "noborder behind" % (k, win["from"] / 60.0, win["to"] / 60.0))
    if warm:
        lines.append("set arrow 1 from %.3f, graph 0 to %.3f, graph 1 nohead dt 2 lc rgb '#555555'" % (
            warm / 60.0, warm / 60.0))
    for col, div, label in panels:
        lines.append("set title '%s'" % label)
        lines.append("plot '%s' skip 1 using ($1/60.0):($%d/%d.0) with linespoints pt 7 ps 0.4 lw 1.5" % (
            samples_path, cols[col], div))
    lines.append("unset multiplot")
    script = os.path.join(work, "soak.gnuplot")
    with open(script, "w") as f:
        f.write("\n".join(lines) + "\n")
    r = subprocess.run(["gnuplot", script], capture_output=True, text=True, check=False)
    return r.returncode == 0, r.stderr[-800:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("work")
    ap.add_argument("--binary", default="")
    ap.add_argument("--command", default="")
    ap.add_argument("--revision", default="")
    args = ap.parse_args()
    work = args.work
    drv = check.load_json(os.path.join(work, "driver.json"))
    if drv is None:
        print("soak: no driver.json in %s: the driver did not finish" % work)
        return 1
    samples = load_samples(os.path.join(work, "samples.csv"))
    warm = warm_up(drv["load_seconds"], drv["period"])
    rows = growth(samples, drv["load_seconds"], warm)
    totals, answers, problems = losses(work)
    status = check.load_json(os.path.join(work, "status.json"), {})
    dead = check.load_json(os.path.join(work, "dead_letters.json"), None)
    if isinstance(dead, dict):
        dead = dead.get("dead_letters")
    _c, info = check.parse_daemon_log(os.path.join(work, "daemon", "daemon.log"))
    png = os.path.join(work, "soak.png")
    title = "soak: %.0f min at %.0f statuses/s, %d services, %s" % (
        drv["load_seconds"] / 60, drv["achieved_rate"], drv["services"], args.binary or "daemon")
    plotted, plot_err = plot(work, os.path.join(work, "samples.csv"), png,
                             title + " (red: PagerDuty 503/429 windows; dashed: end of the warm-up)",
                             drv["windows"], warm)

    checks = []
    for label, first, last, g, floor, ok, n, unit in rows:
        if first is None:
            checks.append(("no growth: %s" % label, False, "too few samples after the warm-up (%d)" % n))
            continue
        checks.append(("no growth: %s" % label, ok, "median of the first tenth after the warm-up %.1f %s, of the "
                       "last tenth %.1f %s (%s; floor %.0f %s; %d samples each)" % (
                           first, unit, last, unit, "%+.1f %%" % (100 * g) if g is not None else "n/a",
                           floor, unit, n)))
    held_rate = drv["achieved_rate"] >= 0.98 * drv["rate"]
    checks.append(("the rate was held", held_rate, "%.0f statuses/s published for %.0f/s asked" % (
        drv["achieved_rate"], drv["rate"])))
    checks.append(("nothing lost: every expected PagerDuty event taken, in order per key",
                   totals["missing"] == 0 and totals["issues"] == 0,
                   "%d expected, %d delivered, %d in %d collapsed episodes (logged %d), %d missing, %d out of order; "
                   "%d re-sends" % (totals["expected"], totals["delivered"], totals["collapsed_events"],
                                    totals["collapsed_runs"], totals["logged_collapses"], totals["missing"],
                                    totals["issues"], totals["duplicates"])))
    checks.append(("drained: Broker acknowledged everything, the daemon's queue empty, no dead letter",
                   drv["drained"] and status.get("pending") == 0 and dead == [],
                   "%d published, %d acknowledged, pending %s, dead letters %s, drain %.0f s" % (
                       drv["published"], drv["acknowledged"], status.get("pending"),
                       len(dead) if isinstance(dead, list) else dead, drv["drain_seconds"])))
    checks.append(("daemon: no exit, no panic; Broker: no Lua error, write()/flush() bounded",
                   not drv["unexpected_exits"] and not info["panics"] and drv["lua_errors"] == 0
                   and drv["calls"]["over"] == 0,
                   "%d exits, %d panics, %d Lua errors, longest call %.3f s (%d over 2.25 s)" % (
                       len(drv["unexpected_exits"]), len(info["panics"]), drv["lua_errors"], drv["calls"]["max"],
                       drv["calls"]["over"])))
    bad = [c for c in checks if not c[1]]
    last = samples[-1] if samples else {}
    out = []
    w = out.append
    w("## soak: %.1f h, %.0f statuses/s — %s" % (drv["load_seconds"] / 3600, drv["achieved_rate"],
                                                  "PASS" if not bad else "FAIL (%d)" % len(bad)))
    w("")
    if args.command:
        w("Command: `%s`  " % args.command)
    if args.revision:
        w("Build: %s  " % args.revision)
    if args.binary:
        w("Daemon: %s  " % args.binary)
    w("Load %.0f s at %.0f statuses/s asked (%.0f held) over %d services on %d hosts (each checked every %.0f s), "
      "%.1f %% state changes; samples every %.0f s; warm-up %.0f s; PagerDuty: 0.5 %% 503s, and %d windows of "
      "%d s (503, 429 alternately) every %.0f s; %s." % (
          drv["load_seconds"], drv["rate"], drv["achieved_rate"], drv["services"], drv["hosts"], drv["period"],
          100 * drv["change"], drv["interval"], warm, len(drv["windows"]), drv["fault_len"], drv["fault_every"],
          drv["lua"]))
    w("")
    w("| Check | Result | Detail |")
    w("|---|---|---|")
    for name, ok, detail in checks:
        w("| %s | %s | %s |" % (name, "ok" if ok else "**FAIL**", detail))
    w("")
    w("| Figure | Value |")
    w("|---|---|")
    for k, v in [
        ("statuses published / acknowledged", "%d / %d" % (drv["published"], drv["acknowledged"])),
        ("PagerDuty events expected / taken", "%d / %d" % (totals["expected"], totals["taken"])),
        ("requests to PagerDuty, by answer", ", ".join("%s: %d" % kv for kv in sorted(answers.items()))),
        ("at the end: RSS, spool.db, WAL, open files", "%.1f MiB, %.1f MiB, %.1f MiB, %d" % (
            last.get("rss_kb", 0) / 1024, last.get("spool_bytes", 0) / MIB, last.get("wal_bytes", 0) / MIB,
            last.get("open_fds", 0))),
        ("max: RSS, spool.db, WAL, lag, Broker lag", "%.1f MiB, %.1f MiB, %.1f MiB, %d s, %.1f s" % (
            max(s["rss_kb"] for s in samples) / 1024, max(s["spool_bytes"] for s in samples) / MIB,
            max(s["wal_bytes"] for s in samples) / MIB, max(s["lag_s"] for s in samples),
            max(s["broker_lag_s"] for s in samples))),
        ("mean write()/flush() calls", "%d calls, longest %.3f s" % (drv["calls"]["n"], drv["calls"]["max"])),
        ("daemon log ERROR kinds", "; ".join("%s ×%d" % kv for kv in info["errors"].most_common(3)) or "none"),
        ("plot", "soak.png" if plotted else "not drawn: %s" % plot_err),
    ]:
        w("| %s | %s |" % (k, v))
    for p in problems[:10]:
        w("- key %s: missing %s; %s" % (p["dedup_key"], p["missing"], "; ".join(p["issues"])))
    text = "\n".join(out)
    print(text)
    with open(os.path.join(work, "summary.md"), "w") as f:
        f.write(text + "\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
