package redisengine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/builtin"
	"github.com/goproc/manager/internal/errs"
	"github.com/goproc/manager/internal/redistest"
	"github.com/goproc/manager/internal/wire"
)

// The shape checker in Lua (lua/shape.lua) must agree with
// wire.Shape.Check, the Go one, on every shape and value: the same
// verdict (fits, does not fit, malformed) and the same message.

// intEncodings returns every msgpack encoding of the integer whose
// magnitude is mag (negative when neg), in every width that holds it.
func intEncodings(neg bool, mag uint64) [][]byte {
	var out [][]byte
	put := func(code byte, w int, v uint64) {
		b := make([]byte, 1+w)
		b[0] = code
		for i := range w {
			b[w-i] = byte(v >> (8 * i))
		}
		out = append(out, b)
	}
	if !neg {
		if mag < 128 {
			out = append(out, []byte{byte(mag)})
		}
		for i, w := range []int{1, 2, 4, 8} {
			if w == 8 || mag < 1<<(8*w) {
				put(0xcc+byte(i), w, mag)
			}
			if mag < 1<<(8*w-1) {
				put(0xd0+byte(i), w, mag)
			}
		}
		return out
	}
	v := -mag // two's complement
	if mag <= 32 {
		out = append(out, []byte{byte(v)})
	}
	for i, w := range []int{1, 2, 4, 8} {
		if mag <= 1<<(8*w-1) {
			put(0xd0+byte(i), w, v)
		}
	}
	return out
}

func proxyExt(typeid string) []byte {
	p := wire.AppendProxy(nil, wire.ProxyRef{ID: 1, TypeID: typeid})
	return append([]byte{0xc7, byte(len(p)), byte(wire.ProxyExtID)}, p...)
}

