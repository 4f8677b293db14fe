#!/usr/bin/env bash
# Checks the portable release binary (CONTRACT.md "Distribution"):
# - `objdump -T` shows glibc symbol versions, none newer than GLIBC_2.17 (fails naming the
#   offending symbols);
# - it runs (on this machine's architecture, or an aarch64 one under qemu-aarch64-static, which
#   scripts/install-test-deps.sh installs): `--version`, `init` into a temp dir, one
#   module-mode apply of examples/relay.json's options there (`postfix_exec: []`, so this
#   host's postmap/postfix) that changes, and the same args again that change nothing.
#
#   bash scripts/check-release.sh            # builds (scripts/build-release.sh), checks x86_64
#   bash scripts/check-release.sh --build x86_64 aarch64   # builds and checks those
#   bash scripts/check-release.sh BINARY...  # checks those binaries as they are
set -euo pipefail
cd "$(dirname "$0")/.."

GLIBC_MAX=2.17

fail() {
  echo "check-release: $*" >&2
  exit 1
}

# Fails unless every GLIBC_* version the binary references is at most GLIBC_MAX.
check_glibc() {
  local bin=$1 table newest bad
  table=$(objdump -T "$bin") || fail "$bin: objdump -T failed"
  # Lines look like "... DF *UND* ... (GLIBC_2.14) memcpy" (the parentheses only for a
  # hidden version): print "VERSION SYMBOL" for each glibc-versioned symbol.
  table=$(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\(?GLIBC_/) { v = $i; gsub(/[()]/, "", v); print v, $NF } }' <<<"$table")
  [ -n "$table" ] || fail "$bin: objdump -T lists no GLIBC_ symbol versions (not a glibc binary?)"
  bad=$(while read -r version symbol; do
    case "$version" in
      GLIBC_[0-9]*) ;;
      *) echo "$symbol@$version"; continue ;;
    esac
    if [ "$(printf '%s\n%s\n' "${version#GLIBC_}" "$GLIBC_MAX" | sort -V | tail -n1)" != "$GLIBC_MAX" ]; then
      echo "$symbol@$version"
    fi
  done <<<"$table" | sort -u)
  [ -z "$bad" ] || fail "$bin needs glibc newer than $GLIBC_MAX: $(tr '\n' ' ' <<<"$bad")"
  newest=$(cut -d' ' -f1 <<<"$table" | sort -uV | tail -n1)
  echo "check-release: $bin: newest glibc symbol version $newest (<= GLIBC_$GLIBC_MAX)"
}

# Fails unless the binary runs here: --version, init, an apply that changes, one that does not.
check_runs() {
  local want out bin
  bin=("$@")
  want=$(cargo pkgid --locked)
  want=${want##*[#@]}
  out=$("${bin[@]}" --version) || fail "${bin[*]} --version failed"
  [ "$out" = "hermes-relayhost $want" ] || fail "${bin[*]} --version printed '$out', not 'hermes-relayhost $want'"
  rm -rf "$tmp/root"
  "${bin[@]}" init --root "$tmp/root" >"$tmp/init.json" || fail "${bin[*]} init failed"
  python3 - examples/relay.json "$tmp/root" >"$tmp/args.json" <<'EOF'
import json, sys
args = json.load(open(sys.argv[1]))
args["root"] = sys.argv[2]
args["postfix_exec"] = []
json.dump(args, sys.stdout)
EOF
  chmod 0600 "$tmp/args.json"
  for want in true false; do
    "${bin[@]}" "$tmp/args.json" >"$tmp/out.json" || fail "${bin[*]} apply exited non-zero: $(cat "$tmp/out.json")"
    python3 - "$tmp/out.json" "$want" <<'EOF' || fail "${bin[*]} apply: unexpected result: $(cat "$tmp/out.json")"
import json, sys
out = json.load(open(sys.argv[1]))
sys.exit(0 if out["failed"] is False and out["changed"] is (sys.argv[2] == "true") else 1)
EOF
  done
  grep -q '^relayhost = \[smtp.example.com\]:587$' "$tmp/root/etc/postfix/main.cf" ||
    fail "${bin[*]} apply: main.cf has no 'relayhost = [smtp.example.com]:587'"
  echo "check-release: ${bin[*]}: --version, init, apply (changed) and apply again (no change) ran"
}

command -v objdump >/dev/null || fail "objdump not found: install binutils"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=(--build x86_64)
if [ "${bins[0]}" = --build ]; then
  archs=("${bins[@]:1}")
  bash scripts/build-release.sh "${archs[@]/%/-unknown-linux-gnu}"
  bins=("${archs[@]/#/target/dist/}")
  bins=("${bins[@]/%//hermes-relayhost}")
fi

here=$(uname -m)
for bin in "${bins[@]}"; do
  [ -x "$bin" ] || fail "$bin: no such executable"
  check_glibc "$bin"
  case "$(od -An -tx1 -j18 -N2 "$bin" | tr -d ' ')" in
    3e00) arch=x86_64 ;;
    b700) arch=aarch64 ;;
    *) arch=other ;;
  esac
  if [ "$arch" = "$here" ]; then
    check_runs "$bin"
  elif [ "$arch" = aarch64 ] && command -v qemu-aarch64-static >/dev/null; then
    check_runs qemu-aarch64-static "$bin"
  else
    echo "check-release: $bin: built for $arch, not run on this $here machine"
  fi
done
