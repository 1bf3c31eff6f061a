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
// A session that has called Wait or Join is a member of the barrier
// until it ends or calls Leave. The end of a member breaks the barrier
// only when the member is needed: when a party of it is waiting (it will
// never go on), or when parties are waiting and the live members not
// waiting are too few to complete their round. A member that ends
// between rounds after its last Wait (a worker that has done its work and
// exits) leaves the barrier usable, as in Python. A member that joined
// and ends before it ever waited was expected and will never come: the
// next round that the live members cannot complete breaks (unless a round
// passes, or a new member takes its place, first). A dead member cannot
// be told from a slow one in any other way, and the server knows of no
// party before it joins or waits.
//
// The barrier breaks, and every waiting party gets an error wrapping
// errs.BrokenBarrier, when a waiting party's ctx ends, when the session
// of a waiting party ends, when a member's end leaves a round unable to
// complete (above), or when Abort is called. It stays broken, failing
// every Wait at once, until Reset.
//
// Barrier is safe for concurrent use.
type Barrier struct {
	parties int

	mu     sync.Mutex // guards the fields below
	round  *barrierRound
	broken bool
	// members are the sessions that called Wait or Join, and neither
	// ended nor called Leave since, each with whether it has waited.
	members map[callctx.SessionID]bool
	// departed counts the members that ended before they ever waited and
	// that no new member has replaced since, reset when a round passes:
	// while it is above 0, a round the live members cannot complete
	// breaks.
	departed int
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
		return nil, fmt.Errorf("%w: parties is %d, want >= 1", errs.BadArguments, parties)
	}
	return &Barrier{parties: parties, round: newBarrierRound(), members: make(map[callctx.SessionID]bool)}, nil
}

// Wait blocks until parties callers, this one included, have called
// Wait, then returns this caller's arrival index in the round: 0 for the
// first to arrive, parties-1 for the last (whose call releases the
// others). It makes the caller's session a member (see Join), even when
// it fails. It returns an error wrapping errs.BrokenBarrier if the
// barrier is broken or breaks while waiting. When ctx ends while waiting,
// Wait breaks the barrier and returns an error wrapping ctx.Err().
func (b *Barrier) Wait(ctx context.Context) (int, error) {
	c, _ := callctx.From(ctx)
	b.mu.Lock()
	b.joinLocked(c.Session)
	b.members[c.Session] = true // has waited
	if b.broken {
		b.mu.Unlock()
		return 0, errs.BrokenBarrier
	}
	r := b.round
	index := len(r.sessions)
	r.sessions = append(r.sessions, c.Session)
	if len(r.sessions) == b.parties {
		r.passed = true
		close(r.done)
		b.round = newBarrierRound()
		b.departed = 0 // the live members went on without them
		b.mu.Unlock()
		return index, nil
	}
	if b.departed > 0 && b.stalledLocked() {
		b.breakLocked()
		b.mu.Unlock()
		return 0, errs.BrokenBarrier
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
		return 0, errs.BrokenBarrier
	}
	b.breakLocked()
	return 0, fmt.Errorf("%w (the barrier is now broken)", ctx.Err())
}

// Join makes the caller's session a member of the barrier without
// waiting, so that the barrier breaks if the session ends before its
// first Wait. A member stays one until its session ends or it calls
// Leave; joining again changes nothing. It does not block.
func (b *Barrier) Join(ctx context.Context) {
	c, _ := callctx.From(ctx)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.joinLocked(c.Session)
}

// joinLocked makes s a member; a new member takes the place of one that
// departed.
func (b *Barrier) joinLocked(s callctx.SessionID) {
	if _, ok := b.members[s]; ok {
		return
	}
	b.members[s] = false
	if b.departed > 0 {
		b.departed--
	}
}

// stalledLocked reports whether the current round can no longer pass by
// the members the server knows: the live members not waiting in it are
// fewer than the parties it still needs.
func (b *Barrier) stalledLocked() bool {
	r := b.round
	if len(r.sessions) == 0 {
		return false
	}
	free := 0
	for s := range b.members {
		if !slices.Contains(r.sessions, s) {
			free++
		}
	}
	return free < b.parties-len(r.sessions)
}

// Leave ends the membership of the caller's session, so that its end no
// longer breaks the barrier: call it when the session will not wait
// again. A party of that session waiting now still breaks the barrier if
// the session ends. It does not block.
func (b *Barrier) Leave(ctx context.Context) {
	c, _ := callctx.From(ctx)
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.members, c.Session)
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
// Members stay members (a member whose session ended is one no more). It
// does not block.
func (b *Barrier) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.breakLocked()
	b.broken = false
	b.departed = 0
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

// ReleaseSession ends the membership of session s, and breaks the
// barrier when a party of s is waiting (it will never go on) or when s
// was a member the round in progress may need (see Barrier); a member
// that ends before it ever waited is counted as departed, for the next
// Wait to check. It implements callctx.SessionReleaser and is meant for
// the server only.
func (b *Barrier) ReleaseSession(s callctx.SessionID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	waited, member := b.members[s]
	delete(b.members, s)
	switch {
	case b.broken:
	case slices.Contains(b.round.sessions, s):
		b.breakLocked()
	case !member:
	case b.stalledLocked(): // a round in progress, which may need s
		b.breakLocked()
	case len(b.members) == 0:
		// Every member is gone: the barrier starts afresh for whoever
		// comes next.
		b.departed = 0
	case !waited:
		b.departed++
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

// Inspect returns the parties and the sessions waiting in the current
// round.
func (b *Barrier) Inspect() Inspection {
	b.mu.Lock()
	defer b.mu.Unlock()
	in := Inspection{Parties: b.parties}
	if b.round != nil {
		in.Waiters = slices.Clone(b.round.sessions)
	}
	return in
}
