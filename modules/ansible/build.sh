#!/usr/bin/env bash
# Puts the portable release binaries into the collection (files/<arch>/hermes-relayhost, where
# the action plugin looks for them), so `ANSIBLE_COLLECTIONS_PATH=modules/ansible` can run
# hermes_seg.relay.*; with --package also builds the release tarball
# (target/hermes_seg-relay-VERSION.tar.gz, or into --output-path DIR) for
# `ansible-galaxy collection install`, from a copy that holds exactly the binaries asked for.
#
#   modules/ansible/build.sh                      # x86_64
#   modules/ansible/build.sh x86_64 aarch64       # each architecture a managed host may have
#   modules/ansible/build.sh --package [--output-path DIR] [--no-build] [ARCH...]
#
# ARCH is named as `uname -m` and Ansible's ansible_architecture name it (x86_64, aarch64). The
# binaries are built by scripts/build-release.sh for ARCH-unknown-linux-gnu against glibc 2.17
# (it says when a target's Rust standard library is missing) into target/dist/ARCH/; cargo
# rebuilds only what changed. --no-build takes target/dist/ARCH/ as it is (scripts/release.sh,
# which built them). VERSION is galaxy.yml's, which must be Cargo.toml's.
set -euo pipefail
cd "$(dirname "$0")/../.."
name=ansible/build.sh
# shellcheck source=scripts/build-lib.sh
. scripts/build-lib.sh

package=
build=1
output=target
archs=()
own_option() {
  case $1 in
    --package) package=1 ;;
    --no-build) build= ;;
    -*) return 1 ;;
    *) archs+=("$1") ;;
  esac
}
parse_options "$@"
[ ${#archs[@]} -gt 0 ] || archs=(x86_64)

collection=modules/ansible/ansible_collections/hermes_seg/relay
version=$(sed -n 's/^version: *//p' "$collection/galaxy.yml")
same_version galaxy.yml "$version"

if [ -n "$build" ]; then
  bash scripts/build-release.sh "${archs[@]/%/-unknown-linux-gnu}"
fi
for arch in "${archs[@]}"; do
  [ -x "target/dist/$arch/hermes-relayhost" ] ||
    die "target/dist/$arch/hermes-relayhost is missing: run scripts/build-release.sh $arch-unknown-linux-gnu"
  install -D -m 0644 "target/dist/$arch/hermes-relayhost" "$collection/files/$arch/hermes-relayhost"
  echo "placed $collection/files/$arch/hermes-relayhost"
done

if [ -n "$package" ]; then
  galaxy=${ANSIBLE_GALAXY:-$(command -v ansible-galaxy || echo target/test-venv/bin/ansible-galaxy)}
  stage=$(mktemp -d)
  trap 'rm -rf "$stage"' EXIT
  cp -r "$collection" "$stage/relay"
  rm -rf "$stage/relay/files"
  find "$stage/relay" -name __pycache__ -prune -exec rm -rf {} +
  for arch in "${archs[@]}"; do
    install -D -m 0644 "target/dist/$arch/hermes-relayhost" "$stage/relay/files/$arch/hermes-relayhost"
  done
  mkdir -p "$output"
  "$galaxy" collection build --force --output-path "$output" "$stage/relay"
fi