// shapeCorpus returns the shapes and values the checkers are compared on.
func shapeCorpus(t testing.TB) ([]*wire.Shape, [][]byte) {
	var shapes []*wire.Shape
	for k := wire.KindAny; k <= wire.KindExt; k++ {
		switch k {
		case wire.KindSlice, wire.KindArray, wire.KindByteArray, wire.KindMap, wire.KindStruct, wire.KindProxy:
			continue
		}
		shapes = append(shapes, wire.ScalarShape(k))
	}
	point := &wire.Shape{Kind: wire.KindStruct, Name: "main.Point", Fields: []wire.Field{
		{Name: "X", Shape: wire.ScalarShape(wire.KindInt8)},
		{Name: "Label", Shape: wire.ScalarShape(wire.KindString)},
	}, Aliases: []wire.Field{{Name: "lbl", Shape: wire.ScalarShape(wire.KindString)}}}
	tree := &wire.Shape{Kind: wire.KindStruct, Name: "main.tree"}
	tree.Fields = []wire.Field{
		{Name: "V", Shape: wire.ScalarShape(wire.KindUint8)},
		{Name: "Kids", Shape: &wire.Shape{Kind: wire.KindSlice, Elem: &wire.Shape{Kind: wire.KindRef, Up: 1}}},
	}
	shapes = append(shapes,
		&wire.Shape{Kind: wire.KindUint8, Name: "uint8"},
		&wire.Shape{Kind: wire.KindString, Name: "string"},
		&wire.Shape{Kind: wire.KindSlice, Name: "[]uint8s", Elem: wire.ScalarShape(wire.KindUint8)},
		&wire.Shape{Kind: wire.KindSlice, Elem: wire.AnyShape},
		&wire.Shape{Kind: wire.KindArray, Len: 1, Elem: wire.AnyShape},
		&wire.Shape{Kind: wire.KindArray, Len: 2, Elem: wire.ScalarShape(wire.KindFloat32)},
		&wire.Shape{Kind: wire.KindByteArray, Len: 4},
		&wire.Shape{Kind: wire.KindMap, Name: "map[string]int16", Key: wire.ScalarShape(wire.KindString), Elem: wire.ScalarShape(wire.KindInt16)},
		&wire.Shape{Kind: wire.KindMap, Key: wire.ScalarShape(wire.KindInt64), Elem: wire.AnyShape},
		point, tree,
		&wire.Shape{Kind: wire.KindSlice, Name: "[]main.Point", Elem: point},
		&wire.Shape{Kind: wire.KindStruct, Fields: []wire.Field{{Name: "", Shape: wire.ScalarShape(wire.KindUint16)}}},
		&wire.Shape{Kind: wire.KindProxy, TypeIDs: []string{"Dict"}},
		&wire.Shape{Kind: wire.KindProxy, TypeIDs: []string{"List", "Array"}},
		&wire.Shape{Kind: wire.KindProxy},
		&wire.Shape{Kind: wire.KindSlice, Elem: &wire.Shape{Kind: wire.KindRef, Up: 0}},
		&wire.Shape{Kind: wire.KindRef, Up: 0}, // a reference above the root: malformed
	)

	var values [][]byte
	mags := []uint64{0, 1, 31, 32, 33, 127, 128, 129, 255, 256, 32767, 32768, 32769, 65535, 65536,
		1<<24 - 1, 1 << 24, 1<<24 + 1, 1<<24 + 2, 1<<31 - 1, 1 << 31, 1<<31 + 1, 1<<32 - 1, 1 << 32,
		1 << 53, 1<<53 + 1, 1<<53 + 2, 1 << 62, 1<<63 - 1, 1 << 63, 1<<63 + 1, math.MaxUint64, 0xffffff0000000000}
	for _, m := range mags {
		values = append(values, intEncodings(false, m)...)
		if m != 0 && m <= 1<<63 {
			values = append(values, intEncodings(true, m)...)
		}
	}
	for _, v := range []any{nil, true, false, 1.5, float32(1.5), math.NaN(), math.Inf(-1), 1e300, float32(3.4e38),
		"", "x", strings.Repeat("s", 32), strings.Repeat("long", 20), "quote\"\n\x01é",
		[]byte("abcd"), []byte("abcde"), []byte{},
		[]int{}, []int{1, 256}, []int{1, 2}, []any{1, "a"}, []any{1}, []any{nil, nil}, []float64{1.5, 2},
		map[string]int{"a": 1 << 20}, map[string]int{"a": 1}, map[int]int{1: 2}, map[string]any{},
		map[string]any{"X": 1, "Label": "a", "Other": []int{1}}, map[string]any{"lbl": 2}, map[string]any{"X": 1000},
		map[string]any{"V": 1, "Kids": []any{map[string]any{"V": 2, "Kids": nil}}},
		map[string]any{"Kids": []any{map[string]any{"V": 999}}},
		[]any{map[string]any{"X": 1}, map[string]any{"X": -129}},
		[]any{[]any{[]any{}}}, []any{[]any{1}},
	} {
		values = append(values, mp(t, v))
	}
	values = append(values,
		proxyExt("Dict"), proxyExt("List"), proxyExt("Array"),
		[]byte{0xd4, 0x03, 0x00},                              // an extension of another type
		[]byte{0x81, 0xc0, 0x05},                              // a map with a nil key
		[]byte{0x81, 0xc4, 0x01, 'X', 0x05},                   // a bin key
		[]byte{0x81, 0x01, 0x05},                              // an int key
		[]byte{0xdc, 0x00, 0x01, 0x07},                        // array16 of 1
		[]byte{0xde, 0x00, 0x01, 0xa1, 'V', 0xcd, 0x01, 0x00}, // map16, V: 256
		[]byte{0xd9, 0x03, 'a', 'b', 'c'},                     // str8 of 3
		[]byte{0xca, 0x3f, 0xc0, 0x00, 0x00},                  // float32 1.5
		// malformed: cut off, trailing bytes, a bad byte, a broken proxy
		[]byte{0x92, 0x01}, []byte{0x01, 0x02}, []byte{0xc1}, []byte{0xa3, 'a'},
		[]byte{0xc7, 0x01, byte(wire.ProxyExtID), 0x90},
	)
	var deep []byte
	for range wire.MaxDepth + 1 {
		deep = append(deep, 0x91)
	}
	values = append(values, append(deep, 0x01))
	return shapes, values
}

// luaFits is the test's script: the shape checker and a driver that
// checks ARGV[2i-1] (a shape) against ARGV[2i] (a value) for each i.
var luaFits = func() string {
	src, err := luaFS.ReadFile("lua/shape.lua")
	if err != nil {
		panic(err)
	}
	return string(src) + `
local out = {}
for i = 1, #ARGV, 2 do
  local sh, bad = SHAPE.arg(ARGV[i])
  if not bad then bad = SHAPE.fits(sh, ARGV[i + 1], 'left') end
  out[#out + 1] = bad or ''
end
return out`
}()

