# shellcheck shell=bash
# Sourced by the scripts that keep a pinned Python venv under target/ (install-python-deps.sh,
# build-release.sh): a re-run with the pins in place only checks them.

# Exit 0 when every NAME==VERSION line of requirements file $2 is installed in venv $1, exactly.
pins_ok() {
  local venv=$1 requirements=$2
  [ -x "$venv/bin/python" ] || return 1
  "$venv/bin/python" - "$requirements" <<'PY' 2>/dev/null
import re, sys
from importlib.metadata import distributions
def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()
# One pass over the installed distributions: a lookup per pin rescans site-packages each time.
have = {}
for dist in distributions():
    if dist.metadata["Name"]:
        have.setdefault(norm(dist.metadata["Name"]), dist.version)
with open(sys.argv[1]) as f:
    pins = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", f.read(), re.M)
sys.exit(not pins or any(have.get(norm(name)) != version for name, version in pins))
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

# ensure_venv VENV REQUIREMENTS: (re)builds VENV unless it has exactly the pins of REQUIREMENTS,
# a `pip-compile --generate-hashes` file (requirements/*.txt). That file pins every package, so
# pip installs it as is (--no-deps: no resolver, nothing unpinned) and only files whose hash it
# lists (--require-hashes: a mirror or cache cannot swap one).
ensure_venv() {
  local venv=$1 requirements=$2
  if ! pins_ok "$venv" "$requirements"; then
    base_python
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
      --require-hashes --no-deps -r "$requirements"
    pins_ok "$venv" "$requirements" ||
      { echo "$venv: pinned versions did not install: $requirements" >&2; exit 1; }
  fi
}
