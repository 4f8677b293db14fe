"""Paired timings for bench/run.sh and bench/scale.rs (standard library only).

A subject command (a module run) and its floor command (what Postfix's own tools take for the
same job) run alternately, `runs` times each, so the machine's other load hits both alike;
the figure is the ratio of their medians (or their difference, for the live-Postfix row).
Nothing is asserted about the figures: a run fails only if a command fails or a module run
reports an unexpected `changed`.

    python3 pair.py run SPEC.json RESULTS.jsonl   # one table row, appended to RESULTS
    python3 pair.py table RESULTS.jsonl           # the table

SPEC: {"label", "runs", "floor": [argv, ...], "subject": [argv, ...], "expect": bool,
"floor_expect": bool (optional: the floor is a module run too), "goal": {"ratio": x},
{"diff_ms": x} or {} (a context row: no goal), "rss_goal_kib": n (optional)}. Several argvs in "floor"/"subject" are cycled
(e.g. alternating passwords so that every run changes something).
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def die(msg):
    print(f"bench: {msg}", file=sys.stderr)
    sys.exit(1)


def once(argv, expect):
    """Wall time (s) and peak RSS (KiB: the largest of the process and the children it waited
    for, as GNU time's %M) of one run; checks a module run's JSON when `expect` is a bool."""
    with tempfile.TemporaryFile() as errfile:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=errfile)
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - t0
        proc.stdout.close()
        errfile.seek(0)
        err = errfile.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if expect is None:
        if proc.returncode != 0:
            die(f"{argv}: exit {proc.returncode}: {err[:500]!r}")
    else:
        try:
            result = json.loads(out)
        except ValueError:
            die(f"{argv}: not JSON (exit {proc.returncode}): {out[:500]!r} {err[:500]!r}")
        if proc.returncode != 0 or result.get("failed") is not False:
            die(f"{argv}: failed (exit {proc.returncode}): {json.dumps(result)[:1000]}")
        if result.get("changed") is not expect:
            die(f"{argv}: expected changed={expect}: {json.dumps(result)[:1000]}")
    return elapsed, usage.ru_maxrss


GNU_TIME = "/usr/bin/time"


def once_rss(argv, expect):
    """One run under GNU time: its peak RSS in KiB. A child forked from this Python process
    counts Python's own memory too (ru_maxrss includes the time before exec), ~15 MB; GNU time
    forks from a small process. `None` without GNU time."""
    if not os.access(GNU_TIME, os.X_OK):
        once(argv, expect)
        return None
    with tempfile.NamedTemporaryFile(mode="r") as out:
        once([GNU_TIME, "-f", "%M", "-o", out.name, *argv], expect)
        return int(out.read().split()[-1])


def run(spec_file, results_file):
    with open(spec_file) as f:
        spec = json.load(f)
    runs = int(spec["runs"])
    floor, subject = spec["floor"], spec["subject"]
    floor_expect = spec.get("floor_expect")
    print(f"bench: {spec['label']}: {runs} pairs", file=sys.stderr)
    # One untimed pair: caches, and a module run that settles its state first (and gives the
    # peak RSS, under GNU time).
    once(floor[0], floor_expect)
    measured_rss = once_rss(subject[0], spec["expect"])
    floor_s, subject_s, rss = [], [], 0
    for i in range(runs):
        # Alternate which goes first, so neither always runs right after the other.
        order = [("f", floor[(i + 1) % len(floor)]), ("s", subject[(i + 1) % len(subject)])]
        if i % 2:
            order.reverse()
        for kind, argv in order:
            if kind == "f":
                floor_s.append(once(argv, floor_expect)[0])
            else:
                elapsed, peak = once(argv, spec["expect"])
                subject_s.append(elapsed)
                rss = max(rss, peak)
    if measured_rss is not None:
        rss = measured_rss
    f_med, s_med = statistics.median(floor_s), statistics.median(subject_s)
    row = dict(label=spec["label"], runs=runs, floor_ms=f_med * 1000, subject_ms=s_med * 1000,
               ratio=s_med / f_med, diff_ms=(s_med - f_med) * 1000, rss_kib=rss,
               goal=spec["goal"], rss_goal_kib=spec.get("rss_goal_kib"))
    with open(results_file, "a") as f:
        f.write(json.dumps(row) + "\n")


def table(results_file):
    print(f"{'row':<58} {'pairs':>5} {'module ms':>9} {'floor ms':>9} {'ratio':>6} "
          f"{'peak RSS KiB':>12}  goal")
    with open(results_file) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    for r in rows:
        goal = r["goal"]
        if not goal:
            print(f"{r['label']:<58} {r['runs']:>5} {r['subject_ms']:>9.1f} "
                  f"{r['floor_ms']:>9.1f} {r['ratio']:>5.2f}x {r['rss_kib']:>12}  context")
            continue
        if "ratio" in goal:
            met = r["ratio"] <= goal["ratio"]
            goal_text = f"ratio <= {goal['ratio']}"
        else:
            met = r["diff_ms"] <= goal["diff_ms"]
            goal_text = f"+{r['diff_ms']:.0f} ms <= +{goal['diff_ms']} ms"
        if r.get("rss_goal_kib"):
            met = met and r["rss_kib"] <= r["rss_goal_kib"]
            goal_text += f", RSS <= {r['rss_goal_kib']} KiB"
        print(f"{r['label']:<58} {r['runs']:>5} {r['subject_ms']:>9.1f} {r['floor_ms']:>9.1f} "
              f"{r['ratio']:>5.2f}x {r['rss_kib']:>12}  {goal_text}: "
              f"{'met' if met else 'NOT MET'}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "run":
        run(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "table":
        table(sys.argv[2])
    else:
        die("usage: pair.py run SPEC.json RESULTS.jsonl | pair.py table RESULTS.jsonl")
