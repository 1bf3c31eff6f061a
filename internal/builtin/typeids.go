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
