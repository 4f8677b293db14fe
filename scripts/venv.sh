# Sourced by the scripts that keep a pinned Python venv under target/ (install-python-deps.sh,
# build-release.sh): a re-run with the pins in place only checks them.

# Exit 0 when every pin (NAME==VERSION) is installed in venv $1, exactly.
pins_ok() {
  local venv=$1
  shift
  [ -x "$venv/bin/python" ] || return 1
  "$venv/bin/python" - "$@" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version, PackageNotFoundError
for pin in sys.argv[1:]:
    name, want = pin.split("==")
    try:
        if version(name) != want:
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PY
}

# A python3 that can make venvs (a bare Debian has python3 without venv/ensurepip).
python=
base_python() {
  [ -n "$python" ] && return
  python=$(command -v python3 || true)
  if [ -z "$python" ] || ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends python3 python3-venv python3-dev gcc
    python=/usr/bin/python3
  fi
}

# ensure_venv VENV CONSTRAINTS PIN...: (re)builds VENV unless it has exactly these pins;
# CONSTRAINTS (pip constraints text, may be empty) pins their dependencies.
ensure_venv() {
  local venv=$1 constraints=$2 file
  shift 2
  if ! pins_ok "$venv" "$@"; then
    base_python
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    "$python" -m venv "$venv"
    file=$(mktemp)
    printf '%s\n' "$constraints" >"$file"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -c "$file" "$@"
    rm -f "$file"
    pins_ok "$venv" "$@" || { echo "$venv: pinned versions did not install: $*" >&2; exit 1; }
  fi
}
