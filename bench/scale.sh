#!/usr/bin/env bash
# Scale benchmark of hermes-relayhost (issue 7): N `transport` rows with authentication (default
# N = 100000), on SQLite and on a private MariaDB server, see bench/README.md.
#
# For each store it times:
#   - the first apply (rows, main.cf, sasl_passwd + map) and one no-change apply, for context;
#   - rebuilding sasl_passwd: a changed apply whose relay password alternates, so every run
#     rewrites the rows, sasl_passwd (N + 1 lines) and its postmap'ed map, but not main.cf;
#   - key rotation: `hermes-relayhost rotate-key --args-file F` ({"root", "rotate_key": true}
#     and, for MariaDB, the socket URL). After each rotation it checks `reencrypted` = 2N + 2
#     and that a no-change apply still reports changed=false (every value still decrypts).
# and the peak RSS of those runs (GNU time %M: the binary and the postmap/postfix it waited
# for; for MariaDB not the server). Then the goal table (bench/pair.py): per store, no change
# at N, 10 and 10000 rows vs one `postconf -n`, a password change at N rows vs one `postmap`
# of the same file (issue 13 for SQLite, issue 19 item 5 for MariaDB), and a main.cf change
# with Postfix running (SQLite, root only).
# Prints a table on stdout; build output and progress go to stderr. Nothing is asserted about
# the figures; the script fails only if a run fails or reports something unexpected.
#
# Environment: BENCH_ROWS (default 100000), BENCH_STORES ("sqlite mariadb"),
# BENCH_REBUILD_RUNS (5), BENCH_ROTATE_RUNS (3), BENCH_KEEP_TMP=1 keeps the temp dir (the
# MariaDB server is stopped either way).
set -euo pipefail

start_ns=$(date +%s%N)
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/.." && pwd)
rows=${BENCH_ROWS:-100000}
stores=${BENCH_STORES:-"sqlite mariadb"}
rebuild_runs=${BENCH_REBUILD_RUNS:-5}
rotate_runs=${BENCH_ROTATE_RUNS:-3}
goals=${BENCH_GOALS:-1}
goal_nochange_runs=${BENCH_GOAL_NOCHANGE_RUNS:-11}
goal_rebuild_runs=${BENCH_GOAL_REBUILD_RUNS:-7}
goal_small_runs=${BENCH_GOAL_SMALL_RUNS:-21}
goal_live_runs=${BENCH_GOAL_LIVE_RUNS:-5}
[[ $rows =~ ^[1-9][0-9]*$ ]] || { echo "bench: BENCH_ROWS must be a positive number" >&2; exit 1; }

need=(cargo python3 openssl base64 od postmap)
[[ " $stores " == *" mariadb "* ]] && need+=(mariadb-install-db mariadbd mariadb mariadb-admin)
for tool in "${need[@]}"; do
    command -v "$tool" >/dev/null || { echo "bench: '$tool' is required" >&2; exit 1; }
done
gnu_time=/usr/bin/time
if ! { [[ -x $gnu_time ]] && "$gnu_time" --version 2>&1 | grep -q GNU; }; then
    echo "bench: GNU time (/usr/bin/time) is required for the peak RSS" >&2
    exit 1
fi

