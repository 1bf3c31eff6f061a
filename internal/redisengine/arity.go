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
	ctxType := reflect.TypeFor[context.Context]()
	for _, bt := range builtin.Types {
		t := reflect.TypeOf(bt.New).Out(0)
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
		arity[bt.ID] = m
	}
}
