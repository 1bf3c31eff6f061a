package redisengine

import (
	"embed"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"
)

//go:embed lua/*.lua
var luaFS embed.FS

// A family is the script of one or more built-in types, and how their
// arguments become the script's.
type family struct {
	script *luaScript
	// ctor turns the constructor's msgpack arguments into INIT's.
	ctor func(args []msgpack.RawMessage) ([]any, error)
	// adapt turns a method's arguments into the script's, for the
	// methods whose arguments are not passed as they are (nil: none).
	adapt map[string]func(args []msgpack.RawMessage) ([]any, error)
	// consume lists the methods whose reply hands something over (an
	// item, a lock): their script call is not cut short by ctx, so that
	// what it handed over is never lost with an unread reply.
	consume map[string]bool
	// direct lists the methods that may wait and whose grant is handed
	// straight into the caller's reply list (see lua/queue.lua): a call
	// sends its script run and its first BLPOP in one pipeline (see
	// Session.callPiped).
	direct map[string]bool
	// fast holds small scripts for the hottest methods: the family's
	// script defines every method of the type on each call, which costs
	// more in Redis than the method itself. A fast script takes the keys
	// fastKeys names and ARGV typeid, [session id, lease in ms, when
	// fastSession,] arguments... It replies as the family's script would
	// (see lua/prelude.lua), or "F" when the object is in a state it does
	// not handle (waiters, a lease to check, ...): then the call runs the
	// family's script, which decides.
	fast        map[string]*redis.Script
	fastKeys    []string
	fastSession bool
	// fastFallback: the fast scripts may reply "F". A batch does not use
	// them, as a fallback would run after the batch's later calls.
	fastFallback bool
	// fastTypes limits the fast scripts to these typeids (nil: all).
	fastTypes map[string]bool
	// hget names the method that Call sends as a plain HMGET of the
	// values hash (fastKeys[1]) without a script: the field of its one
	// argument, and the counter '' that only a live Dict's values hash
	// has (see lua/dict.lua). The entry, or the counter without it, is
	// the answer; with neither the method's fast script says what the
	// object is (missing, or of another type).
	hget string
}

// mustLua returns the script of the family whose parts (files of lua/)
// are parts, the last one naming the family: lua/prelude.lua, the parts
// and lua/epilogue.lua.
func mustLua(parts ...string) *luaScript {
	var b strings.Builder
	for _, p := range append(append([]string{"prelude"}, parts...), "epilogue") {
		src, err := luaFS.ReadFile("lua/" + p + ".lua")
		if err != nil {
			panic(err)
		}
		b.Write(src)
		b.WriteByte('\n')
	}
	return newLuaScript(parts[len(parts)-1], b.String())
}

// families maps each built-in typeid to its family. It is built on first
// use (familyOf), not at init: building it (reading, joining and hashing
// the Lua sources) took 9–43 ms and 1.5 MB of every process's start —
// forked workers and manager processes included, which never use Redis.
var (
	families     = map[string]*family{}
	familiesOnce sync.Once
)

// familyOf returns typeid's family, or nil for a type that is not
// built in.
func familyOf(typeid string) *family {
	familiesOnce.Do(buildFamilies)
	return families[typeid]
}

func register(f *family, typeids ...string) {
	for _, t := range typeids {
		families[t] = f
	}
}

// noArgs is the ctor of types built without arguments.
func noArgs([]msgpack.RawMessage) ([]any, error) { return nil, nil }

// rawArgs passes the arguments on as they are.
func rawArgs(args []msgpack.RawMessage) ([]any, error) {
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = []byte(a)
	}
	return out, nil
}

// pairsArg flattens one argument holding []builtin.Pair (or nil) into
// key, value, key, value...
func pairsArg(args []msgpack.RawMessage) ([]any, error) {
	if len(args) == 0 {
		return nil, nil
	}
	if len(args) != 1 {
		return nil, fmt.Errorf("want 1 argument (the pairs), got %d", len(args))
	}
	var pairs []pairRaw
	if err := msgpack.Unmarshal(args[0], &pairs); err != nil {
		return nil, fmt.Errorf("decode pairs: %w", err)
	}
	out := make([]any, 0, 2*len(pairs))
	for _, p := range pairs {
		out = append(out, []byte(p.Key), []byte(p.Value))
	}
	return out, nil
}

// pairRaw is builtin.Pair's layout: [key, value], both kept encoded.
type pairRaw struct {
	//lint:ignore U1000 msgpack reads this field's tag (as_array), never its value
	_msgpack struct{}           `msgpack:",as_array"`
	Key      msgpack.RawMessage //nolint
	Value    msgpack.RawMessage
}

