# shellcheck shell=bash
# What modules/ansible/build.sh and modules/salt/build.sh do alike; sourced by both from the
# repo root, after they set $name (how their messages name them, e.g. ansible/build.sh).

die() {
  echo "$name: $*" >&2
  exit 1
}

# Prints the script's help (its leading comment) and exits.
usage() {
  sed -n '2,/^[^#]/p' "$0" | sed -n 's/^# \{0,1\}//p'
  exit 0
}

# parse_options ARGS...: the command line. Takes the options both scripts have (--output-path
# DIR sets $output; -h, --help) and hands every other argument to the script's own
# `own_option ARG`, which returns 1 for an option it does not take either (exit 64).
parse_options() {
  while [ $# -gt 0 ]; do
    case $1 in
      --output-path)
        [ $# -ge 2 ] || die "--output-path needs a directory"
        output=$2
        shift
        ;;
      -h | --help) usage ;;
      *)
        own_option "$1" || {
          echo "$name: unknown option $1 (see --help)" >&2
          exit 64
        }
        ;;
    esac
    shift
  done
}

# same_version WHAT VERSION: dies unless VERSION (WHAT's) is Cargo.toml's.
same_version() {
  local cargo_version
  cargo_version=$(cargo pkgid --locked)
  cargo_version=${cargo_version##*[#@]}
  [ "$2" = "$cargo_version" ] ||
    die "$1 has version '$2', Cargo.toml '$cargo_version': make them one"
}
