#!/usr/bin/env bash
# Installs the Python runners the integration tests drive for real (ansible-core, salt) and the
# test smarthost (aiosmtpd) into one venv, target/test-venv, at pinned versions. Tests look for
# the runners there and fail (not skip) when they are missing. A re-run with the pins already
# installed only checks them (well under a second); a venv with other versions is rebuilt.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=target/test-venv
PINS=(
  "ansible-core==2.19.14"
  "salt==3008.4"
  "aiosmtpd==1.4.6"
)

# Exit 0 when every pin is installed in the venv, exactly.
pins_ok() {
  [ -x "$VENV/bin/python" ] || return 1
  "$VENV/bin/python" - "${PINS[@]}" <<'EOF' 2>/dev/null
import sys
from importlib.metadata import version, PackageNotFoundError
for pin in sys.argv[1:]:
    name, want = pin.split("==")
    try:
        if version(name) != want:
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
EOF
}

if ! pins_ok; then
  python=$(command -v python3 || true)
  if [ -z "$python" ] || ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
    # A bare Debian has python3 without venv/ensurepip.
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends python3 python3-venv python3-dev gcc
    python=/usr/bin/python3
  fi
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  "$python" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PINS[@]}"
  pins_ok || { echo "install-python-deps: pinned versions did not install" >&2; exit 1; }
fi

"$VENV/bin/python" - "${PINS[@]}" <<'EOF'
import sys
from importlib.metadata import version
for pin in sys.argv[1:]:
    name = pin.split("==")[0]
    print(f"{name} {version(name)}")
EOF
