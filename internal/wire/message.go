package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/goproc/manager/internal/errs"
)

// Tag says which message a body is: its first element. (A "kind", in
// this module, is the kind of a value, as in reflect.Kind and ShapeKind.)
type Tag uint8

// The message tags.
const (
	TagRequest  Tag = 1
	TagResponse Tag = 2
	TagCancel   Tag = 3
)

const (
	statusOK    = 0
	statusError = 1
)

// Request is a decoded request. Method and Args alias the frame they were
// parsed from.
type Request struct {
	ID     uint64
	Object uint64
	Handle uint64
	Method []byte
	// Timeout is how long the caller will wait for the reply, measured
	// from when the server reads the request; 0 means no deadline. A
	// request with a deadline is a 7-element array with the timeout (in
	// nanoseconds) before the arguments; one without keeps the 6-element
	// layout, so frames of older peers decode unchanged.
	Timeout time.Duration
	// Args is the msgpack array of arguments, exactly as sent.
	Args []byte
}

// Failure is the error half of a response.
type Failure struct {
	// Remote is true when the method itself returned the error or
	// panicked; false for errors of the call machinery (no such object…).
	Remote bool
	// Code names a library sentinel (see internal/errs), or is empty.
	Code string
	// Type is the Go type of the original error, for messages.
	Type string
	// Message is the original error's text.
	Message string
}

// Response is a decoded response. Result aliases the frame.
type Response struct {
	ID      uint64
	Result  []byte   // set on success: one msgpack value
	Failure *Failure // set on failure
}

// Message is any decoded message: exactly one of the pointers is set.
type Message struct {
	Tag      Tag
	Request  Request
	Response Response
	CancelID uint64
}

// errMalformed wraps every envelope decoding error.
var errMalformed = errs.Protocol

// BeginRequest writes a request's envelope up to its arguments into w.
// The caller then appends the arguments as one msgpack array.
func BeginRequest(w *Buffer, id, object, handle uint64, method string) {
	w.Begin()
	w.b = appendRequestHead(w.b, 6, id, object, handle, method)
}

// appendRequestHead appends the head of a request of fields fields: the
// array header, the tag, id, object, handle and method.
func appendRequestHead(b []byte, fields int, id, object, handle uint64, method string) []byte {
	b = appendArrayHeader(b, fields)
	b = append(b, byte(TagRequest))
	b = appendUint(b, id)
	b = appendUint(b, object)
	b = appendUint(b, handle)
	return appendString(b, method)
}

// BeginRequestPatchable is BeginRequest with a request id of fixed
// width, which SetRequestID can change once the frame is written: a
// client pipeline encodes its requests before it knows the connection
// (and so the ids) they will go on.
func BeginRequestPatchable(w *Buffer, object, handle uint64, method string) {
	w.Begin()
	b := appendArrayHeader(w.b, 6)
	b = append(b, byte(TagRequest), 0xcf, 0, 0, 0, 0, 0, 0, 0, 0)
	b = appendUint(b, object)
	b = appendUint(b, handle)
	w.b = appendString(b, method)
}

// SetRequestID sets the id of a request whose body BeginRequestPatchable
// began.
func SetRequestID(body []byte, id uint64) {
	binary.BigEndian.PutUint64(body[3:11], id)
}

// BeginRequestTimeout is BeginRequest for a call that waits at most
// timeout (> 0) for its reply: the server gives the method a context
// with that deadline, so that a blocking method gives up by itself, on
// the server, when its caller does.
func BeginRequestTimeout(w *Buffer, id, object, handle uint64, method string, timeout time.Duration) {
	if timeout <= 0 {
		timeout = 1 // already expired: the smallest deadline there is
	}
	w.Begin()
	b := appendRequestHead(w.b, 7, id, object, handle, method)
	w.b = appendUint(b, uint64(timeout))
}

// BeginResponse writes a success response's envelope into w; the caller
// then appends the result as one msgpack value.
func BeginResponse(w *Buffer, id uint64) {
	w.Begin()
	b := appendArrayHeader(w.b, 4)
	b = append(b, byte(TagResponse))
	b = appendUint(b, id)
	w.b = append(b, statusOK)
}