# shellcheck source=bench/lib.sh
source "$repo/bench/lib.sh"
build_release

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hermes-relayhost-scale.XXXXXX")
mariadb_pid=""
live_pf=""
cleanup() {
    stop_postfix
    if [[ -n $mariadb_pid ]]; then
        echo "bench: stopping MariaDB (pid $mariadb_pid)" >&2
        kill "$mariadb_pid" 2>/dev/null || true
        for _ in $(seq 1 300); do
            kill -0 "$mariadb_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$mariadb_pid" 2>/dev/null || true
        wait "$mariadb_pid" 2>/dev/null || true
        mariadb_pid=""
    fi
    if [[ ${BENCH_KEEP_TMP:-0} == 1 ]]; then
        echo "bench: keeping $tmp" >&2
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# Python helper (standard library only): seeding, args files, result checks, the table.
cat >"$tmp/helper.py" <<'PY'
import json, sqlite3, sys

PORTS = ["587", "25", "", "465"]


def die(msg):
    print(f"bench: {msg}", file=sys.stderr)
    sys.exit(1)


def rows(n, creds_file):
    """N transport rows with authentication, each with its own destination (as bench/run.sh);
    the creds are reused from a small set of openssl-made ciphertexts under the root's key."""
    with open(creds_file) as f:
        pairs = [line.split() for line in f if line.strip()]
    for i in range(n):
        user, pw = pairs[i % len(pairs)]
        yield (f"d{i}.example.org", f"smtp:[relay{i}.example.net]", f"relay{i}.example.net",
               PORTS[i % len(PORTS)], "YES", user, pw)


COLUMNS = ("domain, transport, destination, port, authentication, authentication_username, "
           "authentication_password")


def seed_sqlite(db, n, creds_file):
    con = sqlite3.connect(db)
    with con:
        con.executemany(f"INSERT INTO transport ({COLUMNS}) VALUES (?,?,?,?,?,?,?)",
                        rows(n, creds_file))
    con.close()


def sql_file(out, n, creds_file, per_statement=1000):
    """One SQL file of multi-row INSERTs for the mariadb client. The values are plain ASCII
    (names, digits, Base64): no quoting issues."""
    batch = []
    with open(out, "w") as f:
        f.write("LOCK TABLES transport WRITE;\n")

        def flush():
            if batch:
                f.write(f"INSERT INTO transport ({COLUMNS}) VALUES\n" + ",\n".join(batch) + ";\n")
                batch.clear()

        for r in rows(n, creds_file):
            assert all("'" not in v and "\\" not in v for v in r)
            batch.append("(" + ",".join(f"'{v}'" for v in r) + ")")
            if len(batch) == per_statement:
                flush()
        flush()
        f.write("UNLOCK TABLES;\n")


def write_args(base_file, out_dir, database):
    """argsA/argsB (apply; they differ in the relay password only), argsA-full/argsB-full
    (the same in diff mode, which reads every row whatever the verified record says) and
    rotate.json."""
    with open(base_file) as f:
        base = json.load(f)
    if database:
        base["database"] = database
    for tag, password in (("A", "Bench-pass-A1"), ("B", "Bench-pass-B2")):
        args = dict(base, host="smtp.example.com", port=587, username="relayuser",
                    password=password)
        with open(f"{out_dir}/args{tag}.json", "w") as f:
            json.dump(args, f)
        with open(f"{out_dir}/args{tag}-full.json", "w") as f:
            json.dump(dict(args, _ansible_diff=True), f)
    rotate = {"root": base["root"], "rotate_key": True}
    if database:
        rotate["database"] = database
    with open(f"{out_dir}/rotate.json", "w") as f:
        json.dump(rotate, f)


def check(path, code, what, changed, require, forbid, reencrypted):
    with open(path) as f:
        text = f.read()
    try:
        result = json.loads(text)
    except ValueError:
        die(f"{what}: output is not JSON (exit {code}): {text[:500]!r}")
    short = json.dumps(result)[:2000]
    if code != "0" or result.get("failed") is not False:
        die(f"{what}: run failed (exit {code}): {short}")
    if result.get("changed") is not (changed == "true"):
        die(f"{what}: expected changed={changed}, got {short}")
    changes = result.get("changes", [])
    if require and require not in changes:
        die(f"{what}: expected a change of {require}, got {short}")
    if forbid and forbid in changes:
        die(f"{what}: expected no change of {forbid}, got {short}")
    if reencrypted:
        if result.get("reencrypted") != int(reencrypted) or result.get("already_rotated") != 0:
            die(f"{what}: expected reencrypted={reencrypted}, already_rotated=0, got {short}")
        if not result.get("key_backup"):
            die(f"{what}: no key_backup reported: {short}")


def table(path):
    groups = {}
    for line in open(path):
        store, op, n, ms, rss = line.rstrip("\n").split("\t")
        groups.setdefault((store, op, n), []).append((float(ms), int(rss)))
    print(f"{'store':<8} {'operation':<34} {'rows':>7} {'runs':>4} {'mean ms':>9} {'min ms':>9} "
          f"{'peak RSS KiB':>13}")
    for (store, op, n), runs in groups.items():
        ms = [m for m, _ in runs]
        print(f"{store:<8} {op:<34} {n:>7} {len(runs):>4} {sum(ms) / len(ms):>9.1f} "
              f"{min(ms):>9.1f} {max(r for _, r in runs):>13}")


def port_args(base_file, out_dir):
    """argsP1/argsP2: the relay port alternates, so every run rewrites main.cf."""
    with open(base_file) as f:
        base = json.load(f)
    for tag, port in (("P1", 587), ("P2", 2525)):
        args = dict(base, host="smtp.example.com", port=port, username="relayuser",
                    password="Bench-pass-A1")
        with open(f"{out_dir}/args{tag}.json", "w") as f:
            json.dump(args, f)


def set_params(path, *pairs):
    """Sets `key = value` lines in a main.cf text (replacing the key's lines, continuation
    lines included), as tests/integration/support does for its private Postfix."""
    params = dict(p.split("=", 1) for p in pairs)
    out, skipping = [], False
    for line in open(path).read().splitlines():
        if line[:1] in (" ", "\t") and line.strip():
            if skipping:
                continue
        else:
            skipping = False
            key = line.split("=")[0].strip()
            if not line.startswith("#") and key in params:
                out.append(f"{key} = {params.pop(key)}")
                skipping = True
                continue
        out.append(line)
    out += [f"{k} = {v}" for k, v in params.items()]
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "seed-sqlite":
    seed_sqlite(args[0], int(args[1]), args[2])
elif cmd == "sql-file":
    sql_file(args[0], int(args[1]), args[2])
elif cmd == "args":
    write_args(*args)
elif cmd == "check":
    check(*args)
elif cmd == "port-args":
    port_args(*args)
elif cmd == "set-params":
    set_params(*args)
elif cmd == "table":
    table(args[0])
else:
    die(f"unknown helper command {cmd}")
PY
helper() { python3 "$tmp/helper.py" "$@"; }
# ---------------------------------------------------------------------------------------------

# A private MariaDB server in $tmp/mariadb on a free loopback port and socket, like
# tests/integration/common/mariadb.rs; stopped by the EXIT trap.
start_mariadb() {
    local dir="$tmp/mariadb"
    mkdir -p "$dir"
    mariadb_sock="$dir/mysqld.sock"
    local port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    echo "bench: starting MariaDB in $dir (port $port)" >&2
    mariadb-install-db --no-defaults --datadir="$dir/data" --user=root \
        --auth-root-authentication-method=normal --skip-test-db >"$dir/install.log" 2>&1 \
        || { cat "$dir/install.log" >&2; exit 1; }
    mariadbd --no-defaults --datadir="$dir/data" --socket="$mariadb_sock" --port="$port" \
        --bind-address=127.0.0.1 --user=root --skip-log-bin --tmpdir="$dir" \
        --pid-file="$dir/mysqld.pid" --log-error="$dir/error.log" </dev/null \
        >"$dir/stdout.log" 2>&1 &
    mariadb_pid=$!
    local deadline=$((SECONDS + 30))
    until [[ -S $mariadb_sock ]] \
        && mariadb-admin --no-defaults --socket="$mariadb_sock" -uroot ping >/dev/null 2>&1; do
        if ! kill -0 "$mariadb_pid" 2>/dev/null || ((SECONDS > deadline)); then
            echo "bench: MariaDB did not start:" >&2
            cat "$dir/error.log" >&2 || true
            exit 1
        fi
        sleep 0.1
    done
}

now_us() {
    if [[ -n ${EPOCHREALTIME:-} ]]; then
        now=${EPOCHREALTIME//[.,]/}
    else
        now=$(( $(date +%s%N) / 1000 ))
    fi
}

# run STORE OP|- WHAT CHANGED REQUIRE FORBID REENCRYPTED -- ARGV...: one run under GNU time;
# checks its JSON; with OP != -, appends "store op rows ms rss" to the runs table.
run() {
    local store=$1 op=$2 what=$3 changed=$4 require=$5 forbid=$6 reenc=$7
    shift 8
    local out="$tmp/out.json" rss="$tmp/rss.txt" code=0 t0 t1
    now_us; t0=$now
    "$gnu_time" -f %M -o "$rss" "$@" >"$out" </dev/null || code=$?
    now_us; t1=$now
    helper check "$out" "$code" "$store: $what" "$changed" "$require" "$forbid" "$reenc"
    if [[ $op != - ]]; then
        printf '%s\t%s\t%s\t%d.%03d\t%s\n' "$store" "$op" "$rows" $(((t1 - t0) / 1000)) \
            $(((t1 - t0) % 1000)) "$(tail -n1 "$rss")" >>"$tmp/runs.tsv"
    fi
}

# seed_mariadb DB N DIR: a database DB on the private server (started if need be) with Hermes's
# schema and N transport rows made from DIR/creds.txt; sets $database to its URL. The rows
# are then left alone for the store's racy window (src/store/mariadb.rs, RACY_SECONDS = 2): a
# version whose `transport` was written less than 2 s ago is no version, so without the wait
# the first apply would leave no record. On a real host the rows are older than that.
seed_mariadb() {
    local db=$1 n=$2 dir=$3 count
    [[ -n $mariadb_pid ]] || start_mariadb
    rm -f "$dir/root/hermes.sqlite"
    mariadb --no-defaults -S "$mariadb_sock" -uroot \
        -e "CREATE DATABASE $db CHARACTER SET latin1"
    mariadb --no-defaults -S "$mariadb_sock" -uroot "$db" \
        <"$repo/tests/integration/data/hermes-schema.mysql.sql"
    helper sql-file "$dir/rows.sql" "$n" "$dir/creds.txt"
    mariadb --no-defaults -S "$mariadb_sock" -uroot "$db" <"$dir/rows.sql"
    count=$(mariadb --no-defaults -S "$mariadb_sock" -uroot -N "$db" \
        -e "SELECT COUNT(*) FROM transport WHERE authentication = 'YES'")
    [[ $count == "$n" ]] || { echo "bench: $count rows loaded" >&2; exit 1; }
    database="mysql://root@localhost/$db?socket=$mariadb_sock"
    sleep 2.1
}

sasl_lines() {
    local dir=$1 lines
    lines=$(grep -c . "$dir/root/etc/postfix/sasl_passwd")
    [[ $lines == $((rows + 1)) ]] \
        || { echo "bench: sasl_passwd has $lines lines, expected $((rows + 1))" >&2; exit 1; }
}

bench_store() {
    local store=$1 dir="$tmp/$1" database=""
    echo "bench: $store: init, seeding $rows transport rows" >&2
    make_root "$dir"
    case $store in
        sqlite)
            helper seed-sqlite "$dir/root/hermes.sqlite" "$rows" "$dir/creds.txt"
            ;;
        mariadb)
            seed_mariadb hermes_bench "$rows" "$dir"
            ;;
        *) echo "bench: unknown store $store" >&2; exit 1 ;;
    esac
    helper args "$dir/base.json" "$dir" "$database"

    echo "bench: $store: measuring" >&2
    run "$store" "first apply (+ main.cf)" "first apply" true sasl_passwd "" "" -- \
        "$bin" "$dir/argsA.json"
    sasl_lines "$dir"
    # Age the new main.cf as on a real host: otherwise the next postmap waits ~1.5 s for it to
    # settle (see bench/README.md), which is not the cost of rebuilding sasl_passwd.
    touch -d '1 hour ago' "$dir/root/etc/postfix/main.cf"
    run "$store" - "no-change warm-up" false "" "" "" -- "$bin" "$dir/argsA.json"
    run "$store" "no-change apply" "no-change apply" false "" "" "" -- "$bin" "$dir/argsA.json"

    local current=A next
    for _ in $(seq 1 "$rebuild_runs"); do
        next=$([[ $current == A ]] && echo B || echo A)
        run "$store" "rebuild sasl_passwd (password)" "changed apply ($next)" true sasl_passwd \
            main.cf "" -- "$bin" "$dir/args$next.json"
        current=$next
    done
    sasl_lines "$dir"
    goal_rows_big "$store" "$dir"

    for i in $(seq 1 "$rotate_runs"); do
        run "$store" "rotate-key" "rotate-key #$i" true "" "" $((2 * rows + 2)) -- \
            "$bin" rotate-key --args-file "$dir/rotate.json"
        # Every value must still decrypt under the new key: nothing to change.
        run "$store" "no-change apply after rotation" "no-change apply after rotation #$i" \
            false "" "" "" -- "$bin" "$dir/args$current.json"
    done
    local backups
    backups=$(find "$dir/root/opt/hermes/keys" -name 'hermes.key.bak-*' | wc -l)
    [[ $backups == "$rotate_runs" ]] \
        || { echo "bench: $store: $backups key backups, expected $rotate_runs" >&2; exit 1; }
}

