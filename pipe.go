package manager

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/proc"
	"github.com/goproc/manager/internal/wire"
)

// A PipeOption configures Pipe.
type PipeOption interface {
	applyPipe(*pipeConfig)
}

type pipeConfig struct {
	oneWay bool
	max    int
}

type pipeOptionFunc func(*pipeConfig)

func (f pipeOptionFunc) applyPipe(c *pipeConfig) { f(c) }

// OneWay makes Pipe return a one-way pipe (Python's Pipe(duplex=False)):
// the first end only receives, the second only sends. By default a pipe
// is duplex: both ends send and receive.
func OneWay() PipeOption { return pipeOptionFunc(func(c *pipeConfig) { c.oneWay = true }) }

// WithPipeMaxMessage sets the largest message, in bytes of msgpack, that
// the pipe's ends send or accept (default 64 MiB). A larger Send fails
// with ErrFrameTooLarge before writing anything; a larger incoming frame
// fails Recv with ErrFrameTooLarge and breaks the end.
func WithPipeMaxMessage(n int) PipeOption {
	return pipeOptionFunc(func(c *pipeConfig) { c.max = max(n, wire.MinMaxFrameSize) })
}

// The modes of a pipe end.
const (
	pipeDuplex uint8 = iota
	pipeRecvOnly
	pipeSendOnly
)

// A PipeEnd is one end of a Pipe: it sends msgpack values to the other
// end and receives the values sent from it, each as one length-prefixed
// frame. An end passed as a direct argument of Fork is inherited by the
// worker, which decodes it with Args.Decode into a *PipeEnd.
//
// A PipeEnd is safe for concurrent use: Sends are serialised, Recvs too,
// and a Send may run alongside a Recv. Send and Recv block; their ctx
// bounds the wait.
type PipeEnd struct {
	f    *os.File // non-blocking, so deadlines (and so ctx) interrupt I/O
	mode uint8
	max  int

	closed atomic.Bool

	rmu sync.Mutex // guards r, rb and dec
	r   *wire.Reader
	rb  bytes.Reader
	dec *msgpack.Decoder

	wmu  sync.Mutex // guards w, enc and werr
	w    wire.Buffer
	enc  *msgpack.Encoder
	werr error // sticky: a frame written in part breaks the stream
}

// Pipe returns the two connected ends of a new pipe (Python's
// multiprocessing.Pipe): duplex by default (a Unix socket pair), one-way
// with OneWay (an OS pipe; the first end receives, the second sends).
//
// Typically one end is passed to a worker with Fork and the parent closes
// its own copy of it afterwards: an end is open until every process that
// has it closes it, and only then does the other end get io.EOF.
func Pipe(opts ...PipeOption) (*PipeEnd, *PipeEnd, error) {
	cfg := pipeConfig{max: wire.DefaultMaxFrameSize}
	for _, o := range opts {
		if o != nil {
			o.applyPipe(&cfg)
		}
	}
	if cfg.oneWay {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, nil, errorf("manager: Pipe: %w", err)
		}
		return newPipeEnd(r, pipeRecvOnly, cfg.max), newPipeEnd(w, pipeSendOnly, cfg.max), nil
	}
	// The fork lock keeps a child started concurrently from inheriting
	// the sockets before they are marked close-on-exec.
	syscall.ForkLock.RLock()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fds[0])
		syscall.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, nil, errorf("manager: Pipe: socketpair: %w", err)
	}
	ends := [2]*PipeEnd{}
	for i, fd := range fds {
		syscall.SetNonblock(fd, true)
		ends[i] = newPipeEnd(os.NewFile(uintptr(fd), "manager-pipe"), pipeDuplex, cfg.max)
	}
	return ends[0], ends[1], nil
}

func newPipeEnd(f *os.File, mode uint8, max int) *PipeEnd {
	p := &PipeEnd{}
	p.init(f, mode, max)
	return p
}

func (p *PipeEnd) init(f *os.File, mode uint8, max int) {
	p.f, p.mode, p.max = f, mode, max
	p.r = wire.NewReader(f, max)
	p.dec = msgpack.NewDecoder(nil)
	p.enc = msgpack.NewEncoder(&p.w)
}

