#!/usr/bin/env bash
# Short fuzzing of the wire protocol: each target of internal/wire for a
# few seconds (FUZZTIME, default 5s). A failure leaves the crashing input
# in internal/wire/testdata/fuzz/<FuzzName>/: commit it, and it runs as a
# regression test with every `go test`.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime="${FUZZTIME:-5s}"
for target in FuzzReader FuzzDecode FuzzServerHandshake FuzzClientHandshake FuzzShapeCheck FuzzCanonical; do
  echo "-- $target ($fuzztime)"
  go test ./internal/wire -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime"
done
