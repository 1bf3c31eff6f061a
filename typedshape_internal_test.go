package manager

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/builtin"
	"github.com/goproc/manager/internal/wire"
)

type shapeInner struct {
	A int8
	B string `msgpack:"bee"`
}

type shapeOuter struct {
	shapeInner
	Tagged  uint16  `msgpack:"t,omitempty"`
	Skipped int     `msgpack:"-"`
	Alias   float32 `msgpack:"al,alias:other"`
	Ptr     *shapeInner
	Nested  map[string][]shapeInner
	Bytes   []byte
	Fixed   [3]byte
	When    time.Time
	Err     error
	hidden  int //lint:ignore U1000 an unexported field is not encoded
}

type shapeArray struct {
	//lint:ignore U1000 msgpack reads this field's tag (as_array), never its value
	_msgpack struct{} `msgpack:",as_array"`
	X, Y     int32
}

type shapeList struct {
	V    uint8
	Next *shapeList
}

// TestShapeAcceptsOwnValues: whatever msgpack encodes from a Go value
// fits the shape of its type, so no reader of the right type ever gets
// ErrWrongType.
func TestShapeAcceptsOwnValues(t *testing.T) {
	tests := []struct {
		name string
		give any
	}{
		{"ints", []any{int8(-128), int16(math.MaxInt16), uint32(math.MaxUint32), uint64(math.MaxUint64), math.MinInt64}},
		{"floats", []float32{0, -1.5, float32(math.Inf(1))}},
		{"nested struct", shapeOuter{shapeInner: shapeInner{A: -3, B: "b"}, Tagged: 7, Alias: 1.5,
			Ptr: &shapeInner{A: 1}, Nested: map[string][]shapeInner{"k": {{A: 2}}}, Bytes: []byte("x"),
			Fixed: [3]byte{1, 2, 3}, When: time.Unix(1, 2).UTC()}},
		{"zero nested struct", shapeOuter{}},
		{"as_array struct", []shapeArray{{X: math.MinInt32, Y: math.MaxInt32}}},
		{"recursive", &shapeList{V: 1, Next: &shapeList{V: 255}}},
		{"map keys", map[int16]bool{-5: true}},
		{"array", [2]uint8{0, 255}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := msgpack.Marshal(tt.give)
			require.NoError(t, err)
			ts := shapeOfType(reflect.TypeOf(tt.give))
			assert.NoError(t, ts.shape.Check(raw))
			parsed, err := wire.ParseShape(ts.arg.(msgpack.RawMessage))
			require.NoError(t, err)
			assert.NoError(t, parsed.Check(raw), "the shape the manager parses")
		})
	}
}

func TestShapeDerivation(t *testing.T) {
	kinds := func(s *wire.Shape) (out []wire.ShapeKind) {
		for _, f := range s.Fields {
			out = append(out, f.Shape.Kind)
		}
		return out
	}
	outer := shapeOfType(reflect.TypeFor[shapeOuter]()).shape
	names := []string{}
	for _, f := range outer.Fields {
		names = append(names, f.Name)
	}
	assert.Equal(t, []string{"A", "bee", "t", "al", "Ptr", "Nested", "Bytes", "Fixed", "When", "Err"}, names)
	assert.Equal(t, []wire.ShapeKind{wire.KindInt8, wire.KindString, wire.KindUint16, wire.KindFloat32, wire.KindStruct,
		wire.KindMap, wire.KindBytes, wire.KindByteArray, wire.KindAny, wire.KindError}, kinds(outer))
	require.Len(t, outer.Aliases, 2, "the embedded struct's name, and al's alias")
	assert.Equal(t, "other", outer.Aliases[1].Name)

	list := shapeOfType(reflect.TypeFor[shapeList]()).shape
	assert.Equal(t, wire.KindRef, list.Fields[1].Shape.Kind)

	tests := []struct {
		name string
		give reflect.Type
		want []string
	}{
		{"Dict", reflect.TypeFor[*Dict[string, int]](), []string{builtin.TypeDict}},
		{"Queue", reflect.TypeFor[*Queue[int]](), []string{builtin.TypeQueue, builtin.TypeJoinableQueue}},
		{"JoinableQueue", reflect.TypeFor[*JoinableQueue[int]](), []string{builtin.TypeJoinableQueue}},
		{"BoundedSemaphore", reflect.TypeFor[*BoundedSemaphore](), []string{builtin.TypeBoundedSemaphore}},
		{"Proxy", reflect.TypeFor[*Proxy](), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := shapeOfType(tt.give).shape
			assert.Equal(t, wire.KindProxy, s.Kind)
			assert.Equal(t, tt.want, s.TypeIDs)
		})
	}
}
