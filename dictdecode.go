package manager

import (
	"errors"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// The Dict's results are array-encoded structs. msgpack/v5 decodes one by
// first trying it as a map, which allocates an error value every time:
// one allocation per Load. The decoders below read the array directly and
// leave any other encoding to msgpack's own struct decoding, so they
// accept exactly what it accepts.

// loadResultFields is loadResult without its DecodeMsgpack method, for
// msgpack's own decoding.
type loadResultFields[V any] loadResult[V]

// DecodeMsgpack implements msgpack.CustomDecoder.
func (r *loadResult[V]) DecodeMsgpack(dec *msgpack.Decoder) error {
	n, ok, err := arrayStructLen(dec, 2)
	if !ok || err != nil {
		if err == nil {
			err = dec.Decode((*loadResultFields[V])(r))
		}
		return err
	}
	if n <= 0 {
		*r = loadResult[V]{}
		return nil
	}
	if err := dec.Decode(&r.Value); err != nil {
		return err
	}
	r.OK, err = dec.DecodeBool()
	return err
}

// versionedValueFields is versionedValue without its DecodeMsgpack
// method, for msgpack's own decoding.
type versionedValueFields[V any] versionedValue[V]

// DecodeMsgpack implements msgpack.CustomDecoder.
func (r *versionedValue[V]) DecodeMsgpack(dec *msgpack.Decoder) error {
	n, ok, err := arrayStructLen(dec, 3)
	if !ok || err != nil {
		if err == nil {
			err = dec.Decode((*versionedValueFields[V])(r))
		}
		return err
	}
	if n <= 0 {
		*r = versionedValue[V]{}
		return nil
	}
	if err := dec.Decode(&r.Value); err != nil {
		return err
	}
	if r.Version, err = dec.DecodeUint64(); err != nil {
		return err
	}
	r.OK, err = dec.DecodeBool()
	return err
}

// pairList is []Pair[K, V] decoded without reflection per pair: each
// key and value straight into its field (msgpack's own decoding handles
// the basic types without reflection, and anything else as before).
type pairList[K comparable, V any] []Pair[K, V]

// DecodeMsgpack implements msgpack.CustomDecoder.
func (l *pairList[K, V]) DecodeMsgpack(dec *msgpack.Decoder) error {
	n, err := dec.DecodeArrayLen()
	if err != nil || n < 0 {
		*l = nil
		return err
	}
	// The length is the peer's word: grow as pairs arrive, from a
	// bounded start, as msgpack does for slices.
	out := make(pairList[K, V], 0, min(n, 4096))
	for range n {
		out = append(out, Pair[K, V]{})
		p := &out[len(out)-1] // decoded in place: a local would escape, an allocation per pair
		m, ok, err := arrayStructLen(dec, 2)
		switch {
		case err != nil:
			return err
		case !ok:
			err = dec.Decode(p) // not an array: msgpack's struct decoding
		case m > 0:
			if err = dec.Decode(&p.Key); err == nil {
				err = dec.Decode(&p.Value)
			}
		}
		if err != nil {
			return err
		}
	}
	*l = out
	return nil
}

// errArrayStruct is msgpack's own error for an array of the wrong length.
var errArrayStruct = errors.New("msgpack: number of fields in array-encoded struct has changed")

// arrayStructLen reads the header of an array-encoded struct of fields
// fields: ok is false (and nothing is read) when the next value is not an
// array, and n is 0 for nil or an empty array, which msgpack decodes as
// the zero struct. A length other than fields is the error msgpack gives.
func arrayStructLen(dec *msgpack.Decoder, fields int) (n int, ok bool, err error) {
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

// decodesAsStruct makes loadResult's shape that of its fields.
func (*loadResult[V]) decodesAsStruct() {}

// decodesAsStruct makes versionedValue's shape that of its fields.
func (*versionedValue[V]) decodesAsStruct() {}

// decodesAsStruct makes pairList's shape that of []Pair[K, V].
func (*pairList[K, V]) decodesAsStruct() {}