// goFits is what internal/builtin replies for the same check.
func goFits(s *wire.Shape, value []byte) string {
	err := s.Check(value)
	if err == nil {
		return ""
	}
	var se *wire.ShapeError
	if errors.As(err, &se) {
		return "Ewrong_type " + err.Error() + "; left"
	}
	return "Eprotocol stored value: " + err.Error() + "; left"
}

func TestShapeCheckerMatchesGo(t *testing.T) {
	shapes, values := shapeCorpus(t)
	rdb := redistestStandalone(t)
	ctx := ctxFor(t)
	var argv []any
	var want []string
	for _, s := range shapes {
		enc := wire.AppendShape(nil, s)
		parsed, err := wire.ParseShape(enc)
		require.NoError(t, err)
		for _, v := range values {
			argv = append(argv, enc, v)
			want = append(want, goFits(parsed, v))
		}
	}
	res, err := rdb.Eval(ctx, luaFits, nil, argv...).StringSlice()
	require.NoError(t, err)
	require.Len(t, res, len(want))
	mismatches := 0
	for i := range want {
		s, v := shapes[i/len(values)], values[i%len(values)]
		got := res[i]
		if verdict(want[i]) != verdict(got) {
			mismatches++
			t.Errorf("shape %s, value % x: Go %q, Lua %q", describeShape(s), v, want[i], got)
			continue
		}
		if verdict(want[i]) == "wrong_type" && want[i] != got {
			// the same verdict; the message must name the same part
			t.Errorf("shape %s, value % x: messages differ:\n Go  %s\n Lua %s", describeShape(s), v, want[i], got)
		}
	}
	t.Logf("%d shapes x %d values compared, %d verdicts differ", len(shapes), len(values), mismatches)
}

func verdict(reply string) string {
	if reply == "" {
		return "fits"
	}
	code, _, _ := strings.Cut(reply[1:], " ")
	return code
}

func describeShape(s *wire.Shape) string {
	if s.Name != "" {
		return s.Name
	}
	return fmt.Sprintf("kind %d", s.Kind)
}

// TestShapeArgMalformed: a malformed shape argument is refused with
// errs.BadArguments, as internal/builtin refuses it.
func TestShapeArgMalformed(t *testing.T) {
	rdb := redistestStandalone(t)
	ctx := ctxFor(t)
	tests := []struct {
		name string
		give []byte
	}{
		{"not a pair", []byte{0x01}},
		{"unknown kind", []byte{0x92, 0xa0, 0x7f}},
		{"slice without element", []byte{0x92, 0xa0, 0x91, byte(wire.KindSlice)}},
		{"struct with odd parts", []byte{0x92, 0xa0, 0x93, byte(wire.KindStruct), 0x01, 0xa1}},
		{"trailing bytes", []byte{0x92, 0xa0, 0x01, 0x01}},
		{"cut off", []byte{0x92, 0xa5, 'a'}},
		{"too deep", append(append([]byte{0x92, 0xa0}, bytesRepeat([]byte{0x92, byte(wire.KindSlice)}, wire.MaxDepth+2)...), 0x01)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, goErr := wire.ParseShape(tt.give)
			require.Error(t, goErr)
			res, err := rdb.Eval(ctx, luaFits, nil, tt.give, mp(t, 1)).StringSlice()
			require.NoError(t, err)
			assert.Equal(t, "bad_arguments", verdict(res[0]), res[0])
		})
	}
}

func bytesRepeat(b []byte, n int) []byte {
	var out []byte
	for range n {
		out = append(out, b...)
	}
	return out
}

// shapeArg is the argument a typed proxy sends for its value type.
func shapeArg(s *wire.Shape) msgpack.RawMessage { return wire.AppendShape(nil, s) }

var (
	u8Shape   = shapeArg(&wire.Shape{Kind: wire.KindUint8, Name: "uint8"})
	strShape  = shapeArg(&wire.Shape{Kind: wire.KindString, Name: "string"})
	anyShape  = shapeArg(wire.AnyShape)
	dictProxy = shapeArg(&wire.Shape{Kind: wire.KindProxy, TypeIDs: []string{"Dict"}})
	listProxy = shapeArg(&wire.Shape{Kind: wire.KindProxy, TypeIDs: []string{"List"}})
	intsShape = shapeArg(&wire.Shape{Kind: wire.KindSlice, Name: "[]int8", Elem: wire.ScalarShape(wire.KindInt8)})
)

