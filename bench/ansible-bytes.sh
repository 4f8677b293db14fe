#!/usr/bin/env bash
# Bytes the Ansible collection sends to each managed host (issue 24.3), against a playbook of
# ansible.builtin modules that does the same work (bench/ansible/builtin-rotate.yml).
#
#   bash bench/ansible-bytes.sh        # builds (cargo build --release --locked), then ~1-2 min
#
# examples/fleet-rotation/setup.sh makes two simulated fleets of BENCH_HOSTS (20) local hosts;
# the release binary goes into a private copy of the collection. Each playbook runs twice on
# its own fleet with forks BENCH_FORKS (5), all hosts in one batch (rotate_batches: 100%), a
# new relay password each time:
#   - examples/fleet-rotation/rotate.yml (hermes_seg.relay.relay_host): the first run uploads
#     the binary xz-compressed into each host's cache (a cache dir per host, under its root) and
#     runs the Python module once; the second runs the cached binary in one command;
#   - bench/ansible/builtin-rotate.yml: slurp, command (openssl), command (sqlite3),
#     blockinfile, copy, and the handlers postmap and postfix status.
# Ansible runs over bench/ansible/connection_plugins/bytes_local.py, the local connection
# counting every command line with its stdin and every file put, per host. Prints bytes per
# host (mean, min, max), the ratios and wall times; the first run of rotate.yml includes making
# the controller's compressed copy of the binary (once per binary, kept under ANSIBLE_HOME).
# Needs the test venv (scripts/install-python-deps.sh), Postfix's postmap/postfix, sqlite3 and
# openssl. Nothing is asserted; BENCH_KEEP_TMP=1 keeps the temp dir.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/.." && pwd)
hosts=${BENCH_HOSTS:-20}
forks=${BENCH_FORKS:-5}
venv=$repo/target/test-venv
for tool in python3 postmap postfix sqlite3 openssl "$venv/bin/ansible-playbook"; do
    command -v "$tool" >/dev/null || { echo "bench: '$tool' is required" >&2; exit 1; }
done

