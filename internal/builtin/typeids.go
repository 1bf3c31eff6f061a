package builtin

// The typeids of the built-in shared types: the one definition that the
// server registers them under and the root package's typed proxies
// create and check them by. Custom types must not use them.
const (
	TypeDict             = "Dict"
	TypeList             = "List"
	TypeNamespace        = "Namespace"
	TypeValue            = "Value"
	TypeArray            = "Array"
	TypeQueue            = "Queue"
	TypeJoinableQueue    = "JoinableQueue"
	TypeLock             = "Lock"
	TypeRLock            = "RLock"
	TypeSemaphore        = "Semaphore"
	TypeBoundedSemaphore = "BoundedSemaphore"
	TypeCondition        = "Condition"
	TypeEvent            = "Event"
	TypeBarrier          = "Barrier"
)

// IsType reports whether typeid is a built-in type's.
func IsType(typeid string) bool {
	switch typeid {
	case TypeDict, TypeList, TypeNamespace, TypeValue, TypeArray, TypeQueue, TypeJoinableQueue,
		TypeLock, TypeRLock, TypeSemaphore, TypeBoundedSemaphore, TypeCondition, TypeEvent, TypeBarrier:
		return true
	}
	return false
}

// A Type is a built-in type: its typeid and its constructor, whose first
// result is the type the server hosts.
type Type struct {
	ID  string
	New any
}

// Types are the built-in types, in the order the server registers them:
// the one list that the server registers and the Redis engine reads the
// methods of.
var Types = []Type{
	{TypeDict, NewDict},
	{TypeList, NewList},
	{TypeNamespace, NewNamespace},
	{TypeValue, NewValue},
	{TypeArray, NewArray},
	{TypeQueue, NewQueue},
	{TypeJoinableQueue, NewJoinableQueue},
	{TypeLock, NewLock},
	{TypeRLock, NewRLock},
	{TypeSemaphore, NewSemaphore},
	{TypeBoundedSemaphore, NewBoundedSemaphore},
	{TypeCondition, NewCondition},
	{TypeEvent, NewEvent},
	{TypeBarrier, NewBarrier},
}
