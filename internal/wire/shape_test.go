package wire

import (
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

func mustEncode(t testing.TB, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	require.NoError(t, err)
	return b
}

// roundTrip encodes and parses s, as a shape argument travels.
func roundTrip(t testing.TB, s *Shape) *Shape {
	t.Helper()
	got, err := ParseShape(AppendShape(nil, s))
	require.NoError(t, err)
	return got
}

func TestShapeCheck(t *testing.T) {
	point := &Shape{Kind: KindStruct, Name: "Point", Fields: []Field{
		{Name: "X", Shape: ScalarShape(KindInt8)},
		{Name: "Label", Shape: ScalarShape(KindString)},
	}, Aliases: []Field{{Name: "lbl", Shape: ScalarShape(KindString)}}}
	// type tree struct{ V uint8; Kids []tree }
	tree := &Shape{Kind: KindStruct, Name: "tree"}
	tree.Fields = []Field{
		{Name: "V", Shape: ScalarShape(KindUint8)},
		{Name: "Kids", Shape: &Shape{Kind: KindSlice, Elem: &Shape{Kind: KindRef, Up: 1}}},
	}
	proxy := AppendProxy(nil, ProxyRef{ID: 1, TypeID: "Dict"})
	ext := append([]byte{0xc7, byte(len(proxy)), byte(ProxyExtID)}, proxy...)
	tests := []struct {
		name  string
		shape *Shape
		give  []byte
		ok    bool
	}{
		{"nil fits an int", ScalarShape(KindUint8), []byte{0xc0}, true},
		{"255 fits uint8", ScalarShape(KindUint8), mustEncode(t, 255), true},
		{"300 does not fit uint8", ScalarShape(KindUint8), mustEncode(t, 300), false},
		{"-1 does not fit uint64", ScalarShape(KindUint64), mustEncode(t, -1), false},
		{"int8 -128 fits int8", ScalarShape(KindInt8), mustEncode(t, int8(-128)), true},
		{"int64 -129 does not fit int8", ScalarShape(KindInt8), mustEncode(t, int64(-129)), false},
		{"int64 127 fits int8", ScalarShape(KindInt8), mustEncode(t, int64(127)), true},
		{"max uint64 does not fit int64", ScalarShape(KindInt64), mustEncode(t, uint64(math.MaxUint64)), false},
		{"max int64 fits int64", ScalarShape(KindInt64), mustEncode(t, int64(math.MaxInt64)), true},
		{"a float is not an int", ScalarShape(KindInt64), mustEncode(t, 1.0), false},
		{"a string is not an int", ScalarShape(KindInt64), mustEncode(t, "1"), false},
		{"2^53 fits float64", ScalarShape(KindFloat64), mustEncode(t, int64(1)<<53), true},
		{"2^53+1 does not fit float64", ScalarShape(KindFloat64), mustEncode(t, int64(1)<<53+1), false},
		{"2^24+1 does not fit float32", ScalarShape(KindFloat32), mustEncode(t, 1<<24+1), false},
		{"float64 does not fit float32", ScalarShape(KindFloat32), mustEncode(t, 1.5), false},
		{"float32 fits float64", ScalarShape(KindFloat64), mustEncode(t, float32(1.5)), true},
		{"bin fits string", ScalarShape(KindString), mustEncode(t, []byte("x")), true},
		{"str fits []byte", ScalarShape(KindBytes), mustEncode(t, "x"), true},
		{"bool is not a string", ScalarShape(KindString), mustEncode(t, true), false},
		{"4 bytes fit [4]byte", &Shape{Kind: KindByteArray, Len: 4}, mustEncode(t, []byte("abcd")), true},
		{"5 bytes do not fit [4]byte", &Shape{Kind: KindByteArray, Len: 4}, mustEncode(t, []byte("abcde")), false},
		{"slice element out of range", &Shape{Kind: KindSlice, Elem: ScalarShape(KindUint8)}, mustEncode(t, []int{1, 256}), false},
		{"array too long", &Shape{Kind: KindArray, Len: 1, Elem: AnyShape}, mustEncode(t, []int{1, 2}), false},
		{"map value", &Shape{Kind: KindMap, Key: ScalarShape(KindString), Elem: ScalarShape(KindInt16)}, mustEncode(t, map[string]int{"a": 1 << 20}), false},
		{"struct by name, unknown field skipped", point, mustEncode(t, map[string]any{"X": 1, "Label": "a", "Other": []int{1}}), true},
		{"struct alias", point, mustEncode(t, map[string]any{"lbl": 2}), false},
		{"struct field out of range", point, mustEncode(t, map[string]any{"X": 1000}), false},
		{"struct as an array of every field", point, mustEncode(t, []any{1, "a"}), true},
		{"struct as an array of one field", point, mustEncode(t, []any{1}), false},
		{"recursive type", tree, mustEncode(t, map[string]any{"V": 1, "Kids": []any{map[string]any{"V": 2, "Kids": nil}}}), true},
		{"recursive type, deep element out of range", tree, mustEncode(t, map[string]any{"Kids": []any{map[string]any{"V": 999}}}), false},
		{"proxy of the right type", &Shape{Kind: KindProxy, TypeIDs: []string{"Dict"}}, ext, true},
		{"proxy of another type", &Shape{Kind: KindProxy, TypeIDs: []string{"List"}}, ext, false},
		{"error from a string", ScalarShape(KindError), mustEncode(t, "boom"), true},
		{"error from an int", ScalarShape(KindError), mustEncode(t, 1), false},
		{"nil only", ScalarShape(KindNil), mustEncode(t, 1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, s := range []*Shape{tt.shape, roundTrip(t, tt.shape)} {
				err := s.Check(tt.give)
				if tt.ok {
					assert.NoError(t, err)
					continue
				}
				var se *ShapeError
				assert.True(t, errors.As(err, &se), "want a *ShapeError, got %v", err)
			}
		})
	}
}

func TestShapeErrorNamesBoth(t *testing.T) {
	s := &Shape{Kind: KindSlice, Name: "[]main.Rec", Elem: &Shape{Kind: KindStruct, Name: "main.Rec", Fields: []Field{
		{Name: "Count", Shape: &Shape{Kind: KindUint8, Name: "uint8"}},
	}}}
	err := roundTrip(t, s).Check(mustEncode(t, []any{map[string]any{"Count": 1}, map[string]any{"Count": 300}}))
	require.Error(t, err)
	assert.Equal(t, "the stored value's [1].Count (int 300) does not decode into uint8 (part of []main.Rec) without changing it", err.Error())
}

// TestParseShapeMalformed: a peer's shape argument is refused, never a
// panic.
func TestParseShapeMalformed(t *testing.T) {
	tests := []struct {
		name string
		give []byte
	}{
		{"empty", nil},
		{"not a pair", []byte{0x01}},
		{"unknown kind", []byte{0x92, 0xa0, 0x7f}},
		{"slice without element", []byte{0x92, 0xa0, 0x91, byte(KindSlice)}},
		{"struct with odd parts", []byte{0x92, 0xa0, 0x93, byte(KindStruct), 0x01, 0xa1}},
		{"trailing bytes", []byte{0x92, 0xa0, 0x01, 0x01}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseShape(tt.give)
			assert.Error(t, err)
		})
	}
	// A reference above the outermost shape is an error when checked.
	s, err := ParseShape([]byte{0x92, 0xa0, 0x92, byte(KindRef), 0x05})
	require.NoError(t, err)
	assert.Error(t, s.Check([]byte{0x01}))
}

// FuzzShapeCheck checks arbitrary values (that Scan accepts) against
// arbitrary shapes: no panic, and no endless walk.
func FuzzShapeCheck(f *testing.F) {
	tree := &Shape{Kind: KindStruct, Fields: []Field{{Name: "V", Shape: ScalarShape(KindUint8)},
		{Name: "Kids", Shape: &Shape{Kind: KindSlice, Elem: &Shape{Kind: KindRef, Up: 1}}}}}
	f.Add(AppendShape(nil, tree), mustEncode(f, map[string]any{"V": 1, "Kids": []any{map[string]any{"V": 2}}}))
	f.Add(AppendShape(nil, ScalarShape(KindInt8)), mustEncode(f, 300))
	f.Add(AppendShape(nil, &Shape{Kind: KindMap, Key: AnyShape, Elem: ScalarShape(KindFloat32)}), mustEncode(f, map[int]float64{1: 2}))
	f.Fuzz(func(t *testing.T, shape, value []byte) {
		if Scan(shape, nil) != nil || Scan(value, nil) != nil {
			return
		}
		s, err := ParseShape(shape)
		if err != nil {
			return
		}
		_ = s.Check(value)
	})
}
