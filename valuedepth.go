package manager

import (
	"fmt"
	"reflect"
	"sync"

	"github.com/goproc/manager/internal/wire"
)

// msgpack's encoder has no depth limit: a value that refers to itself (a
// map stored in itself, a struct pointing to itself) recurses until the
// goroutine's stack overflows, which kills the process. So a value is
// measured before it is encoded, and one nested deeper than the manager
// accepts (wire.MaxDepth, less the levels a request wraps it in) is
// refused with ErrBadArguments. Most types cannot nest without bound; only
// values of the others (interfaces, recursive types) are walked.

// maxValueDepth is the deepest nesting of arrays, maps and structs a
// user value may have: wire.MaxDepth less the request's argument array
// and the at most three levels a stored value is wrapped in on its way
// back (a result array, an Items pair, …).
const maxValueDepth = wire.MaxDepth - 4

// maxValueHops bounds the pointers and interfaces followed on one path,
// which add no nesting but can form a cycle of their own.
const maxValueHops = 16 * maxValueDepth

// staticDepths caches typeDepth: reflect.Type → int.
var staticDepths sync.Map

// typeDepth returns how deep any value of type t nests, or -1 when that
// depends on the value (an interface, a recursive type).
func typeDepth(t reflect.Type) int {
	if d, ok := staticDepths.Load(t); ok {
		return d.(int)
	}
	d := typeDepthOf(t, map[reflect.Type]bool{})
	staticDepths.Store(t, d)
	return d
}

func typeDepthOf(t reflect.Type, onPath map[reflect.Type]bool) int {
	if encodesItself(t) {
		return 0 // opaque: whatever it encodes, it encodes itself
	}
	if onPath[t] {
		return -1
	}
	onPath[t] = true
	defer delete(onPath, t)
	sub := func(ts ...reflect.Type) int {
		deepest := 0
		for _, e := range ts {
			d := typeDepthOf(e, onPath)
			if d < 0 {
				return -1
			}
			deepest = max(deepest, d)
		}
		return deepest + 1
	}
	switch t.Kind() {
	case reflect.Interface:
		return -1
	case reflect.Pointer:
		d := sub(t.Elem())
		if d < 0 {
			return -1
		}
		return d - 1
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return 0 // bytes
		}
		return sub(t.Elem())
	case reflect.Map:
		return sub(t.Key(), t.Elem())
	case reflect.Struct:
		fields := make([]reflect.Type, t.NumField())
		for i := range fields {
			fields[i] = t.Field(i).Type
		}
		return sub(fields...)
	}
	return 0
}

// encodesItself reports whether msgpack hands values of t to their own
// encoding method (proxies among them), so that nothing inside is walked.
func encodesItself(t reflect.Type) bool {
	if t == proxyType {
		return true
	}
	for _, i := range []reflect.Type{customEncoder, msgpackMarshaler, binaryMarshaler, textMarshaler} {
		if t.Implements(i) {
			return true
		}
	}
	return false
}

// checkDepth returns an error satisfying errors.Is(err, ErrBadArguments)
// when v nests deeper than maxValueDepth, as a cyclic value does. It
// costs nothing for a type that cannot nest that deep.
func checkDepth[T any](v T) error {
	if d := typeDepth(reflect.TypeFor[T]()); d >= 0 && d <= maxValueDepth {
		return nil
	}
	return checkValueDepth(reflect.ValueOf(&v).Elem())
}

// checkValueDepth is checkDepth for a value of any type.
func checkValueDepth(v reflect.Value) error {
	if !depthFits(v, 0, 0) {
		return fmt.Errorf("%w: a %s value nested more than %d levels deep (is it cyclic? a map or slice inside itself, or a pointer back to its parent): break the cycle or flatten it", ErrBadArguments, v.Type(), maxValueDepth)
	}
	return nil
}

// depthFits reports whether v, found depth levels deep, nests no deeper
// than maxValueDepth.
func depthFits(v reflect.Value, depth, hops int) bool {
	if depth > maxValueDepth {
		return false
	}
	if !v.IsValid() {
		return true
	}
	if d := typeDepth(v.Type()); d >= 0 {
		return depth+d <= maxValueDepth
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if hops >= maxValueHops {
			return false
		}
		return v.IsNil() || depthFits(v.Elem(), depth, hops+1)
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			if !depthFits(v.Index(i), depth+1, hops) {
				return false
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if !depthFits(it.Key(), depth+1, hops) || !depthFits(it.Value(), depth+1, hops) {
				return false
			}
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if !depthFits(v.Field(i), depth+1, hops) {
				return false
			}
		}
	}
	return true
}

// checkArgsDepth is checkDepth for the arguments of an untyped call.
func checkArgsDepth(method string, args []any) error {
	for i, a := range args {
		if err := checkDepth(a); err != nil {
			return fmt.Errorf("manager: %s: argument %d: %w", method, i+1, err)
		}
	}
	return nil
}
