package systest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

// Helpers of the fault tests (faults_test.go, shutdown_test.go,
// linearizability_test.go, soak_test.go).

// Slow is a custom type whose Work computes for a while without looking at
// its ctx: an executing call, as opposed to a blocked one, which is what
// graceful Shutdown lets finish.
type Slow struct {
	running atomic.Int64
	holding atomic.Int64
}

// Hold blocks until its caller gives up: a call blocked in the manager.
func (s *Slow) Hold(ctx context.Context) error {
	s.holding.Add(1)
	defer s.holding.Add(-1)
	<-ctx.Done()
	return ctx.Err()
}

// Holding returns the number of Hold calls waiting now.
func (s *Slow) Holding() int64 { return s.holding.Load() }

// slowWorking counts the Work calls executing in this process: for an
// in-process manager, the test can wait for a call that Shutdown cut off
// to end (Shutdown does not wait for it).
var slowWorking atomic.Int64

// Work runs for ms milliseconds and returns ms.
func (s *Slow) Work(ms int) int {
	s.running.Add(1)
	defer s.running.Add(-1)
	slowWorking.Add(1)
	defer slowWorking.Add(-1)
	time.Sleep(time.Duration(ms) * time.Millisecond) // sleep-ok: stands for a computation that ignores its ctx
	return ms
}

// Running returns the number of Work calls executing now.
func (s *Slow) Running() int64 { return s.running.Load() }

// Delay returns s after waiting ms milliseconds, or its ctx error as soon
// as the caller gives up: a call that can be interrupted at any point.
func (s *Slow) Delay(ctx context.Context, str string, us int) (string, error) {
	t := time.NewTimer(time.Duration(us) * time.Microsecond)
	defer t.Stop()
	select {
	case <-t.C:
		return str, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Echo returns str at once.
func (s *Slow) Echo(str string) string { return str }

// A journal is a file of JSON lines that processes append records to,
// one write(2) each, so that what a process wrote before it was killed is
// all there, whole, afterwards; the manager cannot carry such reports,
// since some tests kill it.
type journal string

// newJournal returns a new, empty journal in the test's temporary
// directory.
func newJournal(t testing.TB, name string) journal {
	t.Helper()
	p := filepath.Join(t.TempDir(), name+".jsonl")
	require.NoError(t, os.WriteFile(p, nil, 0o600))
	return journal(p)
}

// journalWriter appends records to a journal.
type journalWriter struct{ f *os.File }

func openJournal(j journal) (*journalWriter, error) {
	f, err := os.OpenFile(string(j), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, err
	}
	return &journalWriter{f: f}, nil
}

// add appends v as one line, in one write.
func (w *journalWriter) add(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.f.Write(append(b, '\n'))
	return err
}

func (w *journalWriter) Close() error { return w.f.Close() }

// readJournal decodes every record of j. A last line still being written
// (no newline yet: the journal is read while processes write it) is left
// for the next read.
func readJournal[T any](t testing.TB, j journal) []T {
	t.Helper()
	b, err := os.ReadFile(string(j))
	require.NoError(t, err)
	lines := bytes.Split(b, []byte("\n"))
	var out []T
	for _, line := range lines[:len(lines)-1] {
		var v T
		require.NoError(t, json.Unmarshal(line, &v), "journal line %q", line)
		out = append(out, v)
	}
	return out
}

// killAfter waits d (the fault's injection point, chosen at random by the
// caller; nothing waits for it to be right) and SIGKILLs p, unless ctx
// ends first. A process that has exited already is no error.
func killAfter(ctx context.Context, p *manager.Process, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := p.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

// longContext is testContext with a longer bound, for the suites that run
// many rounds.
func longContext(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
