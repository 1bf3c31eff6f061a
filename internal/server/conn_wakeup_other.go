//go:build !linux

package server

import (
	"net"
	"time"
)

// rawSocket is never usable here: every connection stays on the
// network poller.
type rawSocket struct{}

func rawSocketOf(net.Conn) rawSocket { return rawSocket{} }

func (rawSocket) ok() bool { return false }

func (rawSocket) pollRead([]byte, time.Time, time.Duration) (int, error, bool) { return 0, nil, true }

func (rawSocket) shutdownRead() {}

func gettid() int { return 1 }
