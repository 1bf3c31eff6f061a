package server

import (
	"net"
	"runtime"
	"time"
)

// The wake-up path.
//
// A request that reaches a connection parked on Go's network poller
// wakes the server in three steps: the kernel wakes the thread sleeping
// in epoll_wait, the runtime makes the reading goroutine runnable, and
// a thread (often another one, woken by futex) runs it. A goroutine
// locked to its OS thread and sleeping in poll(2) on the socket itself
// is woken by the kernel directly and runs at once. In a two-process
// ping-pong (cmd/wakeupbench) that takes about a fifth off the round
// trip's median.
//
// A locked thread is a real OS thread for as long as the connection is
// busy, so only Limits.LockedReaders connections are read that way at
// once, and only those that show a ping-pong: a connection asks for a
// locked reader after promoteAfter reads from the socket, and gives it
// back after idleDemote without a request (its reader goes back to the
// network poller). A peer that sends nothing, or stalls, therefore
// holds no thread for longer than idleDemote, or the frame read
// timeout. Plain Unix-socket connections only: TLS (which wraps the
// net.Conn) and TCP stay on the network poller.
//
// The socket stays in non-blocking mode and every write still goes
// through the net.Conn, so write deadlines (Shutdown's grace) work as
// before. A read sleeping in poll(2) is not interrupted by a deadline
// or by closing the net.Conn (Close waits for it): closeConn shuts the
// socket down first, which wakes it.

// promoteAfter is how many reads from the socket a connection makes on
// the network poller before it asks for a locked reader: the client's
// watch connection and an idle pooled one never ask.
const promoteAfter = 16

// idleDemote is how long a locked reader waits for a request before it
// gives its thread back and goes on waiting on the network poller (the
// Server's idleDemote, which tests shorten or lengthen).
const idleDemote = 50 * time.Millisecond

// connReader is what a connection's wire.Reader reads from: the
// net.Conn, through the network poller or, while the connection holds
// one of the server's locked-reader slots, on a locked thread.
//
// Only the connection's reading goroutine uses it, except handOff
// (see startBlocking) and interrupt.
type connReader struct {
	nc  net.Conn
	srv *Server
	raw rawSocket // zero: never read on a locked thread

	deadline time.Time // the read deadline, which poll(2) must honour
	reads    int       // reads from the socket since the last demotion
	slot     bool      // this connection holds a locked-reader slot
	tid      int       // the thread the reading goroutine locked, 0: none
}

// authenticated lets the connection be read on a locked thread from now
// on, if it is a plain Unix socket: the handshake, under its deadline,
// always runs on the network poller.
func (r *connReader) authenticated() {
	if r.srv.opts.Limits.LockedReaders > 0 {
		r.raw = rawSocketOf(r.nc)
	}
}

// Read reads from the connection, on a locked thread when the
// connection has (or now gets) a slot.
func (r *connReader) Read(p []byte) (int, error) {
	if !r.raw.ok() {
		return r.nc.Read(p)
	}
	if !r.slot {
		r.reads++
		if r.reads < promoteAfter || !r.srv.takeLockedSlot() {
			return r.nc.Read(p)
		}
		r.slot = true
	}
	if r.tid == 0 {
		runtime.LockOSThread() // undone by demote, handOff or readLoop's end
		r.tid = gettid()
	}
	n, err, idle := r.raw.pollRead(p, r.deadline, r.srv.idleDemote)
	if !idle {
		return n, err
	}
	r.demote()
	return r.nc.Read(p)
}

// SetReadDeadline sets the deadline of reads on either path.
func (r *connReader) SetReadDeadline(t time.Time) error {
	r.deadline = t
	return r.nc.SetReadDeadline(t)
}

// demote gives the slot and the thread back.
func (r *connReader) demote() {
	r.release()
	r.reads = 0
}

// release gives back the slot, and the thread if this goroutine locked
// it; called on the reading goroutine.
func (r *connReader) release() {
	if r == nil {
		return
	}
	if r.tid != 0 {
		runtime.UnlockOSThread()
		r.tid = 0
	}
	if r.slot {
		r.slot = false
		r.srv.lockedNow.Add(-1)
	}
}

// handOff is called by startBlocking when reading moves to a new
// goroutine: a method blocked on a locked thread would hold the thread
// until it returns. The slot stays with the connection; the new reader
// locks its own thread. Done is normally asked for on the reading
// goroutine, which unlocks here; if a method asked from a goroutine of
// its own, the reading goroutine stays locked until its readLoop
// returns, which unlocks then.
func (r *connReader) handOff() {
	if r == nil || r.tid == 0 {
		return
	}
	if gettid() == r.tid {
		runtime.UnlockOSThread()
	}
	r.tid = 0
}

// interrupt wakes a read sleeping in poll(2), which neither a deadline
// nor Close does, by shutting the socket's reading side down: the read
// then sees the end of the stream.
func (r *connReader) interrupt() {
	if r != nil && r.raw.ok() {
		r.raw.shutdownRead()
	}
}

// takeLockedSlot takes one of the LockedReaders slots if one is free.
func (s *Server) takeLockedSlot() bool {
	for {
		n := s.lockedNow.Load()
		if n >= int64(s.opts.Limits.LockedReaders) {
			return false
		}
		if s.lockedNow.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// closeConn closes c's connection from a goroutine other than its
// reader, waking a read sleeping on a locked thread first.
func (c *serverConn) closeConn() {
	c.cr.interrupt()
	c.nc.Close()
}
