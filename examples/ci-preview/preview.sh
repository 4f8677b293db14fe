#!/bin/sh
# CI drift gate: shows what applying the declared relay settings would change, with every
# password masked, and fails the job when anything would.
#
#   examples/ci-preview/preview.sh ARGS_FILE     # or - to read the args from stdin
#
# Exit 0: no drift. Exit 2: drift (the masked diff is printed). Exit 1: the preview itself
# failed (bad args, unreachable database, ...; the message is printed). The JSON result is
# kept in $PREVIEW_RESULT (default preview-result.json) as a job artifact; it is masked too.
# The binary is $HERMES_RELAYHOST, else hermes-relayhost on PATH.
set -u

args=${1:?usage: preview.sh ARGS_FILE|-}
bin=${HERMES_RELAYHOST:-hermes-relayhost}
result=${PREVIEW_RESULT:-preview-result.json}

# --format json: the result object, whatever stdout is; --check writes nothing (not even the
# lock file); --diff prints the masked unified diff on stderr; --exit-code turns pending
# changes into exit 2 (64: a usage error, such as a mistyped flag).
"$bin" apply --args-file "$args" --format json --check --diff --exit-code >"$result"
code=$?
case $code in
  0) echo "relay host: no drift" ;;
  2) echo "relay host: DRIFT - applying would change what is shown above" >&2 ;;
  *)
    echo "relay host: preview failed (exit $code):" >&2
    cat "$result" >&2
    code=1
    ;;
esac
exit $code
