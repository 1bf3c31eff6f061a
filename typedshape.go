package manager

import (
	"encoding"
	"errors"
	"reflect"
	"strings"
	"sync"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/errs"
	"github.com/goproc/manager/internal/wire"
)

// A value stored through one proxy may be read through another whose Go
// type differs (two processes, two type parameters, one object). msgpack
// would then decode what it can and truncate what it cannot: a stored 300
// read as a uint8 is 44. So every result is checked, before it is
// decoded, against the shape of the Go type it decodes into (see
// wire.Shape): a value that does not fit is an error satisfying
// errors.Is(err, ErrWrongType) that names the msgpack value and the Go
// type. The methods that remove a value send the shape with the call, and
// the manager checks the value before removing it: a value the caller
// cannot decode stays where it was.

// typeShape is a Go type's shape and its encoding, derived once.
type typeShape struct {
	shape *wire.Shape
	arg   any // wire.AppendShape(shape) as a msgpack.RawMessage: the argument of the *As methods
}

// any reports whether the shape accepts every value: the *As methods are
// then not needed.
func (ts *typeShape) any() bool { return ts.shape.Kind == wire.KindAny }

// typeShapes caches shapeOfType: reflect.Type → *typeShape.
var typeShapes sync.Map

// shapeFor returns the shape of T.
func shapeFor[T any]() *typeShape { return shapeOfType(reflect.TypeFor[T]()) }

// shapeOfType returns the shape of t.
func shapeOfType(t reflect.Type) *typeShape {
	if ts, ok := typeShapes.Load(t); ok {
		return ts.(*typeShape)
	}
	s := buildShape(t)
	ts := &typeShape{shape: s, arg: msgpack.RawMessage(wire.AppendShape(nil, s))}
	typeShapes.Store(t, ts)
	return ts
}

// buildShape derives t's shape. A type the derivation does not foresee
// (it panics) gets KindAny: it is then decoded as msgpack decodes it.
func buildShape(t reflect.Type) (s *wire.Shape) {
	if t == nil {
		return wire.AnyShape
	}
	defer func() {
		if recover() != nil {
			s = wire.AnyShape
		}
	}()
	return (&shapeBuilder{}).build(t)
}

var (
	customDecoder       = reflect.TypeFor[msgpack.CustomDecoder]()
	msgpackUnmarshaler  = reflect.TypeFor[msgpack.Unmarshaler]()
	binaryUnmarshaler   = reflect.TypeFor[encoding.BinaryUnmarshaler]()
	textUnmarshaler     = reflect.TypeFor[encoding.TextUnmarshaler]()
	hasTypeIDsType      = reflect.TypeFor[hasTypeIDs]()
	structDecodedResult = reflect.TypeFor[decodesAsStruct]()
)

// hasTypeIDs is implemented by the typed proxies: the typeids a proxy
// reference must have to decode into one.
type hasTypeIDs interface{ proxyTypeIDs() []string }

// decodesAsStruct marks result types whose DecodeMsgpack accepts exactly
// what msgpack's own struct decoding accepts (internal/builtin's Loaded,
// versionedValue): their shape is that of their fields.
type decodesAsStruct interface{ DecodesAsStruct() }

// scalarShapeKinds are the shapes of the scalar Go kinds (int and uint
// count as their 64-bit forms).
var scalarShapeKinds = map[reflect.Kind]wire.ShapeKind{
	reflect.Bool:    wire.KindBool,
	reflect.Int:     wire.KindInt64,
	reflect.Int64:   wire.KindInt64,
	reflect.Int8:    wire.KindInt8,
	reflect.Int16:   wire.KindInt16,
	reflect.Int32:   wire.KindInt32,
	reflect.Uint:    wire.KindUint64,
	reflect.Uint64:  wire.KindUint64,
	reflect.Uint8:   wire.KindUint8,
	reflect.Uint16:  wire.KindUint16,
	reflect.Uint32:  wire.KindUint32,
	reflect.Float32: wire.KindFloat32,
	reflect.Float64: wire.KindFloat64,
	reflect.String:  wire.KindString,
}

// shapeBuilder derives shapes, following msgpack/v5's choice of decoder
// for each type (decode_value.go's _getDecoder).
type shapeBuilder struct {
	stack []reflect.Type // the composite types being built, for recursive types
}

