package wire

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// The codec's share of every call, measured alone so that a regression
// shows as ns/op and allocs/op (compare with benchstat on -count=10):
//
//	go test ./internal/wire -run '^$' -bench . -count 10 > new.txt

// benchPayloads are call arguments of the sizes the workloads use: a
// W1 store (two small ints), a W3 item (100 bytes), a map, and a W6 value
// (1 MiB).
func benchPayloads(tb testing.TB) []struct {
	name string
	args []byte
} {
	tb.Helper()
	return []struct {
		name string
		args []byte
	}{
		{"ints", mustMarshal(tb, []any{12345, 67890})},
		{"100B", mustMarshal(tb, []any{bytes.Repeat([]byte{'x'}, 100)})},
		{"map16", mustMarshal(tb, []any{benchMap(16)})},
		{"1MiB", mustMarshal(tb, []any{make([]byte, 1<<20)})},
	}
}

func benchMap(n int) map[string]int {
	m := make(map[string]int, n)
	for i := range n {
		m[fmt.Sprintf("key-%d", i)] = i
	}
	return m
}

// BenchmarkFrameEncode builds a request frame: envelope, arguments, length.
func BenchmarkFrameEncode(b *testing.B) {
	for _, p := range benchPayloads(b) {
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(p.args)))
			var w Buffer
			for b.Loop() {
				BeginRequest(&w, 42, 7, 3, "Store")
				w.Write(p.args)
				if _, err := w.Finish(DefaultMaxFrameSize); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFrameEncodeMsgpack is FrameEncode with the arguments encoded
// by a msgpack.Encoder writing into the frame, as the client does.
func BenchmarkFrameEncodeMsgpack(b *testing.B) {
	b.ReportAllocs()
	var w Buffer
	enc := msgpack.NewEncoder(&w)
	for b.Loop() {
		BeginRequest(&w, 42, 7, 3, "Store")
		w.ArrayHeader(2)
		enc.Encode(12345)
		enc.Encode(67890)
		if _, err := w.Finish(DefaultMaxFrameSize); err != nil {
			b.Fatal(err)
		}
	}
}

// loopReader serves the same bytes again and again, in reads of at most
// chunk bytes (a socket hands out what has arrived).
type loopReader struct {
	data  []byte
	off   int
	chunk int
}

func (r *loopReader) Read(p []byte) (int, error) {
	if r.off == len(r.data) {
		r.off = 0
	}
	n := min(len(p), len(r.data)-r.off, r.chunk)
	copy(p, r.data[r.off:r.off+n])
	r.off += n
	return n, nil
}

var _ io.Reader = (*loopReader)(nil)

// BenchmarkReadFrame reads request frames from a stream.
func BenchmarkReadFrame(b *testing.B) {
	for _, p := range benchPayloads(b) {
		b.Run(p.name, func(b *testing.B) {
			var w Buffer
			BeginRequest(&w, 42, 7, 3, "Store")
			w.Write(p.args)
			f, err := w.Finish(DefaultMaxFrameSize)
			if err != nil {
				b.Fatal(err)
			}
			r := NewReader(&loopReader{data: bytes.Clone(f), chunk: 256 << 10}, DefaultMaxFrameSize)
			b.ReportAllocs()
			b.SetBytes(int64(len(f)))
			for b.Loop() {
				if _, err := r.ReadFrame(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkScan validates argument payloads before decoding.
func BenchmarkScan(b *testing.B) {
	for _, p := range benchPayloads(b) {
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(p.args)))
			for b.Loop() {
				if err := Scan(p.args, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecode parses whole messages: a request, a success response
// and a failure response.
func BenchmarkDecode(b *testing.B) {
	var req, resp, fail Buffer
	BeginRequest(&req, 42, 7, 3, "Store")
	req.Write(mustMarshal(b, []any{12345, 67890}))
	BeginResponse(&resp, 42)
	resp.Write(mustMarshal(b, []any{12345, true}))
	AppendFailure(&fail, 42, &Failure{Remote: true, Code: "bad-arguments", Type: "*errors.errorString", Message: "boom"})
	tests := []struct {
		name string
		body []byte
	}{
		{"request", req.Body()},
		{"response", resp.Body()},
		{"failure", fail.Body()},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			var m Message
			for b.Loop() {
				if err := Decode(tt.body, &m, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
