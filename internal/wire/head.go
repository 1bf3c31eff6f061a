package wire

import (
	"bytes"
	"fmt"
	"slices"
)

// This file is the one place that reads msgpack type bytes for structure:
// Scan (validation, proxies, cost) and Canonical (sorted map entries)
// both walk values with parseHead.

// headKind says what a msgpack value is, as far as walking it goes.
type headKind uint8

const (
	headScalar headKind = iota // nil, bool, number, str, bin: n payload bytes follow the header
	headArray                  // n values follow
	headMap                    // n key-value pairs follow
	headExt                    // a type byte, then n payload bytes
)

// A head is the beginning of one msgpack value.
type head struct {
	kind headKind
	hdr  int    // bytes of the type byte and any length field
	n    uint64 // payload bytes (scalar, ext) or elements (array) or entries (map)
}

// parseHead reads the head of the msgpack value at the start of b. It
// checks only that the header itself is there: the caller checks that n
// fits in what follows.
func parseHead(b []byte) (head, error) {
	if len(b) == 0 {
		return head{}, errShort
	}
	c := b[0]
	switch {
	case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		return head{kind: headScalar, hdr: 1}, nil
	case c&0xf0 == 0x80:
		return head{kind: headMap, hdr: 1, n: uint64(c & 0x0f)}, nil
	case c&0xf0 == 0x90:
		return head{kind: headArray, hdr: 1, n: uint64(c & 0x0f)}, nil
	case c&0xe0 == 0xa0:
		return head{kind: headScalar, hdr: 1, n: uint64(c & 0x1f)}, nil
	case c >= 0xd4 && c <= 0xd8: // fixext 1, 2, 4, 8, 16
		return head{kind: headExt, hdr: 1, n: 1 << (c - 0xd4)}, nil
	}
	var kind headKind
	var w int       // bytes of the length field
	var fixed int64 // a fixed payload size, or -1 when a length field says it
	switch c {
	case 0xcc, 0xd0:
		fixed = 1
	case 0xcd, 0xd1:
		fixed = 2
	case 0xca, 0xce, 0xd2:
		fixed = 4
	case 0xcb, 0xcf, 0xd3:
		fixed = 8
	case 0xc4, 0xd9: // bin8, str8
		w, fixed = 1, -1
	case 0xc5, 0xda:
		w, fixed = 2, -1
	case 0xc6, 0xdb:
		w, fixed = 4, -1
	case 0xc7, 0xc8, 0xc9: // ext 8, 16, 32
		kind, w, fixed = headExt, 1<<(c-0xc7), -1
	case 0xdc, 0xdd: // array16, array32
		kind, w, fixed = headArray, 2<<(c-0xdc), -1
	case 0xde, 0xdf: // map16, map32
		kind, w, fixed = headMap, 2<<(c-0xde), -1
	default:
		return head{}, fmt.Errorf("invalid msgpack type byte 0x%02x", c)
	}
	if fixed >= 0 {
		return head{kind: headScalar, hdr: 1, n: uint64(fixed)}, nil
	}
	if len(b) < 1+w {
		return head{}, errShort
	}
	var n uint64
	for _, d := range b[1 : 1+w] {
		n = n<<8 | uint64(d)
	}
	return head{kind: kind, hdr: 1 + w, n: n}, nil
}

// AppendCanonical appends the first msgpack value of src to dst with the
// entries of every map in it sorted by their encoded keys, and returns
// the bytes after that value. Extension payloads (proxies among them) are
// copied as they are. Equal Go values of one type then encode to equal
// bytes, whatever the order of a Go map's iteration: the built-in types
// compare values by their encodings.
func AppendCanonical(dst, src []byte) (out, rest []byte, err error) {
	return appendCanonical(dst, src, 0)
}

func appendCanonical(dst, src []byte, depth int) (out, rest []byte, err error) {
	h, err := parseHead(src)
	if err != nil {
		return nil, nil, err
	}
	if (h.kind == headArray || h.kind == headMap) && depth >= MaxDepth {
		return nil, nil, fmt.Errorf("nested deeper than %d", MaxDepth) // as Scan says
	}
	body := src[h.hdr:]
	switch h.kind {
	case headScalar, headExt:
		n := h.n
		if h.kind == headExt {
			n++ // the extension's type byte
		}
		if n > uint64(len(body)) {
			return nil, nil, errShort
		}
		end := h.hdr + int(n)
		return append(dst, src[:end]...), src[end:], nil
	case headArray:
		if h.n > uint64(len(body)) {
			return nil, nil, errShort // every element takes a byte at least
		}
		dst = append(dst, src[:h.hdr]...)
		for range h.n {
			if dst, body, err = appendCanonical(dst, body, depth+1); err != nil {
				return nil, nil, err
			}
		}
		return dst, body, nil
	}
	// A map: canonicalise each key and value into a scratch buffer,
	// noting where each entry starts, where its key ends and where it
	// ends, then append the entries sorted by key bytes.
	if h.n > uint64(len(body))/2 {
		return nil, nil, errShort // every entry takes two bytes at least
	}
	dst = append(dst, src[:h.hdr]...)
	offsets := make([][3]int, h.n)
	var scratch []byte
	for i := range offsets {
		start := len(scratch)
		if scratch, body, err = appendCanonical(scratch, body, depth+1); err != nil {
			return nil, nil, err
		}
		keyEnd := len(scratch)
		if scratch, body, err = appendCanonical(scratch, body, depth+1); err != nil {
			return nil, nil, err
		}
		offsets[i] = [3]int{start, keyEnd, len(scratch)}
	}
	slices.SortStableFunc(offsets, func(a, b [3]int) int {
		return bytes.Compare(scratch[a[0]:a[1]], scratch[b[0]:b[1]])
	})
	for _, o := range offsets {
		dst = append(dst, scratch[o[0]:o[2]]...)
	}
	return dst, body, nil
}
