package builtin

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"github.com/goproc/manager/internal/errs"
)

// numericKind is the family of a msgpack-encoded number.
type numericKind uint8

const (
	// numericSigned: an int8..int64 code, or a negative fixint.
	numericSigned numericKind = iota + 1
	// numericUnsigned: a uint8..uint64 code.
	numericUnsigned
	// numericFixed: a positive fixint (0..127). Compact encoders write
	// both signed and unsigned small numbers this way, so its sign family
	// is unknown.
	numericFixed
	// numericFloat: a float32 or float64 code.
	numericFloat
)

// numericValue is a decoded msgpack number together with the code it was
// encoded with, so that a sum can be written back in the same family and
// (if it fits) the same width.
type numericValue struct {
	kind numericKind
	code byte     // the msgpack code (the first byte)
	i    *big.Int // the value, for the integer kinds
	f    float64  // the value, for numericFloat
}

// numericDecode decodes raw, which must hold exactly one msgpack integer
// or float, and nothing after it.
func numericDecode(raw msgpack.RawMessage) (numericValue, error) {
	if len(raw) == 0 {
		return numericValue{}, fmt.Errorf("%w: not a number (empty value)", errs.BadArguments)
	}
	c := raw[0]
	body := raw[1:]
	want := 0 // bytes after the code
	switch c {
	case msgpcode.Uint8, msgpcode.Int8:
		want = 1
	case msgpcode.Uint16, msgpcode.Int16:
		want = 2
	case msgpcode.Uint32, msgpcode.Int32, msgpcode.Float:
		want = 4
	case msgpcode.Uint64, msgpcode.Int64, msgpcode.Double:
		want = 8
	default:
		if !msgpcode.IsFixedNum(c) {
			return numericValue{}, fmt.Errorf("%w: not a number (msgpack code 0x%02x); atomic add needs an integer or float", errs.BadArguments, c)
		}
	}
	if len(body) != want {
		return numericValue{}, fmt.Errorf("%w: malformed number (msgpack code 0x%02x with %d bytes after it)", errs.BadArguments, c, len(body))
	}
	v := numericValue{code: c}
	switch c {
	case msgpcode.Uint8:
		v.kind, v.i = numericUnsigned, new(big.Int).SetUint64(uint64(body[0]))
	case msgpcode.Uint16:
		v.kind, v.i = numericUnsigned, new(big.Int).SetUint64(uint64(binary.BigEndian.Uint16(body)))
	case msgpcode.Uint32:
		v.kind, v.i = numericUnsigned, new(big.Int).SetUint64(uint64(binary.BigEndian.Uint32(body)))
	case msgpcode.Uint64:
		v.kind, v.i = numericUnsigned, new(big.Int).SetUint64(binary.BigEndian.Uint64(body))
	case msgpcode.Int8:
		v.kind, v.i = numericSigned, big.NewInt(int64(int8(body[0])))
	case msgpcode.Int16:
		v.kind, v.i = numericSigned, big.NewInt(int64(int16(binary.BigEndian.Uint16(body))))
	case msgpcode.Int32:
		v.kind, v.i = numericSigned, big.NewInt(int64(int32(binary.BigEndian.Uint32(body))))
	case msgpcode.Int64:
		v.kind, v.i = numericSigned, big.NewInt(int64(binary.BigEndian.Uint64(body)))
	case msgpcode.Float:
		v.kind, v.f = numericFloat, float64(math.Float32frombits(binary.BigEndian.Uint32(body)))
	case msgpcode.Double:
		v.kind, v.f = numericFloat, math.Float64frombits(binary.BigEndian.Uint64(body))
	default: // a fixint
		if c <= msgpcode.PosFixedNumHigh {
			v.kind, v.i = numericFixed, big.NewInt(int64(c))
		} else {
			v.kind, v.i = numericSigned, big.NewInt(int64(int8(c)))
		}
	}
	return v, nil
}

// float returns v as a float64.
func (v numericValue) float() float64 {
	if v.kind == numericFloat {
		return v.f
	}
	f, _ := new(big.Float).SetInt(v.i).Float64()
	return f
}

// numericZeroLike returns the encoding of zero in the family and width of
// delta: what an absent entry counts as when a delta is added to it.
func numericZeroLike(delta msgpack.RawMessage) (msgpack.RawMessage, error) {
	d, err := numericDecode(delta)
	if err != nil {
		return nil, err
	}
	switch d.kind {
	case numericFloat:
		if d.code == msgpcode.Float {
			return msgpack.RawMessage{msgpcode.Float, 0, 0, 0, 0}, nil
		}
		return msgpack.RawMessage{msgpcode.Double, 0, 0, 0, 0, 0, 0, 0, 0}, nil
	case numericSigned, numericUnsigned:
		if !msgpcode.IsFixedNum(d.code) {
			return numericEncodeInt(d.code, new(big.Int)), nil
		}
	}
	return msgpack.RawMessage{0}, nil // a compact zero
}

