#!/usr/bin/env bash
# Installs the Python tools the tests and checks run for real, each venv at pinned versions,
# dependencies included (a `pip freeze` of a working install: the mirror may lag PyPI, e.g.
# salt 3008.5 needs a certifi it lacks, and pins spare the resolver's backtracking):
#   target/test-venv            ansible-core (the newest supported), salt, aiosmtpd (smarthost)
#   target/ansible-oldest-venv  the oldest ansible-core the collection claims (requires_ansible)
#   target/lint-venv            ansible-lint, antsibull-changelog and ansible-test (the tests'
#                               ansible-core), salt-lint
# Tests look for them there and fail (not skip) when they are missing. A re-run with the pins
# already installed only checks them (well under a second); a venv with other versions is
# rebuilt, and only that one.
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

# ensure_venv, then print what VENV holds.
ensure_pinned() {
  local venv=$1
  ensure_venv "$@"
  shift 2
  "$venv/bin/python" - "$venv" "$@" <<'EOF'
import sys
from importlib.metadata import version
names = [pin.split("==")[0] for pin in sys.argv[2:]]
print(sys.argv[1] + ": " + ", ".join(f"{name} {version(name)}" for name in names))
EOF
}

want test && ensure_pinned target/test-venv "$(cat <<'CONSTRAINTS'
aiohappyeyeballs==2.7.1
aiohttp==3.14.5
aiosignal==1.4.0
annotated-doc==0.0.7
annotated-types==0.8.0
apache-libcloud==3.9.1
atpublic==9.0.0
attrs==26.1.0
backports.tarfile==1.2.0
certifi==2026.10.19.post1
cffi==2.1.1
charset-normalizer==3.5.3
cheroot==11.1.2
CherryPy==18.10.0
croniter==7.0.0
cryptography==50.0.2
distlib==0.4.4
distro==1.9.0
filelock==4.3.1
frozenlist==1.8.0
gitdb==4.0.12
GitPython==3.2.1
googleapis-common-protos==1.76.0
idna==3.20
importlib_metadata==10.2.0
jaraco.collections==5.2.1
jaraco.context==6.1.2
jaraco.functools==4.6.0
jaraco.text==4.3.0
Jinja2==3.1.6
jmespath==1.1.0
lazy-importer==0.1.0
looseversion==1.3.0
markdown-it-py==4.3.0
MarkupSafe==3.0.4
mdurl==0.1.2
more-itertools==11.2.1
msgpack==1.2.4
multidict==7.2.1
opentelemetry-api==1.45.2
opentelemetry-exporter-http-transport==0.66b2
opentelemetry-exporter-otlp-common==0.66b2
opentelemetry-exporter-otlp-proto-common==1.45.2
opentelemetry-exporter-otlp-proto-http==1.45.2
opentelemetry-exporter-prometheus==0.66b2
opentelemetry-proto==1.45.2
opentelemetry-sdk==1.45.2
opentelemetry-semantic-conventions==0.66b2
packaging==26.4
platformdirs==4.14.8
portend==3.2.1
prometheus_client==0.26.0
propcache==0.5.4
protobuf==7.36.2
psutil==7.2.2
pyasn1==0.6.5
pycparser==3.12
pycryptodomex==3.24.2
pydantic==2.14.4
pydantic_core==2.50.5
Pygments==2.21.0
pyOpenSSL==26.4.0
python-dateutil==4.0.0
python-discovery==1.9.6
python-gnupg==0.5.7
PyYAML==6.0.4
pyzmq==27.3.0
requests==2.34.2
resolvelib==1.2.1
rich==15.0.0
setproctitle==1.3.8
shellingham==1.5.4
smmap==5.0.3
tempora==5.13.0
timelib==0.3.0
tornado==6.6.1
truststore==0.10.5
typer==0.29.2
typer-slim==0.24.0
typing-inspection==0.4.5
typing_extensions==4.16.0
tzdata==2026.6
urllib3==2.8.0
virtualenv==21.15.11
xxhash==4.1.0
yarl==1.25.1
zc.lockfile==4.0
zipp==4.1.2
CONSTRAINTS
)" "ansible-core==2.19.14" "salt==3008.4" "aiosmtpd==1.4.6"

# ansible-core 2.16 is also the last one that manages Python 3.6 targets.
want oldest && ensure_pinned target/ansible-oldest-venv "$(cat <<'CONSTRAINTS'
cffi==2.1.1
cryptography==50.0.2
Jinja2==3.1.6
MarkupSafe==3.0.4
packaging==26.4
pycparser==3.12
PyYAML==6.0.4
resolvelib==1.0.1
CONSTRAINTS
)" "ansible-core==2.16.19"

want lint && ensure_pinned target/lint-venv "$(cat <<'CONSTRAINTS'
aiofiles==25.1.0
annotated-doc==0.0.7
annotated-types==0.8.0
ansible-compat==26.10.0
antsibull-docs-parser==1.2.3
antsibull-docutils==1.4.1
antsibull-fileutils==1.5.3
attrs==26.1.0
black==26.10.1
bracex==3.2.3
cffi==2.1.1
click==8.5.1
cryptography==50.0.2
distro==1.9.0
docutils==0.23
filelock==4.3.1
Jinja2==3.1.6
jsonschema==4.26.0
jsonschema-specifications==2025.9.1
markdown-it-py==4.3.0
MarkupSafe==3.0.4
mdurl==0.1.2
mypy_extensions==1.2.0
packaging==26.4
pathspec==1.1.1
platformdirs==4.14.8
pycparser==3.12
pydantic==2.14.4
pydantic_core==2.50.5
Pygments==2.21.0
pytokens==0.4.1
PyYAML==6.0.4
referencing==0.37.0
resolvelib==1.2.1
rich==15.0.0
rpds-py==2026.9.1
rstcheck==6.3.1
rstcheck-core==1.3.2
ruamel.yaml==0.19.1
semantic-version==2.10.0
shellingham==1.5.4
subprocess-tee==0.4.2
typer==0.29.2
typing-inspection==0.4.5
typing_extensions==4.16.0
wcmatch==12.0.1
yamllint==1.38.0
CONSTRAINTS
)" "ansible-core==2.19.14" "ansible-lint==26.10.1" "antsibull-changelog==0.36.0" "salt-lint==0.9.2"
# (A venv not asked for leaves `want` false as the last status.)
exit 0
