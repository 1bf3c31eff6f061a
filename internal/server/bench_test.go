package server

import (
	"context"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/builtin"
	"github.com/goproc/manager/internal/wire"
)

// The server's share of a call with no socket in the way: decode the
// request, dispatch it to a built-in Dict, encode and "send" the reply.
// Socket round trips dominate (and make noisy) BenchmarkDispatchDict;
// this isolates the CPU the server spends per request:
//
//	go test -run '^$' -bench ServerHandle -count 10 > new.txt

// discardConn is a net.Conn whose writes succeed and vanish.
type discardConn struct{ net.Conn }

func (discardConn) Write(p []byte) (int, error)     { return len(p), nil }
func (discardConn) SetWriteBuffer(int) error        { return nil }
func (discardConn) SetDeadline(time.Time) error     { return nil }
func (discardConn) Close() error                    { return nil }
func (discardConn) RemoteAddr() net.Addr            { return nil }
func (discardConn) SetReadDeadline(time.Time) error { return nil }

func BenchmarkServerHandle(b *testing.B) {
	s := New(Config{})
	t, ok := lookupType(builtin.TypeDict)
	if !ok {
		b.Fatal("Dict is not registered")
	}
	d, err := builtin.NewDict(context.Background(), nil)
	if err != nil {
		b.Fatal(err)
	}
	o := s.objects.add(t, reflect.ValueOf(d))
	c := newServerConn(s, discardConn{}, wire.NewReader(strings.NewReader(""), wire.DefaultMaxFrameSize), [16]byte{1})

	request := func(method string, args ...any) []byte {
		var w wire.Buffer
		wire.BeginRequest(&w, 1, o.id, 1, method)
		w.ArrayHeader(len(args))
		enc := msgpack.NewEncoder(&w)
		for _, a := range args {
			if err := enc.Encode(a); err != nil {
				b.Fatal(err)
			}
		}
		return append([]byte(nil), w.Body()...)
	}
	tests := []struct {
		name string
		body []byte
	}{
		{"Dict.Store", request("Store", 123456, 123456)},
		{"Dict.Load", request("Load", 123456)},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := wire.Decode(tt.body, &c.msg, c.pinFn); err != nil {
					b.Fatal(err)
				}
				if c.execute(&c.msg.Request) {
					b.Fatal("blocked")
				}
			}
		})
	}
}