func (b *shapeBuilder) build(t reflect.Type) *wire.Shape {
	named := func(k wire.ShapeKind) *wire.Shape { return &wire.Shape{Kind: k, Name: t.String()} }
	if t == proxyType {
		return named(wire.KindProxy)
	}
	if reflect.PointerTo(t).Implements(hasTypeIDsType) || t.Implements(hasTypeIDsType) {
		if ids, ok := proxyTypeIDsOf(t); ok {
			s := named(wire.KindProxy)
			s.TypeIDs = ids
			return s
		}
		return wire.AnyShape
	}
	if decodesItself(t) || extRegistered(t) {
		return wire.AnyShape
	}
	if k, ok := scalarShapeKinds[t.Kind()]; ok {
		return named(k)
	}
	switch t.Kind() {
	case reflect.Pointer:
		return b.build(t.Elem())
	case reflect.Interface:
		switch {
		case t.NumMethod() == 0:
			return wire.AnyShape
		case t == reflect.TypeFor[error]():
			return named(wire.KindError)
		}
		return named(wire.KindExt)
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return named(wire.KindBytes)
		}
	case reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			s := named(wire.KindByteArray)
			s.Len = t.Len()
			return s
		}
	case reflect.Map, reflect.Struct:
	default: // complex, chan, func, unsafe pointer, uintptr: msgpack cannot decode them
		return named(wire.KindNil)
	}
	// A composite: an array, slice, map or struct.
	for i, outer := range b.stack {
		if outer == t {
			return &wire.Shape{Kind: wire.KindRef, Name: t.String(), Up: len(b.stack) - 1 - i}
		}
	}
	b.stack = append(b.stack, t)
	defer func() { b.stack = b.stack[:len(b.stack)-1] }()
	switch t.Kind() {
	case reflect.Slice:
		s := named(wire.KindSlice)
		s.Elem = b.build(t.Elem())
		return s
	case reflect.Array:
		s := named(wire.KindArray)
		s.Len, s.Elem = t.Len(), b.build(t.Elem())
		return s
	case reflect.Map:
		s := named(wire.KindMap)
		s.Key, s.Elem = b.build(t.Key()), b.build(t.Elem())
		return s
	}
	s := named(wire.KindStruct)
	b.structFields(s, t)
	if t.Implements(structDecodedResult) || reflect.PointerTo(t).Implements(structDecodedResult) {
		// A result wrapper: its fields stand for the user's value, whose
		// name the messages should give.
		s.Name = ""
		for i := range s.Fields {
			s.Fields[i].Name = ""
		}
	}
	return s
}

