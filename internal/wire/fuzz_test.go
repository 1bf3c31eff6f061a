package wire

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/errs"
)

// The fuzz targets of the protocol's three entry points for a peer's
// bytes: the frame reader, the message decoder (with Scan) and the
// handshake. Their seed corpora are in testdata/fuzz/<FuzzName>/; a
// crash the fuzzer finds is kept there and also becomes a named
// regression test below. Run one with
//
//	go test ./internal/wire -run '^$' -fuzz '^FuzzDecode$' -fuzztime 60s
//
// (.ci/fuzz.sh runs each briefly).

// seedFrames returns valid messages of every tag, for the seeds.
func seedFrames() [][]byte {
	var out [][]byte
	var w Buffer
	add := func() { out = append(out, bytes.Clone(w.Body())) }

	BeginRequest(&w, 1, 0, 0, "new")
	w.ArrayHeader(1)
	w.WriteString("\xa4Dict")
	add()
	BeginRequest(&w, 1<<40, 7, 3, "Store")
	w.ArrayHeader(2)
	w.Write([]byte{0xa1, 'k', 0x82, 0xa1, 'a', 0x92, 0x01, 0xc0, 0xa1, 'b', 0xcb, 0, 0, 0, 0, 0, 0, 0, 0})
	add()
	p := AppendProxy(nil, ProxyRef{Server: [16]byte{1}, ID: 9, TypeID: "Queue"})
	BeginRequest(&w, 2, 0, 0, "pin")
	w.ArrayHeader(1)
	w.Write(append([]byte{0xc7, byte(len(p)), byte(ProxyExtID)}, p...))
	add()
	BeginResponse(&w, 5)
	w.Write([]byte{0x93, 0xa1, 'x', 0xc4, 2, 1, 2, 0xd6, 0xff, 0, 0, 0, 1})
	add()
	AppendFailure(&w, 6, &Failure{Remote: true, Code: "key_not_found", Type: "*errors.errorString", Message: "no such key"})
	add()
	AppendCancel(&w, 7)
	add()
	BeginRequestTimeout(&w, 8, 7, 3, "Get", 50*time.Millisecond)
	w.ArrayHeader(0)
	add()
	return out
}

// FuzzReader feeds arbitrary bytes to a Reader. Properties: no panic; the
// only errors are io.EOF, io.ErrUnexpectedEOF and errs.FrameTooLarge; no
// frame exceeds the limit, and the buffer never exceeds what the limit
// allows; the frames re-encode to exactly the bytes consumed; and reading
// one byte at a time gives the same frames and error.
func FuzzReader(f *testing.F) {
	for _, body := range seedFrames() {
		f.Add(frame(body), uint16(0))
		f.Add(cat(frame(body), frame(body)), uint16(len(body)))
		f.Add(cat(frame(body), frame(body)[:5]), uint16(len(body)))
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, uint16(1024))
	f.Add([]byte{0, 0, 0}, uint16(10))
	f.Fuzz(func(t *testing.T, data []byte, limit uint16) {
		limitN := int(limit)
		if limitN == 0 {
			limitN = 1 << 16 // 0 would mean DefaultMaxFrameSize
		}
		read := func(src io.Reader) ([][]byte, error) {
			r := NewReader(src, limitN)
			var frames [][]byte
			for {
				body, err := r.ReadFrame()
				if bound := max(readChunk, 2*(HeaderSize+limitN)); cap(r.buf) > bound {
					t.Fatalf("buffer of %d bytes for a limit of %d", cap(r.buf), limitN)
				}
				if err != nil {
					return frames, err
				}
				if len(body) > limitN {
					t.Fatalf("frame of %d bytes past the limit %d", len(body), limitN)
				}
				frames = append(frames, bytes.Clone(body))
			}
		}
		frames, err := read(bytes.NewReader(data))
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, errs.FrameTooLarge) {
			t.Fatalf("unexpected error %v", err)
		}
		var again []byte
		for _, body := range frames {
			again = append(again, frame(body)...)
		}
		if !bytes.HasPrefix(data, again) {
			t.Fatalf("frames do not re-encode to the input")
		}
		if errors.Is(err, io.EOF) && len(again) != len(data) {
			t.Fatalf("clean EOF with %d bytes unread", len(data)-len(again))
		}
		slow, slowErr := read(iotest.OneByteReader(bytes.NewReader(data)))
		if len(slow) != len(frames) || slowErr.Error() != err.Error() {
			t.Fatalf("one byte at a time: %d frames, %v; at once: %d frames, %v", len(slow), slowErr, len(frames), err)
		}
	})
}

