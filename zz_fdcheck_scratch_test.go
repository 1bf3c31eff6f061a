package manager_test

import (
	"os"
	"testing"
)

func TestZZScratchFDLeak(t *testing.T) {
	checkNoFDLeak(t)
	f, _ := os.Open("/dev/null")
	_ = f
}
