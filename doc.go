// Package manager lets the processes of one program — and, over TCP,
// programs on other machines — share live Go objects, the way Python's
// multiprocessing.Manager does, without Python's traps.
//
// # The picture
//
// A manager ([Start]) is a process that owns shared objects and serves
// calls on them over a Unix socket. Clients reach an object through a
// proxy; every method call is one msgpack-encoded request by method name.
// Worker processes are started with [Client.Fork]: Go cannot fork, so the
// program's own binary is re-executed and [Init], the first line of main,
// runs the child's role:
//
//	func init() {
//		manager.Register[*Maths]("Maths", func() *Maths { return &Maths{} })
//		manager.RegisterWorker("calculate", calculate)
//	}
//
//	func main() {
//		manager.Init()
//		m, err := manager.Start(ctx)
//		...
//		p, err := m.Fork(ctx, "calculate")
//		err = p.Wait()
//	}
//
// # Custom types
//
// [Register] makes a Go type shareable under a typeid: [New] creates an
// object in the manager and returns a [*Proxy]; [Call] calls a method on
// it. Methods may take a context.Context first (cancelled when the caller
// gives up) and return R, (R, error), error or nothing. [Open] finds or
// creates an object by name, so that unrelated processes share it.
//
// # Sessions, ownership and lifetime
//
// A [Client] is one process's session with a manager. What a session
// holds — references to objects, locks, semaphore permits — is released
// when it ends, whether by [Client.Close] or by its process dying.
//
// An object lives while a proxy to it is open in any process, while it
// is stored in a live shared container, or while it has a name. The
// built-in containers ([Dict] keys and values, [List], [Namespace],
// [Value], [Array], and [Queue] items from Put until a Get hands them
// out — for a [JoinableQueue], until their TaskDone) hold a reference to
// every object whose proxy they store, as Python's do: a worker can
// create a List, store it in a named Dict and exit, and the List lives on
// in the Dict. It is freed once nothing is left: deleted from the
// container (or overwritten, popped, cleared) and its last proxy closed.
// Freeing a container releases what it held, which may free those
// objects in turn. A container that holds a proxy to itself, directly or
// through other containers, is a cycle that reference counting cannot
// free: it lives until the manager shuts down, unless the entry is
// deleted first.
//
// A proxy sent to another process is referenced by the sender before it
// leaves, so it cannot be freed in transit (CPython gh-119937). For a
// call on a built-in container that reference ends with the call, since
// the container then holds its own; for a [Client.Fork] argument, a
// constructor argument of a custom type or an argument of a custom
// type's method, it lasts as long as the sender's session, since the
// receiver may keep the proxy without a reference of its own.
//
// # Options
//
// Each entry point takes the options that mean something to it, so that
// a misplaced one does not compile: [NewServer] takes [ServerOption]s
// (address, key, logger, limits), [Connect] takes [ClientOption]s, and
// [Start], which runs a server and connects its own client to it, takes
// both and [StartOption]s of its own ([InProcess]). An [Option] ([WithTLS],
// [WithMaxFrameSize], [WithMaxRequestSize], [WithHandshakeTimeout])
// applies everywhere.
//
// # Where the code lives
//
// This package is the public API; the re-executed child's side (Init
// and the manager and worker processes' mains) is in child.go. The
// server engine behind [Server] is internal/server; the built-in types
// as they live in the manager process are internal/builtin; the wire
// protocol (frames, messages, handshake, payload scanning) is
// internal/wire; re-execution, inherited pipes, the log pipe and the
// private socket directories are internal/proc; the Redis engine is
// internal/redisengine. cmd/managerctl is the CLI and dashboard,
// cmd/bench the benchmarks, and otelmanager (a module of its own) the
// OpenTelemetry interceptors.
//
// # The life of a call
//
// One Dict.Load, from the caller to the object and back:
//
//  1. dict.go: Dict.Load hands the key to callKey (typedargs.go), which
//     writes it straight into the request, and asks for a
//     builtin.Loaded[V] (internal/builtin/loaded.go: the one layout of a
//     Load result, on both sides).
//  2. proxy.go: Proxy.invokeArgs passes the call to the proxy's engine
//     (engine.go); for a manager that is the Client.
//  3. client.go: Client.callArgs takes a pooled connection, frames the
//     request (internal/wire: id, object, handle, method, deadline,
//     arguments), writes it and reads the reply on the calling goroutine;
//     a ctx that ends hands the connection to the reconciler
//     (reconcile.go) instead of waiting. While another call of the
//     process is in flight, the request joins the multiplexed connection
//     instead (client_mux.go: coalesced writes, one reader handing
//     replies out by id).
//  4. internal/server/conn.go: the connection's reader scans the frame
//     (wire.Scan: sizes, depth, cost, proxies) and executes it on its own
//     goroutine; a method that waits moves reading to a new goroutine.
//  5. internal/server/rawcall.go: Dict.Load is on the fast path: a plain
//     function calls internal/builtin's Dict.Load under the dict's lock
//     (other methods go through dispatch.go's reflective call).
//  6. The reply (a builtin.LoadResult, which encodes itself) goes back on
//     the same connection; client.go checks it against the caller's type
//     (typedshape.go) and Loaded's decoder reads it into the caller's V.
//
// A RedisSession (redis.go) replaces steps 3–6 with one Lua script per
// method in internal/redisengine.
//
// # Failures
//
// Errors are typed: test them with errors.Is against the sentinels in
// errors.go, which survive the wire; a program's own sentinel errors
// survive it too once registered with [RegisterError]. An error a method
// returned is a [*RemoteError]. When the manager dies, every pending and
// later call fails with [ErrManagerGone]; after [Manager.Shutdown] or
// [Manager.Close], with [ErrClosed]. Error texts read
// "manager: Type.Method: cause". When the program's parent process dies, the manager and
// its workers exit: there are no orphans.
//
// # Blocking calls
//
// Every call takes a context first; its deadline is the call's timeout.
// A call whose context ends is withdrawn on the server, so a cancelled
// wait never takes an item or a lock it will not report. It returns
// within a few milliseconds of its context's end, even when the method
// ignores its context or the manager is stopped: a reply that comes later
// is read in the background, and what it took is given back (a Get's
// item, an Acquire's lock or permit, a LoadAndDelete's or Pop's value).
// The manager also gets the call's deadline, so a blocking method gives
// up there by itself. A call never
// stalls the client's other calls: they run in parallel on a pool of
// connections.
//
// # Engines
//
// Shared objects live in one of two places, behind the same typed
// proxies: a manager process ([Start], [Connect]; a [*Manager] or
// [*Client] is the session), or Redis / Valkey ([ConnectRedis],
// [NewRedisSession]; a [*RedisSession] is the session). Every constructor
// takes a [Session], so a program moves from one to the other by changing
// the line that makes it. Both engines keep the same contract:
//
//   - Each method call is atomic: no other call on the same object sees
//     it half done (one locked method in a manager, one command or Lua
//     script in Redis). Modify and CompareAndSwap cannot lose an update.
//   - A blocking call (Queue.Get, Lock.Acquire, Condition.Wait,
//     Event.Wait, Barrier.Wait, JoinableQueue.Join) waits until its ctx
//     ends and then returns within a few milliseconds with an error
//     satisfying errors.Is(err, ctx.Err()); a call withdrawn so changes
//     nothing: a Get takes no item, an Acquire leaves no lock or permit
//     held.
//   - Ownership belongs to the session (an RLock's to the proxy): when a
//     session ends, or its process dies, its locks and permits are
//     released, the next owner's Acquire returns [ErrAbandoned], its
//     unacknowledged JoinableQueue items are delivered again (at least
//     once), and a Barrier round that needed it breaks. A manager sees a
//     death when the connection closes; Redis when the session's lease
//     expires ([WithRedisLease]).
//   - Lock.Token and RLock.Token give the holder a fencing token that
//     grows with every acquisition, so that the resource a lock guards
//     can refuse a holder that lost it.
//   - Errors wrap the same sentinels, so errors.Is works alike.
//
// Workers forked from a RedisSession ([RedisSession.Fork]) get their own
// session on the same Redis; [WorkerSession] returns a worker's session on
// either engine. Redis keeps objects beyond every process and machine
// but does not host custom types or Pool; the README's "Beyond one
// machine" lists every difference.
//
// # Call hooks
//
// Metrics and tracing plug in as interceptors, connect-go's shape: a
// function that wraps the next step of a call. [WithInterceptors] (and
// [WithRedisInterceptors]) wrap every method call a session's proxies
// make, with its [CallInfo]; [WithServerInterceptors] wrap every call a
// server executes, with its [ServerCallInfo] (the calling session and
// pid). An interceptor may pass on a ctx of its own, sees the call's
// error as its caller will, and decides what its caller gets; a panic in
// a server interceptor fails that call only. Interceptors are functions,
// so they stay in the process that set them: a manager process started
// by [Start] cannot run server interceptors (use [InProcess] or
// [NewServer]), and forked workers' clients have none. Unused, they cost
// a call one nil check. [WithPprofLabels] labels each call's goroutine
// in the manager with its type and method, for CPU profiles.
// examples/prometheus exports counters and histograms, and the module
// otelmanager traces calls with OpenTelemetry.
//
// [Client.Monitor] streams every call a manager executes, as Redis's
// MONITOR does (`managerctl monitor` prints them), without ever slowing
// the calls: a monitor that falls behind is told how many it missed.
//
// # Security
//
// Every connection proves, with an HMAC-SHA256 challenge in both
// directions, that it holds the manager's key (32 random bytes unless
// [WithAuthKey] gives one). Children receive the key through an inherited
// pipe, never argv or the environment. The local socket is 0600 in a
// 0700 directory. Frames are size-limited ([WithMaxFrameSize]) and every
// payload is checked before it is decoded.
package manager
