#!/usr/bin/env bash
# The project's one test command (README "Run the tests"): installs what the tests need,
# then runs format and lint checks and every unit and integration test.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked
