package proc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goproc/manager/internal/wire"
)

// A manager process's log records reach the parent's logger (WithLogger)
// over the report pipe, which stays open after the start-up report when
// the parent's logger wants records: the manager process logs through a
// LogSink's handler, which sends each record as a logRecord frame, and a
// goroutine of the parent (ForwardLogs, owned by the Manager) re-emits
// them on the parent's logger with their level, attributes and groups.

// logRecord is one record on the pipe. Ops are the handler's WithAttrs
// and WithGroup calls, in order, so that the parent's handler sees the
// same structure.
type logRecord struct {
	Time  time.Time
	Level slog.Level
	Msg   string
	Ops   []logOp
	Attrs []logAttr
}

// logOp is a WithGroup (Group set) or a WithAttrs call.
type logOp struct {
	Group string
	Attrs []logAttr
}

// logAttr is an attribute, its value resolved. Values of kind Any travel
// as their text (an error's Error(), a panic value's fmt.Sprint).
type logAttr struct {
	Key   string
	Kind  slog.Kind
	Str   string
	Int   int64
	Uint  uint64
	Float float64
	Bool  bool
	Time  time.Time
	Group []logAttr
}

func encodeAttr(a slog.Attr) logAttr {
	v := a.Value.Resolve()
	la := logAttr{Key: a.Key, Kind: v.Kind()}
	switch v.Kind() {
	case slog.KindString:
		la.Str = v.String()
	case slog.KindInt64:
		la.Int = v.Int64()
	case slog.KindUint64:
		la.Uint = v.Uint64()
	case slog.KindFloat64:
		la.Float = v.Float64()
	case slog.KindBool:
		la.Bool = v.Bool()
	case slog.KindDuration:
		la.Int = int64(v.Duration())
	case slog.KindTime:
		la.Time = v.Time()
	case slog.KindGroup:
		for _, g := range v.Group() {
			la.Group = append(la.Group, encodeAttr(g))
		}
	default: // KindAny
		la.Kind = slog.KindString
		if err, ok := v.Any().(error); ok {
			la.Str = err.Error()
		} else {
			la.Str = fmt.Sprint(v.Any())
		}
	}
	return la
}

func (la logAttr) attr() slog.Attr {
	switch la.Kind {
	case slog.KindInt64:
		return slog.Int64(la.Key, la.Int)
	case slog.KindUint64:
		return slog.Uint64(la.Key, la.Uint)
	case slog.KindFloat64:
		return slog.Float64(la.Key, la.Float)
	case slog.KindBool:
		return slog.Bool(la.Key, la.Bool)
	case slog.KindDuration:
		return slog.Duration(la.Key, time.Duration(la.Int))
	case slog.KindTime:
		return slog.Time(la.Key, la.Time)
	case slog.KindGroup:
		return slog.Attr{Key: la.Key, Value: slog.GroupValue(attrs(la.Group)...)}
	default:
		return slog.String(la.Key, la.Str)
	}
}

func attrs(las []logAttr) []slog.Attr {
	out := make([]slog.Attr, len(las))
	for i, la := range las {
		out[i] = la.attr()
	}
	return out
}

// MinLevel returns the lowest of the standard levels that l is enabled
// for, and false if it is enabled for none (the default, discarding,
// logger): then the manager process sends nothing.
func MinLevel(l *slog.Logger) (slog.Level, bool) {
	for _, lv := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
		if l.Enabled(context.Background(), lv) {
			return lv, true
		}
	}
	return 0, false
}

// LogSink sends the manager process's records to the parent. Handle
// never blocks the server: records queue in a buffer that one goroutine
// writes to the pipe, and when the parent does not keep up, records are
// dropped and counted (the next record that gets through says how many).
type LogSink struct {
	w       io.WriteCloser
	records chan logRecord // 256: room for a burst (a panic storm) while the pipe drains
	dropped atomic.Int64
	started atomic.Bool
	done    chan struct{}

	mu     sync.Mutex // guards closed, and sending on records against its close
	closed bool
}

// NewLogSink returns a sink that queues records until Start.
func NewLogSink(w io.WriteCloser) *LogSink {
	return &LogSink{w: w, records: make(chan logRecord, 256), done: make(chan struct{})}
}

// Start starts the goroutine that writes the records; Close stops it.
func (s *LogSink) Start() {
	s.started.Store(true)
	go s.run()
}

func (s *LogSink) run() {
	defer close(s.done)
	broken := false
	for r := range s.records {
		if broken {
			continue // the parent is gone; drain so that close returns
		}
		if n := s.dropped.Swap(0); n > 0 {
			warn := logRecord{Time: time.Now(), Level: slog.LevelWarn, Msg: "manager: log records dropped: the parent's logger did not keep up",
				Attrs: []logAttr{{Key: "dropped", Kind: slog.KindInt64, Int: n}}}
			broken = Send(s.w, &warn) != nil
		}
		broken = broken || Send(s.w, &r) != nil
	}
}

// Close sends what is queued, for up to a second (the parent may be
// gone or stuck), and closes the pipe.
func (s *LogSink) Close() {
	s.mu.Lock()
	s.closed = true
	close(s.records)
	s.mu.Unlock()
	if !s.started.Load() {
		s.w.Close()
		return
	}
	select {
	case <-s.done:
	case <-time.After(time.Second):
	}
	s.w.Close()
}

// Handler returns the slog.Handler of a manager process whose parent
// wants its records at level and above: it sends them through s.
func (s *LogSink) Handler(level slog.Level) slog.Handler {
	return &pipeHandler{sink: s, level: level}
}

// pipeHandler is the slog.Handler of a manager process whose parent
// wants its records.
type pipeHandler struct {
	sink  *LogSink
	level slog.Level
	ops   []logOp
}

func (h *pipeHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *pipeHandler) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{Time: r.Time, Level: r.Level, Msg: r.Message, Ops: h.ops}
	r.Attrs(func(a slog.Attr) bool {
		rec.Attrs = append(rec.Attrs, encodeAttr(a))
		return true
	})
	s := h.sink
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("manager: log pipe closed (the manager process is exiting)")
	}
	select {
	case s.records <- rec:
	default:
		s.dropped.Add(1)
	}
	return nil
}

func (h *pipeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	if len(as) == 0 {
		return h
	}
	op := logOp{}
	for _, a := range as {
		op.Attrs = append(op.Attrs, encodeAttr(a))
	}
	return &pipeHandler{sink: h.sink, level: h.level, ops: append(h.ops[:len(h.ops):len(h.ops)], op)}
}

func (h *pipeHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &pipeHandler{sink: h.sink, level: h.level, ops: append(h.ops[:len(h.ops):len(h.ops)], logOp{Group: name})}
}

// ForwardLogs re-emits on l the records the manager process sends on f
// (read through pr, which may hold some already), until f ends (the
// manager process exited); then it closes f and done.
func ForwardLogs(f *os.File, pr *wire.Reader, l *slog.Logger, done chan<- struct{}) {
	defer close(done)
	defer f.Close()
	for {
		var rec logRecord
		if err := Recv(pr, &rec); err != nil {
			return
		}
		h := l.Handler()
		for _, op := range rec.Ops {
			if op.Group != "" {
				h = h.WithGroup(op.Group)
			} else {
				h = h.WithAttrs(attrs(op.Attrs))
			}
		}
		ctx := context.Background()
		if !h.Enabled(ctx, rec.Level) {
			continue
		}
		sr := slog.NewRecord(rec.Time, rec.Level, rec.Msg, 0)
		sr.AddAttrs(attrs(rec.Attrs)...)
		h.Handle(ctx, sr)
	}
}
