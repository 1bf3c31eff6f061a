package builtin

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/errs"
)

// containerEncode encodes v as a client would (msgpack.Marshal).
func containerEncode(tb testing.TB, v any) msgpack.RawMessage {
	tb.Helper()
	b, err := msgpack.Marshal(v)
	require.NoError(tb, err)
	return b
}

// containerEncodeAll encodes each of vs.
func containerEncodeAll(tb testing.TB, vs ...any) []msgpack.RawMessage {
	tb.Helper()
	out := make([]msgpack.RawMessage, len(vs))
	for i, v := range vs {
		out[i] = containerEncode(tb, v)
	}
	return out
}

// containerDecode decodes raw into a T.
func containerDecode[T any](tb testing.TB, raw msgpack.RawMessage) T {
	tb.Helper()
	var v T
	require.NoError(tb, msgpack.Unmarshal(raw, &v))
	return v
}

// containerDecodeAll decodes each of raws into a T.
func containerDecodeAll[T any](tb testing.TB, raws []msgpack.RawMessage) []T {
	tb.Helper()
	out := make([]T, len(raws))
	for i, raw := range raws {
		out[i] = containerDecode[T](tb, raw)
	}
	return out
}

// containerInts encodes each int as an int64 (what msgpack.Marshal does
// with a Go int).
func containerInts(tb testing.TB, ns ...int64) []msgpack.RawMessage {
	tb.Helper()
	out := make([]msgpack.RawMessage, len(ns))
	for i, n := range ns {
		out[i] = containerEncode(tb, n)
	}
	return out
}

func TestNumericAddTo(t *testing.T) {
	tests := []struct {
		name  string
		cur   any
		delta any
		want  any // encoded with msgpack.Marshal to give the expected bytes
	}{
		{"int64", int64(5), int64(3), int64(8)},
		{"int64 negative", int64(5), int64(-7), int64(-2)},
		{"int64 keeps its width", int64(1), int8(1), int64(2)},
		{"int8 widens to int16", int8(127), int64(1), int16(128)},
		{"int16 narrow sum keeps int16", int16(300), int64(-299), int16(1)},
		{"int32 widens to int64", int32(math.MaxInt32), int32(1), int64(math.MaxInt32 + 1)},
		{"int64 min", int64(math.MinInt64 + 1), int64(-1), int64(math.MinInt64)},
		{"uint8 widens to uint16", uint8(255), uint8(1), uint16(256)},
		{"uint64 add negative int", uint64(3), int64(-2), uint64(1)},
		{"uint64 max", uint64(math.MaxUint64 - 1), uint64(1), uint64(math.MaxUint64)},
		{"int plus big uint that fits", int64(-5), uint64(math.MaxInt64), int64(math.MaxInt64 - 5)},
		{"float64 plus float", 1.5, 0.25, 1.75},
		{"float64 plus int", 1.5, int64(2), 3.5},
		{"float64 plus uint", 1.5, uint64(2), 3.5},
		{"float32 stays float32", float32(1.5), 0.25, float32(1.75)},
		{"float32 plus int", float32(1.5), int8(-1), float32(0.5)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := numericAddTo(containerEncode(t, tt.cur), containerEncode(t, tt.delta))
			require.NoError(t, err)
			assert.Equal(t, containerEncode(t, tt.want), got)
		})
	}
}

