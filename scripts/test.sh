#!/usr/bin/env bash
# The project's one test command (README "Run the tests"): format and lint checks first (no
# root needed), then installs what the tests need (as root: apt, pinned Python venvs), checks
# the portable release binary, runs Ansible's own checks on the collection, and every unit and
# integration test, then the container tier: the module against a Hermes-like container topology
# (scripts/topology.sh; the images are built once and kept in target/topology-images).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/lint.sh
bash scripts/install-test-deps.sh
# Builds target/dist/x86_64/hermes-relayhost (glibc 2.17) and checks its symbol versions and
# that it runs; ansible-checks.sh packages that same build.
bash scripts/check-release.sh
bash scripts/ansible-checks.sh
# Every release artifact into dist/ from that same build; tests/integration/release.rs installs
# each into a clean place and runs it.
bash scripts/release.sh
cargo test --locked

# The container tier (tests/container): Postfix and MariaDB containers in a private dockerd,
# taken down again whatever happens. The dir stays short: containerd's sockets live under it.
topology=$(mktemp -d /tmp/hrt.XXXXXX)
trap 'bash scripts/topology.sh down "$topology"' EXIT
bash scripts/topology.sh up "$topology"
HERMES_TOPOLOGY="$topology/topology.env" cargo test --locked --test container
