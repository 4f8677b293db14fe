#!/usr/bin/env bash
# Benchmark of hermes-relayhost module runs on a test root (see bench/README.md).
#
# For N = 10 and 10000 per-domain `transport` rows with authentication it measures the first
# (changed) apply, no-change applies, changed applies (alternating passwords; alternating ports,
# which rewrites main.cf) and peak RSS.
# Prints a table on stdout; build output and progress go to stderr. Nothing is asserted about
# the figures; the script only fails if a run fails or reports an unexpected `changed`.
#
# Environment: BENCH_SIZES (default "10 10000"), BENCH_NOCHANGE_RUNS (20),
# BENCH_CHANGED_RUNS (10), BENCH_MAINCF_RUNS (3; 0 skips that row), BENCH_KEEP_TMP=1 keeps
# the temp roots, BENCH_NO_HYPERFINE=1 times with Python even when hyperfine is installed,
# BENCH_PAIR_RUNS (21) pairs for the issue-13 ratio row, BENCH_BIN / BENCH_PROFILE (bench/lib.sh).
set -euo pipefail

start_ns=$(date +%s%N)
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/.." && pwd)
sizes=${BENCH_SIZES:-"10 10000"}
nochange_runs=${BENCH_NOCHANGE_RUNS:-20}
changed_runs=${BENCH_CHANGED_RUNS:-10}
maincf_runs=${BENCH_MAINCF_RUNS:-3}
pair_runs=${BENCH_PAIR_RUNS:-21}

for tool in cargo python3 openssl base64 od postmap; do
    command -v "$tool" >/dev/null || { echo "bench: '$tool' is required" >&2; exit 1; }
done

# shellcheck source=bench/lib.sh
source "$repo/bench/lib.sh"
build_release

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hermes-relayhost-bench.XXXXXX")
if [[ ${BENCH_KEEP_TMP:-0} == 1 ]]; then
    echo "bench: keeping $tmp" >&2
else
    trap 'rm -rf "$tmp"' EXIT
fi

# GNU time gives the peak RSS (%M); otherwise the harness reads it from wait4().
gnu_time=""
if [[ -x /usr/bin/time ]] && /usr/bin/time --version 2>&1 | grep -q 'GNU'; then
    gnu_time=/usr/bin/time
fi
hyperfine=""
if [[ ${BENCH_NO_HYPERFINE:-0} != 1 ]] && command -v hyperfine >/dev/null; then
    hyperfine=$(command -v hyperfine)
fi

# ---------------------------------------------------------------------------------------------
# The Python harness (standard library only): seeding the transport rows and timing the runs.
cat >"$tmp/harness.py" <<'PY'
import json, os, sqlite3, statistics, subprocess, sys, tempfile, time


def die(msg):
    print(f"bench: {msg}", file=sys.stderr)
    sys.exit(1)


def seed(db, n, creds_file):
    """N transport rows with authentication, each with its own destination; the creds are
    reused from a small set of ciphertexts made with openssl under the root's key."""
    with open(creds_file) as f:
        pairs = [line.split() for line in f if line.strip()]
    ports = ["587", "25", "", "465"]
    rows = [
        (f"d{i}.example.org", f"smtp:[relay{i}.example.net]", f"relay{i}.example.net",
         ports[i % len(ports)], "YES", pairs[i % len(pairs)][0], pairs[i % len(pairs)][1])
        for i in range(n)
    ]
    con = sqlite3.connect(db)
    with con:
        con.executemany(
            "INSERT INTO transport (domain, transport, destination, port, authentication, "
            "authentication_username, authentication_password) VALUES (?,?,?,?,?,?,?)",
            rows,
        )
    con.close()


