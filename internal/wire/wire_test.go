package wire

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/errs"
)

// frame returns body with its length prefix.
func frame(body []byte) []byte {
	var w Buffer
	w.Begin()
	w.Write(body)
	f, err := w.Finish(0)
	if err != nil {
		panic(err)
	}
	return append([]byte(nil), f...)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestReadFrame(t *testing.T) {
	tests := []struct {
		name     string
		give     []byte
		max      int
		want     [][]byte
		wantErr  error
		wantLast error // the error after the frames, when it is not wantErr
	}{
		{name: "empty stream", give: nil, wantErr: io.EOF},
		{name: "one frame", give: frame([]byte("abc")), want: [][]byte{[]byte("abc")}, wantErr: io.EOF},
		{name: "two frames", give: cat(frame([]byte("a")), frame([]byte("bc"))), want: [][]byte{[]byte("a"), []byte("bc")}, wantErr: io.EOF},
		{name: "empty body", give: frame(nil), want: [][]byte{{}}, wantErr: io.EOF},
		{name: "cut in the header", give: []byte{0, 0}, wantErr: io.ErrUnexpectedEOF},
		{name: "cut in the body", give: []byte{0, 0, 0, 5, 1, 2}, wantErr: io.ErrUnexpectedEOF},
		{name: "frame after a good one cut", give: cat(frame([]byte("ok")), []byte{0, 0, 0, 9}), want: [][]byte{[]byte("ok")}, wantErr: io.ErrUnexpectedEOF},
		{name: "exactly the limit", give: frame(make([]byte, 1024)), max: 1024, want: [][]byte{make([]byte, 1024)}, wantErr: io.EOF},
		{name: "one byte over the limit", give: frame(make([]byte, 1025)), max: 1024, wantErr: errs.FrameTooLarge},
		{name: "hostile length prefix", give: []byte{0xff, 0xff, 0xff, 0xff}, max: 1024, wantErr: errs.FrameTooLarge},
		{name: "large frame", give: frame(bytes.Repeat([]byte{7}, 3*readChunk+5)), want: [][]byte{bytes.Repeat([]byte{7}, 3*readChunk+5)}, wantErr: io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []*Reader{
				NewReader(bytes.NewReader(tt.give), tt.max),
				NewReader(iotest.OneByteReader(bytes.NewReader(tt.give)), tt.max),
				NewReader(iotest.DataErrReader(bytes.NewReader(tt.give)), tt.max),
			} {
				var got [][]byte
				var err error
				for {
					var body []byte
					if body, err = r.ReadFrame(); err != nil {
						break
					}
					got = append(got, append([]byte{}, body...))
				}
				assert.Equal(t, tt.want, got)
				require.ErrorIs(t, err, tt.wantErr)
				_, again := r.ReadFrame()
				assert.ErrorIs(t, again, tt.wantErr, "errors are sticky")
			}
		})
	}
}

// scriptedReader returns its chunks one Read at a time, each with its
// error.
type scriptedReader struct {
	chunks [][]byte
	errs   []error
}

func (s *scriptedReader) Read(p []byte) (int, error) {
	if len(s.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.chunks[0])
	if n < len(s.chunks[0]) {
		s.chunks[0] = s.chunks[0][n:]
		return n, nil
	}
	err := s.errs[0]
	s.chunks, s.errs = s.chunks[1:], s.errs[1:]
	return n, err
}

func TestReaderResumesAfterTimeout(t *testing.T) {
	f := frame([]byte("hello, world"))
	sr := &scriptedReader{
		chunks: [][]byte{f[:2], f[2:3], f[3:10], f[10:]},
		errs:   []error{os.ErrDeadlineExceeded, os.ErrDeadlineExceeded, os.ErrDeadlineExceeded, nil},
	}
	r := NewReader(sr, 0)
	_, err := r.ReadFrame()
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	_, err = r.ReadFrame()
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	// Bytes that arrive with a timeout count: the frame goes on.
	body, err := r.ReadFrame()
	require.NoError(t, err)
	assert.Equal(t, "hello, world", string(body))
}