// numericAddTo returns cur + delta, encoded in cur's family: a float stays
// a float of the same width; an integer stays signed or unsigned, in the
// same width if the sum fits and the next width that does otherwise; a
// compactly encoded integer (a fixint) gives a compactly encoded sum.
//
// Any numeric delta may be added to a float. A float delta may not be
// added to an integer, and an integer sum must fit the family's 64-bit
// range (no silent wrap-around); both give an error wrapping
// errs.BadArguments, as does a cur or delta that is not a number.
func numericAddTo(cur, delta msgpack.RawMessage) (msgpack.RawMessage, error) {
	c, err := numericDecode(cur)
	if err != nil {
		return nil, errs.Errorf("add to stored value: %w", err)
	}
	d, err := numericDecode(delta)
	if err != nil {
		return nil, errs.Errorf("add delta: %w", err)
	}
	if c.kind == numericFloat {
		sum := c.f + d.float()
		if c.code == msgpcode.Float {
			out := msgpack.RawMessage{msgpcode.Float, 0, 0, 0, 0}
			binary.BigEndian.PutUint32(out[1:], math.Float32bits(float32(sum)))
			return out, nil
		}
		out := msgpack.RawMessage{msgpcode.Double, 0, 0, 0, 0, 0, 0, 0, 0}
		binary.BigEndian.PutUint64(out[1:], math.Float64bits(sum))
		return out, nil
	}
	if d.kind == numericFloat {
		return nil, fmt.Errorf("%w: cannot add a float delta to an integer value (use an integer delta, or store a float)", errs.BadArguments)
	}
	sum := new(big.Int).Add(c.i, d.i)
	switch c.kind {
	case numericSigned:
		if !sum.IsInt64() {
			return nil, fmt.Errorf("%w: integer overflow: %v + %v does not fit in int64", errs.BadArguments, c.i, d.i)
		}
	case numericUnsigned:
		if !sum.IsUint64() {
			return nil, fmt.Errorf("%w: integer overflow: %v + %v does not fit in uint64", errs.BadArguments, c.i, d.i)
		}
	default: // numericFixed: either family will do
		if !sum.IsInt64() && !sum.IsUint64() {
			return nil, fmt.Errorf("%w: integer overflow: %v + %v does not fit in 64 bits", errs.BadArguments, c.i, d.i)
		}
	}
	return numericEncodeInt(c.code, sum), nil
}

// numericSignedCodes and numericUnsignedCodes list the fixed-width codes
// of each family from narrowest to widest, with the range each holds.
var (
	numericSignedCodes = []struct {
		code     byte
		min, max int64
	}{
		{msgpcode.Int8, math.MinInt8, math.MaxInt8},
		{msgpcode.Int16, math.MinInt16, math.MaxInt16},
		{msgpcode.Int32, math.MinInt32, math.MaxInt32},
		{msgpcode.Int64, math.MinInt64, math.MaxInt64},
	}
	numericUnsignedCodes = []struct {
		code byte
		max  uint64
	}{
		{msgpcode.Uint8, math.MaxUint8},
		{msgpcode.Uint16, math.MaxUint16},
		{msgpcode.Uint32, math.MaxUint32},
		{msgpcode.Uint64, math.MaxUint64},
	}
)

// numericEncodeInt encodes n, which the caller has checked fits, in the
// family of code and the narrowest width at least as wide as code's that
// holds n. For a fixint code it encodes n compactly, the way msgpack's
// EncodeInt does.
func numericEncodeInt(code byte, n *big.Int) msgpack.RawMessage {
	if msgpcode.IsFixedNum(code) {
		return numericEncodeCompact(n)
	}
	if code >= msgpcode.Int8 && code <= msgpcode.Int64 {
		v := n.Int64()
		for _, w := range numericSignedCodes {
			if w.code >= code && v >= w.min && v <= w.max {
				return numericPut(w.code, uint64(v))
			}
		}
	}
	v := n.Uint64()
	for _, w := range numericUnsignedCodes {
		if w.code >= code && v <= w.max {
			return numericPut(w.code, v)
		}
	}
	panic("builtin: numericEncodeInt called with a number out of range")
}

// numericEncodeCompact encodes n, which fits int64 or uint64, in the
// fewest bytes: a fixint, or the narrowest signed (negative n) or
// unsigned (non-negative n) code.
func numericEncodeCompact(n *big.Int) msgpack.RawMessage {
	if n.Sign() < 0 {
		v := n.Int64()
		if v >= -32 {
			return msgpack.RawMessage{byte(int8(v))}
		}
		for _, w := range numericSignedCodes {
			if v >= w.min {
				return numericPut(w.code, uint64(v))
			}
		}
	}
	v := n.Uint64()
	if v <= uint64(msgpcode.PosFixedNumHigh) {
		return msgpack.RawMessage{byte(v)}
	}
	for _, w := range numericUnsignedCodes {
		if v <= w.max {
			return numericPut(w.code, v)
		}
	}
	panic("unreachable")
}

// numericPut writes code followed by the low bytes of v, big-endian, as
// many as code's width says.
func numericPut(code byte, v uint64) msgpack.RawMessage {
	switch code {
	case msgpcode.Int8, msgpcode.Uint8:
		return msgpack.RawMessage{code, byte(v)}
	case msgpcode.Int16, msgpcode.Uint16:
		return binary.BigEndian.AppendUint16(msgpack.RawMessage{code}, uint16(v))
	case msgpcode.Int32, msgpcode.Uint32:
		return binary.BigEndian.AppendUint32(msgpack.RawMessage{code}, uint32(v))
	default:
		return binary.BigEndian.AppendUint64(msgpack.RawMessage{code}, v)
	}
}
