package manager

import (
	"fmt"
	"os"
	"sync"
	"syscall"

	"github.com/goproc/manager/internal/proc"
)

// Some Fork arguments hold open files the worker must inherit: a
// SharedValue's or SharedArray's memory file, a pipe end. Such a value
// implements fileCarrier. Fork appends its files to the child's
// ExtraFiles, after the two pipes of internal/proc (so the child sees
// them from proc.FirstExtraFD on), and encodes, in the value's place, a
// small reference that names its files by index. In the worker, decoding
// the reference takes the inherited descriptor (see inheritedFD).
//
// Only direct arguments of Fork are carried this way; the values refuse
// to be encoded anywhere else (nested in a struct, sent to the manager),
// since a descriptor means nothing in another process.
type fileCarrier interface {
	// forkArg returns what Fork encodes in the value's place, given that
	// the files it returns are the child's inherited files first,
	// first+1, …; release (if not nil) is called once the child has
	// started or Fork has failed.
	forkArg(first int) (arg any, files []*os.File, release func(), err error)
}

// inherited is a worker's table of inherited files.
var inherited struct {
	mu    sync.Mutex // guards n and taken
	n     int        // how many files the parent passed
	taken []bool     // taken[i]: the descriptor was handed out once
}

// initInherited records that the parent passed n files, and marks them
// close-on-exec so that they reach this worker's own children only when
// passed explicitly (a stray copy of a pipe end would delay its EOF).
func initInherited(n int) {
	inherited.mu.Lock()
	defer inherited.mu.Unlock()
	inherited.n = n
	inherited.taken = make([]bool, n)
	for i := range n {
		syscall.CloseOnExec(proc.FirstExtraFD + i)
	}
}

// inheritedFD hands over the i-th file Fork passed to this worker: the
// caller owns the descriptor from then on. Each can be taken once (an
// argument holding one decodes once): a duplicate kept back would hold a
// pipe open after its user closed it, and the peer would never see EOF.
func inheritedFD(i int) (int, error) {
	inherited.mu.Lock()
	defer inherited.mu.Unlock()
	switch {
	case inherited.n == 0:
		return -1, fmt.Errorf("manager: no inherited descriptor %d: shared memory and pipe ends decode only in a worker they were passed to as arguments of Fork", i)
	case i < 0 || i >= inherited.n:
		return -1, fmt.Errorf("manager: no inherited descriptor %d (the worker was given %d)", i, inherited.n)
	case inherited.taken[i]:
		return -1, fmt.Errorf("manager: inherited descriptor %d was decoded already (decode each shared value or pipe end argument once)", i)
	}
	inherited.taken[i] = true
	return proc.FirstExtraFD + i, nil
}

// errCarried is the error a file-carrying value gives when asked to be
// encoded other than as a direct argument of Fork.
func errCarried(what string) error {
	return fmt.Errorf("manager: a %s can only be passed as a direct argument of Fork (its descriptor is inherited; it cannot travel inside another value or through the manager)", what)
}