func TestReaderStickyError(t *testing.T) {
	boom := errors.New("boom")
	r := NewReader(&scriptedReader{chunks: [][]byte{{0, 0}}, errs: []error{boom}}, 0)
	_, err := r.ReadFrame()
	require.ErrorIs(t, err, boom)
	_, err = r.ReadFrame()
	assert.ErrorIs(t, err, boom)
}

// TestReaderMemory checks that a Reader never holds more than its limit
// allows, and gives back the buffer a large frame needed.
func TestReaderMemory(t *testing.T) {
	big := frame(make([]byte, 4<<20))
	r := NewReader(bytes.NewReader(cat(big, frame([]byte("small")), frame([]byte("x")))), 8<<20)
	_, err := r.ReadFrame()
	require.NoError(t, err)
	assert.LessOrEqual(t, cap(r.buf), 2*len(big))
	_, err = r.ReadFrame()
	require.NoError(t, err)
	_, err = r.ReadFrame()
	require.NoError(t, err)
	_, err = r.ReadFrame() // the large buffer is dropped once it is empty
	require.ErrorIs(t, err, io.EOF)
	assert.LessOrEqual(t, cap(r.buf), readChunk)

	// A length prefix under the limit allocates no more than it claims,
	// however little data follows.
	r = NewReader(bytes.NewReader([]byte{0, 0, 0x10, 0}), 8<<20)
	_, err = r.ReadFrame()
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.LessOrEqual(t, cap(r.buf), max(readChunk, 2*(HeaderSize+0x1000)))
}

func TestBufferFinish(t *testing.T) {
	var w Buffer
	w.Begin()
	w.WriteString("abc")
	w.WriteByte('d')
	f, err := w.Finish(4)
	require.NoError(t, err)
	assert.Equal(t, []byte{0, 0, 0, 4, 'a', 'b', 'c', 'd'}, f)
	assert.Equal(t, []byte("abcd"), w.Body())
	w.Truncate(1)
	assert.Equal(t, 1, w.BodyLen())

	w.Begin()
	w.Write(make([]byte, 5))
	_, err = w.Finish(4)
	assert.ErrorIs(t, err, errs.FrameTooLarge)
}

func TestScan(t *testing.T) {
	proxy := func(payload []byte) []byte {
		return cat([]byte{0xc7, byte(len(payload)), byte(ProxyExtID)}, payload)
	}
	ref := ProxyRef{Server: [16]byte{1, 2, 3}, ID: 42, TypeID: "Dict"}
	deep := func(n int) []byte { return append(bytes.Repeat([]byte{0x91}, n), 0xc0) }
	tests := []struct {
		name    string
		give    []byte
		wantErr bool
	}{
		{name: "nil", give: []byte{0xc0}},
		{name: "fixints", give: []byte{0x92, 0x7f, 0xe0}},
		{name: "uint64", give: []byte{0xcf, 1, 2, 3, 4, 5, 6, 7, 8}},
		{name: "float64", give: []byte{0xcb, 1, 2, 3, 4, 5, 6, 7, 8}},
		{name: "string", give: mustMarshal(t, "hello")},
		{name: "map", give: mustMarshal(t, map[string]any{"a": []any{1, "b", nil, true, 1.5}})},
		{name: "bin", give: mustMarshal(t, []byte{1, 2, 3})},
		{name: "timestamp ext", give: mustMarshal(t, time.Unix(1, 2))},
		{name: "proxy", give: proxy(AppendProxy(nil, ref))},
		{name: "array16 of 3", give: []byte{0xdc, 0, 3, 1, 2, 3}},
		{name: "nested MaxDepth deep", give: deep(MaxDepth)},

		{name: "empty", give: nil, wantErr: true},
		{name: "reserved byte 0xc1", give: []byte{0xc1}, wantErr: true},
		{name: "array32 of 4 billion", give: []byte{0xdd, 0xff, 0xff, 0xff, 0xff}, wantErr: true},
		{name: "array16 claims more than follows", give: []byte{0xdc, 0, 4, 1, 2, 3}, wantErr: true},
		{name: "map32 of 4 billion", give: []byte{0xdf, 0xff, 0xff, 0xff, 0xff}, wantErr: true},
		{name: "fixmap missing a value", give: []byte{0x81, 0x01}, wantErr: true},
		{name: "str32 of 4 GB", give: []byte{0xdb, 0xff, 0xff, 0xff, 0xff, 'a'}, wantErr: true},
		{name: "bin32 of 4 GB", give: []byte{0xc6, 0xff, 0xff, 0xff, 0xff}, wantErr: true},
		{name: "ext32 of 4 GB", give: []byte{0xc9, 0xff, 0xff, 0xff, 0xff, 1}, wantErr: true},
		{name: "fixext16 cut", give: []byte{0xd8, 1, 2, 3}, wantErr: true},
		{name: "uint64 cut", give: []byte{0xcf, 1, 2}, wantErr: true},
		{name: "header cut", give: []byte{0xdc, 0}, wantErr: true},
		{name: "trailing bytes", give: []byte{0x01, 0x02}, wantErr: true},
		{name: "nested deeper than MaxDepth", give: deep(MaxDepth + 1), wantErr: true},
		{name: "malformed proxy", give: proxy([]byte{0x93, 0xc4, 1, 0, 0, 0xa0}), wantErr: true},
		{name: "proxy with trailing bytes", give: proxy(append(AppendProxy(nil, ref), 0)), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Scan(tt.give, nil)
			if tt.wantErr {
				assert.Error(t, err)
			} else {
				assert.NoError(t, err)
			}
		})
	}
}

