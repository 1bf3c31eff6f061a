package systest

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/goproc/manager"
)

// The index of the child roles of the system suites: every worker, custom
// type and test-only program that a test of this package runs in a child
// process (or, for a type, in an in-process manager), in one table, as
// go-plugin's TestHelperProcess keeps its helpers in one place. TestMain
// registers them all, dispatches the test-only programs, and, when the
// whole suite ran, fails if a role in the table was never started: a role
// no test uses is dead code that only looks like coverage.

// A childRole is one entry of the index: exactly one of worker, register
// and main is set.
type childRole struct {
	name string // the registered name, or the value of envChild
	file string // the file whose tests use it

	worker     manager.WorkerFunc                    // a worker role (RegisterWorker)
	register   func(name string, note func(any) any) // a custom type (Register); note wraps its constructor
	main       func() int                            // a test-only program, run before Init (beforeInit) or after it
	beforeInit bool

	// unbuilt, for a custom type, says why no test lets its constructor
	// run (a test that checks that bad arguments are refused before it
	// is called): the check then requires that it never ran.
	unbuilt string
}

// key names r in the role log: a worker and a test-only program may share
// a name ("subcommand").
func (r childRole) key() string {
	switch {
	case r.worker != nil:
		return "worker " + r.name
	case r.register != nil:
		return "type " + r.name
	default:
		return "program " + r.name
	}
}

// childRoles lists every child role of the system suites.
var childRoles = []childRole{
	{name: "FaultsSlow", file: "faults_helpers_test.go", register: func(name string, note func(any) any) {
		manager.Register[*Slow](name, note(func() *Slow { return &Slow{} }), manager.ConcurrentSafe())
	}},
	{name: "faults.gone", file: "faults_test.go", worker: workerFaultsGone},
	{name: "faults.hold", file: "faults_test.go", worker: workerFaultsHold},
	{name: "faults.barrier-member", file: "faults_test.go", worker: workerFaultsBarrierMember},
	{name: "faults.take", file: "faults_test.go", worker: workerFaultsTake},
	{name: "faults.chaos", file: "faults_test.go", worker: workerFaultsChaos},
	{name: "hostile.Box", file: "hostile_test.go", register: func(name string, note func(any) any) {
		manager.Register[*hostileBox](name, note(func() *hostileBox { return &hostileBox{} }), manager.Exposed("Put", "PutMap", "PutAnyMap", "Add", "Echo", "Store"))
	}},
	{name: "hostile.MapBox", file: "hostile_test.go", unbuilt: "TestHostilePeers refuses its map argument before the constructor runs", register: func(name string, note func(any) any) {
		manager.Register[*hostileBox](name, note(func(m map[any]any) *hostileBox { return &hostileBox{n: int64(len(m))} }), manager.Exposed("Add"))
	}},
	{name: "limits.Box", file: "limits_test.go", register: func(name string, note func(any) any) {
		manager.Register[limitsBox](name, note(func() limitsBox { return limitsBox{} }))
	}},
	{name: "faults.linear", file: "linearizability_test.go", worker: workerFaultsLinear},
	{name: "regress.exec-and-hang", file: "regression_test.go", worker: workerRegressExecAndHang},
	{name: "remote.Cell", file: "remote_test.go", register: func(name string, note func(any) any) {
		manager.Register[*remoteCell](name, note(newRemoteCell))
	}},
	{name: "remote.Mutex", file: "remote_test.go", register: func(name string, note func(any) any) {
		manager.Register[*remoteMutex](name, note(newRemoteMutex), manager.ConcurrentSafe())
	}},
	{name: "remote.increment", file: "remote_test.go", worker: remoteIncrement},
	{name: "subcommand", file: "roles_test.go", worker: workerSubcommand},
	{name: "security.Gate", file: "security_test.go", register: func(name string, note func(any) any) {
		manager.Register[*securityGate](name, note(newSecurityGate), manager.ConcurrentSafe())
	}},
	{name: "security.hold", file: "security_test.go", worker: workerSecurityHold},
	{name: "faults.idle", file: "shutdown_test.go", worker: workerFaultsIdle},
	{name: "Panicker", file: "startoptions_test.go", register: func(name string, note func(any) any) {
		manager.Register[*Panicker](name, note(func() *Panicker { return &Panicker{} }))
	}},
	{name: "Counter", file: "helpers_test.go", register: func(name string, note func(any) any) {
		manager.Register[*Counter](name, note(func() *Counter { return &Counter{} }))
	}},
	{name: "Gate", file: "helpers_test.go", register: func(name string, note func(any) any) {
		manager.Register[*Gate](name, note(newGate), manager.ConcurrentSafe())
	}},
	{name: "Faulty", file: "helpers_test.go", register: func(name string, note func(any) any) {
		manager.Register[Faulty](name, note(func() Faulty { return Faulty{} }))
	}},
	{name: "add", file: "childroles_test.go", worker: workerAdd},
	{name: childNoInitStart, file: "roles_test.go", beforeInit: true, main: func() int { return noInitMain(childNoInitStart) }},
	{name: childNoInitFork, file: "roles_test.go", beforeInit: true, main: func() int { return noInitMain(childNoInitFork) }},
	{name: childExitAtOnce, file: "roles_test.go", beforeInit: true, main: func() int { return 7 }},
	{name: childExitZero, file: "roles_test.go", beforeInit: true, main: func() int { return 0 }},
	{name: childSubcommand, file: "roles_test.go", main: func() int { fmt.Println("ran as a program"); return 0 }},
	{name: childHoldManager, file: "startoptions_test.go", main: holdManagerMain},
}

