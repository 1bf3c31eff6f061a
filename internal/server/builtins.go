package server

import (
	"reflect"

	"github.com/goproc/manager/internal/builtin"
)

// The built-in types are registered in every process, like any custom
// type, so that a manager process (this binary re-executed) hosts them.
// They do their own locking, so the server may call them concurrently.
func init() {
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
	Register(typeid, t, ctor, RegisterConfig{Concurrent: true, Exposed: exposed})
}
