#!/usr/bin/env bash
# The project's one test command (README "Run the tests"): format and lint checks first (no
# root needed), then installs what the tests need (as root: apt, pinned Python venvs), checks
# the portable release binary, runs Ansible's own checks on the collection, and every unit and
# integration test, then the container tier: the module against a Hermes-like container topology
# (scripts/topology.sh; the images are built once and kept in target/topology-images).
# Each step's time is printed as it ends and again at the end (CONTRIBUTING.md's figures).
set -euo pipefail
cd "$(dirname "$0")/.."

times=()
report() {
  [ ${#times[@]} -eq 0 ] || printf '  %s\n' "${times[@]}" >&2
}
trap report EXIT
step() {
  local name=$1 start=$SECONDS
  shift
  "$@"
  times+=("$(printf '%-16s %4d s' "$name" $((SECONDS - start)))")
  echo "test.sh: $name took $((SECONDS - start)) s" >&2
}

step lint bash scripts/lint.sh
step installs bash scripts/install-test-deps.sh
# Builds target/dist/{x86_64,aarch64}/hermes-relayhost (glibc 2.17) and checks their symbol
# versions and that they run (aarch64 under qemu); ansible-checks.sh packages that same build.
step release-check bash scripts/check-release.sh --build x86_64 aarch64
step ansible-checks bash scripts/ansible-checks.sh
# Every release artifact into dist/ from that same build; tests/integration/release.rs installs
# each into a clean place and runs it.
step release bash scripts/release.sh x86_64 aarch64
step tests cargo test --locked

# The container tier (tests/container): Postfix and MariaDB containers in a private dockerd,
# taken down again whatever happens. The dir stays short: containerd's sockets live under it.
topology=$(mktemp -d /tmp/hrt.XXXXXX)
trap 'bash scripts/topology.sh down "$topology"; report' EXIT
step topology-up bash scripts/topology.sh up "$topology"
step container-tests env HERMES_TOPOLOGY="$topology/topology.env" \
  cargo test --locked --test container

echo "test.sh: all passed in $SECONDS s" >&2
