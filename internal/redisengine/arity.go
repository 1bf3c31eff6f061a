package redisengine

import (
	"context"
	"reflect"

	"github.com/goproc/manager/internal/builtin"
)

// arity maps each typeid to its methods and their number of arguments,
// read from internal/builtin's types, the one definition of the methods:
// a call with another number of arguments is refused before it reaches
// Redis. Token is this engine's own (a Lock's fencing token).
var arity = map[string]map[string]int{}

func init() {
	types := map[string]reflect.Type{
		"Dict":             reflect.TypeFor[*builtin.Dict](),
		"List":             reflect.TypeFor[*builtin.List](),
		"Namespace":        reflect.TypeFor[*builtin.Namespace](),
		"Value":            reflect.TypeFor[*builtin.Value](),
		"Array":            reflect.TypeFor[*builtin.Array](),
		"Queue":            reflect.TypeFor[*builtin.Queue](),
		"JoinableQueue":    reflect.TypeFor[*builtin.JoinableQueue](),
		"Lock":             reflect.TypeFor[*builtin.Lock](),
		"RLock":            reflect.TypeFor[*builtin.RLock](),
		"Semaphore":        reflect.TypeFor[*builtin.Semaphore](),
		"BoundedSemaphore": reflect.TypeFor[*builtin.BoundedSemaphore](),
		"Condition":        reflect.TypeFor[*builtin.Condition](),
		"Event":            reflect.TypeFor[*builtin.Event](),
		"Barrier":          reflect.TypeFor[*builtin.Barrier](),
	}
	ctxType := reflect.TypeFor[context.Context]()
	for typeid, t := range types {
		m := map[string]int{}
		for i := range t.NumMethod() {
			meth := t.Method(i)
			if meth.Name == "ReleaseSession" {
				continue // the server's, never a client's
			}
			n := meth.Type.NumIn() - 1 // the receiver
			if n > 0 && meth.Type.In(1) == ctxType {
				n--
			}
			m[meth.Name] = n
		}
		arity[typeid] = m
	}
}
