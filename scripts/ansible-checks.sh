#!/usr/bin/env bash
# Ansible's own checks of the collection as it ships: modules/ansible/build.sh --package builds
# the release tarball (the portable binary in it), which is installed under target/ and checked
# there with
#   - ansible-test sanity: every test that runs offline without containers,
#   - ansible-lint at the production profile, on the collection and on examples/,
#   - antsibull-changelog lint of the changelog fragments (in the source tree).
# Works offline but for the package index: ansible-test's pip bootstrap script, which it would
# download from ci-files.testing.ansible.com, is seeded with a stand-in (see below).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

bash scripts/install-python-deps.sh >/dev/null
venv=$root/target/lint-venv
export PATH=$venv/bin:$PATH LC_ALL=C.UTF-8

source_collection=modules/ansible/ansible_collections/hermes_seg/relay
version=$(sed -n 's/^version: *//p' "$source_collection/galaxy.yml")
ANSIBLE_GALAXY=$venv/bin/ansible-galaxy bash modules/ansible/build.sh --package

# Outside the git tree: inside it, ansible-test would check only the files git tracks (none).
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# HOME for ansible-test and ansible-lint: their caches (the sanity tests' venvs) stay under
# target/ and are reused by the next run.
export HOME=$root/target/ansible-checks-home
export ANSIBLE_HOME=$HOME/.ansible ANSIBLE_COLLECTIONS_PATH=$work/collections
ansible-galaxy collection install --offline -p "$work/collections" \
  "target/hermes_seg-relay-$version.tar.gz"
installed=$work/collections/ansible_collections/hermes_seg/relay
for binary in "$installed"/files/*/hermes-relayhost; do
  [ -f "$binary" ] || { echo "ansible-checks: the tarball holds no binary" >&2; exit 1; }
done

# ansible-test bootstraps pip in each sanity test's venv with get-pip.py from the internet. The
# stand-in gets pip from the interpreter's ensurepip (in a child process: ensurepip turns off
# the pip configuration of its own process), then the version asked for from the configured
# package index.
pip_version=$(python - <<'EOF'
import os, re, ansible_test
source = os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")
print(re.search(r"pip='([0-9.]+)'", open(source).read()).group(1))
EOF
)
mkdir -p "$HOME/.ansible/test/cache"
cat >"$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py" <<'EOF'
"""Stand-in for get-pip.py (written by scripts/ansible-checks.sh): takes its arguments."""
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet"] + args)
EOF

python_version=$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
echo "== ansible-test sanity (Python $python_version)"
(cd "$installed" && ansible-test sanity --python "$python_version" --color no)

echo "== ansible-lint --profile production: the collection"
(cd "$installed" && ansible-lint --profile production --offline --nocolor)

echo "== ansible-lint --profile production: examples/"
# A copy, so that the project root ansible-lint finds (and caches in) is not the git tree.
cp -r examples "$work/examples"
(cd "$work" && ansible-lint --profile production --offline --nocolor examples)

echo "== antsibull-changelog lint"
(cd "$source_collection" && antsibull-changelog lint)
echo "ansible-checks: all passed"
