package manager_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

// TestNilProxyMethods calls every exported method of every typed proxy on
// a nil pointer and on a zero value: each returns an error satisfying
// errors.Is(err, ErrNilProxy) (Proxy returns nil), and none panics.
func TestNilProxyMethods(t *testing.T) {
	tests := []struct {
		name string
		give any
	}{
		{"Dict", (*manager.Dict[string, int])(nil)},
		{"List", (*manager.List[int])(nil)},
		{"Namespace", (*manager.Namespace)(nil)},
		{"Value", (*manager.Value[int])(nil)},
		{"Array", (*manager.Array[int])(nil)},
		{"Queue", (*manager.Queue[int])(nil)},
		{"JoinableQueue", (*manager.JoinableQueue[int])(nil)},
		{"Lock", (*manager.Lock)(nil)},
		{"RLock", (*manager.RLock)(nil)},
		{"Semaphore", (*manager.Semaphore)(nil)},
		{"BoundedSemaphore", (*manager.BoundedSemaphore)(nil)},
		{"Condition", (*manager.Condition)(nil)},
		{"Event", (*manager.Event)(nil)},
		{"Barrier", (*manager.Barrier)(nil)},
		{"zero Dict", &manager.Dict[string, int]{}},
		{"zero JoinableQueue", &manager.JoinableQueue[int]{}},
		{"zero Lock", &manager.Lock{}},
	}
	ctxType := reflect.TypeFor[context.Context]()
	errType := reflect.TypeFor[error]()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := reflect.ValueOf(tt.give)
			for i := 0; i < v.NumMethod(); i++ {
				m := v.Type().Method(i)
				if m.Name == "EncodeMsgpack" || m.Name == "DecodeMsgpack" {
					continue // msgpack never calls these on a nil pointer
				}
				ft := m.Type
				args := make([]reflect.Value, ft.NumIn()-1)
				for j := range args {
					in := ft.In(j + 1)
					if in == ctxType {
						args[j] = reflect.ValueOf(testContext(t))
						continue
					}
					args[j] = reflect.Zero(in)
				}
				var out []reflect.Value
				require.NotPanics(t, func() {
					if ft.IsVariadic() {
						out = v.Method(i).CallSlice(args)
					} else {
						out = v.Method(i).Call(args)
					}
				}, m.Name)
				if m.Name == "Proxy" {
					assert.Nil(t, out[0].Interface(), m.Name)
					continue
				}
				last := out[len(out)-1]
				if isErrSeq2(last.Type()) {
					last = firstSeq2Err(last) // an iterator yields its error
				}
				require.Equal(t, errType, last.Type(), "%s returns no error", m.Name)
				err, _ := last.Interface().(error)
				assert.ErrorIs(t, err, manager.ErrNilProxy, m.Name)
			}
		})
	}
}

// TestNilSession gives every constructor a nil session (a nil interface,
// a nil *Manager, a nil *Client): each returns ErrNilProxy.
func TestNilSession(t *testing.T) {
	ctx := testContext(t)
	sessions := []struct {
		name string
		give manager.Session
	}{
		{"nil interface", nil},
		{"nil Manager", (*manager.Manager)(nil)},
		{"nil Client", (*manager.Client)(nil)},
	}
	for _, s := range sessions {
		t.Run(s.name, func(t *testing.T) {
			constructors := map[string]func() error{
				"NewDict":      func() error { _, err := manager.NewDict[string, int](ctx, s.give); return err },
				"OpenDict":     func() error { _, err := manager.OpenDict[string, int](ctx, s.give, "d"); return err },
				"NewList":      func() error { _, err := manager.NewList[int](ctx, s.give); return err },
				"NewNamespace": func() error { _, err := manager.NewNamespace(ctx, s.give); return err },
				"NewValue":     func() error { _, err := manager.NewValue(ctx, s.give, 1); return err },
				"NewArray":     func() error { _, err := manager.NewArray(ctx, s.give, []int{1}); return err },
				"NewQueue":     func() error { _, err := manager.NewQueue[int](ctx, s.give, 0); return err },
				"NewJoinable":  func() error { _, err := manager.NewJoinableQueue[int](ctx, s.give, 0); return err },
				"NewLock":      func() error { _, err := manager.NewLock(ctx, s.give); return err },
				"NewRLock":     func() error { _, err := manager.NewRLock(ctx, s.give); return err },
				"NewSemaphore": func() error { _, err := manager.NewSemaphore(ctx, s.give, 1); return err },
				"NewBounded":   func() error { _, err := manager.NewBoundedSemaphore(ctx, s.give, 1); return err },
				"NewCondition": func() error { _, err := manager.NewCondition(ctx, s.give, nil); return err },
				"NewEvent":     func() error { _, err := manager.NewEvent(ctx, s.give); return err },
				"NewBarrier":   func() error { _, err := manager.NewBarrier(ctx, s.give, 2); return err },
				"New":          func() error { _, err := manager.New(ctx, s.give, "Dict"); return err },
				"Open":         func() error { _, err := manager.Open(ctx, s.give, "x", "Dict"); return err },
			}
			for name, fn := range constructors {
				var err error
				require.NotPanics(t, func() { err = fn() }, name)
				assert.ErrorIs(t, err, manager.ErrNilProxy, name)
			}
		})
	}
	var m *manager.Manager
	require.NotPanics(t, func() {
		assert.True(t, errors.Is(m.Shutdown(ctx), manager.ErrNilProxy))
		_, err := m.Fork(ctx, "typed.create-and-exit")
		assert.ErrorIs(t, err, manager.ErrNilProxy)
		assert.Nil(t, m.AuthKey())
		assert.Zero(t, m.Pid())
		assert.Nil(t, m.Server())
	})
}

// TestNilClientCalls: the calls of a nil *Client return ErrNilProxy.
func TestNilClientCalls(t *testing.T) {
	ctx := testContext(t)
	var c *manager.Client
	require.NotPanics(t, func() {
		_, err := c.NumObjects(ctx)
		assert.ErrorIs(t, err, manager.ErrNilProxy)
		_, err = c.Delete(ctx, "x")
		assert.ErrorIs(t, err, manager.ErrNilProxy)
	})
}

// isErrSeq2 reports whether t is an iter.Seq2[X, error]: a func taking a
// yield func(X, error) bool.
func isErrSeq2(t reflect.Type) bool {
	if t.Kind() != reflect.Func || t.NumIn() != 1 || t.NumOut() != 0 {
		return false
	}
	y := t.In(0)
	return y.Kind() == reflect.Func && y.NumIn() == 2 && y.In(1) == reflect.TypeFor[error]() &&
		y.NumOut() == 1 && y.Out(0).Kind() == reflect.Bool
}

// firstSeq2Err ranges over seq, an iter.Seq2[X, error], and returns the
// first error it yields (as a reflect.Value of type error, nil if none).
func firstSeq2Err(seq reflect.Value) reflect.Value {
	errVal := reflect.New(reflect.TypeFor[error]()).Elem()
	yield := reflect.MakeFunc(seq.Type().In(0), func(args []reflect.Value) []reflect.Value {
		if !args[1].IsNil() {
			errVal.Set(args[1])
			return []reflect.Value{reflect.ValueOf(false)}
		}
		return []reflect.Value{reflect.ValueOf(true)}
	})
	seq.Call([]reflect.Value{yield})
	return errVal
}
