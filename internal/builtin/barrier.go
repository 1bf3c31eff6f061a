package builtin

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/goproc/manager/internal/callctx"
	"github.com/goproc/manager/internal/errs"
)

// Barrier makes a fixed number of parties wait for each other, the
// server side of Python's Manager().Barrier(parties). It is reusable:
// once every party has arrived they all go on and the next Wait starts a
// new round.
//
// The barrier breaks, and every waiting party gets an error wrapping
// errs.BrokenBarrier, when a waiting party's ctx ends, when its session
// ends, or when Abort is called. It stays broken, failing every Wait at
// once, until Reset.
//
// Barrier is safe for concurrent use.
type Barrier struct {
	parties int

	mu     sync.Mutex // guards round and broken
	round  *barrierRound
	broken bool
}

// barrierRound is the set of parties waiting to pass together; its
// fields but done are guarded by Barrier.mu.
type barrierRound struct {
	sessions []callctx.SessionID // of the parties waiting, in arrival order
	done     chan struct{}       // closed when the round passes or breaks
	passed   bool
	broken   bool
}

func newBarrierRound() *barrierRound {
	return &barrierRound{done: make(chan struct{})}
}

// NewBarrier returns a Barrier for parties parties (parties >= 1, else
// an error wrapping errs.BadArguments).
func NewBarrier(parties int) (*Barrier, error) {
	if parties < 1 {
		return nil, fmt.Errorf("new barrier: %w: parties is %d, want >= 1", errs.BadArguments, parties)
	}
	return &Barrier{parties: parties, round: newBarrierRound()}, nil
}

// Wait blocks until parties callers, this one included, have called
// Wait, then returns this caller's arrival index in the round: 0 for the
// first to arrive, parties-1 for the last (whose call releases the
// others). It returns an error wrapping errs.BrokenBarrier if the
// barrier is broken or breaks while waiting. When ctx ends while waiting,
// Wait breaks the barrier and returns an error wrapping ctx.Err().
func (b *Barrier) Wait(ctx context.Context) (int, error) {
	c, _ := callctx.From(ctx)
	b.mu.Lock()
	if b.broken {
		b.mu.Unlock()
		return 0, fmt.Errorf("barrier wait: %w", errs.BrokenBarrier)
	}
	r := b.round
	index := len(r.sessions)
	r.sessions = append(r.sessions, c.Session)
	if len(r.sessions) == b.parties {
		r.passed = true
		close(r.done)
		b.round = newBarrierRound()
		b.mu.Unlock()
		return index, nil
	}
	b.mu.Unlock()

	select {
	case <-ctx.Done():
	case <-r.done:
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case r.passed:
		return index, nil
	case r.broken:
		return 0, fmt.Errorf("barrier wait: %w", errs.BrokenBarrier)
	}
	b.breakLocked()
	return 0, fmt.Errorf("barrier wait: %w (the barrier is now broken)", ctx.Err())
}

// Abort breaks the barrier: waiting parties and later Waits get an error
// wrapping errs.BrokenBarrier until Reset. It does not block.
func (b *Barrier) Abort() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.breakLocked()
}

// Reset returns the barrier to its initial, unbroken state. Parties
// waiting in the current round get an error wrapping errs.BrokenBarrier.
// It does not block.
func (b *Barrier) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.breakLocked()
	b.broken = false
}

// Parties returns the number of parties needed to pass the barrier. It
// does not block.
func (b *Barrier) Parties() int {
	return b.parties
}

// NWaiting returns the number of parties waiting in the current round,
// 0 while the barrier is broken. It does not block.
func (b *Barrier) NWaiting() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.broken {
		return 0
	}
	return len(b.round.sessions)
}

// Broken reports whether the barrier is broken. It does not block.
func (b *Barrier) Broken() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.broken
}

// ReleaseSession breaks the barrier if a party of session s is waiting,
// since that party will never go on. It implements
// callctx.SessionReleaser and is meant for the server only.
func (b *Barrier) ReleaseSession(s callctx.SessionID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.broken && slices.Contains(b.round.sessions, s) {
		b.breakLocked()
	}
}

// breakLocked fails the current round's waiters and marks the barrier
// broken.
func (b *Barrier) breakLocked() {
	b.broken = true
	if r := b.round; len(r.sessions) > 0 {
		r.broken = true
		close(r.done)
		b.round = newBarrierRound()
	}
}