func TestNumericAddToCompact(t *testing.T) {
	// Raw bytes as a compact encoder (UseCompactInts) writes them.
	tests := []struct {
		name  string
		cur   msgpack.RawMessage
		delta msgpack.RawMessage
		want  msgpack.RawMessage
	}{
		{"fixint stays fixint", msgpack.RawMessage{5}, msgpack.RawMessage{3}, msgpack.RawMessage{8}},
		{"fixint grows to uint8", msgpack.RawMessage{100}, msgpack.RawMessage{100}, msgpack.RawMessage{0xcc, 200}},
		{"fixint goes negative", msgpack.RawMessage{5}, msgpack.RawMessage{0xf6}, msgpack.RawMessage{0xfb}}, // 5 + -10 = -5
		{"negative fixint goes positive", msgpack.RawMessage{0xff}, msgpack.RawMessage{0xcc, 200}, msgpack.RawMessage{0xcc, 199}},
		{"negative fixint grows to int8", msgpack.RawMessage{0xe0}, msgpack.RawMessage{0xff}, msgpack.RawMessage{0xd0, 0xdf}}, // -32 + -1 = -33
		{"fixint plus uint64 max", msgpack.RawMessage{0}, msgpack.RawMessage{0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
			msgpack.RawMessage{0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := numericAddTo(tt.cur, tt.delta)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestNumericAddToErrors(t *testing.T) {
	tests := []struct {
		name  string
		cur   msgpack.RawMessage
		delta msgpack.RawMessage
	}{
		{"int64 overflow", containerEncode(t, int64(math.MaxInt64)), containerEncode(t, int64(1))},
		{"int64 underflow", containerEncode(t, int64(math.MinInt64)), containerEncode(t, int64(-1))},
		{"uint64 overflow", containerEncode(t, uint64(math.MaxUint64)), containerEncode(t, uint64(1))},
		{"uint below zero", containerEncode(t, uint64(3)), containerEncode(t, int64(-5))},
		{"fixint out of 64 bits", msgpack.RawMessage{1}, containerEncode(t, uint64(math.MaxUint64))},
		{"float delta to int", containerEncode(t, int64(1)), containerEncode(t, 0.5)},
		{"float delta to fixint", msgpack.RawMessage{1}, containerEncode(t, float32(0.5))},
		{"string value", containerEncode(t, "x"), containerEncode(t, int64(1))},
		{"nil value", containerEncode(t, nil), containerEncode(t, int64(1))},
		{"bool value", containerEncode(t, true), containerEncode(t, int64(1))},
		{"string delta", containerEncode(t, int64(1)), containerEncode(t, "x")},
		{"empty value", msgpack.RawMessage{}, containerEncode(t, int64(1))},
		{"truncated value", msgpack.RawMessage{0xd3, 0, 0}, containerEncode(t, int64(1))},
		{"trailing bytes in delta", containerEncode(t, int64(1)), msgpack.RawMessage{1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := numericAddTo(tt.cur, tt.delta)
			assert.ErrorIs(t, err, errs.BadArguments)
		})
	}
}

func TestNumericZeroLike(t *testing.T) {
	tests := []struct {
		name  string
		delta msgpack.RawMessage
		want  msgpack.RawMessage
	}{
		{"int64", containerEncode(t, int64(7)), containerEncode(t, int64(0))},
		{"int8", containerEncode(t, int8(-7)), containerEncode(t, int8(0))},
		{"uint32", containerEncode(t, uint32(7)), containerEncode(t, uint32(0))},
		{"float32", containerEncode(t, float32(7)), containerEncode(t, float32(0))},
		{"float64", containerEncode(t, 7.0), containerEncode(t, 0.0)},
		{"fixint", msgpack.RawMessage{7}, msgpack.RawMessage{0}},
		{"negative fixint", msgpack.RawMessage{0xff}, msgpack.RawMessage{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := numericZeroLike(tt.delta)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}

	_, err := numericZeroLike(containerEncode(t, "x"))
	assert.ErrorIs(t, err, errs.BadArguments)
}

func FuzzNumericAddTo(f *testing.F) {
	f.Add([]byte{5}, []byte{3})
	f.Add([]byte{0xd3, 0, 0, 0, 0, 0, 0, 0, 1}, []byte{0xcb, 0x3f, 0xe0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, []byte{1})
	f.Add([]byte{0xca, 0, 0, 0, 0}, []byte{0xff})
	f.Add([]byte{0xa1, 'x'}, []byte{1})
	f.Add([]byte{}, []byte{0xd0})
	f.Fuzz(func(t *testing.T, cur, delta []byte) {
		sum, err := numericAddTo(cur, delta)
		if err != nil {
			assert.ErrorIs(t, err, errs.BadArguments)
			return
		}
		// A sum is always one well-formed number, in cur's family.
		got, err := numericDecode(sum)
		require.NoError(t, err)
		c, err := numericDecode(cur)
		require.NoError(t, err)
		assert.Equal(t, c.kind == numericFloat, got.kind == numericFloat)
	})
}
