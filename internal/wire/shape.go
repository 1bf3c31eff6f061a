package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
)

// A Shape describes the msgpack values a Go type decodes from without
// error and without changing them: the kind of each part (an int of some
// width and signedness, a string, an array of a shape, a map, a struct
// with named fields, a proxy to some typeids …). A typed proxy derives
// the shape of its value type once and sends it with the methods that
// remove a value (Queue.Get, List.Pop, Dict.LoadAndDelete …): the server
// checks the stored value against it with [Shape.Check] before removing
// anything, so a value the caller could not decode stays where it was.
// The client checks every result against the same shape before decoding
// it, so an int too large for the Go type is an error, never truncated.
//
// Every shape accepts nil (msgpack decodes it as the zero value). A
// shape accepts no more than msgpack/v5 decodes into its Go type, and
// refuses what msgpack would decode with a changed value: an integer
// out of the Go type's range, an integer a float cannot hold exactly.
type Shape struct {
	Kind ShapeKind
	// Name is the Go type the shape was derived from, for messages. Only
	// the root's travels on the wire.
	Name string
	// Len is the length of a Go array (KindArray, KindByteArray).
	Len int
	// Key and Elem are a map's key and value shapes; Elem is also a
	// slice's or array's element shape.
	Key, Elem *Shape
	// Fields are a struct's fields, in the order msgpack encodes them
	// (an array-encoded struct decodes into them in that order); Aliases
	// are further names a map-encoded struct's keys may use.
	Fields, Aliases []Field
	// TypeIDs are the typeids a proxy may have (KindProxy); empty: any.
	TypeIDs []string
	// Up is, for KindRef, the enclosing array, map or struct shape this
	// one stands for: 0 the innermost. It describes recursive types.
	Up int
}

// A Field is a struct field's msgpack name and shape.
type Field struct {
	Name  string
	Shape *Shape
}

// ShapeKind is the kind of a Shape.
type ShapeKind uint8

// The shape kinds. Their numbers are part of the protocol.
const (
	KindAny       ShapeKind = iota // anything (an interface{}, a type that decodes itself)
	KindNil                        // nil only (a type msgpack cannot decode into)
	KindBool                       // bool
	KindString                     // string: str or bin
	KindBytes                      // []byte: bin or str
	KindInt8                       // int8
	KindInt16                      // int16
	KindInt32                      // int32
	KindInt64                      // int64, int
	KindUint8                      // uint8
	KindUint16                     // uint16
	KindUint32                     // uint32
	KindUint64                     // uint64, uint
	KindFloat32                    // float32: float32, or an integer it holds exactly
	KindFloat64                    // float64: any float, or an integer it holds exactly
	KindSlice                      // []Elem: an array
	KindArray                      // [Len]Elem: an array of at most Len elements
	KindByteArray                  // [Len]byte: bin or str of at most Len bytes
	KindMap                        // map[Key]Elem
	KindStruct                     // a struct: a map by field name (others ignored) or an array of every field
	KindProxy                      // a proxy extension to one of TypeIDs
	KindError                      // the error interface: a string
	KindExt                        // another non-empty interface: an extension type msgpack may know
	KindRef                        // the shape Up levels up
	numKinds
)

var kindNames = [numKinds]string{"any value", "nil", "bool", "string", "[]byte", "int8", "int16", "int32", "int64",
	"uint8", "uint16", "uint32", "uint64", "float32", "float64", "slice", "array", "byte array", "map", "struct",
	"proxy", "error", "extension", "recursive type"}

// want names what s accepts, for messages.
func (s *Shape) want() string {
	if s.Name != "" {
		return s.Name
	}
	if s.Kind == KindProxy && len(s.TypeIDs) > 0 {
		return "proxy to a " + s.TypeIDs[0]
	}
	return kindNames[s.Kind]
}

