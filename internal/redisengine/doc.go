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
//     StoreIfVersion, Add is exact msgpack arithmetic inside Lua.
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
// # Keys
//
// Namespace ns: "{ns}:id" (the id counter) and "{ns}:names" (name to id).
// Object id: "{ns:id}:m" (a hash: type, name, version counter and the
// type's scalars), "{ns:id}:r" (references per session), "{ns:id}:l:<sid>"
// (the session's lease in this slot), "{ns:id}:g" (grants to waiters),
// "{ns:id}:s:<call>" (a waiter's wake-up list), and the type's own keys
// (see lua/*.lua).
package redisengine
