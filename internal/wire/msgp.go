package wire

import (
	"encoding/binary"
	"errors"
	"math"
)

// The few msgpack forms the envelopes use, appended and parsed by hand:
// the envelope is on every call's path, and parsing it by hand lets a
// request's arguments stay in the frame buffer without a copy.

var errShort = errors.New("truncated msgpack value")

func appendArrayHeader(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x90|byte(n))
	case n <= math.MaxUint16:
		return append(b, 0xdc, byte(n>>8), byte(n))
	default:
		return binary.BigEndian.AppendUint32(append(b, 0xdd), uint32(n))
	}
}

func appendUint(b []byte, v uint64) []byte {
	switch {
	case v < 128:
		return append(b, byte(v))
	case v <= math.MaxUint8:
		return append(b, 0xcc, byte(v))
	case v <= math.MaxUint16:
		return append(b, 0xcd, byte(v>>8), byte(v))
	case v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(v))
	default:
		return binary.BigEndian.AppendUint64(append(b, 0xcf), v)
	}
}

func appendString(b []byte, s string) []byte {
	n := len(s)
	switch {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n <= math.MaxUint8:
		b = append(b, 0xd9, byte(n))
	case n <= math.MaxUint16:
		b = append(b, 0xda, byte(n>>8), byte(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xdb), uint32(n))
	}
	return append(b, s...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 0xc3)
	}
	return append(b, 0xc2)
}

// parser reads msgpack forms from a byte slice; the first error sticks.
type parser struct {
	b   []byte
	err error
}

func (p *parser) fail(err error) {
	if p.err == nil {
		p.err = err
	}
	p.b = nil
}

func (p *parser) byte1() byte {
	if len(p.b) < 1 {
		p.fail(errShort)
		return 0
	}
	c := p.b[0]
	p.b = p.b[1:]
	return c
}

func (p *parser) take(n int) []byte {
	if n < 0 || len(p.b) < n {
		p.fail(errShort)
		return nil
	}
	v := p.b[:n:n]
	p.b = p.b[n:]
	return v
}

func (p *parser) uintN(n int) uint64 {
	v := p.take(n)
	if v == nil {
		return 0
	}
	switch n {
	case 1:
		return uint64(v[0])
	case 2:
		return uint64(binary.BigEndian.Uint16(v))
	case 4:
		return uint64(binary.BigEndian.Uint32(v))
	default:
		return binary.BigEndian.Uint64(v)
	}
}

func (p *parser) arrayHeader() int {
	c := p.byte1()
	switch {
	case p.err != nil:
		return 0
	case c&0xf0 == 0x90:
		return int(c & 0x0f)
	case c == 0xdc:
		return int(p.uintN(2))
	case c == 0xdd:
		return int(p.uintN(4))
	}
	p.fail(errors.New("expected a msgpack array"))
	return 0
}

func (p *parser) uint() uint64 {
	c := p.byte1()
	switch {
	case p.err != nil:
		return 0
	case c < 0x80:
		return uint64(c)
	case c == 0xcc:
		return p.uintN(1)
	case c == 0xcd:
		return p.uintN(2)
	case c == 0xce:
		return p.uintN(4)
	case c == 0xcf:
		return p.uintN(8)
	}
	p.fail(errors.New("expected a msgpack unsigned integer"))
	return 0
}

// str returns a string's bytes without copying.
func (p *parser) str() []byte {
	c := p.byte1()
	switch {
	case p.err != nil:
		return nil
	case c&0xe0 == 0xa0:
		return p.take(int(c & 0x1f))
	case c == 0xd9:
		return p.take(int(p.uintN(1)))
	case c == 0xda:
		return p.take(int(p.uintN(2)))
	case c == 0xdb:
		return p.take(int(p.uintN(4)))
	}
	p.fail(errors.New("expected a msgpack string"))
	return nil
}

// bin returns binary bytes without copying.
func (p *parser) bin() []byte {
	c := p.byte1()
	switch {
	case p.err != nil:
		return nil
	case c == 0xc4:
		return p.take(int(p.uintN(1)))
	case c == 0xc5:
		return p.take(int(p.uintN(2)))
	case c == 0xc6:
		return p.take(int(p.uintN(4)))
	}
	p.fail(errors.New("expected msgpack binary"))
	return nil
}

func (p *parser) bool() bool {
	switch p.byte1() {
	case 0xc3:
		return true
	case 0xc2:
		return false
	}
	p.fail(errors.New("expected a msgpack bool"))
	return false
}