// AppendShape appends s's encoding to b: a two-element array of s's name
// and its body, where a scalar kind is its number, a composite kind an
// array starting with its number, and KindAny nil.
func AppendShape(b []byte, s *Shape) []byte {
	b = appendArrayHeader(b, 2)
	b = appendString(b, s.Name)
	return appendShapeBody(b, s)
}

func appendShapeBody(b []byte, s *Shape) []byte {
	switch s.Kind {
	case KindAny:
		return append(b, 0xc0)
	case KindSlice:
		b = append(appendArrayHeader(b, 2), byte(s.Kind))
		return appendShapeBody(b, s.Elem)
	case KindArray:
		b = append(appendArrayHeader(b, 3), byte(s.Kind))
		return appendShapeBody(appendUint(b, uint64(s.Len)), s.Elem)
	case KindByteArray:
		b = append(appendArrayHeader(b, 2), byte(s.Kind))
		return appendUint(b, uint64(s.Len))
	case KindMap:
		b = append(appendArrayHeader(b, 3), byte(s.Kind))
		return appendShapeBody(appendShapeBody(b, s.Key), s.Elem)
	case KindStruct:
		b = append(appendArrayHeader(b, 2+2*(len(s.Fields)+len(s.Aliases))), byte(s.Kind))
		b = appendUint(b, uint64(len(s.Fields)))
		for _, fs := range [][]Field{s.Fields, s.Aliases} {
			for _, f := range fs {
				b = appendShapeBody(appendString(b, f.Name), f.Shape)
			}
		}
		return b
	case KindProxy:
		b = append(appendArrayHeader(b, 1+len(s.TypeIDs)), byte(s.Kind))
		for _, id := range s.TypeIDs {
			b = appendString(b, id)
		}
		return b
	case KindRef:
		b = append(appendArrayHeader(b, 2), byte(s.Kind))
		return appendUint(b, uint64(s.Up))
	}
	return append(b, byte(s.Kind))
}

// shapeCache keeps parsed shapes by their encoding: a client sends the
// same few shapes again and again. It is bounded, so that a peer sending
// ever new shapes only makes them slower.
var shapeCache struct {
	mu sync.Mutex // guards m
	m  map[string]*Shape
}

const (
	shapeCacheEntries = 1024
	shapeCacheMaxLen  = 4096
)

// ParseShape parses a shape encoded by AppendShape. It returns an error
// for bytes that are not one; the shape it returns must not be modified.
func ParseShape(b []byte) (*Shape, error) {
	if len(b) <= shapeCacheMaxLen {
		shapeCache.mu.Lock()
		s, ok := shapeCache.m[string(b)]
		shapeCache.mu.Unlock()
		if ok {
			return s, nil
		}
	}
	p := parser{b: b}
	if p.arrayHeader() != 2 && p.err == nil {
		p.fail(errors.New("not a [name, shape] pair"))
	}
	name := string(p.str())
	s := parseShapeBody(&p, 0)
	if p.err == nil && len(p.b) != 0 {
		p.fail(errors.New("trailing bytes"))
	}
	if p.err != nil {
		return nil, fmt.Errorf("malformed shape: %w", p.err)
	}
	if s.Kind != KindAny || name != "" {
		c := *s
		c.Name = name
		s = &c
	}
	if len(b) <= shapeCacheMaxLen {
		shapeCache.mu.Lock()
		if shapeCache.m == nil {
			shapeCache.m = make(map[string]*Shape)
		}
		if len(shapeCache.m) < shapeCacheEntries {
			shapeCache.m[string(b)] = s
		}
		shapeCache.mu.Unlock()
	}
	return s, nil
}

// scalarShapes are the shapes without parts, shared by every parse.
var scalarShapes = func() (ss [numKinds]*Shape) {
	for k := range ss {
		ss[k] = &Shape{Kind: ShapeKind(k)}
	}
	return ss
}()

// AnyShape accepts every value.
var AnyShape = scalarShapes[KindAny]

