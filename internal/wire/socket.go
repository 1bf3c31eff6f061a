package wire

import (
	"errors"
	"net"
	"time"
)

// socketBuffer is the send buffer asked for on Unix-socket connections,
// so that a large value (a 1 MiB store) goes in one write rather than in
// steps of the default ~208 KiB, each waiting for the peer to read. The
// kernel caps it at net.core.wmem_max, and uses the memory only while
// data is in flight.
const socketBuffer = 4 << 20

// GrowSendBuffer applies socketBuffer to a Unix-socket connection; both
// the client and the server call it on every connection they make.
func GrowSendBuffer(nc net.Conn) {
	if uc, ok := nc.(*net.UnixConn); ok {
		uc.SetWriteBuffer(socketBuffer) // best effort: the default works too
	}
}

// LongAgo is a deadline in the past: setting it on a connection or a
// pipe interrupts a read or write in progress at once.
var LongAgo = time.Unix(1, 0)

// IsTimeout reports whether err is a deadline's timeout (a net.Conn's or
// an os.File's), the way a read or write interrupted by LongAgo, or by
// a deadline, fails.
func IsTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
