package manager_test

import "github.com/goproc/manager/internal/testkit"

// The helpers and shared types both this package's tests and the system
// suites use live in internal/testkit; these names keep the tests short.
var (
	testContext         = testkit.Context
	startManager        = testkit.StartManager
	waitProcess         = testkit.WaitProcess
	waitDone            = testkit.WaitDone
	waitUntil           = testkit.WaitUntil
	checkNoFDLeak       = testkit.CheckNoFDLeak
	requireErrorIsOrNil = testkit.RequireErrorIsOrNil
	forkReportingPid    = testkit.ForkReportingPid
	managerModes        = testkit.ManagerModes
	newGate             = testkit.NewGate
)

type (
	// Counter is the custom type most tests share.
	Counter = testkit.Counter
	// Gate blocks callers of Wait until Open is called.
	Gate = testkit.Gate
	// Faulty panics or fails on request.
	Faulty = testkit.Faulty
)
