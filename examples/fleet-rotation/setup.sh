#!/usr/bin/env bash
# Makes a simulated Hermes fleet to try rotate.yml on: N roots made by `hermes-relayhost init`
# (each its own key, SQLite database and Postfix dir) and an inventory of N local hosts.
#
#   examples/fleet-rotation/setup.sh DIR [N]      (N defaults to 10)
#
# The binary is $HERMES_RELAYHOST, else hermes-relayhost on PATH, else target/release's.
# Existing roots are kept (init never overwrites), so a re-run only rewrites the inventory.
set -euo pipefail

dir=${1:?usage: setup.sh DIR [N]}
count=${2:-10}
repo=$(cd "$(dirname "$0")/../.." && pwd)
bin=${HERMES_RELAYHOST:-$(command -v hermes-relayhost || echo "$repo/target/release/hermes-relayhost")}
[ -x "$bin" ] || { echo "setup.sh: no hermes-relayhost binary (cargo build --release)" >&2; exit 1; }

mkdir -p "$dir/hosts"
dir=$(cd "$dir" && pwd)
inventory=$dir/inventory.yml
{
  echo "# Written by examples/fleet-rotation/setup.sh: $count simulated Hermes hosts."
  echo "hermes:"
  echo "  vars:"
  echo "    # What every host relays through; the password comes from a vault file (-e @...)."
  echo "    relay_host: smtp.example.com"
  echo "    relay_port: 587"
  echo "    relay_tls: encrypt"
  echo "    relay_username: relayuser@example.com"
  echo "    # Simulation only: Postfix tools run here, not in the Hermes container."
  echo "    relay_postfix_exec: []"
  echo "    relay_template_vars: {banner: Hermes SEG, inet_interfaces: loopback-only}"
  echo "  hosts:"
  for i in $(seq -w 1 "$count"); do
    host=hermes$i
    "$bin" init --root "$dir/hosts/$host" >/dev/null
    echo "    $host: {ansible_connection: local, relay_root: \"$dir/hosts/$host\"}"
  done
} >"$inventory"
echo "$count hosts under $dir/hosts; inventory: $inventory"