func TestScanReportsProxies(t *testing.T) {
	a := ProxyRef{Server: [16]byte{9}, ID: 1, TypeID: "Dict"}
	b := ProxyRef{Server: [16]byte{9}, ID: 1 << 40, TypeID: "a type with a long name, longer than thirty-one bytes"}
	ext := func(r ProxyRef) []byte {
		p := AppendProxy(nil, r)
		return cat([]byte{0xc7, byte(len(p)), byte(ProxyExtID)}, p)
	}
	payload := cat([]byte{0x82, 0xa1, 'a'}, ext(a), []byte{0xa1, 'b', 0x91}, ext(b))
	var got []ProxyRef
	require.NoError(t, Scan(payload, func(r ProxyRef) { got = append(got, r) }))
	assert.Equal(t, []ProxyRef{a, b}, got)

	parsed, err := ParseProxy(AppendProxy(nil, b))
	require.NoError(t, err)
	assert.Equal(t, b, parsed)
}

// TestProxyRefEncodesAsExtension checks that a ProxyRef, which a server
// returns in place of a proxy, encodes as the proxy extension (in a map
// and alone) that Scan and ParseProxy read back.
func TestProxyRefEncodesAsExtension(t *testing.T) {
	a := ProxyRef{Server: [16]byte{9}, ID: 1, TypeID: "Dict"}
	b := ProxyRef{Server: [16]byte{7}, ID: 1 << 40, TypeID: "a type with a long name, longer than thirty-one bytes"}
	for _, v := range []any{a, &b, map[string]any{"a": a, "b": []any{b}}} {
		raw, err := msgpack.Marshal(v)
		require.NoError(t, err)
		var got []ProxyRef
		require.NoError(t, Scan(raw, func(r ProxyRef) { got = append(got, r) }))
		assert.NotEmpty(t, got, "%#v", v)
		for _, r := range got {
			assert.Contains(t, []ProxyRef{a, b}, r)
		}
	}
	raw, err := msgpack.Marshal(a)
	require.NoError(t, err)
	p := AppendProxy(nil, a)
	assert.Equal(t, cat([]byte{0xc7, byte(len(p)), byte(ProxyExtID)}, p), raw)
}

// TestScanBoundsDecoding shows what Scan is for: a header that claims
// more elements than there are bytes never reaches the decoder, and one
// that Scan accepts decodes into at most as many values as it has bytes.
func TestScanBoundsDecoding(t *testing.T) {
	for _, give := range [][]byte{
		{0xdd, 0x7f, 0xff, 0xff, 0xff},
		{0xdf, 0x7f, 0xff, 0xff, 0xff},
		{0x91, 0xdd, 0x00, 0x10, 0x00, 0x00},
	} {
		assert.Error(t, Scan(give, nil), "% x", give)
	}
	accepted := append([]byte{0xdc, 0xff, 0xff}, bytes.Repeat([]byte{0x90}, 0xffff)...)
	require.NoError(t, Scan(accepted, nil))
	var v []any
	require.NoError(t, msgpack.Unmarshal(accepted, &v))
	assert.Len(t, v, 0xffff)
}

