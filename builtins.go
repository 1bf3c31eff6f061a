package manager

import (
	"reflect"

	"github.com/goproc/manager/internal/builtin"
)

// The typeids of the built-in shared types, as the server knows them.
// Custom types must not use them.
const (
	typeDict             = "Dict"
	typeList             = "List"
	typeNamespace        = "Namespace"
	typeValue            = "Value"
	typeArray            = "Array"
	typeQueue            = "Queue"
	typeJoinableQueue    = "JoinableQueue"
	typeLock             = "Lock"
	typeRLock            = "RLock"
	typeSemaphore        = "Semaphore"
	typeBoundedSemaphore = "BoundedSemaphore"
	typeCondition        = "Condition"
	typeEvent            = "Event"
	typeBarrier          = "Barrier"
)

// The built-in types are registered in every process, like any custom
// type, so that a manager process (this binary re-executed) hosts them.
// They do their own locking, so the server may call them concurrently.
func init() {
	registerBuiltin[*builtin.Dict](typeDict, builtin.NewDict)
	setRawMethods(typeDict, dictRawMethods)
	registerBuiltin[*builtin.List](typeList, builtin.NewList)
	registerBuiltin[*builtin.Namespace](typeNamespace, builtin.NewNamespace)
	registerBuiltin[*builtin.Value](typeValue, builtin.NewValue)
	registerBuiltin[*builtin.Array](typeArray, builtin.NewArray)
	registerBuiltin[*builtin.Queue](typeQueue, builtin.NewQueue)
	registerBuiltin[*builtin.JoinableQueue](typeJoinableQueue, builtin.NewJoinableQueue)
	registerBuiltin[*builtin.Lock](typeLock, builtin.NewLock)
	registerBuiltin[*builtin.RLock](typeRLock, builtin.NewRLock)
	registerBuiltin[*builtin.Semaphore](typeSemaphore, builtin.NewSemaphore)
	registerBuiltin[*builtin.BoundedSemaphore](typeBoundedSemaphore, builtin.NewBoundedSemaphore)
	registerBuiltin[*builtin.Condition](typeCondition, builtin.NewCondition)
	registerBuiltin[*builtin.Event](typeEvent, builtin.NewEvent)
	registerBuiltin[*builtin.Barrier](typeBarrier, builtin.NewBarrier)
}

// serverOnly lists the exported methods of the built-in types that only
// the server may call: a client calling ReleaseSession could release
// another process's lock; GiveBack is reached through the "giveback"
// control method only.
var serverOnly = []string{"ReleaseSession", "GiveBack"}

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
	register(typeid, t, ctor, ConcurrentSafe(), Exposed(exposed...))
}
