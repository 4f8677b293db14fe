#!/usr/bin/env bash
# Puts the binary and its SHA-256 into the formula (hermes_relay/files/), where the install
# state takes them from (salt://hermes_relay/files/hermes-relayhost, checked by source_hash).
#
#   modules/salt/build.sh          # cargo build --release, then copy it
#   modules/salt/build.sh BINARY   # copy a binary built elsewhere (e.g. for glibc 2.17)
#
# The binary must match the minions' OS and architecture.
set -euo pipefail
cd "$(dirname "$0")/../.."

binary=${1:-}
if [ -z "$binary" ]; then
  cargo build --release --locked
  binary=target/release/hermes-relayhost
fi
files=modules/salt/hermes_relay/files
mkdir -p "$files"
install -m 0755 "$binary" "$files/hermes-relayhost"
(cd "$files" && sha256sum hermes-relayhost >hermes-relayhost.sha256)
echo "placed $files/hermes-relayhost and its .sha256"