// AppendFailure writes a whole failure response into w.
func AppendFailure(w *Buffer, id uint64, f *Failure) {
	w.Begin()
	b := appendArrayHeader(w.b, 4)
	b = append(b, byte(TagResponse))
	b = appendUint(b, id)
	b = append(b, statusError)
	b = appendArrayHeader(b, 4)
	b = appendBool(b, f.Remote)
	b = appendString(b, f.Code)
	b = appendString(b, f.Type)
	w.b = appendString(b, f.Message)
}

// AppendCancel writes a whole cancel message into w.
func AppendCancel(w *Buffer, id uint64) {
	w.Begin()
	b := appendArrayHeader(w.b, 2)
	b = append(b, byte(TagCancel))
	w.b = appendUint(b, id)
}

// Decode parses a frame body into m. Embedded payloads (a request's
// arguments, a response's result) are checked with [Scan] and reported to
// onProxy (which may be nil). A malformed body gives an error wrapping
// errs.Protocol; it is not sticky: the frame boundary is intact, so the
// connection can go on. With an error, m.Tag is TagRequest only if the
// request's id was read, so that the error can be answered.
func Decode(body []byte, m *Message, onProxy func(ProxyRef)) error {
	p := parser{b: body}
	n := p.arrayHeader()
	tag := Tag(p.uint())
	if p.err != nil {
		m.Tag = 0 // not answerable: a tag left from an earlier frame must not stay
		return fmt.Errorf("%w: %v", errMalformed, p.err)
	}
	m.Tag = tag
	switch {
	case tag == TagRequest && (n == 6 || n == 7):
		r := &m.Request
		r.ID = p.uint()
		if p.err != nil {
			m.Tag = 0 // no id to answer
		}
		r.Object = p.uint()
		r.Handle = p.uint()
		r.Method = p.str()
		r.Timeout = 0
		if n == 7 {
			// A timeout too large for a Duration is as good as none.
			if t := p.uint(); t <= math.MaxInt64 {
				r.Timeout = time.Duration(t)
			}
		}
		r.Args = p.b
		if p.err != nil {
			return fmt.Errorf("%w: request: %v", errMalformed, p.err)
		}
		if len(r.Args) == 0 || r.Args[0]&0xf0 != 0x90 && r.Args[0] != 0xdc && r.Args[0] != 0xdd {
			return fmt.Errorf("%w: request %d: arguments are not a msgpack array", errMalformed, r.ID)
		}
		if err := Scan(r.Args, onProxy); err != nil {
			return fmt.Errorf("%w: request %d arguments: %v", errMalformed, r.ID, err)
		}
	case tag == TagResponse && n == 4:
		r := &m.Response
		r.ID = p.uint()
		status := p.uint()
		r.Result, r.Failure = nil, nil
		switch {
		case p.err != nil:
		case status == statusOK:
			r.Result = p.b
			if err := Scan(r.Result, onProxy); err != nil {
				return fmt.Errorf("%w: response %d result: %v", errMalformed, r.ID, err)
			}
		case status == statusError:
			if p.arrayHeader() != 4 && p.err == nil {
				p.fail(errors.New("failure is not a 4-element array"))
			}
			r.Failure = &Failure{Remote: p.bool(), Code: string(p.str()), Type: string(p.str()), Message: string(p.str())}
			if p.err == nil && len(p.b) != 0 {
				p.fail(errors.New("trailing bytes"))
			}
		default:
			p.fail(fmt.Errorf("unknown status %d", status))
		}
		if p.err != nil {
			return fmt.Errorf("%w: response: %v", errMalformed, p.err)
		}
	case tag == TagCancel && n == 2:
		m.CancelID = p.uint()
		if p.err == nil && len(p.b) != 0 {
			p.fail(errors.New("trailing bytes"))
		}
		if p.err != nil {
			return fmt.Errorf("%w: cancel: %v", errMalformed, p.err)
		}
	default:
		m.Tag = 0 // not answerable, even if the tag says request
		return fmt.Errorf("%w: unknown message tag %d with %d fields", errMalformed, tag, n)
	}
	return nil
}
