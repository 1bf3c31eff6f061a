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
// when it ends, whether by [Client.Close] or by its process dying. An
// object lives while a proxy to it is open in any process, or while it
// has a name. A proxy sent to another process (a Fork argument, an
// argument of a call, a value stored in another shared object) is
// referenced by the sender before it leaves, so it cannot be freed in
// transit; that reference lasts as long as the sender's session.
//
// # Failures
//
// Errors are typed: test them with errors.Is against the sentinels in
// errors.go, which survive the wire. An error a method returned is a
// [*RemoteError]. When the manager dies, every pending and later call
// fails with [ErrManagerGone]; after [Manager.Shutdown], with
// [ErrClosed]. When the program's parent process dies, the manager and
// its workers exit: there are no orphans.
//
// # Blocking calls
//
// Every call takes a context first; its deadline is the call's timeout.
// A call whose context ends is withdrawn on the server, so a cancelled
// wait never takes an item or a lock it will not report. A call never
// stalls the client's other calls: they run in parallel on a pool of
// connections.
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
