package wire

import (
	"bytes"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// Describe names what the encoded value raw holds ("an integer", "a
// map"…), for error texts that say what was sent instead of quoting
// msgpack's codes.
func Describe(raw []byte) string {
	if len(raw) == 0 {
		return "a malformed value"
	}
	c := raw[0]
	switch {
	case c == msgpcode.Nil:
		return "nil"
	case c == msgpcode.True || c == msgpcode.False:
		return "a bool"
	case msgpcode.IsFixedNum(c), c >= msgpcode.Uint8 && c <= msgpcode.Int64:
		return "an integer"
	case c == msgpcode.Float || c == msgpcode.Double:
		return "a float"
	case msgpcode.IsString(c):
		return "a string"
	case msgpcode.IsBin(c):
		return "binary data"
	case msgpcode.IsFixedArray(c), c == msgpcode.Array16, c == msgpcode.Array32:
		return "a list"
	case msgpcode.IsFixedMap(c), c == msgpcode.Map16, c == msgpcode.Map32:
		return "a map"
	case msgpcode.IsExt(c):
		return "a proxy or another extension value"
	}
	return "a malformed value"
}

// ArrayElem returns the encoding of element i of the encoded array raw,
// or nil when raw is not an array that long.
func ArrayElem(raw []byte, i int) []byte {
	dec := msgpack.NewDecoder(bytes.NewReader(raw))
	n, err := dec.DecodeArrayLen()
	if err != nil || i >= n {
		return nil
	}
	for range i {
		if dec.Skip() != nil {
			return nil
		}
	}
	elem, err := dec.DecodeRaw()
	if err != nil {
		return nil
	}
	return elem
}
