package otelmanager_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/goproc/manager"
	"github.com/goproc/manager/otelmanager"
)

// SpanProbe is a custom type whose method reports the span in its ctx.
type SpanProbe struct{}

// SpanID returns the id of the span in ctx.
func (SpanProbe) SpanID(ctx context.Context) string {
	return trace.SpanContextFromContext(ctx).SpanID().String()
}

func init() {
	manager.Register[SpanProbe]("otel.SpanProbe", func() SpanProbe { return SpanProbe{} }, manager.ConcurrentSafe())
}

func TestMain(m *testing.M) {
	manager.Init()
	os.Exit(m.Run())
}

// attr returns the value of the attribute key of span.
func attr(span sdktrace.ReadOnlySpan, key string) attribute.Value {
	for _, kv := range span.Attributes() {
		if string(kv.Key) == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// spanNamed returns the ended span named name of kind.
func spanNamed(t *testing.T, sr *tracetest.SpanRecorder, name string, kind trace.SpanKind) sdktrace.ReadOnlySpan {
	t.Helper()
	for _, s := range sr.Ended() {
		if s.Name() == name && s.SpanKind() == kind {
			return s
		}
	}
	var names []string
	for _, s := range sr.Ended() {
		names = append(names, s.SpanKind().String()+" "+s.Name())
	}
	require.FailNowf(t, "no span", "no %s span %q among %v", kind, name, names)
	return nil
}

func TestSpans(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	defer tp.Shutdown(context.Background())
	m, err := manager.Start(ctx, manager.InProcess(),
		manager.WithInterceptors(otelmanager.ClientInterceptor(otelmanager.WithTracerProvider(tp))),
		manager.WithServerInterceptors(otelmanager.ServerInterceptor(otelmanager.WithTracerProvider(tp))))
	require.NoError(t, err)
	defer m.Shutdown(context.Background())

	ctx, parent := tp.Tracer("test").Start(ctx, "parent")
	d, err := manager.NewDict[string, int](ctx, m)
	require.NoError(t, err)
	require.NoError(t, d.Store(ctx, "k", 1))
	q, err := manager.NewQueue[int](ctx, m, 0)
	require.NoError(t, err)
	_, err = q.TryGet(ctx)
	require.ErrorIs(t, err, manager.ErrEmpty)
	p, err := manager.New(ctx, m, "otel.SpanProbe")
	require.NoError(t, err)
	seen, err := manager.Call[string](ctx, p, "SpanID")
	require.NoError(t, err)
	parent.End()

	t.Run("client span is the caller's child", func(t *testing.T) {
		s := spanNamed(t, sr, "Dict.Store", trace.SpanKindClient)
		assert.Equal(t, parent.SpanContext().SpanID(), s.Parent().SpanID())
		assert.Equal(t, parent.SpanContext().TraceID(), s.SpanContext().TraceID())
		assert.Equal(t, "goproc_manager", attr(s, "rpc.system").AsString())
		assert.Equal(t, "Dict", attr(s, "rpc.service").AsString())
		assert.Equal(t, codes.Unset, s.Status().Code)
	})
	t.Run("server span names the session and pid", func(t *testing.T) {
		s := spanNamed(t, sr, "Dict.Store", trace.SpanKindServer)
		assert.Equal(t, int64(os.Getpid()), attr(s, "manager.pid").AsInt64())
		assert.Len(t, attr(s, "manager.session").AsString(), 32)
		assert.False(t, s.Parent().IsValid(), "spans are per side: the server span starts its own trace")
	})
	t.Run("errors are recorded with their code", func(t *testing.T) {
		for _, kind := range []trace.SpanKind{trace.SpanKindClient, trace.SpanKindServer} {
			var s sdktrace.ReadOnlySpan
			for _, name := range []string{"Queue.TryGetAs", "Queue.TryGet"} {
				for _, x := range sr.Ended() {
					if x.Name() == name && x.SpanKind() == kind {
						s = x
					}
				}
			}
			require.NotNil(t, s, kind.String())
			assert.Equal(t, codes.Error, s.Status().Code, kind.String())
			assert.Equal(t, "empty", attr(s, "manager.error_code").AsString(), kind.String())
		}
	})
	t.Run("the method runs in the server span", func(t *testing.T) {
		s := spanNamed(t, sr, "otel.SpanProbe.SpanID", trace.SpanKindServer)
		assert.Equal(t, s.SpanContext().SpanID().String(), seen)
	})
	t.Run("the manager's own operations", func(t *testing.T) {
		s := spanNamed(t, sr, "manager.new", trace.SpanKindServer)
		assert.Equal(t, "manager", attr(s, "rpc.service").AsString())
	})
}