// structFields adds t's fields to s as msgpack's getFields lists them
// (types.go): the msgpack tag's name or the field's, "-" and unexported
// fields skipped, embedded structs inlined unless they decode themselves
// or a name would clash, "alias:" names.
func (b *shapeBuilder) structFields(s *wire.Shape, t reflect.Type) {
	has := func(name string) bool {
		for _, fs := range [][]wire.Field{s.Fields, s.Aliases} {
			for _, f := range fs {
				if f.Name == name {
					return true
				}
			}
		}
		return false
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts := parseMsgpackTag(f.Tag.Get("msgpack"))
		if name == "-" || f.PkgPath != "" && !f.Anonymous {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if f.Anonymous && !opts["noinline"] {
			inner := f.Type
			for inner.Kind() == reflect.Pointer {
				inner = inner.Elem()
			}
			if inner.Kind() == reflect.Struct && (opts["inline"] || !decodesItself(inner) && !b.clashes(inner, has)) {
				sub := &wire.Shape{Kind: wire.KindStruct}
				b.structFields(sub, inner)
				for _, g := range sub.Fields {
					if !has(g.Name) {
						s.Fields = append(s.Fields, g)
					}
				}
				s.Aliases = append(s.Aliases, wire.Field{Name: name, Shape: b.build(f.Type)})
				continue
			}
		}
		fs := b.build(f.Type)
		s.Fields = append(s.Fields, wire.Field{Name: name, Shape: fs})
		if alias := opts["alias:"]; alias {
			s.Aliases = append(s.Aliases, wire.Field{Name: aliasOf(f.Tag.Get("msgpack")), Shape: fs})
		}
	}
}

// clashes reports whether inlining struct t would shadow a field already
// listed, in which case msgpack keeps it as one field.
func (b *shapeBuilder) clashes(t reflect.Type, has func(string) bool) bool {
	sub := &wire.Shape{Kind: wire.KindStruct}
	b.structFields(sub, t)
	for _, g := range sub.Fields {
		if has(g.Name) {
			return true
		}
	}
	return false
}

// parseMsgpackTag splits a msgpack struct tag into its name and options
// ("alias:x" is reported as "alias:").
func parseMsgpackTag(tag string) (string, map[string]bool) {
	name, rest, _ := strings.Cut(tag, ",")
	opts := map[string]bool{}
	for _, o := range strings.Split(rest, ",") {
		if k, _, ok := strings.Cut(o, ":"); ok {
			o = k + ":"
		}
		opts[o] = true
	}
	return name, opts
}

// aliasOf returns the alias a msgpack struct tag gives, or "".
func aliasOf(tag string) string {
	for _, o := range strings.Split(tag, ",")[1:] {
		if v, ok := strings.CutPrefix(o, "alias:"); ok {
			return v
		}
	}
	return ""
}

// decodesItself reports whether msgpack hands values of t to their own
// decoding method; their shape is KindAny.
func decodesItself(t reflect.Type) bool {
	for _, i := range []reflect.Type{customDecoder, msgpackUnmarshaler, binaryUnmarshaler, textUnmarshaler} {
		if t.Implements(i) || t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(i) {
			return !t.Implements(structDecodedResult) && !reflect.PointerTo(t).Implements(structDecodedResult)
		}
	}
	return false
}

// extRegistered reports whether t is a named type whose values msgpack
// encodes as an extension (msgpack.RegisterExt): it decodes them itself.
func extRegistered(t reflect.Type) (ext bool) {
	if t.Name() == "" || t.Kind() == reflect.Interface {
		return false
	}
	defer func() {
		if recover() != nil {
			ext = false
		}
	}()
	b, err := msgpack.Marshal(reflect.Zero(t).Interface())
	return err == nil && len(b) > 0 && (b[0] >= 0xd4 && b[0] <= 0xd8 || b[0] >= 0xc7 && b[0] <= 0xc9)
}

// proxyTypeIDsOf returns the typeids a typed proxy type t (or *t)
// accepts.
func proxyTypeIDsOf(t reflect.Type) (ids []string, ok bool) {
	defer func() {
		if recover() != nil {
			ids, ok = nil, false // an embedded nil proxy pointer: not ours to judge
		}
	}()
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	pk, ok := reflect.New(t).Interface().(hasTypeIDs)
	if !ok {
		return nil, false
	}
	return pk.proxyTypeIDs(), true
}

// proxyTypeIDs makes the typed proxies hasTypeIDs implementations: a proxy reference to
// a K object, or to one of its subtypes, decodes into one.
func (h *proxyCore[K]) proxyTypeIDs() []string {
	var k K
	return append([]string{k.typeID()}, subtypes[k.typeID()]...)
}

// A shapedResult checks its own result (its shape depends on a value,
// not only on its type).
type shapedResult interface {
	resultShape() *wire.Shape
}

// checkResult checks a call's encoded result against the shape of what
// out (a pointer) decodes it into; see the top of this file.
func checkResult(out any, result []byte) error {
	var s *wire.Shape
	if r, ok := out.(shapedResult); ok {
		s = r.resultShape()
	} else {
		t := reflect.TypeOf(out)
		if t.Kind() != reflect.Pointer {
			return nil
		}
		s = shapeOfType(t.Elem()).shape
	}
	if err := s.Check(result); err != nil {
		return wrongValueType(err)
	}
	return nil
}

// wrongValueType is the error for a result that does not fit its Go
// type; the caller names the operation.
func wrongValueType(err error) error {
	var se *wire.ShapeError
	if errors.As(err, &se) {
		return errs.Errorf("%w: %v", ErrWrongType, err)
	}
	return errs.Errorf("%w: result: %v", ErrProtocol, err)
}
