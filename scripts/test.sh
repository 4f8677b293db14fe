#!/usr/bin/env bash
# The project's one test command (README "Run the tests"): format and lint checks first (no
# root needed), then installs what the tests need (as root: apt, pinned Python venvs), checks
# the portable release binary, runs Ansible's own checks on the collection, and every unit and
# integration test.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/lint.sh
bash scripts/install-test-deps.sh
# Builds target/dist/x86_64/hermes-relayhost (glibc 2.17) and checks its symbol versions and
# that it runs; ansible-checks.sh packages that same build.
bash scripts/check-release.sh
bash scripts/ansible-checks.sh
cargo test --locked