# --- The goal table (issue 13: SQLite; issue 19 item 5: MariaDB): each row as a ratio against
# its floor, paired medians -------------------------------------------------------------------

# What a row of the goal table says about STORE: its label prefix and its goals.
goals_of() {
    case $1 in
        sqlite)
            label="" big_nochange='{"ratio": 10}' big_rss=46875 rebuild='{"ratio": 2}' ;;
        mariadb)
            label="MariaDB: " big_nochange='{"ratio": 1}' big_rss="" rebuild='{"ratio": 1.5}' ;;
    esac
}

# Rows "no change" and "password changed" on the big root of STORE. Leaves $current naming
# the args the state matches.
goal_rows_big() {
    local store=$1 dir=$2 pf="$2/root/etc/postfix" next map_type label big_nochange big_rss rebuild
    goals_of "$store"
    next=$([[ $current == A ]] && echo B || echo A)
    pair_row "${label}no change, $rows rows, vs one postconf -n" "$goal_nochange_runs" false "" \
        "$big_nochange" "$big_rss" "postconf -c $pf -n" -- "$bin $dir/args$current.json"
    pair_row "  the same, every row read (diff mode)" \
        "$goal_nochange_runs" false "" '{}' "" "postconf -c $pf -n" -- \
        "$bin $dir/args$current-full.json"
    mkdir -p "$dir/floor"
    cp "$pf/sasl_passwd" "$dir/floor/sasl_passwd"
    map_type=$(postconf -c "$pf" -h smtp_sasl_password_maps)
    pair_row "${label}password changed, $rows rows, vs one postmap of that file" \
        "$goal_rebuild_runs" true "" "$rebuild" "" \
        "postmap -c $pf ${map_type%%:*}:$dir/floor/sasl_passwd" -- \
        "$bin $dir/args$next.json" "$bin $dir/args$current.json"
    # pair.py runs subject[0] once, then subject[1], subject[0], … (runs times).
    ((goal_rebuild_runs % 2)) || current=$next
}

