package server

import (
	"reflect"

	"github.com/goproc/manager/internal/builtin"
)

// The built-in types are registered in every process, like any custom
// type, so that a manager process (this binary re-executed) hosts them.
// They do their own locking, so the server may call them concurrently.
func init() {
	registerBuiltin[*builtin.Dict](builtin.TypeDict, builtin.NewDict)
	setRawMethods(builtin.TypeDict, dictRawMethods)
	registerBuiltin[*builtin.List](builtin.TypeList, builtin.NewList)
	registerBuiltin[*builtin.Namespace](builtin.TypeNamespace, builtin.NewNamespace)
	registerBuiltin[*builtin.Value](builtin.TypeValue, builtin.NewValue)
	registerBuiltin[*builtin.Array](builtin.TypeArray, builtin.NewArray)
	registerBuiltin[*builtin.Queue](builtin.TypeQueue, builtin.NewQueue)
	registerBuiltin[*builtin.JoinableQueue](builtin.TypeJoinableQueue, builtin.NewJoinableQueue)
	registerBuiltin[*builtin.Lock](builtin.TypeLock, builtin.NewLock)
	registerBuiltin[*builtin.RLock](builtin.TypeRLock, builtin.NewRLock)
	registerBuiltin[*builtin.Semaphore](builtin.TypeSemaphore, builtin.NewSemaphore)
	registerBuiltin[*builtin.BoundedSemaphore](builtin.TypeBoundedSemaphore, builtin.NewBoundedSemaphore)
	registerBuiltin[*builtin.Condition](builtin.TypeCondition, builtin.NewCondition)
	registerBuiltin[*builtin.Event](builtin.TypeEvent, builtin.NewEvent)
	registerBuiltin[*builtin.Barrier](builtin.TypeBarrier, builtin.NewBarrier)
}

// serverOnly lists the exported methods of the built-in types that only
// the server may call: a client calling ReleaseSession could release
// another process's lock; GiveBack is reached through the "giveback"
// control method only; Inspect through "objects" and "inspect".
var serverOnly = []string{"ReleaseSession", "GiveBack", "Inspect"}

// registerBuiltin registers T under typeid, safe for concurrent calls,
// exposing every exported method but the server-only ones.
func registerBuiltin[T any](typeid string, ctor any) {
	t := reflect.TypeFor[T]()
	var exposed []string
	for i := 0; i < t.NumMethod(); i++ {
		if name := t.Method(i).Name; !contains(serverOnly, name) {
			exposed = append(exposed, name)
		}
	}
	Register(typeid, t, ctor, RegisterConfig{Concurrent: true, Exposed: exposed})
}