// ScalarShape returns the shared shape of a kind without parts (KindAny,
// KindNil, KindBool, KindString, KindBytes, the ints and floats,
// KindError, KindExt).
func ScalarShape(k ShapeKind) *Shape { return scalarShapes[k] }

func parseShapeBody(p *parser, depth int) *Shape {
	if depth > MaxDepth {
		p.fail(fmt.Errorf("shape nested deeper than %d", MaxDepth))
		return AnyShape
	}
	if len(p.b) > 0 && p.b[0] == 0xc0 {
		p.b = p.b[1:]
		return AnyShape
	}
	if len(p.b) > 0 && p.b[0] < 0x80 {
		k := ShapeKind(p.byte1())
		switch k {
		case KindSlice, KindArray, KindByteArray, KindMap, KindStruct, KindProxy, KindRef:
		default:
			if k < numKinds {
				return scalarShapes[k]
			}
		}
		p.fail(fmt.Errorf("bad shape kind %d", k))
		return AnyShape
	}
	n := p.arrayHeader()
	if n < 1 {
		p.fail(errors.New("empty shape"))
		return AnyShape
	}
	s := &Shape{Kind: ShapeKind(p.uint())}
	want := map[ShapeKind]int{KindSlice: 2, KindArray: 3, KindByteArray: 2, KindMap: 3, KindRef: 2}
	if w, ok := want[s.Kind]; ok && n != w || s.Kind == KindStruct && (n < 2 || n%2 != 0) {
		p.fail(fmt.Errorf("shape of kind %d with %d parts", s.Kind, n))
		return AnyShape
	}
	switch s.Kind {
	case KindSlice:
		s.Elem = parseShapeBody(p, depth+1)
	case KindArray:
		s.Len = int(min(p.uint(), math.MaxInt32))
		s.Elem = parseShapeBody(p, depth+1)
	case KindByteArray:
		s.Len = int(min(p.uint(), math.MaxInt32))
	case KindMap:
		s.Key = parseShapeBody(p, depth+1)
		s.Elem = parseShapeBody(p, depth+1)
	case KindStruct:
		nf := int(min(p.uint(), uint64(n/2-1)))
		for i := range n/2 - 1 {
			f := Field{Name: string(p.str()), Shape: parseShapeBody(p, depth+1)}
			if i < nf {
				s.Fields = append(s.Fields, f)
			} else {
				s.Aliases = append(s.Aliases, f)
			}
		}
	case KindProxy:
		for range n - 1 {
			s.TypeIDs = append(s.TypeIDs, string(p.str()))
		}
	case KindRef:
		s.Up = int(min(p.uint(), MaxDepth+1))
	default:
		p.fail(fmt.Errorf("bad shape kind %d", s.Kind))
	}
	return s
}

// A ShapeError says where and why a value does not fit a shape.
type ShapeError struct {
	// Path locates the part that does not fit: "" for the value itself,
	// else a Go-like path such as "[2].Name".
	Path string
	// Got describes the msgpack value found there ("int 300", "str").
	Got string
	// Want is the Go type (or kind) that part had to decode into.
	Want string
	// Root is the Go type of the whole value, when Path is not empty.
	Root string
}

func (e *ShapeError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("the stored value (%s) does not decode into %s without changing it", e.Got, e.Want)
	}
	return fmt.Sprintf("the stored value's %s (%s) does not decode into %s (part of %s) without changing it", e.Path, e.Got, e.Want, e.Root)
}

// Check reports whether value, one msgpack value, decodes into s's Go
// type without error and without changing: nil, or a *ShapeError. A
// malformed value gives another error.
func (s *Shape) Check(value []byte) error {
	if s.Kind == KindAny {
		return nil
	}
	c := shapeChecker{scanner: scanner{b: value}}
	if err := c.check(s, 0); err != nil {
		var se *ShapeError
		if errors.As(err, &se) {
			se.Root = s.want()
		}
		return err
	}
	if len(c.b) != 0 {
		return fmt.Errorf("%d trailing bytes after the value", len(c.b))
	}
	return nil
}