// buildFamilies registers every family (see familyOf).
func buildFamilies() {
	register(&family{
		script:   mustLua("shape", "numeric", "dict"),
		ctor:     pairsArg,
		adapt:    map[string]func([]msgpack.RawMessage) ([]any, error){"Update": pairsArg, "LoadMany": listArg(0)},
		fast:     dictFast,
		fastKeys: []string{"m", "h", "z"},
		hget:     "Load",
	}, "Dict")
	register(&family{script: mustLua("shape", "numeric", "dict"), ctor: attrsArg}, "Namespace")
	register(&family{
		script: mustLua("shape", "numeric", "value"),
		ctor: func(args []msgpack.RawMessage) ([]any, error) {
			if len(args) != 1 {
				return nil, fmt.Errorf("want 1 argument (the initial value), got %d", len(args))
			}
			return rawArgs(args)
		},
	}, "Value")
	register(&family{
		script: mustLua("shape", "queue"),
		ctor: func(args []msgpack.RawMessage) ([]any, error) {
			var max int
			if len(args) > 0 {
				if err := msgpack.Unmarshal(args[0], &max); err != nil {
					return nil, fmt.Errorf("decode maxsize: %w", err)
				}
			}
			return []any{strconv.Itoa(max)}, nil
		},
		consume:     map[string]bool{"Get": true, "TryGet": true, "GetAs": true, "TryGetAs": true},
		direct:      map[string]bool{"Get": true, "GetAs": true},
		fast:        queueFast,
		fastKeys:    []string{"m", "q", "wa", "wb", "p"},
		fastSession: true, fastFallback: true,
		fastTypes: map[string]bool{"Queue": true},
	}, "Queue", "JoinableQueue")
	acquires := map[string]bool{"Acquire": true, "TryAcquire": true, "Wait": true}
	register(&family{
		script: mustLua("locksetup", "lockcore", "lock"), ctor: noArgs, consume: acquires,
		fast: lockFast, fastKeys: []string{"m"}, fastSession: true, fastFallback: true,
		fastTypes: map[string]bool{"Lock": true},
	}, "Lock", "RLock")
	register(&family{script: mustLua("condsetup", "lockcore", "condition"), consume: acquires, ctor: func(args []msgpack.RawMessage) ([]any, error) {
		var lockID uint64
		if len(args) > 0 {
			if err := msgpack.Unmarshal(args[0], &lockID); err != nil {
				return nil, fmt.Errorf("decode the lock id: %w", err)
			}
		}
		if lockID == 0 {
			return nil, nil
		}
		return []any{lockID}, nil
	}}, "Condition")
	register(&family{script: mustLua("semaphore"), ctor: intArg("value"), consume: acquires}, "Semaphore", "BoundedSemaphore")
	register(&family{script: mustLua("event"), ctor: noArgs}, "Event")
	register(&family{
		script: mustLua("shape", "numeric", "list"),
		ctor:   listArg(0),
		adapt: map[string]func([]msgpack.RawMessage) ([]any, error){
			"Extend":         listArg(0),
			"SetSlice":       listArg(3),
			"StoreIfVersion": listArg(1),
		},
	}, "List", "Array")
	register(&family{script: mustLua("barrier"), ctor: intArg("parties")}, "Barrier")
}

// listArg passes the first n arguments as they are, then the elements of
// argument n, a []msgpack.RawMessage (or nil), one by one.
func listArg(n int) func([]msgpack.RawMessage) ([]any, error) {
	return func(args []msgpack.RawMessage) ([]any, error) {
		if len(args) < n || len(args) > n+1 {
			return nil, fmt.Errorf("want %d arguments, got %d", n+1, len(args))
		}
		out, _ := rawArgs(args[:n])
		if len(args) == n {
			return out, nil
		}
		var items []msgpack.RawMessage
		if err := msgpack.Unmarshal(args[n], &items); err != nil {
			return nil, fmt.Errorf("decode argument %d (the elements): %w", n+1, err)
		}
		for _, it := range items {
			out = append(out, []byte(it))
		}
		return out, nil
	}
}

// attrsArg is Namespace's ctor: a map of attributes (or nil), stored in
// the order of their names as internal/builtin's NewNamespace does.
func attrsArg(args []msgpack.RawMessage) ([]any, error) {
	if len(args) == 0 {
		return nil, nil
	}
	var attrs map[string]msgpack.RawMessage
	if err := msgpack.Unmarshal(args[0], &attrs); err != nil {
		return nil, fmt.Errorf("decode attributes: %w", err)
	}
	out := make([]any, 0, 2*len(attrs))
	for _, name := range slices.Sorted(maps.Keys(attrs)) {
		k, err := msgpack.Marshal(name)
		if err != nil {
			return nil, err
		}
		out = append(out, k, []byte(attrs[name]))
	}
	return out, nil
}

// intArg is the ctor of types built from one int argument.
func intArg(what string) func([]msgpack.RawMessage) ([]any, error) {
	return func(args []msgpack.RawMessage) ([]any, error) {
		if len(args) != 1 {
			return nil, fmt.Errorf("want 1 argument (%s), got %d", what, len(args))
		}
		var n int
		if err := msgpack.Unmarshal(args[0], &n); err != nil {
			return nil, fmt.Errorf("decode %s: %w", what, err)
		}
		return []any{strconv.Itoa(n)}, nil
	}
}
