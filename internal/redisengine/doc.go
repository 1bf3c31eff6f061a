// Package redisengine keeps the manager's built-in shared objects in
// Redis (or Valkey) — standalone, Sentinel or Cluster, through a go-redis
// UniversalClient — instead of in a manager process. It is the second
// implementation of the engine seam: the typed proxies call
// [Session.Call] with the method names, msgpack arguments and msgpack
// results of internal/builtin, and decode the results unchanged.
//
// # Promises
//
//   - Every method is atomic: one Lua script on the object's keys, never
//     a client-side read-then-write. Modify builds on LoadVersion and
//     StoreIfVersion, Add is exact msgpack arithmetic inside Lua. The
//     hottest methods (Dict Load/Has/Store, Lock Acquire/TryAcquire/
//     Release, a plain Queue's Put/Get/TryGet) first try a small script
//     of their own, which handles the common state only; in any other it
//     changes nothing and replies "F", and the type's script runs.
//   - A type's script is loaded once as a Redis 7 function library and
//     called with FCALL, so that a call runs only its method; on Redis
//     before 7, or when an ACL refuses functions, the same script runs
//     with EVALSHA (see [Session]). Both give the same replies.
//   - Values are stored as the msgpack bytes the client sent.
//   - Every key of one object shares one hash slot (the hash tag
//     {ns:id}), so every method works on Redis Cluster; named objects
//     are found by name from any process.
//   - A blocking call (Queue.Get and Put, JoinableQueue.Join,
//     Lock.Acquire, Semaphore.Acquire) blocks in Redis (BLPOP on a list
//     of its own), honours its ctx — deadline or cancellation — within a
//     round trip, and a withdrawn call changes nothing: it consumed no
//     item and holds no lock. Waiters are served in arrival order.
//   - A session is one process's: its liveness is a lease (a key with a
//     TTL in each object's slot) renewed by a heartbeat every Lease/3.
//     When a session ends ([Session.Close]) or its lease expires (the
//     process died or was paused or partitioned too long), what it held
//     is released by whoever next touches the object, in Lua: its locks
//     and permits go to the next owner with errs.Abandoned, its
//     unacknowledged JoinableQueue items are delivered again. A waiter
//     blocked behind a holder wakes when the holder's lease would
//     expire, so a dead holder is detected within a lease of its death
//     without any polling in between.
//
// # The seam
//
// [Open] starts one process's [Session]; [Session.New] and [Session.Open]
// create (or find by name) an object and take a reference; [Session.Call]
// calls a method by name with internal/builtin's arguments and returns
// the manager's encoding of the result; [Session.Retain] takes a
// reference to an object received from another process (do it before
// the sender may give its own back); [Session.Release] gives one back;
// [Session.Delete] deletes a named object; [Session.Close] ends the
// session; [Purge] removes a whole namespace. [Session.ServerID] is the
// same for every session of a namespace, on every machine.
//
// The shape-checked methods (Queue.GetAs and TryGetAs, List.PopAs,
// Dict.LoadAndDeleteAs, PopItemAs and SwapAs, Value.SwapAs) check the
// stored value against the caller's shape (wire.AppendShape's encoding)
// in the same script, before anything is removed: lua/shape.lua is
// wire.Shape.Check in Lua, rule for rule and message for message, so a
// value that does not fit stays where it was and the error wraps
// errs.WrongType. A GetAs waiting on an empty queue is woken with that
// error by an item it cannot decode, which goes to the next getter.
//
// Queue.Shutdown(immediate) and IsShutDown are Python 3.13's, as
// internal/builtin's: puts fail with errs.ShutDown, gets drain what is
// left and then fail with it, every blocked Put and Get (of any session)
// is woken with it; immediate discards the items, a JoinableQueue counts
// them finished, and so are the unacknowledged items of a session that
// dies afterwards instead of being delivered again.
//
// Lock and RLock have one method more than a manager's: Token (no
// arguments) returns the caller's fencing token, a uint64 that grows
// with every acquisition, or errs.NotHeld.
//
// # Differences from a manager
//
//   - Durability: objects outlive every process and survive a Redis
//     restart as far as its persistence allows (AOF appendfsync always
//     loses no acknowledged write). Replication is asynchronous: after a
//     failover a lock may be held twice; the fencing token (Lock.Token)
//     lets the protected resource refuse the older holder.
//   - A dead process is detected when its lease expires, within Lease of
//     its last heartbeat (a manager sees the connection close at once).
//     Close releases at once.
//   - When a session gives back its last reference to an object, what it
//     still holds there (a lock, permits, unacknowledged items) is
//     released then, not when the session ends.
//   - A container does not keep alive the objects whose proxies its
//     values carry: an unnamed object referenced only from inside a Dict
//     is swept. Name it (Open) to keep it.
//   - A Condition built on an existing Lock does not keep that Lock alive.
//   - List.Sort compares an integer with a float as doubles (exact
//     between integers), so beyond 2^53 the order may differ.
//   - An emptied list encodes as an empty array, where a manager may send
//     nil; the proxies decode both alike.
//   - Every blocked call holds one connection of the client's pool while
//     it waits: size PoolSize for the number of concurrent blocking calls.
//   - Custom registered types are not hosted: New and Call return
//     errs.NotSupported.
//   - Cost: one round trip per method (a blocking call that waits: two
//     more, the wake-up and the taking; a Queue's Get that waits, one in
//     all when its item comes within 20 ms, as its script run and its
//     BLPOP go in one pipeline, and the item is handed straight into its
//     reply list; else one more). The heartbeat sets one key per
//     object the session references or called every Lease/3, and each
//     session sweeps the namespace's unnamed objects every 3 leases.
//   - A reply lost in transit (the connection broke after the script
//     ran) loses a plain Queue's item, as a manager's at-most-once
//     delivery does; a JoinableQueue's item comes back when the session
//     ends. A call's ctx never cuts such a reply short.
//
// # Keys
//
// Namespace ns: "{ns}:id" (the id counter), "{ns}:names" (name to id),
// "{ns}:objs" (the unnamed objects, for the sweep) and "{ns}:layout" (the
// key layout the namespace's objects are in, see Layout).
// Object id: "{ns:id}:m" (a hash: type, name, version counter and the
// type's scalars), "{ns:id}:r" (references per session), "{ns:id}:l:<sid>"
// (the session's lease in this slot), "{ns:id}:g" (grants to waiters),
// "{ns:id}:s:<call>" (a waiter's wake-up list), "{ns:id}:r:<call>" (a
// waiting Get's reply list: the item a Put handed it), and the type's own keys
// (see lua/*.lua). A Condition on an existing lock has its keys in the
// lock's slot, "{ns:lock}:c<n>:...".
//
// # Files
//
// session.go: a session, its heartbeat, leases and sweep; families.go:
// the built-in types' Lua families and how their arguments become the
// scripts'; lua.go: running a family as a Redis function (FCALL) or a
// script (EVALSHA); call.go: one call, from its checks to its reply;
// fast.go: the small scripts (and one plain HMGET) of the hottest
// methods in their common state; wait.go: a call that waits, until it
// is granted, withdrawn or ended; batch.go: calls in one pipeline;
// introspect.go: sessions, objects and their state for Stats and
// Inspect; url.go: clients from URLs; lua/*.lua: the scripts.
package redisengine
