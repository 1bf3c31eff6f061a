#!/usr/bin/env bash
# Short fuzzing: each target of the wire protocol (internal/wire) and the
# compact dict table (internal/builtin), for a number of executions (about
# 5 s each on a quiet 2-core machine). A failure leaves the crashing input
# in the package's testdata/fuzz/<FuzzName>/: commit it, and it runs as a
# regression test with every `go test`.
#
# The budgets are counts ("Nx"), not durations: with a duration, Go 1.26's
# fuzzing coordinator can report its own deadline as the target's failure
# ("context deadline exceeded", no input written) when a worker is busy as
# time runs out — go.dev/issue/75804, fixed in Go 1.27 — which turned CI
# red on a loaded machine with nothing found. A count has no deadline to
# race. FUZZTIME (a duration or a count) overrides every budget, e.g.
# FUZZTIME=60s for a longer local run.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzz() {
  local pkg="$1" budget="$2"; shift 2
  budget="${FUZZTIME:-$budget}"
  for target in "$@"; do
    echo "-- $pkg $target ($budget)"
    go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$budget" -timeout 10m
  done
}
fuzz ./internal/wire 80000x FuzzReader FuzzDecode FuzzServerHandshake FuzzClientHandshake FuzzShapeCheck FuzzCanonical
fuzz ./internal/builtin 30000x FuzzTable