// workerAdd is the worker role "add": it adds 1 to a Counter the given
// number of times.
func workerAdd(ctx context.Context, c *manager.Client, args manager.Args) error {
	var p *manager.Proxy
	var times int
	if err := args.Decode(&p, &times); err != nil {
		return err
	}
	for i := 0; i < times; i++ {
		if _, err := manager.Call[int64](ctx, p, "Add", int64(1)); err != nil {
			return err
		}
	}
	return nil
}

func init() {
	for _, r := range childRoles {
		switch {
		case r.worker != nil:
			manager.RegisterWorker(r.name, noteWorker(r.key(), r.worker))
		case r.register != nil:
			r.register(r.name, func(ctor any) any { return noteCtor(r.key(), ctor) })
		}
	}
}

// runChildRole runs the test-only program that envChild names, if it is
// one of the phase's (before manager.Init or after it), and exits.
func runChildRole(beforeInit bool) {
	name, ok := os.LookupEnv(envChild)
	if !ok {
		return
	}
	for _, r := range childRoles {
		if r.main != nil && r.name == name && r.beforeInit == beforeInit {
			noteRole(r.key())
			os.Exit(r.main())
		}
	}
}

// envRoleLog names the file where the processes of a run record each role
// they start, one name a line; the test process records its own (the
// constructors an in-process manager runs) in rolesRun.
// envRolePid the test process's pid.
const (
	envRoleLog = "MANAGER_SYSTEST_ROLE_LOG"
	envRolePid = "MANAGER_SYSTEST_ROLE_PID"
)

// rolesRun holds the roles started in the test process: role name →
// struct{}.
var rolesRun sync.Map

// noteRole records that role started in this process.
func noteRole(role string) {
	if os.Getenv(envRolePid) == strconv.Itoa(os.Getpid()) {
		rolesRun.Store(role, struct{}{})
		return
	}
	path := os.Getenv(envRoleLog)
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		fmt.Fprintf(os.Stderr, "systest: recording role %s: %v\n", role, err)
		return
	}
	defer f.Close()
	if _, err := f.WriteString(role + "\n"); err != nil { // one write(2): whole lines
		fmt.Fprintf(os.Stderr, "systest: recording role %s: %v\n", role, err)
	}
}

// noteWorker wraps a worker so that it records its start.
func noteWorker(role string, fn manager.WorkerFunc) manager.WorkerFunc {
	return func(ctx context.Context, c *manager.Client, args manager.Args) error {
		noteRole(role)
		return fn(ctx, c, args)
	}
}

// noteCtor wraps a constructor of any signature so that it records each
// call; Register sees a function of the same type.
func noteCtor(role string, ctor any) any {
	v := reflect.ValueOf(ctor)
	return reflect.MakeFunc(v.Type(), func(in []reflect.Value) []reflect.Value {
		noteRole(role)
		return v.Call(in)
	}).Interface()
}

// roleCheck runs the tests, then, when the whole suite ran (no -run, no
// -skip, no -short), fails the run if a role of the index never started.
type roleCheck struct {
	m   *testing.M
	log string
}

func (rc roleCheck) Run() int {
	defer os.Remove(rc.log)
	code := rc.m.Run()
	if testing.Short() || flagSet("test.run") || flagSet("test.skip") {
		return code
	}
	unused, err := unusedRoles(rc.log)
	if err != nil {
		fmt.Fprintf(os.Stderr, "systest: reading the role log: %v\n", err)
		return 1
	}
	if len(unused) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: systest: the child roles index (childroles_test.go) does not match the run; delete a role no test uses, or test it: %v\n", unused)
		return 1
	}
	return code
}

// flagSet reports whether the test flag name has a non-empty value.
func flagSet(name string) bool {
	f := flag.Lookup(name)
	return f != nil && f.Value.String() != ""
}

// unusedRoles returns the roles of the index that neither this process
// nor any child recorded in the file log (and those marked unbuilt that
// were), each with what is wrong.
func unusedRoles(log string) ([]string, error) {
	f, err := os.Open(log)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rolesRun.Store(sc.Text(), struct{}{})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	var wrong []string
	for _, r := range childRoles {
		_, ran := rolesRun.Load(r.key())
		switch {
		case r.unbuilt == "" && !ran:
			wrong = append(wrong, r.key()+" never started")
		case r.unbuilt != "" && ran:
			wrong = append(wrong, r.key()+" started, though "+r.unbuilt)
		}
	}
	slices.Sort(wrong)
	return wrong, nil
}

// TestChildRolesIndexed checks the index itself: each entry has a name,
// a file and exactly one kind, and no name appears twice.
func TestChildRolesIndexed(t *testing.T) {
	seen := map[string]int{}
	for _, r := range childRoles {
		kinds := 0
		for _, set := range []bool{r.worker != nil, r.register != nil, r.main != nil} {
			kinds += map[bool]int{true: 1}[set]
		}
		assert.Equal(t, 1, kinds, "role %q: the kinds set", r.name)
		assert.NotEmpty(t, r.name)
		assert.NotEmpty(t, r.file, "role %q: the file that uses it", r.name)
		seen[r.key()]++
	}
	for name, n := range seen {
		assert.Equal(t, 1, n, "role %q: entries", name)
	}
}
