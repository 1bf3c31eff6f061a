// Package builtin implements, inside the manager process, the built-in
// shared types: the containers (Dict, List, Namespace, Value, Array),
// the queues and the synchronisation primitives. The typed proxies of the
// root package call their exported methods by name through the server;
// every exported method of an exported type here is callable over the
// wire, so helpers stay unexported.
//
// # Values are opaque bytes
//
// User values are kept as [msgpack.RawMessage], the exact bytes the
// client encoded, and are never decoded or re-encoded, with two
// exceptions: the atomic numeric adds (Dict.Add, Namespace.Add, Value.Add,
// Array.Add) decode a number, add, and encode the sum, and List.Sort
// decodes elements to compare them. Every other comparison — map keys,
// membership, Count, Index, Remove, CompareAndSwap — is byte equality of
// the encodings, so 1 encoded as an int64 and 1 encoded as an int8 are
// different values, and so are "a" as a string and "a" as bytes. The typed
// proxies encode one Go type per container, which keeps this invisible.
//
// Byte slices passed in are retained (not copied) and never modified;
// byte slices returned may alias stored values and must not be modified.
//
// # Concurrency
//
// Every type is safe for concurrent use: the server calls methods from
// many goroutines at once, and each object guards its state with its own
// mutex. No container method blocks.
//
// # Versions
//
// Dict and Namespace entries, and whole Values, Lists and Arrays, carry a
// version number that changes on every write. LoadVersion returns a value
// with its version and StoreIfVersion stores only if the version is still
// the same, which lets a client build an atomic read-modify-write
// (Modify) that retries on conflict and never loses an update.
package builtin
