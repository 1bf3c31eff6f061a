//go:build linux

package server

import (
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// rawSocket reads a Unix socket with poll(2) and read(2) on the calling
// (locked) thread.
type rawSocket struct {
	rc syscall.RawConn
}

// rawSocketOf returns nc's raw socket when nc is a plain Unix-socket
// connection, or the zero rawSocket.
func rawSocketOf(nc net.Conn) rawSocket {
	uc, ok := nc.(*net.UnixConn)
	if !ok {
		return rawSocket{}
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return rawSocket{}
	}
	return rawSocket{rc: rc}
}

func (s rawSocket) ok() bool { return s.rc != nil }

// pollRead waits in poll(2) until the socket is readable, then reads
// into p. It gives up with idle set after wait without data when there
// is no deadline, and with os.ErrDeadlineExceeded at the deadline.
//
// RawConn.Read holds the descriptor for the callback, so it cannot be
// closed (and its number reused) under the poll: Close waits, which is
// why closeConn shuts the socket down first.
func (s rawSocket) pollRead(p []byte, deadline time.Time, wait time.Duration) (n int, err error, idle bool) {
	var rerr error
	err = s.rc.Read(func(fd uintptr) bool {
		n, rerr, idle = pollAndRead(int(fd), p, deadline, wait)
		return true
	})
	if err == nil {
		err = rerr
	}
	return n, err, idle
}

func pollAndRead(fd int, p []byte, deadline time.Time, idle time.Duration) (int, error, bool) {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		wait := idle
		if !deadline.IsZero() {
			if wait = time.Until(deadline); wait <= 0 {
				return 0, os.ErrDeadlineExceeded, false
			}
		}
		k, err := unix.Poll(pfd, int((wait+time.Millisecond-1)/time.Millisecond))
		switch {
		case err == unix.EINTR: // the runtime's preemption signal: wait on
			continue
		case err != nil:
			return 0, os.NewSyscallError("poll", err), false
		case k == 0 && deadline.IsZero():
			return 0, nil, true
		case k == 0:
			continue // the loop checks the deadline
		}
		n, err := unix.Read(fd, p)
		switch {
		case err == unix.EINTR, err == unix.EAGAIN:
			continue
		case err != nil:
			return 0, os.NewSyscallError("read", err), false
		case n == 0 && len(p) > 0:
			return 0, io.EOF, false
		}
		return n, nil, false
	}
}

// shutdownRead shuts the socket's reading side down, waking a poll(2).
func (s rawSocket) shutdownRead() {
	s.rc.Control(func(fd uintptr) {
		unix.Shutdown(int(fd), unix.SHUT_RD)
	})
}

func gettid() int { return unix.Gettid() }
