// Package systest holds the multi-process system suites of the manager
// library: faults (processes killed mid-call), hostile peers, the
// linearizability check, soak, security, shutdown, limits, the roles of the
// re-executed binary, start options, remote clients and regressions. They
// use only the public API, start real processes and take long, so `go test
// -short ./...` skips the slow ones and the package's unit tests stay
// beside their files in the root.
//
// Every child role the suites start (workers, custom types, test-only
// programs) is listed once, in childroles_test.go; when the whole suite runs,
// TestMain fails if a listed role was never started.
package systest