func TestMessageRoundTrip(t *testing.T) {
	t.Run("request", func(t *testing.T) {
		var w Buffer
		BeginRequest(&w, 1<<40, 7, 3, "Store")
		w.ArrayHeader(2)
		w.Write(mustMarshal(t, "k"))
		w.Write(mustMarshal(t, []int{1, 2}))
		var m Message
		require.NoError(t, Decode(w.Body(), &m, nil))
		assert.Equal(t, TagRequest, m.Tag)
		assert.Equal(t, uint64(1<<40), m.Request.ID)
		assert.Equal(t, uint64(7), m.Request.Object)
		assert.Equal(t, uint64(3), m.Request.Handle)
		assert.Equal(t, "Store", string(m.Request.Method))
		var args []any
		require.NoError(t, msgpack.Unmarshal(m.Request.Args, &args))
		assert.Equal(t, []any{"k", []any{int8(1), int8(2)}}, args)
	})
	t.Run("request with a timeout", func(t *testing.T) {
		var w Buffer
		BeginRequestTimeout(&w, 12, 7, 3, "Get", 1500*time.Millisecond)
		w.ArrayHeader(1)
		w.Write(mustMarshal(t, "k"))
		var m Message
		require.NoError(t, Decode(w.Body(), &m, nil))
		assert.Equal(t, TagRequest, m.Tag)
		assert.Equal(t, uint64(12), m.Request.ID)
		assert.Equal(t, "Get", string(m.Request.Method))
		assert.Equal(t, 1500*time.Millisecond, m.Request.Timeout)
		assert.Equal(t, mustMarshal(t, []any{"k"}), []byte(m.Request.Args))

		// A request without one, decoded into the same message, has none.
		BeginRequest(&w, 13, 7, 3, "Get")
		w.ArrayHeader(0)
		require.NoError(t, Decode(w.Body(), &m, nil))
		assert.Equal(t, time.Duration(0), m.Request.Timeout)
	})
	t.Run("result", func(t *testing.T) {
		var w Buffer
		BeginResponse(&w, 9)
		w.Write(mustMarshal(t, "value"))
		var m Message
		require.NoError(t, Decode(w.Body(), &m, nil))
		assert.Equal(t, TagResponse, m.Tag)
		assert.Equal(t, uint64(9), m.Response.ID)
		assert.Nil(t, m.Response.Failure)
		assert.Equal(t, mustMarshal(t, "value"), m.Response.Result)
	})
	t.Run("failure", func(t *testing.T) {
		f := &Failure{Remote: true, Code: "key_not_found", Type: "*errors.errorString", Message: "no such key"}
		var w Buffer
		AppendFailure(&w, 1<<33, f)
		var m Message
		require.NoError(t, Decode(w.Body(), &m, nil))
		assert.Equal(t, uint64(1<<33), m.Response.ID)
		assert.Equal(t, f, m.Response.Failure)
		assert.Nil(t, m.Response.Result)
	})
	t.Run("cancel", func(t *testing.T) {
		var w Buffer
		AppendCancel(&w, 300)
		var m Message
		require.NoError(t, Decode(w.Body(), &m, nil))
		assert.Equal(t, TagCancel, m.Tag)
		assert.Equal(t, uint64(300), m.CancelID)
	})
}

