package builtin

import (
	"context"
	"sync"
)

// Event is a shared flag that callers can wait for, the server side of
// Python's Manager().Event(). It starts clear.
//
// Event is safe for concurrent use.
type Event struct {
	mu  sync.Mutex // guards set and ch
	set bool
	// ch is closed by Set to wake waiters; nil while nobody waits.
	ch chan struct{}
}

// NewEvent returns a clear Event.
func NewEvent() (*Event, error) {
	return &Event{}, nil
}

// Set sets the flag and wakes every waiter. It does not block.
func (e *Event) Set() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.set = true
	if e.ch != nil {
		close(e.ch)
		e.ch = nil
	}
}

// Clear clears the flag, so that later Waits block until the next Set.
// It does not block.
func (e *Event) Clear() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.set = false
}

// IsSet reports whether the flag is set. It does not block.
func (e *Event) IsSet() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.set
}

// Wait blocks until the flag is set, and returns true at once if it is
// set already. A Wait that was waiting when Set was called returns true
// even if Clear followed (as in Python). When ctx ends first, it returns
// false and an error wrapping ctx.Err().
func (e *Event) Wait(ctx context.Context) (bool, error) {
	e.mu.Lock()
	if e.set {
		e.mu.Unlock()
		return true, nil
	}
	if e.ch == nil {
		e.ch = make(chan struct{})
	}
	ch := e.ch
	e.mu.Unlock()

	select {
	case <-ch:
		return true, nil
	case <-ctx.Done():
	}
	select {
	case <-ch: // set as ctx ended: report it, nothing is consumed
		return true, nil
	default:
		return false, ctx.Err()
	}
}
