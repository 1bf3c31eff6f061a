// Package wire is the manager's protocol: framing, the message envelopes,
// a validating scanner for msgpack payloads, and the connection handshake.
//
// The protocol's specification is PROTOCOL.md at the repository root (the
// handshake byte by byte, envelopes, error codes, proxies, control
// operations and every built-in type's methods); a change here is a
// change there, and a change of the wire format bumps [Version].
//
// # Frames
//
// Every message is one frame: a 4-byte big-endian body length, then the
// body. A length above the receiver's maximum frame size is refused before
// anything is allocated, and the connection is closed (framing errors are
// sticky: after one, the byte stream cannot be trusted).
//
// # Bodies
//
// A body is a msgpack array whose first element is the message tag:
//
//	request  [1, id, object, handle, method, args]
//	request  [1, id, object, handle, method, timeout, args]  with a deadline
//	response [2, id, 0, result]                      success
//	response [2, id, 1, [remote, code, type, text]]  failure
//	cancel   [3, id]
//
// id is chosen by the client and echoed in the response, so a late reply
// can never be taken by another call. object 0 is the server itself (its
// control methods: new, open, incref, …). handle identifies the proxy
// handle the call came through. args is a msgpack array of the method's
// arguments, result a single msgpack value; both are embedded as they are
// (never wrapped in bin), so stored values travel without re-encoding.
// A failure's code names a library sentinel, or, prefixed "user:", an
// error the program registered with RegisterError (see internal/errs), so
// that errors.Is works across the wire; "" names none. A code the reader
// does not know stands for no error it can match. remote is true when the
// method itself returned or panicked with the error.
//
// timeout (nanoseconds, > 0) is how long the caller waits for the reply,
// counted from when the server reads the request: the method's context
// has that deadline, so a blocking method gives up on the server when its
// caller does, and never commits after it. The field is optional: a
// request without it is the 6-element form.
//
// A cancel asks the server to withdraw a blocked call; the call still
// gets exactly one response (its result, if it finished first, or a
// failure with code "canceled").
//
// # Payload safety
//
// msgpack headers can claim lengths far beyond the bytes that follow
// (vmihailenco/msgpack#401: a 5-byte array header decoded into []any
// allocates 134 MB). [Scan] walks a payload before anything decodes it and
// refuses any length that exceeds the bytes left, and any nesting deeper
// than [MaxDepth]. It also reports the proxies a payload carries, so the
// server can count references to them.
//
// # Handshake
//
// See handshake.go and PROTOCOL.md section 3: an HMAC-SHA256 mutual
// challenge, after which both sides know the other holds the key, and an
// exchange of protocol versions that refuses a peer of another version.
package wire
