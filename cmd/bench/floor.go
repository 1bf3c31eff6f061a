package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/goproc/manager"
)

// The raw Unix-socket floor, measured inside W1, interleaved with it: the
// anchors' L1 row runs minutes apart from ours on a shared machine, and
// its figures drift more than the difference being measured. Like L1, a
// round trip is one 16-byte frame each way between two processes, served
// with a buffered reader and writer.

const floorFrame = 16

func init() {
	manager.RegisterWorker("bench/echo", echoWorker)
}

// echoWorker dials the socket it is given and echoes 16-byte frames
// until EOF.
func echoWorker(ctx context.Context, _ *manager.Client, args manager.Args) error {
	var path string
	if err := args.Decode(&path); err != nil {
		return err
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return err
	}
	defer c.Close()
	r, w := bufio.NewReaderSize(c, 64<<10), bufio.NewWriterSize(c, 64<<10)
	var buf [floorFrame]byte
	for {
		if _, err := io.ReadFull(r, buf[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		w.Write(buf[:])
		if r.Buffered() < floorFrame {
			if err := w.Flush(); err != nil {
				return err
			}
		}
	}
}

// A floor is a connection to an echo worker.
type floor struct {
	c   net.Conn
	p   *manager.Process
	dir string
	buf [floorFrame]byte
	id  uint64
}

// startFloor forks an echo worker and connects it to this process.
func startFloor(ctx context.Context, m *manager.Manager) (*floor, error) {
	dir, err := os.MkdirTemp("", "bench-floor-")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "echo.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer l.Close()
	p, err := m.Fork(ctx, "bench/echo", path)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// Stop waiting if the worker gives up, or ctx ends.
	accepted := make(chan struct{})
	defer close(accepted)
	go func() {
		select {
		case <-p.Done():
			l.Close()
		case <-ctx.Done():
			l.Close()
		case <-accepted:
		}
	}()
	c, err := l.Accept()
	if err != nil {
		<-p.Done()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("echo worker: %w", err)
	}
	return &floor{c: c, p: p, dir: dir}, nil
}

// roundTrips makes k round trips, appending their times to lat.
func (f *floor) roundTrips(k int, lat *latencies) error {
	prev := time.Now()
	for range k {
		f.id++
		f.buf[0] = byte(f.id)
		if _, err := f.c.Write(f.buf[:]); err != nil {
			return err
		}
		if _, err := io.ReadFull(f.c, f.buf[:]); err != nil {
			return err
		}
		now := time.Now()
		*lat = append(*lat, now.Sub(prev))
		prev = now
	}
	return nil
}

// close ends the echo worker and waits for it.
func (f *floor) close() error {
	f.c.Close()
	err := f.p.Wait()
	os.RemoveAll(f.dir)
	return err
}