// shapeChecker walks a value with Scan's scanner, against a shape.
type shapeChecker struct {
	scanner
	frames [MaxDepth + 2]*Shape // the enclosing composite shapes, for KindRef
	nframe int
}

// mismatch is the error for the value starting at b.
func mismatch(b []byte, s *Shape) error {
	return &ShapeError{Got: describe(b), Want: s.want()}
}

// inside adds a path step to a ShapeError from a part of the value.
func inside(err error, step string) error {
	if err == nil {
		return nil // before se, which escapes: no allocation on success
	}
	var se *ShapeError
	if errors.As(err, &se) {
		se.Path = step + se.Path
	}
	return err
}

func (c *shapeChecker) check(s *Shape, depth int) error {
	if len(c.b) == 0 {
		return errShort
	}
	if s.Kind == KindRef {
		if s.Up >= c.nframe {
			return fmt.Errorf("malformed shape: reference %d levels up, in %d", s.Up, c.nframe)
		}
		s = c.frames[c.nframe-1-s.Up]
	}
	start := c.b
	b := c.b[0]
	if b == 0xc0 || s.Kind == KindAny {
		return c.value(depth)
	}
	switch s.Kind {
	case KindBool:
		if b == 0xc2 || b == 0xc3 {
			return c.value(depth)
		}
	case KindString, KindBytes, KindError:
		if isStr(b) || s.Kind != KindError && isBin(b) {
			return c.value(depth)
		}
	case KindByteArray:
		if isStr(b) || isBin(b) {
			if n, _ := c.peekLen(); n <= uint64(s.Len) {
				return c.value(depth)
			}
		}
	case KindInt8, KindInt16, KindInt32, KindInt64, KindUint8, KindUint16, KindUint32, KindUint64:
		if i, u, neg, ok := c.readInt(); ok {
			if intFits(s.Kind, i, u, neg) {
				return nil
			}
			return mismatch(start, s)
		}
	case KindFloat32, KindFloat64:
		if b == 0xca || b == 0xcb && s.Kind == KindFloat64 {
			return c.value(depth)
		}
		if i, u, neg, ok := c.readInt(); ok {
			if !neg && u > math.MaxInt64 {
				return mismatch(start, s) // msgpack would read it as a negative int64
			}
			if !neg {
				i = int64(u)
			}
			if floatHolds(s.Kind, i) {
				return nil
			}
			return mismatch(start, s)
		}
	case KindSlice, KindArray:
		if n, ok := c.arrayLen(); ok {
			if s.Kind == KindArray && n > uint64(s.Len) {
				return mismatch(start, s)
			}
			return c.parts(s, depth, n, func(i uint64) error {
				return inside(c.check(s.Elem, depth+1), "["+strconv.FormatUint(i, 10)+"]")
			})
		}
	case KindMap:
		if n, ok := c.mapLen(); ok {
			return c.parts(s, depth, n, func(uint64) error {
				key := c.b
				if err := c.check(s.Key, depth+1); err != nil {
					return inside(err, "[key]")
				}
				return inside(c.check(s.Elem, depth+1), "["+describe(key)+"]")
			})
		}
	case KindStruct:
		if n, ok := c.mapLen(); ok {
			return c.parts(s, depth, n, func(uint64) error {
				if len(c.b) == 0 || !isStr(c.b[0]) && !isBin(c.b[0]) && c.b[0] != 0xc0 {
					return mismatch(c.b, ScalarShape(KindString)) // a key msgpack cannot read as a field name
				}
				name := c.str()
				if f := s.field(name); f != nil {
					return inside(c.check(f, depth+1), fieldStep(string(name)))
				}
				return c.value(depth + 1) // an unknown field: msgpack skips it
			})
		}
		if n, ok := c.arrayLen(); ok {
			if n != 0 && n != uint64(len(s.Fields)) {
				return mismatch(start, s)
			}
			return c.parts(s, depth, n, func(i uint64) error {
				f := s.Fields[i]
				return inside(c.check(f.Shape, depth+1), fieldStep(f.Name))
			})
		}
	case KindProxy, KindExt:
		if id, ok := c.extType(); ok {
			if s.Kind == KindExt {
				return c.value(depth)
			}
			if id == ProxyExtID {
				var typeid string
				c.onProxy = func(r ProxyRef) { typeid = r.TypeID }
				err := c.value(depth)
				c.onProxy = nil
				if err != nil || len(s.TypeIDs) == 0 {
					return err
				}
				for _, want := range s.TypeIDs {
					if typeid == want {
						return nil
					}
				}
				return &ShapeError{Got: "proxy to a " + typeid, Want: s.want()}
			}
		}
	}
	return mismatch(start, s)
}

