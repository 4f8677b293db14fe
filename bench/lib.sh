# Sourced by bench/run.sh (expects $repo set). bench/scale.rs (`cargo bench --bench scale`)
# does the same in Rust: build_release (the same binary and knobs), make_root, pair_row.

# Builds the release binary and sets $bin to it. BENCH_PROFILE=NAME builds that cargo profile
# instead (it must say so in any figures quoted); BENCH_BIN=PATH measures that binary as is
# (e.g. an older build, for before/after) and builds nothing.
build_release() {
    if [[ -n ${BENCH_BIN:-} ]]; then
        bin=$BENCH_BIN
        [[ -x $bin ]] || { echo "bench: BENCH_BIN=$bin is not executable" >&2; exit 1; }
        bench_build="BENCH_BIN=$bin"
        return
    fi
    local profile=${BENCH_PROFILE:-release}
    echo "bench: building the $profile profile" >&2
    (cd "$repo" && cargo build --profile "$profile" --locked)
    local target_dir=${CARGO_TARGET_DIR:-target} dir=$profile
    [[ $profile == dev ]] && dir=debug
    [[ $target_dir == /* ]] || target_dir="$repo/$target_dir"
    bin="$target_dir/$dir/hermes-relayhost"
    [[ -x $bin ]] || { echo "bench: no binary at $bin" >&2; exit 1; }
    bench_build="cargo profile $profile"
}

# Base64 of AES-256-ECB/PKCS#7 of $2 under the hex key $1, as Hermes stores credentials.
encrypt() {
    printf '%s' "$2" | openssl enc -aes-256-ecb -K "$1" | base64 -w0
}

# A fresh root from `init` in $1/root (base args in $1/base.json), aged, and ten credential
# pairs encrypted under its key in $1/creds.txt. Postfix (dict_load_file) re-reads a main.cf
# every 0.3 s until its mtime is ~2 s old, so a postmap right after `init` would stall: the
# fresh files are aged, as on a real host.
make_root() {
    local dir=$1 keyhex
    mkdir -p "$dir"
    "$bin" init --root "$dir/root" >"$dir/base.json"
    find "$dir/root" -type f -exec touch -d '1 hour ago' {} +
    keyhex=$(base64 -d "$dir/root/opt/hermes/keys/hermes.key" | od -An -v -tx1 | tr -d ' \n')
    [[ ${#keyhex} == 64 ]] || { echo "bench: unexpected key in $dir/root" >&2; exit 1; }
    : >"$dir/creds.txt"
    for i in $(seq 0 9); do
        printf '%s %s\n' "$(encrypt "$keyhex" "user$i@example.net")" \
            "$(encrypt "$keyhex" "pw-$i-Secret")" >>"$dir/creds.txt"
    done
}

# pair_row LABEL RUNS EXPECT FLOOR_EXPECT GOAL RSS_GOAL FLOOR... -- SUBJECT...: one row of the
# issue-13 goal table (bench/pair.py), appended to $pairs. FLOOR and SUBJECT are commands as
# single whitespace-separated strings (several are cycled); EXPECT/FLOOR_EXPECT: true, false
# or "" (not a module run); GOAL: '{"ratio": 10}' or '{"diff_ms": 300}'; RSS_GOAL: KiB or "".
pair_row() {
    local label=$1 runs=$2 expect=$3 floor_expect=$4 goal=$5 rss_goal=$6
    shift 6
    local spec
    spec=$(mktemp "${TMPDIR:-/tmp}/hermes-relayhost-pair.XXXXXX")
    python3 - "$spec" "$label" "$runs" "$expect" "$floor_expect" "$goal" "$rss_goal" "$@" <<'PY'
import json, sys
out, label, runs, expect, floor_expect, goal, rss_goal, *cmds = sys.argv[1:]
cut = cmds.index("--")
flag = {"true": True, "false": False, "": None}
spec = dict(label=label, runs=int(runs), expect=flag[expect], floor_expect=flag[floor_expect],
            goal=json.loads(goal), floor=[c.split() for c in cmds[:cut]],
            subject=[c.split() for c in cmds[cut + 1:]])
if rss_goal:
    spec["rss_goal_kib"] = int(rss_goal)
json.dump(spec, open(out, "w"))
PY
    python3 "$repo/bench/pair.py" run "$spec" "$pairs"
    rm -f "$spec"
}

# The goal table of the rows measured so far.
pair_table() {
    python3 "$repo/bench/pair.py" table "$pairs"
}
