package systest

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	"go.uber.org/goleak"

	"github.com/goproc/manager"
)

func TestMain(m *testing.M) {
	runChildRole(true) // the test-only programs that run before Init (childroles_test.go)
	manager.Init()
	runChildRole(false)
	// Under -race every process sleeps 1 s at exit so that late race
	// reports can print; the children we start need not, and the
	// no-orphan tests time how fast they exit.
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	log, err := os.CreateTemp("", "systest-roles-*.log")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	log.Close()
	os.Setenv(envRoleLog, log.Name())
	os.Setenv(envRolePid, strconv.Itoa(os.Getpid()))
	goleak.VerifyTestMain(roleCheck{m: m, log: log.Name()})
}