// lockFor starts op (Send or Recv) on this end: it refuses op on the
// end of a one-way pipe of mode refused (the which end), takes mu, and
// refuses op on a closed end. mu is held when lockFor returns nil.
func (p *PipeEnd) lockFor(op string, mu *sync.Mutex, refused uint8, which string) error {
	if p.mode == refused {
		return errorf("manager: PipeEnd.%s on the %s end of a one-way pipe: %w", op, which, errors.ErrUnsupported)
	}
	mu.Lock()
	if p.closed.Load() {
		mu.Unlock()
		return errorf("manager: PipeEnd.%s: %w", op, ErrClosed)
	}
	return nil
}

// Send writes v, encoded with msgpack, as one message. It blocks until
// the message is written into the pipe (the OS buffers some; then Send
// waits for the other end to read) or ctx ends. A Send interrupted half
// way through a message breaks this end: later Sends fail.
//
// Send on the receiving end of a one-way pipe fails with an error
// satisfying errors.Is(err, errors.ErrUnsupported); when the other end is
// closed in every process it fails with one satisfying
// errors.Is(err, syscall.EPIPE).
func (p *PipeEnd) Send(ctx context.Context, v any) error {
	if err := p.lockFor("Send", &p.wmu, pipeRecvOnly, "receiving"); err != nil {
		return err
	}
	defer p.wmu.Unlock()
	if p.werr != nil {
		return p.werr
	}
	p.w.Begin()
	if err := p.enc.Encode(v); err != nil {
		return errorf("manager: PipeEnd.Send: encode %T: %w", v, err)
	}
	frame, err := p.w.Finish(p.max)
	if err != nil {
		return errorf("manager: PipeEnd.Send: %w", err)
	}
	disarm, err := armDeadline(ctx, p.f.SetWriteDeadline)
	if err != nil {
		return errorf("manager: PipeEnd.Send: %w", err)
	}
	n, err := p.f.Write(frame)
	disarm()
	if err == nil {
		return nil
	}
	switch {
	case p.closed.Load():
		err = errorf("manager: PipeEnd.Send: %w", ErrClosed)
	case timedOut(ctx, err) != nil:
		err = errorf("manager: PipeEnd.Send: %w", timedOut(ctx, err))
	case errors.Is(err, syscall.EPIPE):
		err = errorf("manager: PipeEnd.Send: the other end is closed: %w", err)
	default:
		err = errorf("manager: PipeEnd.Send: %w", err)
	}
	if n > 0 {
		p.werr = errorf("manager: PipeEnd.Send: the pipe is broken: a message was cut short by: %w", err)
	}
	return err
}

// Recv reads the next message into out (a pointer, as for
// msgpack.Unmarshal; nil discards the message). It blocks until a message
// arrives or ctx ends; a Recv whose ctx ended loses nothing (a message
// read in part is finished by the next Recv).
//
// Recv returns io.EOF itself when the other end is closed in every
// process and every message has been read; ErrFrameTooLarge, when a
// message exceeds the limit, and ErrProtocol, when it is not valid
// msgpack, break the end. A message that does not decode into out is
// lost, but the end stays usable. Recv on the sending end of a one-way
// pipe fails with an error satisfying errors.Is(err, errors.ErrUnsupported).
func (p *PipeEnd) Recv(ctx context.Context, out any) error {
	if err := p.lockFor("Recv", &p.rmu, pipeSendOnly, "sending"); err != nil {
		return err
	}
	defer p.rmu.Unlock()
	disarm, err := armDeadline(ctx, p.f.SetReadDeadline)
	if err != nil {
		return errorf("manager: PipeEnd.Recv: %w", err)
	}
	body, err := p.r.ReadFrame()
	disarm()
	switch {
	case err == nil:
	case err == io.EOF:
		return io.EOF
	case p.closed.Load():
		return errorf("manager: PipeEnd.Recv: %w", ErrClosed)
	case timedOut(ctx, err) != nil:
		return errorf("manager: PipeEnd.Recv: %w", timedOut(ctx, err))
	default:
		return errorf("manager: PipeEnd.Recv: %w", err)
	}
	if err := wire.Scan(body, nil); err != nil {
		return errorf("manager: PipeEnd.Recv: %w: %v", ErrProtocol, err)
	}
	if out == nil {
		return nil
	}
	p.rb.Reset(body)
	p.dec.Reset(&p.rb)
	if err := p.dec.Decode(out); err != nil {
		return errorf("manager: PipeEnd.Recv: %w", newDecodeError("the message", out, body, err))
	}
	return nil
}

