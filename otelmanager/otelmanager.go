// Package otelmanager traces the calls of github.com/goproc/manager
// with OpenTelemetry: ClientInterceptor starts a client span around each
// method call a proxy makes, ServerInterceptor a server span around each
// call a manager executes.
//
// It is a module of its own so that the manager module does not depend
// on OpenTelemetry.
//
// # Spans are per side
//
// The manager's wire protocol carries no trace context, so a server span
// does not have the client span as its parent: each side's spans join
// the traces of that side (a client span is a child of the span in the
// caller's ctx; a server span starts a trace of its own, or continues
// one its method's ctx reaches by other means). The two sides' spans of
// one call share the attributes manager.object.id, rpc.service
// (the object's type) and rpc.method, and manager.session on the
// server names the client's session, so that a backend can relate them.
// A server span is in the ctx the method receives, so a method that
// starts spans of its own nests them under it.
//
// # Using it
//
//	m, err := manager.Start(ctx, manager.InProcess(),
//		manager.WithInterceptors(otelmanager.ClientInterceptor()),
//		manager.WithServerInterceptors(otelmanager.ServerInterceptor()))
//
// Server interceptors run in the process that serves: Start with
// InProcess, or NewServer (see manager.WithServerInterceptors).
package otelmanager

import (
	"context"
	"strconv"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/goproc/manager"
)

// instrumentation names the tracer, as OpenTelemetry's conventions ask:
// the instrumenting package's import path.
const instrumentation = "github.com/goproc/manager/otelmanager"

// An Option configures ClientInterceptor and ServerInterceptor.
type Option func(*config)

type config struct {
	provider trace.TracerProvider
}

// WithTracerProvider sets the provider of the tracer that starts the
// spans. The default is the global provider (otel.GetTracerProvider) at
// the time the interceptor is made.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.provider = tp }
}

func newTracer(opts []Option) trace.Tracer {
	c := config{provider: otel.GetTracerProvider()}
	for _, o := range opts {
		o(&c)
	}
	return c.provider.Tracer(instrumentation)
}

// rpcSystem is the rpc.system attribute of every span.
var rpcSystem = attribute.String("rpc.system", "goproc_manager")

// ClientInterceptor returns an interceptor (for manager.WithInterceptors
// or manager.WithRedisInterceptors) that starts a client span named
// "Type.Method" around each method call, as a child of the span in the
// caller's ctx, and records the call's error and its code
// (manager.ErrorCode) on it. It is safe for concurrent use.
func ClientInterceptor(opts ...Option) manager.Interceptor {
	tracer := newTracer(opts)
	return func(next manager.CallFunc) manager.CallFunc {
		return func(ctx context.Context, call manager.CallInfo) error {
			ctx, span := tracer.Start(ctx, call.TypeID+"."+call.Method,
				trace.WithSpanKind(trace.SpanKindClient),
				trace.WithAttributes(rpcSystem,
					attribute.String("rpc.service", call.TypeID),
					attribute.String("rpc.method", call.Method),
					attribute.String("manager.object.id", strconv.FormatUint(call.Object, 10))))
			defer span.End()
			err := next(ctx, call)
			setOutcome(span, err)
			return err
		}
	}
}

// ServerInterceptor returns a server interceptor (for
// manager.WithServerInterceptors) that starts a server span named
// "Type.Method" (or "manager.op" for the manager's own operations)
// around each call the server executes, with the calling session and
// pid, and records the call's error and its code on it. The span is in
// the ctx the method receives. It is safe for concurrent use.
func ServerInterceptor(opts ...Option) manager.ServerInterceptor {
	tracer := newTracer(opts)
	return func(next manager.ServerCallFunc) manager.ServerCallFunc {
		return func(ctx context.Context, call manager.ServerCallInfo) error {
			service := call.TypeID
			if call.Object == 0 {
				service = "manager"
			}
			ctx, span := tracer.Start(ctx, service+"."+call.Method,
				trace.WithSpanKind(trace.SpanKindServer),
				trace.WithAttributes(rpcSystem,
					attribute.String("rpc.service", service),
					attribute.String("rpc.method", call.Method),
					attribute.String("manager.object.id", strconv.FormatUint(call.Object, 10)),
					attribute.String("manager.session", call.Session),
					attribute.Int("manager.pid", call.Pid)))
			defer span.End()
			err := next(ctx, call)
			setOutcome(span, err)
			return err
		}
	}
}

// setOutcome records err, if any, on span.
func setOutcome(span trace.Span, err error) {
	if err == nil {
		return
	}
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())
	span.SetAttributes(attribute.String("manager.error_code", manager.ErrorCode(err)))
}