func TestDecodeMalformed(t *testing.T) {
	tests := []struct {
		name       string
		give       []byte
		answerable bool // the error can be sent back as the reply to request 5
	}{
		{name: "empty", give: nil},
		{name: "not an array", give: mustMarshal(t, map[string]int{"a": 1})},
		{name: "unknown kind", give: []byte{0x92, 9, 5}},
		{name: "request of 2 fields", give: []byte{0x92, 1, 5}},
		{name: "request without an id", give: []byte{0x96, 1, 0xa1, 'x', 0, 0, 0xa1, 'm', 0x90}},
		{name: "request with a bad method", give: []byte{0x96, 1, 5, 0, 0, 7, 0x90}, answerable: true},
		{name: "arguments not an array", give: []byte{0x96, 1, 5, 0, 0, 0xa1, 'm', 0x01}, answerable: true},
		{name: "arguments cut", give: []byte{0x96, 1, 5, 0, 0, 0xa1, 'm', 0x92, 1}, answerable: true},
		{name: "arguments with a huge header", give: []byte{0x96, 1, 5, 0, 0, 0xa1, 'm', 0x91, 0xdd, 0xff, 0xff, 0xff, 0xff}, answerable: true},
		{name: "arguments missing", give: []byte{0x96, 1, 5, 0, 0, 0xa1, 'm'}, answerable: true},
		{name: "response with an unknown status", give: []byte{0x94, 2, 5, 7, 0xc0}},
		{name: "failure of 3 fields", give: []byte{0x94, 2, 5, 1, 0x93, 0xc2, 0xa0, 0xa0}},
		{name: "failure with trailing bytes", give: []byte{0x94, 2, 5, 1, 0x94, 0xc2, 0xa0, 0xa0, 0xa0, 0xc0}},
		{name: "result with trailing bytes", give: []byte{0x94, 2, 5, 0, 0xc0, 0xc0}},
		{name: "cancel with trailing bytes", give: []byte{0x92, 3, 5, 5}},
		{name: "cancel without an id", give: []byte{0x92, 3, 0xc0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A message left from an earlier frame must not lend its id.
			m := Message{Tag: TagRequest, Request: Request{ID: 99}}
			err := Decode(tt.give, &m, nil)
			require.ErrorIs(t, err, errs.Protocol)
			assert.Equal(t, tt.answerable, m.Tag == TagRequest, "answerable")
			if tt.answerable {
				assert.Equal(t, uint64(5), m.Request.ID)
			}
		})
	}
}

func TestParseProxyMalformed(t *testing.T) {
	for _, give := range [][]byte{
		nil,
		{0x92, 0xc4, 16},
		append([]byte{0x93, 0xc4, 15}, make([]byte, 15+2)...),
		append(append([]byte{0x93, 0xc4, 16}, make([]byte, 16)...), 0xa0, 0xa0),
	} {
		_, err := ParseProxy(give)
		assert.Error(t, err, "% x", give)
	}
}

// handshakePipe returns the client and server ends of an in-memory
// connection whose reads and writes fail after 10 s rather than hang.
func handshakePipe() (cc, sc net.Conn) {
	cc, sc = net.Pipe()
	deadline := time.Now().Add(10 * time.Second)
	cc.SetDeadline(deadline)
	sc.SetDeadline(deadline)
	return cc, sc
}

// handshakePair runs both halves of the handshake over an in-memory
// connection and returns what each side got.
func handshakePair(t *testing.T, clientKey, serverKey []byte) (ServerInfo, error, [16]byte, error) {
	t.Helper()
	cc, sc := handshakePipe()
	defer cc.Close()
	session := [16]byte{1, 2, 3, 4}
	type serverResult struct {
		session [16]byte
		err     error
	}
	done := make(chan serverResult, 1)
	go func() {
		defer sc.Close() // as the server does when the handshake fails
		s, err := ServerHandshake(sc, NewReader(sc, 0), serverKey, ServerHello{ID: [16]byte{7}, MaxFrame: 1 << 20, Pid: 42})
		done <- serverResult{s, err}
	}()
	info, cerr := ClientHandshake(cc, NewReader(cc, 0), clientKey, session)
	cc.Close()
	res := <-done
	return info, cerr, res.session, res.err
}

func TestHandshake(t *testing.T) {
	key := []byte("the key")
	info, cerr, session, serr := handshakePair(t, key, key)
	require.NoError(t, cerr)
	require.NoError(t, serr)
	assert.Equal(t, ServerInfo{ID: [16]byte{7}, MaxFrame: 1 << 20, Pid: 42}, info)
	assert.Equal(t, [16]byte{1, 2, 3, 4}, session)
}

