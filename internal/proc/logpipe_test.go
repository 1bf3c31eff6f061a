package proc

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLogPipeKeepsRecords: records sent through a real pipe and re-emitted
// come out of the parent's handler exactly as they would have been logged
// there directly: level, message, every kind of value, groups and
// attributes added with With. (Other values of kind Any, which may not
// be encodable, travel as their text: logpipe.go.)
func TestLogPipeKeepsRecords(t *testing.T) {
	logAll := func(l *slog.Logger) {
		l.Debug("below the level") // dropped in the child: the parent wants Info
		l.Info("kinds", "s", "x", "i", -3, "u", uint64(7), "f", 1.5, "b", true,
			"d", 2*time.Second, "t", time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC),
			"err", errors.New("boom"), slog.Group("g", "k", "v"))
		l.With("conn", 4).WithGroup("call").With("method", "Dict.Load").Error("nested", "id", 9)
	}
	noTime := func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	newJSON := func(b *bytes.Buffer) *slog.Logger {
		return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelInfo, ReplaceAttr: noTime}))
	}
	var want, got bytes.Buffer
	logAll(newJSON(&want))

	parent := newJSON(&got)
	level, ok := MinLevel(parent)
	require.True(t, ok)
	r, w, err := os.Pipe()
	require.NoError(t, err)
	done := make(chan struct{})
	go ForwardLogs(r, NewReader(r), parent, done)
	sink := NewLogSink(w)
	sink.Start()
	logAll(slog.New(sink.Handler(level)))
	sink.Close() // flushes, closes the pipe: ForwardLogs ends
	<-done
	assert.Equal(t, want.String(), got.String())
}
