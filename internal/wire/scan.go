package wire

import (
	"errors"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// MaxDepth is the deepest nesting of arrays and maps a payload may have.
const MaxDepth = 64

// ProxyExtID is the msgpack extension type that carries a proxy.
const ProxyExtID int8 = 7

// ProxyRef is what an encoded proxy names: an object on a server.
type ProxyRef struct {
	Server [16]byte // the id of the server that owns the object
	ID     uint64   // the object's id on that server
	TypeID string
}

// AppendProxy appends the extension payload of a proxy (without the ext
// header) to b.
func AppendProxy(b []byte, r ProxyRef) []byte {
	b = appendArrayHeader(b, 3)
	b = append(b, 0xc4, 16)
	b = append(b, r.Server[:]...)
	b = appendUint(b, r.ID)
	return appendString(b, r.TypeID)
}

// EncodeMsgpack writes r as the proxy extension, byte for byte what the
// root package's *Proxy encodes to, so that a server (which has no
// *Proxy) can return proxies that clients decode into one.
func (r ProxyRef) EncodeMsgpack(enc *msgpack.Encoder) error {
	payload := AppendProxy(nil, r)
	if err := enc.EncodeExtHeader(ProxyExtID, len(payload)); err != nil {
		return err
	}
	_, err := enc.Writer().Write(payload)
	return err
}

// ParseProxy parses an extension payload written by AppendProxy.
func ParseProxy(payload []byte) (ProxyRef, error) {
	var r ProxyRef
	p := parser{b: payload}
	if p.arrayHeader() != 3 && p.err == nil {
		p.fail(errors.New("proxy is not a 3-element array"))
	}
	srv := p.bin()
	r.ID = p.uint()
	r.TypeID = string(p.str())
	if p.err == nil && len(srv) != len(r.Server) {
		p.fail(fmt.Errorf("proxy server id of %d bytes", len(srv)))
	}
	if p.err == nil && len(p.b) != 0 {
		p.fail(errors.New("trailing bytes in proxy"))
	}
	if p.err != nil {
		return ProxyRef{}, fmt.Errorf("malformed proxy: %w", p.err)
	}
	copy(r.Server[:], srv)
	return r, nil
}

// Scan checks that b holds exactly one well-formed msgpack value whose
// every length fits in the bytes that follow it, nested at most MaxDepth
// deep, and calls onProxy (if not nil) for every proxy extension in it.
//
// Only after Scan accepts a payload may a decoder see it: a container
// header can then never claim more elements than there are bytes, which
// bounds what any decoder allocates by the frame size.
func Scan(b []byte, onProxy func(ProxyRef)) error {
	s := scanner{b: b, onProxy: onProxy}
	if err := s.value(0); err != nil {
		return err
	}
	if len(s.b) != 0 {
		return fmt.Errorf("%d trailing bytes after the value", len(s.b))
	}
	return nil
}

type scanner struct {
	b       []byte
	onProxy func(ProxyRef)
	values  int64  // values seen, counted for Cost
	maps    int64  // maps seen, counted for Cost
	top     uint64 // elements of the outermost container
}

func (s *scanner) need(n uint64) error {
	if n > uint64(len(s.b)) {
		return fmt.Errorf("length %d exceeds the %d bytes left", n, len(s.b))
	}
	return nil
}

func (s *scanner) skip(n uint64) error {
	if err := s.need(n); err != nil {
		return err
	}
	s.b = s.b[n:]
	return nil
}

func (s *scanner) value(depth int) error {
	h, err := parseHead(s.b)
	if err != nil {
		return err
	}
	s.b = s.b[h.hdr:]
	s.values++
	switch h.kind {
	case headMap:
		s.maps++
		return s.container(2*h.n, depth)
	case headArray:
		return s.container(h.n, depth)
	case headExt:
		return s.fixext(h.n)
	}
	return s.skip(h.n)
}

// container checks n nested values. Every value takes at least one byte,
// so n is refused at once when it exceeds the bytes left.
func (s *scanner) container(n uint64, depth int) error {
	if depth >= MaxDepth {
		return fmt.Errorf("nested deeper than %d", MaxDepth)
	}
	if err := s.need(n); err != nil {
		return err
	}
	if depth == 0 {
		s.top = n
	}
	for i := uint64(0); i < n; i++ {
		if err := s.value(depth + 1); err != nil {
			return err
		}
	}
	return nil
}

func (s *scanner) fixext(n uint64) error {
	if err := s.need(n + 1); err != nil {
		return err
	}
	typ := int8(s.b[0])
	payload := s.b[1 : 1+n]
	s.b = s.b[1+n:]
	if typ != ProxyExtID {
		return nil
	}
	r, err := ParseProxy(payload)
	if err != nil {
		return err
	}
	if s.onProxy != nil {
		s.onProxy(r)
	}
	return nil
}

// What decoding a value costs in memory, measured with msgpack/v5 on
// amd64 (Go 1.25), allocations counted over a million elements, slice
// growth included (TestCostBoundsDecoding checks the model against it):
//
//	element        into any   into []msgpack.RawMessage
//	nil, 1-byte int  16 B        48 B
//	empty array      40 B        56 B
//	empty map        64 B        56 B
//	map of 1 entry  352 B        56 B
//	1-byte string    32 B        56 B
//	float64          24 B        72 B
//
// A value of any kind costs at most ValueCost beyond its bytes, a map up
// to MapCost more (the Go map's first group of slots), and bytes copied
// out cost up to an eighth more (allocation size classes), so that the
// cost of a payload bounds what a decoder allocates for it whatever type
// it is decoded into.
const (
	// ValueCost is the cost of one value beyond its encoded bytes.
	ValueCost = 80
	// MapCost is the further cost of one map.
	MapCost = 320
)

// MaxCostPerByte bounds Cost(b)/len(b) for any b: every value takes at
// least one byte, and an empty map is one byte. A payload of n bytes
// costs at most n*MaxCostPerByte, so a caller can skip Cost for small ones.
const MaxCostPerByte = 2 + ValueCost + MapCost

// bytesCost is the cost of n bytes copied out of a payload.
func bytesCost(n int) int64 { return int64(n + n/8) }

// Cost returns what decoding the msgpack value at the start of b may
// allocate, in bytes: its size (plus an eighth), ValueCost for every
// value in it and MapCost for every map (see the table above); and the
// size of that value in b. b must have been accepted by Scan (or be the start of a payload
// that was): on malformed bytes Cost returns an error.
func Cost(b []byte) (cost int64, size int, err error) {
	s := scanner{b: b}
	if err := s.value(0); err != nil {
		return 0, 0, err
	}
	size = len(b) - len(s.b)
	return bytesCost(size) + s.values*ValueCost + s.maps*MapCost, size, nil
}

// ShallowCost is Cost for a value decoded into a slice or map of
// msgpack.RawMessage: the elements stay encoded, so only the outermost
// container's elements cost ValueCost each.
func ShallowCost(b []byte) (cost int64, size int, err error) {
	s := scanner{b: b}
	if err := s.value(0); err != nil {
		return 0, 0, err
	}
	size = len(b) - len(s.b)
	return bytesCost(size) + int64(1+s.top)*ValueCost, size, nil
}

// ArgDecoding says how an argument is decoded, for ArrayCost.
type ArgDecoding uint8

// The ways an argument is decoded.
const (
	// ArgDecoded: into Go values (Cost).
	ArgDecoded ArgDecoding = iota
	// ArgRawElems: into a slice or map of msgpack.RawMessage (ShallowCost).
	ArgRawElems
	// ArgRaw: kept as its encoded bytes, which cost only their size.
	ArgRaw
)

// ArrayCost is the cost of decoding the msgpack array b (a request's
// arguments) when its element i is decoded as kindOf(i) says. b must
// have been accepted by Scan.
func ArrayCost(b []byte, kindOf func(i int) ArgDecoding) (int64, error) {
	p := parser{b: b}
	n := p.arrayHeader()
	if p.err != nil {
		return 0, p.err
	}
	cost := int64(len(b)-len(p.b)) + ValueCost
	rest := p.b
	for i := range n {
		var c int64
		var size int
		var err error
		switch kindOf(i) {
		case ArgRaw:
			_, size, err = Cost(rest)
			c = bytesCost(size)
		case ArgRawElems:
			c, size, err = ShallowCost(rest)
		default:
			c, size, err = Cost(rest)
		}
		if err != nil {
			return 0, err
		}
		cost += c
		rest = rest[size:]
	}
	return cost, nil
}