// FuzzDecode feeds an arbitrary frame body to Decode and Scan.
// Properties: no panic; every error wraps errs.Protocol; a decoded
// message re-encodes and decodes to the same fields (exact round trip);
// a payload Scan accepts decodes with msgpack into at most one value per
// byte (so no header can make the decoder allocate beyond the frame).
func FuzzDecode(f *testing.F) {
	for _, body := range seedFrames() {
		f.Add(body)
	}
	f.Add([]byte{0x96, 1, 1, 1, 0, 0xa1, 'm', 0x91, 0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x96, 1, 1, 1, 0, 0xa1, 'm', 0x91, 0xdf, 0xff, 0xff, 0xff, 0xff})
	f.Add(append(bytes.Repeat([]byte{0x91}, MaxDepth+1), 0xc0))
	f.Fuzz(func(t *testing.T, body []byte) {
		var proxies []ProxyRef
		var m Message
		err := Decode(body, &m, func(r ProxyRef) { proxies = append(proxies, r) })
		if err != nil && !errors.Is(err, errs.Protocol) {
			t.Fatalf("error %v does not wrap errs.Protocol", err)
		}
		if err == nil {
			checkRoundTrip(t, &m, len(proxies))
		}
		if Scan(body, nil) == nil {
			var v any
			if msgpack.Unmarshal(body, &v) == nil {
				if n := countValues(v); n > len(body) {
					t.Fatalf("%d bytes decoded into %d values", len(body), n)
				}
			}
		}
	})
}

// checkRoundTrip re-encodes m and checks that it decodes the same.
func checkRoundTrip(t *testing.T, m *Message, proxies int) {
	t.Helper()
	var w Buffer
	switch m.Tag {
	case TagRequest:
		if m.Request.Timeout > 0 {
			BeginRequestTimeout(&w, m.Request.ID, m.Request.Object, m.Request.Handle, string(m.Request.Method), m.Request.Timeout)
		} else {
			BeginRequest(&w, m.Request.ID, m.Request.Object, m.Request.Handle, string(m.Request.Method))
		}
		w.Write(m.Request.Args)
	case TagResponse:
		if m.Response.Failure != nil {
			AppendFailure(&w, m.Response.ID, m.Response.Failure)
		} else {
			BeginResponse(&w, m.Response.ID)
			w.Write(m.Response.Result)
		}
	case TagCancel:
		AppendCancel(&w, m.CancelID)
	default:
		t.Fatalf("decoded a message of tag %d", m.Tag)
	}
	var got Message
	again := 0
	if err := Decode(w.Body(), &got, func(ProxyRef) { again++ }); err != nil {
		t.Fatalf("re-encoded message does not decode: %v", err)
	}
	if again != proxies {
		t.Fatalf("%d proxies, then %d", proxies, again)
	}
	switch {
	case got.Tag != m.Tag,
		got.Request.ID != m.Request.ID || got.Request.Object != m.Request.Object || got.Request.Handle != m.Request.Handle,
		!bytes.Equal(got.Request.Method, m.Request.Method) || !bytes.Equal(got.Request.Args, m.Request.Args),
		got.Response.ID != m.Response.ID || !bytes.Equal(got.Response.Result, m.Response.Result),
		(got.Response.Failure == nil) != (m.Response.Failure == nil),
		got.Response.Failure != nil && *got.Response.Failure != *m.Response.Failure,
		got.CancelID != m.CancelID:
		t.Fatalf("round trip changed the message:\n%+v\n%+v", *m, got)
	}
}

