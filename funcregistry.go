package manager

import (
	"fmt"
	"sync"
)

// A funcRegistry maps names to the functions a re-executed copy of the
// program runs by name: workers (RegisterWorker) and pool tasks
// (RegisterTask). Like Register, it is filled from init functions, so
// that the parent and every child (the same binary) hold the same table.
type funcRegistry[F any] struct {
	what string       // "worker" or "task", for messages
	mu   sync.RWMutex // guards m
	m    map[string]F
}

func newFuncRegistry[F any](what string) *funcRegistry[F] {
	return &funcRegistry[F]{what: what, m: map[string]F{}}
}

// add registers fn under name; register names the public function, for
// its panics (a duplicate or empty registration is a programming error).
func (r *funcRegistry[F]) add(register, name string, fn F, isNil bool) {
	if name == "" || isNil {
		panic(fmt.Sprintf("manager: %s: empty name or nil func", register))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.m[name]; dup {
		panic(fmt.Sprintf("manager: %s(%q): name already registered: register each %s once, from one init function", register, name, r.what))
	}
	r.m[name] = fn
}

func (r *funcRegistry[F]) lookup(name string) (F, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	fn, ok := r.m[name]
	return fn, ok
}