# Row "no change, N rows" on a small root of STORE.
goal_row_small() {
    local store=$1 n=$2 dir="$tmp/small-$1-$2" database="" label big_nochange big_rss rebuild
    goals_of "$store"
    echo "bench: $store: small root with $n rows" >&2
    make_root "$dir"
    case $store in
        sqlite) helper seed-sqlite "$dir/root/hermes.sqlite" "$n" "$dir/creds.txt" ;;
        mariadb) seed_mariadb "hermes_small$n" "$n" "$dir" ;;
    esac
    helper args "$dir/base.json" "$dir" "$database"
    run "$store" - "first apply ($n rows)" true sasl_passwd "" "" -- "$bin" "$dir/argsA.json"
    touch -d '1 hour ago' "$dir/root/etc/postfix/main.cf"
    pair_row "${label}no change, $n rows, vs one postconf -n" "$goal_small_runs" false "" \
        '{"ratio": 1}' "" "postconf -c $dir/root/etc/postfix -n" -- "$bin $dir/argsA.json"
    pair_row "  the same, every row read (diff mode)" \
        "$goal_small_runs" false "" '{}' "" "postconf -c $dir/root/etc/postfix -n" -- \
        "$bin $dir/argsA-full.json"
}

# Row "a change that rewrites main.cf while Postfix runs": two 10-row roots with the settings
# of a private Postfix instance (own queue, loopback only, no smtp listener, as
# tests/integration/support), one started; the relay port alternates on both.
goal_row_live() {
    if [[ $(id -u) != 0 ]]; then
        echo "bench: not root: no private Postfix, the live-Postfix row is skipped" >&2
        return
    fi
    local kind dir pf inst
    for kind in stopped live; do
        dir="$tmp/$kind" pf="$tmp/$kind/root/etc/postfix" inst="$tmp/$kind/instance"
        make_root "$dir"
        helper seed-sqlite "$dir/root/hermes.sqlite" 10 "$dir/creds.txt"
        helper port-args "$dir/base.json" "$dir"
        mkdir -p "$inst/queue" "$inst/data" "$inst/log"
        # Daemons run as postfix and reach data_directory by absolute path.
        chmod 755 "$tmp" "$dir" "$inst" "$inst/queue" "$inst/log"
        chown postfix: "$inst/data"
        for file in "$dir/root/opt/hermes/conf_files/main.cf.HERMES" "$pf/main.cf"; do
            helper set-params "$file" compatibility_level=3.6 "queue_directory=$inst/queue" \
                "data_directory=$inst/data" inet_interfaces=loopback-only \
                inet_protocols=ipv4 smtp_dns_support_level=disabled mydestination= \
                alias_maps= "maillog_file=$inst/log/maillog" \
                "maillog_file_prefixes=/var, /dev/stdout, $inst/log"
            touch -d '1 hour ago' "$file"
        done
        postconf -c "$pf" -F '*/*/chroot = n'
        postconf -c "$pf" -M# smtp/inet
        touch -d '1 hour ago' "$pf/main.cf" "$pf/master.cf"
    done
    live_pf="$tmp/live/root/etc/postfix"
    postfix -c "$live_pf" start >&2
    postfix -c "$live_pf" status
    pair_row "main.cf change, Postfix running, vs the same with it stopped" "$goal_live_runs" \
        true true '{"diff_ms": 300}' "" "$bin $tmp/stopped/argsP1.json" \
        "$bin $tmp/stopped/argsP2.json" -- "$bin $tmp/live/argsP1.json" "$bin $tmp/live/argsP2.json"
    grep -c 'reload -- version' "$tmp/live/instance/log/maillog" >&2 || true
    stop_postfix
}

