#!/usr/bin/env bash
# Every release artifact from one build of the portable binary, into dist/:
#   hermes_seg-relay-VERSION.tar.gz    the Ansible collection with files/<arch>/hermes-relayhost
#                                      (`ansible-galaxy collection install` it, nothing else)
#   hermes-relayhost_VERSION-1_<deb-arch>.deb
#                                      /usr/bin/hermes-relayhost, the man pages, bash/zsh/fish
#                                      completions, changelog, copyright (cargo-deb)
#   hermes_relay-VERSION.tar.gz        the Salt formula and modules with the x86_64 binary
#                                      (`tar -xzf … -C /srv/salt`)
#   SHA256SUMS                         `sha256sum -c SHA256SUMS` in dist/
#
#   scripts/release.sh               # x86_64
#   scripts/release.sh x86_64 aarch64   # aarch64 where its Rust standard library is installed
#
# The binary is scripts/build-release.sh's (cargo-zigbuild, glibc 2.17) in target/dist/<arch>/:
# where CI built it already (scripts/check-release.sh), cargo finds nothing to do. VERSION is
# Cargo.toml's; the collection (galaxy.yml), the Salt formula (modules/salt/FORMULA) and both
# changelogs must carry it, or nothing is packaged. cargo-deb is installed from crates.io at a
# pinned version into target/cargo-tools on first use; ansible-galaxy comes from the pinned
# test venv (scripts/install-python-deps.sh test).
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DEB_VERSION=3.8.0
DIST=dist

die() {
  echo "release: $*" >&2
  exit 1
}

triple_of() {
  case "$1" in
    x86_64 | aarch64) echo "$1-unknown-linux-gnu" ;;
    *) die "unsupported architecture '$1': x86_64 or aarch64" ;;
  esac
}

archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(x86_64)
triples=()
for arch in "${archs[@]}"; do
  triples+=("$(triple_of "$arch")")
done

# One version: Cargo.toml's, everywhere.
version=$(cargo pkgid --locked)
version=${version##*[#@]}
collection=modules/ansible/ansible_collections/hermes_seg/relay
check_version() {
  local what=$1 found=$2
  [ "$found" = "$version" ] || die "$what has version '$found', Cargo.toml '$version': make them one"
}
check_version "$collection/galaxy.yml" "$(sed -n 's/^version: *//p' "$collection/galaxy.yml")"
check_version modules/salt/FORMULA "$(sed -n 's/^version: *//p' modules/salt/FORMULA)"
grep -q "^## \[$version\]" CHANGELOG.md || die "CHANGELOG.md has no '## [$version]' section"
grep -q "^  $version:" "$collection/changelogs/changelog.yaml" ||
  die "$collection/changelogs/changelog.yaml has no $version release (antsibull-changelog release)"

export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}

# The binaries: built once (a no-op when target/dist is up to date), then only packaged.
bash scripts/build-release.sh "${triples[@]}"

# Tools.
cargo_deb=target/cargo-tools/bin/cargo-deb
if [ "$("$cargo_deb" --version 2>/dev/null)" != "cargo-deb $CARGO_DEB_VERSION" ]; then
  cargo install --locked --quiet cargo-deb --version "$CARGO_DEB_VERSION" --root target/cargo-tools
fi
if [ -z "${ANSIBLE_GALAXY:-}" ]; then
  bash scripts/install-python-deps.sh test >/dev/null
  ANSIBLE_GALAXY=target/test-venv/bin/ansible-galaxy
fi
export ANSIBLE_GALAXY

rm -rf "$DIST"
mkdir -p "$DIST"

# The Ansible collection: every architecture's binary in one tarball.
bash modules/ansible/build.sh --package --no-build --output-path "$DIST" "${archs[@]}"

# A .deb per architecture, of the binary as built (stripped already; cargo-deb maps
# target/release/ to target/<triple>/release/, where cargo-zigbuild put it).
for triple in "${triples[@]}"; do
  "$cargo_deb" --no-build --no-strip --locked --quiet --target "$triple" --output "$DIST/"
done

# The Salt formula with the x86_64 binary (the formula installs one binary).
if [[ " ${archs[*]} " == *" x86_64 "* ]]; then
  bash modules/salt/build.sh --package --output-path "$DIST" target/dist/x86_64/hermes-relayhost
fi

(cd "$DIST" && sha256sum -- *.tar.gz *.deb >SHA256SUMS)
echo "release: $DIST/ (version $version):"
(cd "$DIST" && ls -l --time-style=+ -- * | awk '{ print "  " $NF " (" $5 " bytes)" }')
