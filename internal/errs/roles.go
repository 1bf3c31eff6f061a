package errs

// InitNotCalled is kept apart from the other sentinels so that the
// re-execution checks (internal/proc, the root package's Init) own it.
var InitNotCalled = newErr("init_not_called", "manager: a copy of the program that the library started as a manager or worker process ran main instead of its role: call manager.Init() first in main (and first in TestMain)")
