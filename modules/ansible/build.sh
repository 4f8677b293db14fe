#!/usr/bin/env bash
# Puts the portable release binaries into the collection (files/<arch>/hermes-relayhost, where
# the action plugin looks for them), so `ANSIBLE_COLLECTIONS_PATH=modules/ansible` can run
# hermes_seg.relay.*; with --package also builds the release tarball
# (target/hermes_seg-relay-VERSION.tar.gz) for `ansible-galaxy collection install`.
#
#   modules/ansible/build.sh                      # x86_64
#   modules/ansible/build.sh x86_64 aarch64       # each architecture a managed host may have
#   modules/ansible/build.sh --package [ARCH...]  # ... and the tarball
#
# ARCH is named as `uname -m` and Ansible's ansible_architecture name it (x86_64, aarch64). The
# binaries are built by scripts/build-release.sh for ARCH-unknown-linux-gnu against glibc 2.17
# (it says when a target's Rust standard library is missing) into target/dist/ARCH/; cargo
# rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")/../.."

package=
archs=()
for arg in "$@"; do
  case $arg in
    --package) package=1 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "build.sh: unknown option $arg (see --help)" >&2; exit 64 ;;
    *) archs+=("$arg") ;;
  esac
done
[ ${#archs[@]} -gt 0 ] || archs=(x86_64)

collection=modules/ansible/ansible_collections/hermes_seg/relay
bash scripts/build-release.sh "${archs[@]/%/-unknown-linux-gnu}"
for arch in "${archs[@]}"; do
  install -D -m 0644 "target/dist/$arch/hermes-relayhost" "$collection/files/$arch/hermes-relayhost"
  echo "placed $collection/files/$arch/hermes-relayhost"
done

if [ -n "$package" ]; then
  galaxy=${ANSIBLE_GALAXY:-$(command -v ansible-galaxy || echo target/test-venv/bin/ansible-galaxy)}
  "$galaxy" collection build --force --output-path target "$collection"
fi