// armDeadline makes set's deadline follow ctx: its deadline, or the
// past at once when it is cancelled. disarm clears it again.
func armDeadline(ctx context.Context, set func(time.Time) error) (disarm func(), err error) {
	if ctx.Done() == nil {
		return func() {}, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if d, ok := ctx.Deadline(); ok {
		set(d)
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		set(wire.LongAgo)
		close(fired)
	})
	return func() {
		if !stop() {
			<-fired // it ran or is running: let it finish before clearing
		}
		set(time.Time{})
	}, nil
}

// timedOut returns ctx's error if err is the deadline armDeadline set
// for ctx. The file's deadline can pass a moment before ctx's own timer
// fires, so a passed deadline counts even while ctx.Err is still nil.
func timedOut(ctx context.Context, err error) error {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// Close closes this process's copy of the end; blocked Sends and Recvs
// fail with ErrClosed. The other end sees io.EOF (or EPIPE) once no
// process holds this end. Close may be called more than once.
func (p *PipeEnd) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	return p.f.Close()
}

// EncodeMsgpack refuses: a PipeEnd travels only as an argument of Fork.
func (p *PipeEnd) EncodeMsgpack(*msgpack.Encoder) error { return errCarried("PipeEnd") }

// pipeRef is what Fork sends in place of a pipe end.
type pipeRef struct {
	//lint:ignore U1000 msgpack reads this field's tag (as_array), never its value
	_msgpack struct{} `msgpack:",as_array"`
	Tag      string
	Index    int
	Mode     uint8
	Max      int
}

const pipeTag = "manager.pipe"

// DecodeMsgpack opens the end a parent passed to this worker with Fork.
func (p *PipeEnd) DecodeMsgpack(d *msgpack.Decoder) error {
	var ref pipeRef
	if err := d.Decode(&ref); err != nil {
		return errorf("manager: decode PipeEnd: %w", err)
	}
	if ref.Tag != pipeTag || ref.Mode > pipeSendOnly {
		return fmt.Errorf("%w: decode PipeEnd: the argument is not a pipe end", ErrWrongType)
	}
	fd, err := inheritedFD(ref.Index)
	if err != nil {
		return err
	}
	// Non-blocking before os.NewFile, so that the file is pollable and
	// honours deadlines (exec hands descriptors over in blocking mode).
	syscall.SetNonblock(fd, true)
	p.init(os.NewFile(uintptr(fd), "manager-pipe"), ref.Mode, max(ref.Max, wire.MinMaxFrameSize))
	return nil
}

func (p *PipeEnd) forkArg(first int) (any, []*os.File, func(), error) {
	if p.closed.Load() {
		return nil, nil, nil, fmt.Errorf("manager: PipeEnd is closed")
	}
	// exec puts every descriptor it passes into blocking mode (File.Fd),
	// and the mode belongs to the open file, which the child shares: so
	// exec gets a duplicate, and the mode is set back once the child has
	// started, for this process's copy and the child's alike.
	var dup int
	var derr error
	rc, err := p.f.SyscallConn()
	if err != nil {
		return nil, nil, nil, err
	}
	rc.Control(func(fd uintptr) { dup, derr = proc.DupCloseOnExec(int(fd)) })
	if derr != nil {
		return nil, nil, nil, errorf("manager: pass PipeEnd: %w", derr)
	}
	df := os.NewFile(uintptr(dup), "manager-pipe")
	release := func() {
		df.Close()
		rc.Control(func(fd uintptr) { syscall.SetNonblock(int(fd), true) })
	}
	return &pipeRef{Tag: pipeTag, Index: first, Mode: p.mode, Max: p.max}, []*os.File{df}, release, nil
}
