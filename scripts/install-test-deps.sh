#!/usr/bin/env bash
# Installs what the test suite runs for real: Debian's Postfix tools (postconf, postmap,
# postfix), the SASL client plugins and MariaDB. No service is started: the tests start their
# own private Postfix and MariaDB instances. strace injects crashes into key rotations.
# docker.io and debootstrap run the container tier (scripts/topology.sh builds its images with
# debootstrap and starts a private dockerd; the packaged daemon is not used). zsh and fish
# source the shipped completions (bash is there already); groff checks the man pages.
# openssh-server runs a private sshd (the action plugin over SSH behind a login banner), sudo the
# plugin's become path. rustc-web (Debian's rustc 1.96) with libstd-rust-web-dev:arm64 builds the
# aarch64 release binary (rustup cannot fetch that target's std here; scripts/build-release.sh
# picks the rustc that has it), and qemu-user-static runs that binary in the release checks.
# Versions are pinned to Debian 12's; if the mirror has moved on, the current ones are taken
# (with a notice), since Debian keeps only the latest point release.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "install-test-deps: run as root (apt-get)" >&2
  exit 1
fi

APT_PACKAGES=(
  "postfix=3.7.11-0+deb12u1"
  "libsasl2-modules=2.1.28+dfsg-10+deb12u1"
  "postfix-lmdb=3.7.11-0+deb12u1"
  "mariadb-server=1:10.11.19-0+deb12u1"
  "openssl"
  "strace"
  "time"
  "docker.io"
  "debootstrap"
  "zsh"
  "fish"
  "groff-base"
  "openssh-server"
  "sudo"
  "rustc-web=1.96.0+dfsg1-1~deb12u2"
  "libstd-rust-web-dev:arm64=1.96.0+dfsg1-1~deb12u2"
  "qemu-user-static=1:7.2+dfsg-7+deb12u18+b3"
)

missing=()
for spec in "${APT_PACKAGES[@]}"; do
  name=${spec%%=*}
  dpkg-query -W -f='${Status}' "$name" 2>/dev/null | grep -q "install ok installed" || missing+=("$spec")
done

if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  # The aarch64 standard library is a multiarch package.
  dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
  # Install the Postfix binaries only: no main.cf, no service (tests use `-c DIR`).
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -qq
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
    echo "install-test-deps: pinned versions unavailable, installing current ones" >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]%%=*}"
  fi
fi

dpkg-query -W -f='${Package} ${Version}\n' postfix postfix-lmdb libsasl2-modules mariadb-server \
  docker.io debootstrap

# Python runners and peers (ansible-core, salt, the test smarthost) in a venv under target/.
if [ -f scripts/install-python-deps.sh ]; then
  bash scripts/install-python-deps.sh
fi
