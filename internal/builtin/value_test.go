package builtin

import (
	"math"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager/internal/errs"
)

// newTestValue returns a Value holding v, encoded.
func newTestValue(tb testing.TB, v any) *Value {
	tb.Helper()
	val, err := NewValue(direct, containerEncode(tb, v))
	require.NoError(tb, err)
	return val
}

func TestValueLoadStoreSwap(t *testing.T) {
	v := newTestValue(t, "a")
	assert.Equal(t, containerEncode(t, "a"), v.Load())
	v.Store(direct, containerEncode(t, "b"))
	assert.Equal(t, containerEncode(t, "b"), v.Load())
	assert.Equal(t, containerEncode(t, "b"), v.Swap(direct, containerEncode(t, "c")))
	assert.Equal(t, containerEncode(t, "c"), v.Load())
}

func TestValueCompareAndSwap(t *testing.T) {
	v := newTestValue(t, int64(1))
	assert.False(t, v.CompareAndSwap(direct, containerEncode(t, int64(2)), containerEncode(t, int64(3))))
	assert.False(t, v.CompareAndSwap(direct, containerEncode(t, int8(1)), containerEncode(t, int64(3))), "equality is byte equality")
	assert.Equal(t, containerEncode(t, int64(1)), v.Load())
	assert.True(t, v.CompareAndSwap(direct, containerEncode(t, int64(1)), containerEncode(t, int64(3))))
	assert.Equal(t, containerEncode(t, int64(3)), v.Load())
}

func TestValueAdd(t *testing.T) {
	tests := []struct {
		name  string
		give  any
		delta any
		want  any
	}{
		{"int", int64(40), int64(2), int64(42)},
		{"float", 0.5, 0.25, 0.75},
		{"float plus int", 0.5, int64(1), 1.5},
		{"uint decrement", uint32(5), int64(-1), uint32(4)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newTestValue(t, tt.give)
			got, err := v.Add(containerEncode(t, tt.delta))
			require.NoError(t, err)
			assert.Equal(t, containerEncode(t, tt.want), got)
			assert.Equal(t, got, v.Load())
		})
	}

	errorTests := []struct {
		name  string
		give  any
		delta any
	}{
		{"float delta to int", int64(1), 0.5},
		{"overflow", int64(math.MaxInt64), int64(1)},
		{"string value", "x", int64(1)},
		{"nil value", nil, int64(1)},
		{"string delta", int64(1), "x"},
	}
	for _, tt := range errorTests {
		t.Run(tt.name, func(t *testing.T) {
			v := newTestValue(t, tt.give)
			before := v.LoadVersion()
			_, err := v.Add(containerEncode(t, tt.delta))
			require.ErrorIs(t, err, errs.BadArguments)
			assert.Equal(t, before, v.LoadVersion(), "a failed add changes nothing")
		})
	}
}

func TestValueVersions(t *testing.T) {
	v := newTestValue(t, int64(1))
	got := v.LoadVersion()
	assert.Equal(t, containerEncode(t, int64(1)), got.Value)
	assert.True(t, got.OK)
	assert.NotZero(t, got.Version)

	assert.True(t, v.StoreIfVersion(direct, got.Version, containerEncode(t, int64(2))))
	assert.False(t, v.StoreIfVersion(direct, got.Version, containerEncode(t, int64(3))), "stale version")
	assert.False(t, v.StoreIfVersion(direct, 0, containerEncode(t, int64(3))))
	assert.Equal(t, containerEncode(t, int64(2)), v.Load())

	// Every write changes the version, even one that stores equal bytes.
	writes := []struct {
		name string
		fn   func()
	}{
		{"Store", func() { v.Store(direct, v.Load()) }},
		{"Swap", func() { v.Swap(direct, v.Load()) }},
		{"CompareAndSwap", func() { v.CompareAndSwap(direct, v.Load(), v.Load()) }},
		{"Add", func() { _, err := v.Add(containerEncode(t, int64(0))); require.NoError(t, err) }},
	}
	for _, w := range writes {
		before := v.LoadVersion().Version
		w.fn()
		assert.NotEqual(t, before, v.LoadVersion().Version, w.name)
	}
}

func TestValueConcurrent(t *testing.T) {
	const goroutines, updates = 16, 200
	tests := []struct {
		name   string
		update func(t *testing.T, v *Value)
	}{
		{"Add", func(t *testing.T, v *Value) {
			_, err := v.Add(containerEncode(t, int64(1)))
			assert.NoError(t, err)
		}},
		{"CompareAndSwap loop", func(t *testing.T, v *Value) {
			for {
				cur := v.Load()
				if v.CompareAndSwap(direct, cur, containerEncode(t, containerDecode[int64](t, cur)+1)) {
					return
				}
			}
		}},
		{"version loop", func(t *testing.T, v *Value) {
			for {
				got := v.LoadVersion()
				if v.StoreIfVersion(direct, got.Version, containerEncode(t, containerDecode[int64](t, got.Value)+1)) {
					return
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newTestValue(t, int64(0))
			var wg sync.WaitGroup
			for range goroutines {
				wg.Go(func() {
					for range updates {
						tt.update(t, v)
					}
				})
			}
			wg.Wait()
			assert.Equal(t, int64(goroutines*updates), containerDecode[int64](t, v.Load()))
		})
	}
}