stop_postfix() {
    if [[ -n $live_pf ]]; then
        postfix -c "$live_pf" stop >&2 || true
        live_pf=""
    fi
}

pairs="$tmp/pairs.jsonl"
: >"$pairs"
: >"$tmp/runs.tsv"
for store in $stores; do
    bench_store "$store"
done
if [[ $goals == 1 ]]; then
    for store in $stores; do
        for n in 10 10000; do
            goal_row_small "$store" "$n"
        done
    done
    goal_row_live
fi

cpu=$(grep -m1 '^model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -z $(git -C "$repo" status --porcelain -- src Cargo.toml Cargo.lock templates 2>/dev/null) ]] \
    || rev="$rev+dirty"
[[ -z ${BENCH_BIN:-} ]] || rev="unknown (BENCH_BIN)"
mariadb_version=$(mariadbd --version 2>/dev/null | sed -n 's/.*Ver \([^ ]*\).*/\1/p' || true)
echo "machine: nproc=$(nproc), cpu=${cpu:-unknown}, kernel=$(uname -r)," \
    "postfix=$(postconf -d -h mail_version 2>/dev/null || echo '?'),"\
    "mariadb=${mariadb_version:-?}, commit=$rev, binary: $bench_build"
echo "timer: bash EPOCHREALTIME around GNU time; peak RSS: GNU time %M (the binary and the" \
    "postmap/postfix it runs; not the MariaDB server)"
helper table "$tmp/runs.tsv"
echo
echo "goals (issue 13: SQLite rows; issue 19 item 5: MariaDB rows; module run vs its floor" \
    "command, alternating, median of each):"
pair_table
end_ns=$(date +%s%N)
echo "total bench time: $(((end_ns - start_ns) / 1000000)) ms (including the build)"