func shapeQueueOps() []op {
	return []op{
		o("TryGetAs", strShape),
		o("Put", 1), o("GetAs", strShape), o("TryGetAs", strShape), o("Len"), o("GetAs", u8Shape),
		o("Put", 300), o("TryGetAs", u8Shape), o("GetAs", u8Shape), o("Len"), o("GetAs", anyShape),
		o("Put", msgpack.RawMessage(proxyExt("List"))), o("GetAs", dictProxy), o("Len"), o("TryGetAs", listProxy),
		o("Put", []int{1, 200}), o("Put", "after"), o("GetAs", intsShape), o("Len"), o("Get"), o("GetAs", strShape),
		o("TryGetAs", []byte{0x01}), o("TryGetAs", msgpack.RawMessage{0xc0}),
	}
}

func testShapeQueueConformance(e *env) {
	s := e.session(0)
	recv, err := builtin.NewQueue(0)
	require.NoError(e.t, err)
	conform(e.t, recv, e.newObj(s, "Queue", 0), shapeQueueOps())
	jq, err := builtin.NewJoinableQueue(0)
	require.NoError(e.t, err)
	conform(e.t, jq, e.newObj(s, "JoinableQueue", 0), append(shapeQueueOps(),
		o("TaskDone"), o("TaskDone"), o("TaskDone"), o("TaskDone"), o("TaskDone"), o("TaskDone"), o("TaskDone"), o("Join")))
}

func testShapeListConformance(e *env) {
	s := e.session(0)
	recv, err := builtin.NewList(e.ctx(), nil)
	require.NoError(e.t, err)
	conform(e.t, recv, e.newObj(s, "List", nil), []op{
		o("PopAs", -1, u8Shape), o("Append", 1), o("Append", 300), o("Append", "s"),
		o("PopAs", -1, u8Shape), o("PopAs", 1, u8Shape), o("PopAs", 9, u8Shape), o("All"),
		o("PopAs", -1, strShape), o("PopAs", 0, strShape), o("PopAs", 0, u8Shape), o("All"),
		o("PopAs", 0, u8Shape), o("PopAs", 0, []byte{0x01}),
	})
}

func testShapeDictConformance(e *env) {
	s := e.session(0)
	recv, err := builtin.NewDict(e.ctx(), nil)
	require.NoError(e.t, err)
	conform(e.t, recv, e.newObj(s, "Dict"), []op{
		o("LoadAndDeleteAs", "a", u8Shape), o("PopItemAs", anyShape, anyShape),
		o("Store", "a", 300), o("LoadAndDeleteAs", "a", u8Shape), o("Load", "a"),
		o("SwapAs", "a", 1, u8Shape), o("Load", "a"), o("SwapAs", "a", 2, anyShape), o("SwapAs", "a", 3, u8Shape),
		o("SwapAs", "new", "v", u8Shape), o("Items"),
		o("PopItemAs", u8Shape, anyShape), o("PopItemAs", strShape, u8Shape), o("Items"),
		o("PopItemAs", strShape, strShape), o("Items"), o("LoadAndDeleteAs", "a", u8Shape), o("Items"),
		o("Store", 7, "seven"), o("PopItemAs", u8Shape, strShape), o("Len"),
		o("SwapAs", "x", 1, []byte{0x01}), o("PopItemAs", []byte{0xc0}, anyShape),
	})
}

func testShapeValueConformance(e *env) {
	s := e.session(0)
	recv, err := builtin.NewValue(e.ctx(), mp(e.t, 300))
	require.NoError(e.t, err)
	conform(e.t, recv, e.newObj(s, "Value", 300), []op{
		o("SwapAs", 1, u8Shape), o("Load"), o("SwapAs", 1, anyShape), o("SwapAs", "s", u8Shape), o("Load"),
		o("SwapAs", 2, strShape), o("SwapAs", 2, []byte{0x01}),
	})
}

