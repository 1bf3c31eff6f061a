package server

import (
	"reflect"
	"sync"

	"github.com/goproc/manager/internal/builtin"
)

// builtinsOnce guards registerBuiltins.
var builtinsOnce sync.Once

// registerBuiltins registers the built-in types, like custom ones, for a
// manager to host them. It runs on the first lookup of any type, not at
// init: the reflection over their methods took 2-2.6 ms (2,900
// allocations) of every process's start, and most processes (clients,
// forked workers) never serve. They do their own locking, so the server
// may call them concurrently.
func registerBuiltins() {
	for _, t := range builtin.Types {
		registerBuiltin(t.ID, t.New)
	}
	setRawMethods(builtin.TypeDict, dictRawMethods)
}

// serverOnly lists the exported methods of the built-in types that only
// the server may call: a client calling ReleaseSession could release
// another process's lock; GiveBack is reached through the "giveback"
// control method only; Inspect through "objects" and "inspect".
var serverOnly = []string{"ReleaseSession", "GiveBack", "Inspect"}

// registerBuiltin registers the type ctor makes under typeid, safe for
// concurrent calls, exposing every exported method but the server-only
// ones.
func registerBuiltin(typeid string, ctor any) {
	t := reflect.TypeOf(ctor).Out(0)
	var exposed []string
	for i := 0; i < t.NumMethod(); i++ {
		if name := t.Method(i).Name; !contains(serverOnly, name) {
			exposed = append(exposed, name)
		}
	}
	register(typeid, t, ctor, RegisterConfig{Concurrent: true, Exposed: exposed})
}
