#!/usr/bin/env bash
# Stages the Salt side with the portable release binary, outside the source tree, as a
# file_roots tree (target/salt/):
#   _modules/hermes_relay_host.py   _states/hermes_relay_host.py
#   hermes_relay/  the formula, its FORMULA and README.md, and files/hermes-relayhost with its
#                  files/hermes-relayhost.sha256 (the install state takes the binary from there
#                  and checks it)
# With --package, also the tarball hermes_relay-VERSION.tar.gz of that tree (into target/, or
# --output-path DIR), ready for `tar -xzf hermes_relay-VERSION.tar.gz -C /srv/salt`.
#
#   modules/salt/build.sh                       # scripts/build-release.sh (glibc 2.17), x86_64
#   modules/salt/build.sh --package [--output-path DIR] [BINARY]
#   modules/salt/build.sh BINARY                # a binary built elsewhere, as it is
#
# The binary must match the minions' architecture; the portable build runs on any x86_64
# Linux with glibc >= 2.17. VERSION is modules/salt/FORMULA's, which must be Cargo.toml's.
set -euo pipefail
cd "$(dirname "$0")/../.."
name=salt/build.sh
# shellcheck source=scripts/build-lib.sh
. scripts/build-lib.sh

package=
output=target
binary=
own_option() {
  case $1 in
    --package) package=1 ;;
    -*) return 1 ;;
    *) binary=$1 ;;
  esac
}
parse_options "$@"

version=$(sed -n 's/^version: *//p' modules/salt/FORMULA)
same_version modules/salt/FORMULA "$version"

if [ -z "$binary" ]; then
  bash scripts/build-release.sh x86_64-unknown-linux-gnu
  binary=target/dist/x86_64/hermes-relayhost
fi
[ -x "$binary" ] || die "$binary: no such executable"

# A fresh tree each time: nothing of an earlier build (another binary) stays in it.
stage=target/salt
rm -rf "$stage"
mkdir -p "$stage"
cp -r modules/salt/_modules modules/salt/_states modules/salt/hermes_relay "$stage/"
find "$stage" -name __pycache__ -prune -exec rm -rf {} +
install -m 0644 modules/salt/FORMULA modules/salt/README.md "$stage/hermes_relay/"
files=$stage/hermes_relay/files
mkdir -p "$files"
install -m 0755 "$binary" "$files/hermes-relayhost"
(cd "$files" && sha256sum hermes-relayhost >hermes-relayhost.sha256)
echo "salt/build.sh: $stage (file_roots: _modules, _states, hermes_relay with the binary)"

if [ -n "$package" ]; then
  mkdir -p "$output"
  tarball=$output/hermes_relay-$version.tar.gz
  # Reproducible: sorted names, root-owned, one mtime (the last commit's, or the epoch given).
  epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
    -C "$stage" -cf - _modules _states hermes_relay | gzip -9n >"$tarball.tmp"
  mv -f "$tarball.tmp" "$tarball"
  echo "salt/build.sh: $tarball"
fi
