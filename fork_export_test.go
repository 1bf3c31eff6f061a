package manager

// The causes a worker's ctx can end with, exported for the external
// tests (package manager_test) only.
var (
	ErrWorkerParentExited = errParentExited
	ErrWorkerTerminated   = errTerminated
)