// countValues counts the values in a decoded msgpack tree.
func countValues(v any) int {
	switch v := v.(type) {
	case []any:
		n := 1
		for _, e := range v {
			n += countValues(e)
		}
		return n
	case map[string]any:
		n := 1
		for _, e := range v {
			n += 1 + countValues(e)
		}
		return n
	}
	return 1
}

// FuzzServerHandshake plays an arbitrary client against ServerHandshake.
// Properties: no panic; it never succeeds (the server's nonce is new, so
// no recorded or invented answer can carry a valid MAC); its errors are
// the expected ones; it writes no more than a hello and a welcome; and it
// restores the Reader's frame limit.
func FuzzServerHandshake(f *testing.F) {
	key := []byte("fuzz key")
	var buf Buffer
	buf.Begin()
	msgpack.NewEncoder(&buf).Encode(&auth{Version: Version, Nonce: make([]byte, nonceSize), Session: make([]byte, 16), MAC: make([]byte, 32)})
	good, _ := buf.Finish(0)
	f.Add(bytes.Clone(good))
	f.Add(good[:len(good)-3])
	f.Add([]byte{0, 0, 0, 1, 0xc1})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add(frame([]byte{0x93, 0x01, 0xa1, 's', 0xc3}))
	f.Fuzz(func(t *testing.T, client []byte) {
		var out bytes.Buffer
		r := NewReader(bytes.NewReader(client), DefaultMaxFrameSize)
		_, err := ServerHandshake(&out, r, key, ServerHello{ID: [16]byte{1}, MaxFrame: 1 << 20, Pid: 1})
		if err == nil {
			t.Fatalf("handshake succeeded with invented bytes")
		}
		if !errors.Is(err, errs.AuthFailed) && !errors.Is(err, errs.Protocol) && !errors.Is(err, errs.FrameTooLarge) &&
			!errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("unexpected error %v", err)
		}
		if out.Len() > 2*(HeaderSize+HandshakeMaxFrame) {
			t.Fatalf("wrote %d bytes", out.Len())
		}
		if r.max != DefaultMaxFrameSize {
			t.Fatalf("frame limit left at %d", r.max)
		}
	})
}

// FuzzClientHandshake plays an arbitrary server against ClientHandshake,
// as a client reaching across machines may meet one. Properties: no
// panic; it never succeeds (the client's nonce is new); its errors are
// the expected ones.
func FuzzClientHandshake(f *testing.F) {
	var buf Buffer
	buf.Begin()
	msgpack.NewEncoder(&buf).Encode(&hello{Version: Version, Nonce: make([]byte, nonceSize)})
	h, _ := buf.Finish(0)
	h = bytes.Clone(h)
	buf.Begin()
	msgpack.NewEncoder(&buf).Encode(&welcome{OK: true, MAC: make([]byte, 32), ServerID: make([]byte, 16), MaxFrame: 1 << 20, Pid: 1})
	wl, _ := buf.Finish(0)
	f.Add(cat(h, wl))
	f.Add(h)
	f.Add(cat(h, frame([]byte{0x95, 0xc2, 0xc0, 0xc0, 0, 0})))
	f.Fuzz(func(t *testing.T, server []byte) {
		r := NewReader(bytes.NewReader(server), DefaultMaxFrameSize)
		_, err := ClientHandshake(io.Discard, r, []byte("fuzz key"), [16]byte{})
		if err == nil {
			t.Fatalf("handshake succeeded with invented bytes")
		}
		if !errors.Is(err, errs.AuthFailed) && !errors.Is(err, errs.Protocol) && !errors.Is(err, errs.FrameTooLarge) &&
			!errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("unexpected error %v", err)
		}
		if r.max != DefaultMaxFrameSize {
			t.Fatalf("frame limit left at %d", r.max)
		}
	})
}