# shellcheck source=bench/lib.sh
source "$repo/bench/lib.sh"
build_release

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hermes-relayhost-bytes.XXXXXX")
cleanup() {
    if [[ ${BENCH_KEEP_TMP:-0} == 1 ]]; then echo "bench: keeping $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

mkdir -p "$tmp/collections" "$tmp/home"
cp -r "$repo/modules/ansible/ansible_collections" "$tmp/collections/"
collection=$tmp/collections/ansible_collections/hermes_seg/relay
rm -rf "$collection/files"
install -D -m 0755 "$bin" "$collection/files/$(uname -m)/hermes-relayhost"
for fleet in relay builtin; do
    HERMES_RELAYHOST=$bin bash "$repo/examples/fleet-rotation/setup.sh" "$tmp/$fleet" "$hosts" >&2
    # Aged, as on a real host (Postfix re-reads a main.cf younger than ~2 s).
    find "$tmp/$fleet/hosts" -type f -exec touch -d '1 hour ago' {} +
done

export HOME=$tmp/home ANSIBLE_HOME=$tmp/home/.ansible LC_ALL=C.UTF-8 ANSIBLE_NOCOLOR=1 \
    ANSIBLE_COLLECTIONS_PATH=$tmp/collections ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false \
    ANSIBLE_CONNECTION_PLUGINS=$repo/bench/ansible/connection_plugins \
    ANSIBLE_PYTHON_INTERPRETER=$venv/bin/python ANSIBLE_FORKS=$forks \
    ANSIBLE_LOCAL_TEMP=$tmp/tmp-local ANSIBLE_REMOTE_TEMP=$tmp/tmp-remote \
    ANSIBLE_HOST_KEY_CHECKING=false ANSIBLE_RETRY_FILES_ENABLED=0

# run NAME FLEET PLAYBOOK PASSWORD: one run, its byte log in $tmp/NAME.bytes, its time.
run() {
    local name=$1 fleet=$2 playbook=$3 password=$4 start end
    printf '{"relay_password": "%s", "rotate_batches": ["100%%"]}' "$password" >"$tmp/$name.vars.json"
    start=$(date +%s%N)
    HERMES_BENCH_BYTES=$tmp/$name.bytes "$venv/bin/ansible-playbook" \
        -i "$tmp/$fleet/inventory.yml" "$playbook" -e "@$tmp/$name.vars.json" \
        -e ansible_connection=bytes_local \
        -e 'hermes_relay_cache_dir={{ relay_root }}/.cache/hermes_seg.relay' \
        >"$tmp/$name.out" 2>&1 || { cat "$tmp/$name.out" >&2; echo "bench: $name failed" >&2; exit 1; }
    end=$(date +%s%N)
    echo $(((end - start) / 1000000)) >"$tmp/$name.ms"
    grep -q "failed=0" "$tmp/$name.out" || { cat "$tmp/$name.out" >&2; exit 1; }
}

echo "bench: rotate.yml (hermes_seg.relay), first and second run" >&2
run relay-first relay "$repo/examples/fleet-rotation/rotate.yml" "0ld-Relay-Secret"
run relay-again relay "$repo/examples/fleet-rotation/rotate.yml" "n3w-Relay-Secret"
echo "bench: builtin-rotate.yml, first and second run" >&2
run builtin-first builtin "$repo/bench/ansible/builtin-rotate.yml" "0ld-Relay-Secret"
run builtin-again builtin "$repo/bench/ansible/builtin-rotate.yml" "n3w-Relay-Secret"

# The builtin play did the work: its map answers with the new password.
h1=$tmp/builtin/hosts/hermes$(printf '%0*d' ${#hosts} 1)
postmap -c "$h1/etc/postfix" -q "[smtp.example.com]:587" "hash:$h1/etc/postfix/sasl_passwd" \
    | grep -q "n3w-Relay-Secret" || { echo "bench: builtin-rotate.yml did not rotate" >&2; exit 1; }

python3 - "$tmp" "$hosts" "$forks" "$(uname -m)" "$bench_build" \
    "$(stat -c %s "$bin")" "$("$venv/bin/ansible" --version | head -1)" <<'PY'
import collections, json, os, sys
tmp, hosts, forks, arch, build, size, version = sys.argv[1:]
def per_host(name):
    total = collections.Counter()
    with open(os.path.join(tmp, name + '.bytes')) as f:
        for line in f:
            host, kind, n = json.loads(line)
            total[host] += n
    return total
rows = {}
for name in ('relay-first', 'relay-again', 'builtin-first', 'builtin-again'):
    t = per_host(name)
    values = list(t.values())
    ms = int(open(os.path.join(tmp, name + '.ms')).read())
    rows[name] = (sum(values) / len(values), min(values), max(values), len(values), ms)
packed = [os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(os.path.join(tmp, 'home', '.ansible', 'hermes_seg.relay'))
          for f in fs if f == 'hermes-relayhost']
print('%s hosts, forks %s, %s; %s; %s' % (hosts, forks, version, arch, build))
print('binary %s bytes, sent xz-compressed as %s bytes' % (size, packed[0] if packed else '?'))
print('%-34s %12s %12s %12s %6s %9s' % ('run', 'bytes/host', 'min', 'max', 'hosts', 'wall ms'))
labels = {'relay-first': 'rotate.yml, first run (upload)', 'relay-again': 'rotate.yml, again (cached)',
          'builtin-first': 'builtin-rotate.yml, first run', 'builtin-again': 'builtin-rotate.yml, again'}
for name, (mean, lo, hi, n, ms) in rows.items():
    print('%-34s %12.0f %12d %12d %6d %9d' % (labels[name], mean, lo, hi, n, ms))
print('first run: rotate.yml / builtin = %.2fx the bytes per host' % (rows['relay-first'][0] / rows['builtin-first'][0]))
print('again:     rotate.yml / builtin = %.4fx the bytes per host' % (rows['relay-again'][0] / rows['builtin-again'][0]))
print('wall time: first %.2fx, again %.2fx' % (rows['relay-first'][4] / rows['builtin-first'][4],
                                               rows['relay-again'][4] / rows['builtin-again'][4]))
PY