func TestHandshakeWrongKey(t *testing.T) {
	_, cerr, _, serr := handshakePair(t, []byte("k3y-A"), []byte("k3y-B"))
	assert.ErrorIs(t, cerr, errs.AuthFailed)
	assert.ErrorIs(t, serr, errs.AuthFailed)
	for _, err := range []error{cerr, serr} {
		assert.NotContains(t, err.Error(), "k3y")
	}
}

// serverScript plays a server that sends frames and records what the
// client sends back.
func serverScript(t *testing.T, server func(w io.Writer, r *Reader)) error {
	t.Helper()
	cc, sc := handshakePipe()
	defer cc.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer sc.Close()
		server(sc, NewReader(sc, 0))
	}()
	_, err := ClientHandshake(cc, NewReader(cc, 0), []byte("key"), [16]byte{})
	cc.Close()
	<-done
	return err
}

func TestClientHandshakeRefusesAnImpostor(t *testing.T) {
	tests := []struct {
		name    string
		welcome func(h hello, a auth) any
		wantErr error
	}{
		{"welcome without proof", func(hello, auth) any { return &welcome{OK: true, ServerID: make([]byte, 16)} }, errs.AuthFailed},
		{"welcome with a replayed proof", func(h hello, a auth) any {
			return &welcome{OK: true, MAC: mac([]byte("key"), "manager/1 server", make([]byte, 32), h.Nonce), ServerID: make([]byte, 16)}
		}, errs.AuthFailed},
		{"client's own MAC sent back", func(h hello, a auth) any { return &welcome{OK: true, MAC: a.MAC, ServerID: make([]byte, 16)} }, errs.AuthFailed},
		{"proof but a bad server id", func(h hello, a auth) any {
			return &welcome{OK: true, MAC: mac([]byte("key"), "manager/1 server", a.Nonce, h.Nonce), ServerID: []byte{1}}
		}, errs.Protocol},
		{"not a welcome", func(hello, auth) any { return "hello" }, errs.Protocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := serverScript(t, func(w io.Writer, r *Reader) {
				h := hello{Version: Version, Nonce: nonce()}
				if send(w, &h) != nil {
					return
				}
				var a auth
				if recv(r, &a) != nil {
					return
				}
				send(w, tt.welcome(h, a))
			})
			assert.ErrorIs(t, err, tt.wantErr)
		})
	}
}

func TestClientHandshakeVersionMismatch(t *testing.T) {
	err := serverScript(t, func(w io.Writer, r *Reader) {
		send(w, &hello{Version: Version + 1, Nonce: nonce()})
	})
	assert.ErrorIs(t, err, errs.Protocol)
}

func TestClientHandshakeServerHangsUp(t *testing.T) {
	err := serverScript(t, func(w io.Writer, r *Reader) {
		send(w, &hello{Version: Version, Nonce: nonce()})
		var a auth
		recv(r, &a)
	})
	assert.ErrorIs(t, err, errs.AuthFailed)
}

// clientScript plays a client that sends the given auth frames after
// reading the server's hello, and returns the server's error.
func clientScript(t *testing.T, key []byte, client func(h hello, w io.Writer, r *Reader)) error {
	t.Helper()
	cc, sc := handshakePipe()
	defer sc.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cc.Close()
		r := NewReader(cc, 0)
		var h hello
		if recv(r, &h) != nil {
			return
		}
		client(h, cc, r)
		io.Copy(io.Discard, cc)
	}()
	_, err := ServerHandshake(sc, NewReader(sc, 0), key, ServerHello{})
	sc.Close()
	<-done
	return err
}