class Bench:
    def __init__(self, binary, work, base_file, n, gnu_time, hyperfine):
        self.binary, self.work, self.n = binary, work, n
        self.gnu_time, self.hyperfine = gnu_time, hyperfine
        with open(base_file) as f:
            base = json.load(f)
        self.args = {}
        # A and B differ in the password only; P is A on another port (relayhost, so main.cf).
        for tag, password, port in (("A", "Bench-pass-A1", 587), ("B", "Bench-pass-B2", 587),
                                    ("P", "Bench-pass-A1", 2525)):
            args = dict(base, host="smtp.example.com", port=port, username="relayuser",
                        password=password)
            path = os.path.join(work, f"args{n}{tag}.json")
            with open(path, "w") as f:
                json.dump(args, f)
            self.args[tag] = path
        self.current = None  # the password tag the store holds
        self.postfix_dir = os.path.join(base["root"], "etc/postfix")

    def run(self, tag, expect_changed, rss_via_time=False, require=None):
        """One module run; returns (seconds, peak RSS KiB). Aborts unless failed=false,
        changed is as expected and `changes` names `require`."""
        argv = [self.binary, self.args[tag]]
        rss_file = None
        if rss_via_time:
            fd, rss_file = tempfile.mkstemp(dir=self.work)
            os.close(fd)
            argv = [self.gnu_time, "-f", "%M", "-o", rss_file] + argv
        out = tempfile.TemporaryFile()
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        rss = usage.ru_maxrss
        if rss_file:
            with open(rss_file) as f:
                rss = int(f.read().split()[-1])
            os.unlink(rss_file)
        out.seek(0)
        text = out.read().decode(errors="replace")
        self.check(text, proc.returncode, expect_changed, tag, require)
        self.current = tag
        return elapsed, rss

    def check(self, text, code, expect_changed, tag, require=None):
        try:
            result = json.loads(text)
        except ValueError:
            die(f"N={self.n}: output is not JSON (exit {code}): {text[:500]!r}")
        if code != 0 or result.get("failed") is not False:
            die(f"N={self.n}: run failed (exit {code}): {json.dumps(result)[:2000]}")
        if result.get("changed") is not expect_changed:
            die(f"N={self.n}: expected changed={expect_changed} with args {tag}, got "
                f"{json.dumps(result)[:2000]}")
        if require and require not in result.get("changes", []):
            die(f"N={self.n}: expected a change of {require}, got {json.dumps(result)[:2000]}")

    def other(self):
        return "B" if self.current == "A" else "A"

    def check_sasl_lines(self):
        with open(os.path.join(self.postfix_dir, "sasl_passwd")) as f:
            lines = sum(1 for line in f if line.strip())
        if lines != self.n + 1:
            die(f"N={self.n}: sasl_passwd has {lines} lines, expected {self.n + 1}")

    def hyperfine_times(self, runs, prepare=None):
        """Timings (seconds) of `runs` runs of the current args by hyperfine."""
        export = os.path.join(self.work, "hyperfine.json")
        cmd = [self.hyperfine, "--style", "none", "-N", "--runs", str(runs),
               "--export-json", export]
        if prepare:
            cmd += ["--prepare", prepare]
        cmd.append(f"{self.binary} {self.args['A']}")
        subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        with open(export) as f:
            return json.load(f)["results"][0]["times"]


def measure(binary, work, base_file, n, nochange_runs, changed_runs, maincf_runs, gnu_time,
            hyperfine):
    b = Bench(binary, work, base_file, n, gnu_time, hyperfine)
    rows = []

    t, rss = b.run("A", True)
    b.check_sasl_lines()
    rows.append(("first apply", [t], rss))

    b.run("A", False)  # warm-up, untimed
    if hyperfine:
        times = b.hyperfine_times(nochange_runs)
        b.run("A", False)  # hyperfine cannot check the JSON: check the state it left
    else:
        times = [b.run("A", False)[0] for _ in range(nochange_runs)]
    rss = b.run("A", False, rss_via_time=bool(gnu_time))[1]
    rows.append(("no change", times, rss))

    if hyperfine:
        # Every timed run must change: before each, swap the password in the args file run.
        swap = os.path.join(work, f"swap{n}.sh")
        with open(swap, "w") as f:
            f.write(f"#!/bin/sh\nset -e\ncd '{work}'\nmv args{n}A.json args{n}T.json\n"
                    f"mv args{n}B.json args{n}A.json\nmv args{n}T.json args{n}B.json\n")
        os.chmod(swap, 0o755)
        times = b.hyperfine_times(changed_runs, prepare=swap)
        # The file named A now holds whichever password was applied last: A again is a no-op.
        b.run("A", False)
        b.current = "A"
    else:
        times = [b.run(b.other(), True)[0] for _ in range(changed_runs)]
    b.check_sasl_lines()
    rss = b.run(b.other(), True, rss_via_time=bool(gnu_time))[1]
    rows.append(("changed: password", times, rss))

    # A run that rewrites main.cf (the port alternates): Postfix commands run right after it
    # (postfix status) wait for main.cf to settle (~2 s), so only a few runs of these.
    if maincf_runs:
        times, peak = [], 0
        for _ in range(maincf_runs):
            t, rss = b.run("A" if b.current == "P" else "P", True, require="main.cf")
            times.append(t)
            peak = max(peak, rss)
        b.check_sasl_lines()
        rows.append(("changed: port, main.cf", times, peak))
    return rows