// parts checks the n parts of a composite value whose header was read,
// with s as the innermost enclosing shape.
func (c *shapeChecker) parts(s *Shape, depth int, n uint64, part func(i uint64) error) error {
	if depth >= MaxDepth {
		return fmt.Errorf("nested deeper than %d", MaxDepth)
	}
	if err := c.need(n); err != nil {
		return err
	}
	c.frames[c.nframe] = s
	c.nframe++
	defer func() { c.nframe-- }()
	for i := range n {
		if err := part(i); err != nil {
			return err
		}
	}
	return nil
}

// fieldStep is the path step into a field; a nameless field (a result
// wrapper's) adds none.
func fieldStep(name string) string {
	if name == "" {
		return ""
	}
	return "." + name
}

// field returns the shape of the struct field name, or nil.
func (s *Shape) field(name []byte) *Shape {
	for _, fs := range [][]Field{s.Fields, s.Aliases} {
		for _, f := range fs {
			if f.Name == string(name) {
				return f.Shape
			}
		}
	}
	return nil
}

func isStr(b byte) bool { return b&0xe0 == 0xa0 || b == 0xd9 || b == 0xda || b == 0xdb }
func isBin(b byte) bool { return b == 0xc4 || b == 0xc5 || b == 0xc6 }

// peekLen returns the length of the str or bin at the front, without
// reading it.
func (c *shapeChecker) peekLen() (uint64, bool) {
	h, err := parseHead(c.b)
	return h.n, err == nil && h.kind == headScalar
}

// str reads a str, bin or nil (as "") at the front.
func (c *shapeChecker) str() []byte {
	if c.b[0] == 0xc0 {
		c.b = c.b[1:]
		return nil
	}
	h, err := parseHead(c.b)
	if err != nil || h.kind != headScalar || h.n > uint64(len(c.b)-h.hdr) {
		return nil
	}
	body := c.b[h.hdr : h.hdr+int(h.n)]
	c.b = c.b[h.hdr+int(h.n):]
	return body
}

// arrayLen reads an array header, if the front is one.
func (c *shapeChecker) arrayLen() (uint64, bool) {
	return c.containerLen(headArray)
}

// mapLen reads a map header, if the front is one.
func (c *shapeChecker) mapLen() (uint64, bool) {
	return c.containerLen(headMap)
}

// containerLen reads the header of a container of kind, if the front is
// one.
func (c *shapeChecker) containerLen(kind headKind) (uint64, bool) {
	h, err := parseHead(c.b)
	if err != nil || h.kind != kind {
		return 0, false
	}
	c.b = c.b[h.hdr:]
	return h.n, true
}

// extType returns the type of the extension at the front, if it is one,
// without reading it.
func (c *shapeChecker) extType() (int8, bool) {
	h, err := parseHead(c.b)
	if err != nil || h.kind != headExt || len(c.b) <= h.hdr {
		return 0, false
	}
	return int8(c.b[h.hdr]), true
}

