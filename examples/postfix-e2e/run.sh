#!/usr/bin/env bash
# End to end in one go: a throwaway Hermes root, a private Postfix reading that root's
# etc/postfix, and a local smarthost that requires AUTH. hermes-relayhost configures the relay
# (with credentials), reloads the running Postfix, a mail is sent with sendmail and the
# smarthost's record of it is printed. Everything is stopped and removed at the end
# (KEEP=1 keeps the work dir for a look around).
#
# Run as root after scripts/install-test-deps.sh (Postfix tools, SASL plugins, openssl and
# the aiosmtpd venv in target/test-venv). Nothing outside the work dir is touched; no
# system Postfix is started or changed.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD

[ "$(id -u)" -eq 0 ] || { echo "run.sh: run as root (it starts a private Postfix)" >&2; exit 1; }
PY=$REPO/target/test-venv/bin/python
[ -x "$PY" ] || { echo "run.sh: $PY missing: run scripts/install-test-deps.sh" >&2; exit 1; }
command -v postfix >/dev/null || { echo "run.sh: postfix missing: run scripts/install-test-deps.sh" >&2; exit 1; }

echo "== building hermes-relayhost"
cargo build --quiet
BIN=$REPO/target/debug/hermes-relayhost

WORK=$(mktemp -d /tmp/hermes-e2e.XXXXXX)
chmod 755 "$WORK"              # Postfix daemons (user postfix) must traverse it
ROOT=$WORK/root
PF=$ROOT/etc/postfix           # the module writes here; the instance reads it
INST=$WORK/instance
SMARTHOST_PID=

cleanup() {
  set +e
  [ -n "$SMARTHOST_PID" ] && kill "$SMARTHOST_PID" 2>/dev/null && wait "$SMARTHOST_PID" 2>/dev/null
  [ -f "$PF/main.cf" ] && postfix -c "$PF" stop 2>/dev/null
  if [ "${KEEP:-0}" = 1 ]; then echo "== kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

echo "== init a Hermes root in $ROOT"
"$BIN" init --root "$ROOT" >/dev/null

# What the private instance needs besides the relay. It goes into the BASE TEMPLATE the module
# renders main.cf from, so every apply keeps it (and into the current main.cf, to start with).
mkdir -p "$INST/queue" "$INST/data" "$INST/log"
chmod 755 "$INST" "$INST/queue" "$INST/log"
chown postfix: "$INST/data"
SETTINGS=(
  "queue_directory = $INST/queue"
  "data_directory = $INST/data"
  "inet_interfaces = loopback-only"
  "inet_protocols = all"
  "smtp_dns_support_level = disabled"
  "mydestination ="
  "maillog_file = $INST/log/maillog"
  "maillog_file_prefixes = /var, /dev/stdout, $INST/log"
)
set_params() { # FILE: replace each setting's line (or append it)
  local file=$1 line key
  for line in "${SETTINGS[@]}"; do
    key=${line%% =*}
    grep -v -E "^${key}[[:space:]]*=" "$file" >"$file.new" || true
    echo "$line" >>"$file.new"
    mv "$file.new" "$file"
  done
}
set_params "$ROOT/opt/hermes/conf_files/main.cf.HERMES"
set_params "$PF/main.cf"
postconf -c "$PF" -F '*/*/chroot = n'   # no chroot: the paths above are real paths
postconf -c "$PF" -M# smtp/inet         # no inbound listener

echo "== start a private Postfix (config $PF)"
postfix -c "$PF" start

echo "== start a smarthost on 127.0.0.1 that requires AUTH (relayuser / s3cret pass)"
echo '{"relayuser": "s3cret pass"}' >"$WORK/users.json"
"$PY" "$REPO/tests/integration/support/smarthost.py" --host 127.0.0.1 --port 0 --mode plain \
  --users "$WORK/users.json" --log "$WORK/smarthost.jsonl" --ready "$WORK/ready.json" \
  2>"$WORK/smarthost.err" &
SMARTHOST_PID=$!
for _ in $(seq 100); do [ -s "$WORK/ready.json" ] && break; sleep 0.1; done
PORT=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$WORK/ready.json")
echo "   listening on port $PORT"

echo "== apply the relay with hermes-relayhost (masked diff below; JSON result in result.json)"
cat >"$WORK/args.json" <<EOF
{
  "root": "$ROOT",
  "postfix_exec": [],
  "vars": {"banner": "Hermes SEG", "inet_interfaces": "loopback-only"},
  "host": "127.0.0.1",
  "port": $PORT,
  "tls": "none",
  "username": "relayuser",
  "password": "s3cret pass",
  "sasl_security_options": "noanonymous"
}
EOF
"$BIN" apply --args-file "$WORK/args.json" --diff >"$WORK/result.json"
"$PY" - "$WORK/result.json" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"   changed={r['changed']} failed={r['failed']} msg={r['msg']!r} warnings={r['warnings']}")
sys.exit(1 if r["failed"] else 0)
PYEOF
grep -E 'reload -- version' "$INST/log/maillog" | tail -1 | sed 's/^/   maillog: /'

echo "== send a mail with sendmail"
printf 'From: sender@origin.invalid\nTo: rcpt@remote.invalid\nSubject: hello through the relay\n\nhi\n' |
  sendmail -C "$PF" -f sender@origin.invalid rcpt@remote.invalid

for _ in $(seq 200); do [ -s "$WORK/smarthost.jsonl" ] && break; sleep 0.1; done
if [ -s "$WORK/smarthost.jsonl" ]; then
  echo "== the smarthost received (one JSON line per message):"
  cat "$WORK/smarthost.jsonl"
else
  echo "== nothing arrived; the maillog says:" >&2
  cat "$INST/log/maillog" >&2
  exit 1
fi