def main():
    cmd = sys.argv[1]
    if cmd == "seed":
        seed(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif cmd == "measure":
        (binary, work, base_file, n, nochange, changed, maincf, gnu_time, hyperfine,
         table) = sys.argv[2:12]
        rows = measure(binary, work, base_file, int(n), int(nochange), int(changed),
                       int(maincf), gnu_time, hyperfine)
        with open(table, "a") as f:
            for kind, times, rss in rows:
                ms = [t * 1000 for t in times]
                f.write(f"{n}\t{kind}\t{len(ms)}\t{statistics.fmean(ms):.1f}\t{min(ms):.1f}"
                        f"\t{rss}\n")
    elif cmd == "print":
        print(f"{'N':>6}  {'run':<22} {'runs':>4} {'mean ms':>9} {'min ms':>9} "
              f"{'peak RSS KiB':>13}")
        with open(sys.argv[2]) as f:
            for line in f:
                n, kind, runs, mean, low, rss = line.rstrip("\n").split("\t")
                print(f"{n:>6}  {kind:<22} {runs:>4} {mean:>9} {low:>9} {rss:>13}")
    else:
        die(f"unknown harness command {cmd}")


main()
PY
# ---------------------------------------------------------------------------------------------

table="$tmp/table.tsv"
: >"$table"
pairs="$tmp/pairs.jsonl"
: >"$pairs"
for n in $sizes; do
    echo "bench: N=$n: init, seeding $n transport rows" >&2
    make_root "$tmp/n$n"
    python3 "$tmp/harness.py" seed "$tmp/n$n/root/hermes.sqlite" "$n" "$tmp/n$n/creds.txt"
    echo "bench: N=$n: measuring" >&2
    python3 "$tmp/harness.py" measure "$bin" "$tmp" "$tmp/n$n/base.json" "$n" \
        "$nochange_runs" "$changed_runs" "$maincf_runs" "$gnu_time" "$hyperfine" "$table"
    # Issue 13's row "no change, N rows vs postconf -n": args A again (whatever the last row
    # left), then paired runs against the floor on the same (aged) main.cf.
    "$bin" "$tmp/args${n}A.json" >/dev/null
    touch -d '1 hour ago' "$tmp/n$n/root/etc/postfix/main.cf"
    pair_row "no change, $n rows, vs one postconf -n" "$pair_runs" false "" '{"ratio": 1}' "" \
        "postconf -c $tmp/n$n/root/etc/postfix -n" -- "$bin $tmp/args${n}A.json"
done

cpu=$(grep -m1 '^model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -z $(git -C "$repo" status --porcelain -- src Cargo.toml Cargo.lock templates 2>/dev/null) ]] \
    || rev="$rev+dirty"
echo "machine: nproc=$(nproc), cpu=${cpu:-unknown}, kernel=$(uname -r)," \
    "postfix=$(postconf -d -h mail_version 2>/dev/null || echo '?'), commit=$rev," \
    "binary: $bench_build"
rss_source="wait4 ru_maxrss"
[[ -z $gnu_time ]] || rss_source="GNU time %M of one extra run (first apply, main.cf: wait4 ru_maxrss)"
timer="python3 perf_counter"
[[ -z $hyperfine ]] || timer="hyperfine (no change, changed: password), python3 perf_counter (others)"
echo "timer: $timer;" \
    "peak RSS: $rss_source, the binary and the postmap/postfix it runs"
python3 "$tmp/harness.py" print "$table"
echo
echo "issue 13 goals (module run vs its floor command, alternating, median of each):"
pair_table
end_ns=$(date +%s%N)
echo "total bench time: $(( (end_ns - start_ns) / 1000000 )) ms (including the build)"
