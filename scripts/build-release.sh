#!/usr/bin/env bash
# Builds the release binary for each Rust target triple given (default
# x86_64-unknown-linux-gnu) against glibc 2.17, so that it runs on any Linux of that
# architecture with glibc >= 2.17 whatever this machine's glibc is. cargo-zigbuild links with
# zig's glibc 2.17 stubs; both are pinned, with hashes, in requirements/zigbuild.txt and installed
# from PyPI into target/zigbuild-venv on first use (a re-run with the pins in place only checks
# them).
#
#   bash scripts/build-release.sh [TRIPLE...]
#
# Writes target/dist/<arch>/hermes-relayhost, <arch> as Ansible's `ansible_architecture` names
# it (x86_64, aarch64), replacing it atomically. Needs the Rust standard library of each
# target: the toolchain's (`rustup target add`) or, where that cannot be fetched, Debian's
# rustc (package rustc-web, /usr/bin/rustc) with its std for the target (aarch64:
# libstd-rust-web-dev:arm64, which scripts/install-test-deps.sh installs). Safe to run beside
# other cargo builds: cargo's own lock serialises builds in one target directory, and nothing
# is cleaned.
set -euo pipefail
cd "$(dirname "$0")/.."

GLIBC=2.17
VENV=target/zigbuild-venv
REQUIREMENTS=requirements/zigbuild.txt

die() {
  echo "build-release: $*" >&2
  exit 1
}

# The `ansible_architecture` of a target triple; nothing for one this script does not build.
ansible_arch() {
  case "$1" in
    x86_64-unknown-linux-gnu) echo x86_64 ;;
    aarch64-unknown-linux-gnu) echo aarch64 ;;
  esac
}

# The rustc that has the Rust standard library for the triple: the toolchain's (`rustc` on
# PATH) first, then Debian's; nothing when neither has it. Each looks in its own sysroot.
rustc_for() {
  local rustc
  for rustc in "$(command -v rustc)" /usr/bin/rustc; do
    [ -x "$rustc" ] || continue
    if compgen -G "$("$rustc" --print sysroot)/lib/rustlib/$1/lib/libstd-*.rlib" >/dev/null; then
      echo "$rustc"
      return
    fi
  done
}

source scripts/venv.sh

triples=("$@")
[ ${#triples[@]} -gt 0 ] || triples=(x86_64-unknown-linux-gnu)

# Check every target before the first (long) build.
for triple in "${triples[@]}"; do
  [ -n "$(ansible_arch "$triple")" ] ||
    die "unsupported target '$triple': use x86_64-unknown-linux-gnu or aarch64-unknown-linux-gnu"
  [ -n "$(rustc_for "$triple")" ] ||
    die "the Rust standard library for $triple is not installed: run 'rustup target add $triple' where static.rust-lang.org is reachable, or on Debian 12 install rustc-web and libstd-rust-web-dev:<arch> (bash scripts/install-test-deps.sh does it for aarch64), then re-run"
done

ensure_venv "$VENV" "$REQUIREMENTS"

# One value per commit, the one release.sh packages with: cc reruns the C builds (ring, SQLite,
# psm) when it changes, so check-release.sh and release.sh then share one build.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}

# The pinned zig, not whatever `zig` is on PATH; cargo-zigbuild's wrappers stay under target/.
CARGO_ZIGBUILD_ZIG_PATH=$("$VENV/bin/python" -c \
  'import os, ziglang; print(os.path.join(os.path.dirname(ziglang.__file__), "zig"))')
export CARGO_ZIGBUILD_ZIG_PATH
export CARGO_ZIGBUILD_CACHE_DIR=$PWD/target/zigbuild-cache
export PATH=$PWD/$VENV/bin:$PATH

target_dir=$(cargo metadata --format-version 1 --no-deps --locked |
  "$VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')

for triple in "${triples[@]}"; do
  arch=$(ansible_arch "$triple")
  RUSTC=$(rustc_for "$triple") cargo zigbuild --release --locked --target "$triple.$GLIBC"
  built=$target_dir/$triple/release/hermes-relayhost
  dist=target/dist/$arch
  mkdir -p "$dist"
  tmp=$(mktemp "$dist/.hermes-relayhost.XXXXXX")
  trap 'rm -f "$tmp"' EXIT
  cp "$built" "$tmp"
  chmod 0755 "$tmp"
  mv -f "$tmp" "$dist/hermes-relayhost"
  echo "build-release: $dist/hermes-relayhost ($triple, glibc >= $GLIBC, $(stat -c %s "$dist/hermes-relayhost") bytes)"
done
