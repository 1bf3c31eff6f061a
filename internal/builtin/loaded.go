package builtin

import (
	"errors"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// Loaded is the one layout of a "value, and whether there was one"
// result: Dict.Load and its kin, Namespace.Get. Each method that returns
// it says what OK means (found, loaded, popped). It travels as a
// two-element array [value, ok]; Value is the zero V (nil when encoded)
// when OK is false. The server fills a LoadResult (the value still
// encoded); a client decodes the same bytes into a Loaded[V] of its
// own value type.
type Loaded[V any] struct {
	//lint:ignore U1000 msgpack reads this field's tag (as_array), never its value
	_msgpack struct{} `msgpack:",as_array"`
	// Value is the value, or the zero V.
	Value V
	// OK reports whether Value is meaningful.
	OK bool
}

// LoadResult is a Loaded whose value is still encoded: what the server's
// Dict and Namespace return. It encodes itself (EncodeMsgpack), byte for
// byte as msgpack encodes the array-encoded struct, so that a reply
// needs no reflection.
type LoadResult Loaded[msgpack.RawMessage]

// EncodeMsgpack implements msgpack.CustomEncoder: a nil Value as nil,
// any other as its bytes, as msgpack's struct encoding would.
func (r LoadResult) EncodeMsgpack(enc *msgpack.Encoder) error {
	if err := enc.EncodeArrayLen(2); err != nil {
		return err
	}
	var err error
	if r.Value == nil {
		err = enc.EncodeNil()
	} else {
		err = r.Value.EncodeMsgpack(enc)
	}
	if err != nil {
		return err
	}
	return enc.EncodeBool(r.OK)
}

// loadedFields is Loaded without its DecodeMsgpack method, for msgpack's
// own decoding.
type loadedFields[V any] Loaded[V]

// DecodeMsgpack implements msgpack.CustomDecoder. msgpack/v5 decodes an
// array-encoded struct by first trying it as a map, which allocates an
// error value every time: one allocation per Load. This reads the array
// directly and leaves any other encoding to msgpack's own struct
// decoding, so it accepts exactly what that accepts.
func (r *Loaded[V]) DecodeMsgpack(dec *msgpack.Decoder) error {
	n, ok, err := ArrayStructLen(dec, 2)
	if !ok || err != nil {
		if err == nil {
			err = dec.Decode((*loadedFields[V])(r))
		}
		return err
	}
	if n <= 0 {
		*r = Loaded[V]{}
		return nil
	}
	if err := dec.Decode(&r.Value); err != nil {
		return err
	}
	r.OK, err = dec.DecodeBool()
	return err
}

// DecodesAsStruct marks Loaded's DecodeMsgpack as accepting exactly what
// msgpack's struct decoding accepts: a client derives its shape from its
// fields.
func (*Loaded[V]) DecodesAsStruct() {}

// errArrayStruct is msgpack's own error for an array of the wrong length.
var errArrayStruct = errors.New("msgpack: number of fields in array-encoded struct has changed")

// ArrayStructLen reads the header of an array-encoded struct of fields
// fields, for a DecodeMsgpack that reads the array directly: ok is false
// (and nothing is read) when the next value is not an array, and n is 0
// for nil or an empty array, which msgpack decodes as the zero struct. A
// length other than fields is the error msgpack gives.
func ArrayStructLen(dec *msgpack.Decoder, fields int) (n int, ok bool, err error) {
	c, err := dec.PeekCode()
	if err != nil {
		return 0, false, err
	}
	if !msgpcode.IsFixedArray(c) && c != msgpcode.Array16 && c != msgpcode.Array32 {
		return 0, false, nil
	}
	if n, err = dec.DecodeArrayLen(); err != nil {
		return 0, true, err
	}
	if n > 0 && n != fields {
		return 0, true, errArrayStruct
	}
	return n, true, nil
}
