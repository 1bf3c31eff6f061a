#!/usr/bin/env bash
# Short fuzzing: each target of the wire protocol (internal/wire) and the
# compact dict table (internal/builtin) for a few seconds (FUZZTIME,
# default 5s). A failure leaves the crashing input in the package's
# testdata/fuzz/<FuzzName>/: commit it, and it runs as a regression test
# with every `go test`.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime="${FUZZTIME:-5s}"
fuzz() {
  local pkg="$1"; shift
  for target in "$@"; do
    echo "-- $pkg $target ($fuzztime)"
    go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime"
  done
}
fuzz ./internal/wire FuzzReader FuzzDecode FuzzServerHandshake FuzzClientHandshake FuzzShapeCheck FuzzCanonical
fuzz ./internal/builtin FuzzTable
