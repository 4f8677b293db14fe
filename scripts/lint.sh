#!/usr/bin/env bash
# Format and lint checks: fast, no root, no test dependencies; run first (scripts/test.sh, CI).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
# The container tier's crate is `test = false`, which `--all-targets` leaves out.
cargo clippy --locked --test container -- -D warnings
