#!/usr/bin/env bash
# Installs the Python tools the tests and checks run for real, each venv from its requirements
# file, which pins every package, dependencies included, with the hashes of its files (the
# mirror may lag PyPI, e.g. salt 3008.5 needs a certifi it lacks, and full pins spare the
# resolver's backtracking):
#   target/test-venv            requirements/test.txt: ansible-core (the newest supported), salt,
#                               aiosmtpd (smarthost)
#   target/ansible-oldest-venv  requirements/ansible-oldest.txt: the oldest ansible-core the
#                               collection claims (requires_ansible)
#   target/lint-venv            requirements/lint.txt: ansible-lint, antsibull-changelog and
#                               ansible-test (the tests' ansible-core), salt-lint
# Tests look for them there and fail (not skip) when they are missing. A re-run with the pins
# already installed only checks them (well under a second); a venv with other versions is
# rebuilt, and only that one. The top-level pins live in requirements/*.in; the command that
# regenerates a .txt after an edit heads both files (pip-compile, from pip-tools).
#
#   scripts/install-python-deps.sh               # all three
#   scripts/install-python-deps.sh test [oldest] [lint]   # only those (scripts/release.sh: test)
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/venv.sh

wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(test oldest lint)
for name in "${wanted[@]}"; do
  case $name in
    test | oldest | lint) ;;
    *) echo "install-python-deps: no venv '$name' (test, oldest, lint)" >&2; exit 64 ;;
  esac
done
# Exit 0 when venv $1 (test, oldest, lint) was asked for.
want() {
  [[ " ${wanted[*]} " == *" $1 "* ]]
}

# ensure_venv VENV REQUIREMENTS, then print what VENV holds of its top-level pins (the .in file).
ensure_pinned() {
  local venv=$1 requirements=$2
  ensure_venv "$venv" "$requirements"
  "$venv/bin/python" - "$venv" "${requirements%.txt}.in" <<'EOF'
import re, sys
from importlib.metadata import version
with open(sys.argv[2]) as f:
    names = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", f.read(), re.M)
print(sys.argv[1] + ": " + ", ".join(f"{name} {version(name)}" for name in names))
EOF
}

want test && ensure_pinned target/test-venv requirements/test.txt
# ansible-core 2.16 is also the last one that manages Python 3.6 targets.
want oldest && ensure_pinned target/ansible-oldest-venv requirements/ansible-oldest.txt
want lint && ensure_pinned target/lint-venv requirements/lint.txt
# (A venv not asked for leaves `want` false as the last status.)
exit 0
