#!/usr/bin/env bash
# Places the compiled module into the collection, so `ANSIBLE_COLLECTIONS_PATH=modules/ansible`
# finds hermes_seg.relay.relay_host, and with --package builds the collection tarball
# (target/hermes_seg-relay-VERSION.tar.gz) for `ansible-galaxy collection install`.
#
#   modules/ansible/build.sh             # cargo build --release, copy the binary
#   modules/ansible/build.sh --package   # ... and ansible-galaxy collection build
#
# The binary is built for this machine's target; it must match the managed hosts' OS and
# architecture (build it for those with `cargo build --release --target ...` and copy it by hand).
set -euo pipefail
cd "$(dirname "$0")/../.."

collection=modules/ansible/ansible_collections/hermes_seg/relay
cargo build --release --locked
install -m 0755 target/release/hermes-relayhost "$collection/plugins/modules/relay_host"
echo "placed $collection/plugins/modules/relay_host"

if [ "${1:-}" = "--package" ]; then
  galaxy=${ANSIBLE_GALAXY:-$(command -v ansible-galaxy || echo target/test-venv/bin/ansible-galaxy)}
  "$galaxy" collection build --force --output-path target "$collection"
fi