// testShapeWaitingGetter: a GetAs waiting on an empty queue is woken with
// errs.WrongType by an item it cannot decode, which stays for the next
// getter, as internal/builtin's handLocked does.
func testShapeWaitingGetter(e *env) {
	t := e.t
	a, b := e.session(0), e.session(0)
	q := e.newObj(a, "Queue", 0)
	qb := q.as(b, 1)
	ctx := e.ctx()
	strGetter := goCall(ctx, q, "GetAs", strShape)
	waitWaiters(t, q, "wa", 1)
	anyGetter := goCall(ctx, qb, "GetAs", anyShape)
	waitWaiters(t, q, "wa", 2)
	qb.must("Put", 300)
	r := recv(t, strGetter)
	require.ErrorIs(t, r.err, errs.WrongType)
	assert.Contains(t, r.err.Error(), "int 300")
	r = recv(t, anyGetter)
	require.NoError(t, r.err)
	assert.Equal(t, mp(t, 300), r.b, "the item went to the next getter")
	// With no other getter the item stays in the queue.
	u8Getter := goCall(ctx, q, "GetAs", u8Shape)
	waitWaiters(t, q, "wa", 1)
	qb.must("Put", -1)
	require.ErrorIs(t, recv(t, u8Getter).err, errs.WrongType)
	assert.Equal(t, mp(t, 1), q.must("Len"))
	assert.Equal(t, mp(t, -1), q.must("Get"))
	n, err := a.rdb.HLen(ctx, a.prefix(q.id)+"wx").Result()
	require.NoError(t, err)
	assert.Zero(t, n, "no shape left behind")
}

func TestShapeChecked(t *testing.T) {
	runSuite(t, []suiteCase{
		{name: "Queue", fn: testShapeQueueConformance},
		{name: "List", fn: testShapeListConformance},
		{name: "Dict", fn: testShapeDictConformance},
		{name: "Value", fn: testShapeValueConformance},
		{name: "WaitingGetter", fn: testShapeWaitingGetter},
	})
}

// redistestStandalone starts a standalone Redis for t and returns its client.
func redistestStandalone(t *testing.T) redis.UniversalClient {
	t.Helper()
	return redistest.Standalone(t).Client(t)
}

// ctxFor returns a context bounded by the suite's timeout.
func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), suiteTimeout)
	t.Cleanup(cancel)
	return ctx
}

// TestShapeCheckerRandom compares the two checkers on random shapes and
// values built to nearly fit them (seeded, so a failure repeats).
func TestShapeCheckerRandom(t *testing.T) {
	rdb := redistestStandalone(t)
	ctx := ctxFor(t)
	r := rand.New(rand.NewPCG(1, 2))
	var argv []any
	var want []string
	var cases [][2][]byte
	for range 3000 {
		s := randShape(r, 0, 0)
		v := randValue(r, s, nil, 0)
		enc := wire.AppendShape(nil, s)
		parsed, err := wire.ParseShape(enc)
		require.NoError(t, err)
		argv = append(argv, enc, v)
		want = append(want, goFits(parsed, v))
		cases = append(cases, [2][]byte{enc, v})
	}
	res, err := rdb.Eval(ctx, luaFits, nil, argv...).StringSlice()
	require.NoError(t, err)
	require.Len(t, res, len(want))
	verdicts := map[string]int{}
	for i := range want {
		verdicts[verdict(want[i])]++
		assert.Equal(t, want[i], res[i], "shape % x, value % x", cases[i][0], cases[i][1])
	}
	t.Logf("verdicts: %v", verdicts)
}

var randKinds = []wire.ShapeKind{wire.KindAny, wire.KindNil, wire.KindBool, wire.KindString, wire.KindBytes,
	wire.KindInt8, wire.KindInt16, wire.KindInt32, wire.KindInt64, wire.KindUint8, wire.KindUint16, wire.KindUint32,
	wire.KindUint64, wire.KindFloat32, wire.KindFloat64, wire.KindError, wire.KindExt,
	wire.KindSlice, wire.KindArray, wire.KindByteArray, wire.KindMap, wire.KindStruct, wire.KindProxy, wire.KindRef}