// readInt reads an integer at the front, if it is one: a negative one as
// i (neg true), any other as u.
func (c *shapeChecker) readInt() (i int64, u uint64, neg, ok bool) {
	b := c.b[0]
	switch {
	case b <= 0x7f:
		c.b = c.b[1:]
		return 0, uint64(b), false, true
	case b >= 0xe0:
		c.b = c.b[1:]
		return int64(int8(b)), 0, true, true
	case b >= 0xcc && b <= 0xcf: // uint8 … uint64
		c.b = c.b[1:]
		u, err := c.readUint(1 << (b - 0xcc))
		return 0, u, false, err == nil
	case b >= 0xd0 && b <= 0xd3: // int8 … int64
		c.b = c.b[1:]
		w := 1 << (b - 0xd0)
		raw, err := c.readUint(w)
		if err != nil {
			return 0, 0, false, false
		}
		v := int64(raw<<(64-8*w)) >> (64 - 8*w) // sign-extend
		if v >= 0 {
			return 0, uint64(v), false, true
		}
		return v, 0, true, true
	}
	return 0, 0, false, false
}

// readUint reads a big-endian unsigned integer of w bytes.
func (c *shapeChecker) readUint(w int) (uint64, error) {
	if err := c.need(uint64(w)); err != nil {
		return 0, err
	}
	var n uint64
	for _, d := range c.b[:w] {
		n = n<<8 | uint64(d)
	}
	c.b = c.b[w:]
	return n, nil
}

// intFits reports whether an integer fits the integer kind k.
func intFits(k ShapeKind, i int64, u uint64, neg bool) bool {
	if k >= KindUint8 {
		bits := 8 << (k - KindUint8)
		return !neg && (bits == 64 || u < 1<<bits)
	}
	bits := 8 << (k - KindInt8)
	if neg {
		return bits == 64 || i >= -1<<(bits-1)
	}
	return u <= 1<<(bits-1)-1
}

// floatHolds reports whether the float kind k holds the integer i exactly.
func floatHolds(k ShapeKind, i int64) bool {
	var f float64
	if k == KindFloat32 {
		f = float64(float32(i))
	} else {
		f = float64(i)
	}
	return f < 0x1p63 && f >= -0x1p63 && int64(f) == i
}

// describe names the msgpack value at the front of b, for messages.
func describe(b []byte) string {
	if len(b) == 0 {
		return "nothing"
	}
	c := shapeChecker{scanner: scanner{b: b}}
	x := b[0]
	switch {
	case x == 0xc0:
		return "nil"
	case x == 0xc2, x == 0xc3:
		return "bool"
	case isStr(x):
		if n, ok := c.peekLen(); ok && n <= 32 {
			if s := c.str(); s != nil || n == 0 {
				return "str " + strconv.Quote(string(s))
			}
		}
		return "str"
	case isBin(x):
		return "bin"
	case x == 0xca && len(b) >= 5:
		return "float32 " + strconv.FormatFloat(float64(math.Float32frombits(binary.BigEndian.Uint32(b[1:]))), 'g', -1, 32)
	case x == 0xcb && len(b) >= 9:
		return "float64 " + strconv.FormatFloat(math.Float64frombits(binary.BigEndian.Uint64(b[1:])), 'g', -1, 64)
	}
	if i, u, neg, ok := c.readInt(); ok {
		if neg {
			return "int " + strconv.FormatInt(i, 10)
		}
		return "int " + strconv.FormatUint(u, 10)
	}
	if n, ok := c.arrayLen(); ok {
		return "array of " + strconv.FormatUint(n, 10)
	}
	if n, ok := c.mapLen(); ok {
		return "map of " + strconv.FormatUint(n, 10)
	}
	if id, ok := c.extType(); ok {
		if id == ProxyExtID {
			var typeid string
			c.onProxy = func(r ProxyRef) { typeid = r.TypeID }
			if c.value(0) == nil {
				return "proxy to a " + typeid
			}
		}
		return "extension " + strconv.Itoa(int(id))
	}
	return fmt.Sprintf("byte 0x%02x", x)
}
