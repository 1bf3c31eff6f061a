package builtin

import (
	"context"
	"slices"
	"sync"

	"github.com/goproc/manager/internal/errs"
)

// waitTurn is how every blocking method here waits for its turn: it
// releases mu, blocks until ready is closed (the waiter was served) or
// ctx ends, and takes mu again. Both can happen together, so the caller
// reads under mu whether its waiter was served.
func waitTurn(ctx context.Context, mu *sync.Mutex, ready <-chan struct{}) {
	mu.Unlock()
	select {
	case <-ctx.Done():
	case <-ready:
	}
	mu.Lock()
}

// removeWaiter returns ws without w: a waiter that gave up leaves its
// queue. ws is returned unchanged when w is not in it (it was served or
// withdrawn meanwhile).
func removeWaiter[W comparable](ws []W, w W) []W {
	if i := slices.Index(ws, w); i >= 0 {
		return slices.Delete(ws, i, i+1)
	}
	return ws
}

// acquireTook reports whether a withdrawn Acquire or TryAcquire (method),
// whose reply carried the error code code and the result result, took a
// lock level or a permit that must be given back: an Acquire that
// succeeded, or a TryAcquire that returned true, both perhaps reporting
// an abandonment (errs.Abandoned).
func acquireTook(method, code string, result []byte) bool {
	switch {
	case method == "Acquire":
	case method == "TryAcquire" && (code != "" || len(result) == 1 && result[0] == 0xc3): // true
	default:
		return false
	}
	return code == "" || code == errs.Abandoned.Code()
}