func TestServerHandshakeRefuses(t *testing.T) {
	key := []byte("key")
	good := func(h hello, cn []byte, session []byte) []byte {
		return mac(key, "manager/1 client", h.Nonce, cn, session)
	}
	tests := []struct {
		name    string
		auth    func(h hello) any
		wantErr error
	}{
		{"wrong key", func(h hello) any {
			cn := nonce()
			return &auth{Version: Version, Nonce: cn, Session: make([]byte, 16), MAC: mac([]byte("other"), "manager/1 client", h.Nonce, cn, make([]byte, 16))}
		}, errs.AuthFailed},
		{"MAC over another nonce", func(h hello) any {
			cn := nonce()
			return &auth{Version: Version, Nonce: cn, Session: make([]byte, 16), MAC: good(hello{Nonce: nonce()}, cn, make([]byte, 16))}
		}, errs.AuthFailed},
		{"session changed after signing", func(h hello) any {
			cn := nonce()
			return &auth{Version: Version, Nonce: cn, Session: bytes.Repeat([]byte{1}, 16), MAC: good(h, cn, make([]byte, 16))}
		}, errs.AuthFailed},
		{"server's label", func(h hello) any {
			cn := nonce()
			return &auth{Version: Version, Nonce: cn, Session: make([]byte, 16), MAC: mac(key, "manager/1 server", cn, h.Nonce)}
		}, errs.AuthFailed},
		{"short nonce", func(h hello) any {
			return &auth{Version: Version, Nonce: []byte{1}, Session: make([]byte, 16), MAC: good(h, []byte{1}, make([]byte, 16))}
		}, errs.Protocol},
		{"short session", func(h hello) any {
			cn := nonce()
			return &auth{Version: Version, Nonce: cn, Session: []byte{1}, MAC: good(h, cn, []byte{1})}
		}, errs.Protocol},
		{"wrong types", func(hello) any { return []any{1, "two", 3.0} }, errs.Protocol},
		{"not msgpack", func(hello) any { return msgpack.RawMessage{0xc1} }, errs.Protocol},
		{"frame too large", func(hello) any { return msgpack.RawMessage(mustMarshal(t, make([]byte, HandshakeMaxFrame))) }, errs.FrameTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := clientScript(t, key, func(h hello, w io.Writer, _ *Reader) {
				var buf Buffer
				buf.Begin()
				require.NoError(t, msgpack.NewEncoder(&buf).Encode(tt.auth(h)))
				f, _ := buf.Finish(0)
				w.Write(f)
			})
			assert.ErrorIs(t, err, tt.wantErr)
		})
	}
}

// TestServerHandshakeRefusesReplay records a client's successful
// handshake and replays its auth message: the server's fresh nonce makes
// it worthless.
func TestServerHandshakeRefusesReplay(t *testing.T) {
	key := []byte("key")
	var recorded []byte
	err := clientScript(t, key, func(h hello, w io.Writer, r *Reader) {
		cn := nonce()
		a := auth{Version: Version, Nonce: cn, Session: make([]byte, 16), MAC: mac(key, "manager/1 client", h.Nonce, cn, make([]byte, 16))}
		var buf Buffer
		buf.Begin()
		msgpack.NewEncoder(&buf).Encode(&a)
		f, _ := buf.Finish(0)
		recorded = append([]byte(nil), f...)
		w.Write(f)
	})
	require.NoError(t, err)

	err = clientScript(t, key, func(_ hello, w io.Writer, _ *Reader) { w.Write(recorded) })
	assert.ErrorIs(t, err, errs.AuthFailed)
}

// TestHandshakeRestoresLimit checks that the handshake's small frame
// limit does not outlive it.
func TestHandshakeRestoresLimit(t *testing.T) {
	cc, sc := net.Pipe()
	defer cc.Close()
	defer sc.Close()
	deadline := time.Now().Add(10 * time.Second)
	cc.SetDeadline(deadline)
	sc.SetDeadline(deadline)
	r := NewReader(sc, 1<<20)
	clientDone := make(chan error, 1)
	go func() {
		cr := NewReader(cc, 0)
		_, err := ClientHandshake(cc, cr, []byte("k"), [16]byte{})
		clientDone <- err
	}()
	_, err := ServerHandshake(sc, r, []byte("k"), ServerHello{ID: [16]byte{1}})
	require.NoError(t, err)
	assert.Equal(t, 1<<20, r.max)
	require.NoError(t, <-clientDone, "the client side completes too")
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	require.NoError(t, err)
	return b
}