// randShape returns a random shape; frames is the number of enclosing
// composite shapes (for KindRef).
func randShape(r *rand.Rand, depth, frames int) *wire.Shape {
	k := randKinds[r.IntN(len(randKinds))]
	if depth > 3 && k >= wire.KindSlice {
		k = wire.KindUint16
	}
	if k == wire.KindRef && frames == 0 {
		k = wire.KindInt32
	}
	s := &wire.Shape{Kind: k}
	if depth == 0 && r.IntN(2) == 0 {
		s.Name = "main.T"
	}
	switch k {
	case wire.KindSlice:
		s.Elem = randShape(r, depth+1, frames+1)
	case wire.KindArray, wire.KindByteArray:
		s.Len = r.IntN(4)
		if k == wire.KindArray {
			s.Elem = randShape(r, depth+1, frames+1)
		}
	case wire.KindMap:
		s.Key, s.Elem = randShape(r, depth+1, frames+1), randShape(r, depth+1, frames+1)
	case wire.KindStruct:
		for i := range r.IntN(4) {
			s.Fields = append(s.Fields, wire.Field{Name: []string{"A", "B", "", "C"}[i], Shape: randShape(r, depth+1, frames+1)})
		}
		if r.IntN(3) == 0 {
			s.Aliases = append(s.Aliases, wire.Field{Name: "a", Shape: randShape(r, depth+1, frames+1)})
		}
	case wire.KindProxy:
		s.TypeIDs = [][]string{nil, {"Dict"}, {"List", "Queue"}}[r.IntN(3)]
	case wire.KindRef:
		s.Up = r.IntN(frames)
	}
	return s
}

// randValue returns the encoding of a random value that nearly fits s
// (frames: the enclosing composite shapes, innermost last).
func randValue(r *rand.Rand, s *wire.Shape, frames []*wire.Shape, depth int) []byte {
	if s.Kind == wire.KindRef {
		s = frames[len(frames)-1-s.Up]
	}
	if depth > 5 || r.IntN(8) == 0 {
		return randScalar(r)
	}
	frames = append(frames, s)
	switch s.Kind {
	case wire.KindSlice, wire.KindArray:
		n := r.IntN(4)
		b := []byte{0x90 | byte(n)}
		for range n {
			b = append(b, randValue(r, s.Elem, frames, depth+1)...)
		}
		return b
	case wire.KindMap:
		n := r.IntN(3)
		b := []byte{0x80 | byte(n)}
		for range n {
			b = append(b, randValue(r, s.Key, frames, depth+1)...)
			b = append(b, randValue(r, s.Elem, frames, depth+1)...)
		}
		return b
	case wire.KindStruct:
		fields := append(append([]wire.Field{}, s.Fields...), s.Aliases...)
		if r.IntN(3) == 0 {
			b := []byte{0x90 | byte(len(s.Fields))}
			for _, f := range s.Fields {
				b = append(b, randValue(r, f.Shape, frames, depth+1)...)
			}
			return b
		}
		n := r.IntN(len(fields) + 2)
		b := []byte{0x80 | byte(n)}
		for range n {
			if len(fields) == 0 || r.IntN(4) == 0 {
				b = append(b, mp(t0, "other")...)
				b = append(b, randScalar(r)...)
				continue
			}
			f := fields[r.IntN(len(fields))]
			b = append(b, mp(t0, f.Name)...)
			b = append(b, randValue(r, f.Shape, frames, depth+1)...)
		}
		return b
	case wire.KindProxy, wire.KindExt:
		if r.IntN(4) == 0 {
			return []byte{0xd4, 0x02, 0x01}
		}
		return proxyExt([]string{"Dict", "List", "Queue"}[r.IntN(3)])
	case wire.KindByteArray, wire.KindString, wire.KindBytes, wire.KindError:
		v := strings.Repeat("x", r.IntN(6))
		if r.IntN(2) == 0 {
			return mp(t0, []byte(v))
		}
		return mp(t0, v)
	}
	return randScalar(r)
}

// randScalar returns a random integer (in a random encoding), float,
// bool, nil or string.
func randScalar(r *rand.Rand) []byte {
	switch r.IntN(6) {
	case 0:
		return mp(t0, []any{nil, true, 1.25, float32(-2.5), "s", math.NaN()}[r.IntN(6)])
	case 1:
		f := math.Ldexp(float64(r.Int64N(1<<30)), r.IntN(60)-20)
		return mp(t0, f)
	}
	mag := uint64(1) << r.IntN(64)
	mag += uint64(r.IntN(3)) - 1
	neg := r.IntN(2) == 0 && mag <= 1<<63 && mag != 0
	encs := intEncodings(neg, mag)
	if len(encs) == 0 {
		return []byte{0x00}
	}
	return encs[r.IntN(len(encs))]
}
