package wire

import (
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/errs"
)

// TestServerRefusesOtherVersion plays clients of other protocol versions
// (with the right key): the server refuses each with an error naming both
// versions, and tells the client why in its welcome.
func TestServerRefusesOtherVersion(t *testing.T) {
	key := []byte("key")
	tests := []struct {
		name        string
		auth        func(h hello) any
		wantVersion int
	}{
		{"version 1 (auth without a version)", func(h hello) any {
			cn := nonce()
			return []any{cn, make([]byte, 16), mac(key, "manager/1 client", h.Nonce, cn, make([]byte, 16))}
		}, 1},
		{"a later version", func(h hello) any {
			cn := nonce()
			return &auth{Version: Version + 1, Nonce: cn, Session: make([]byte, 16), MAC: mac(key, "manager/1 client", h.Nonce, cn, make([]byte, 16))}
		}, Version + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got welcome
			var clientErr error
			err := clientScript(t, key, func(h hello, w io.Writer, r *Reader) {
				var buf Buffer
				buf.Begin()
				require.NoError(t, msgpack.NewEncoder(&buf).Encode(tt.auth(h)))
				f, _ := buf.Finish(0)
				w.Write(f)
				clientErr = recv(r, &got)
			})
			require.ErrorIs(t, err, errs.Protocol)
			want := fmt.Sprintf("the client speaks protocol version %d, this server version %d", tt.wantVersion, Version)
			assert.Contains(t, err.Error(), want)
			require.NoError(t, clientErr, "the server answers before closing")
			assert.False(t, got.OK)
			assert.Equal(t, errs.Protocol.Code(), got.Code)
			assert.Contains(t, got.Text, want)
		})
	}
}

// TestClientRefusesOtherVersion plays a server of a later version whose
// hello has a layout this client does not know: the client still names
// both versions, and sends nothing.
func TestClientRefusesOtherVersion(t *testing.T) {
	var sent []byte
	err := serverScript(t, func(w io.Writer, r *Reader) {
		send(w, []any{Version + 1, nonce(), "a field of the future"})
		body, _ := r.ReadFrame()
		sent = append(sent, body...)
	})
	require.ErrorIs(t, err, errs.Protocol)
	assert.Contains(t, err.Error(), fmt.Sprintf("the server speaks protocol version %d, this client version %d", Version+1, Version))
	assert.Empty(t, sent, "the client sent its auth to a server of another version")
}

// TestClientReportsServerRefusal checks that a client learns why a server
// refused it, rather than being told its key is wrong.
func TestClientReportsServerRefusal(t *testing.T) {
	err := serverScript(t, func(w io.Writer, r *Reader) {
		send(w, &hello{Version: Version, Nonce: nonce()})
		var a auth
		if recv(r, &a) != nil {
			return
		}
		send(w, &welcome{OK: false, Code: errs.Protocol.Code(), Text: "the reason"})
	})
	require.ErrorIs(t, err, errs.Protocol)
	assert.NotErrorIs(t, err, errs.AuthFailed)
	assert.Contains(t, err.Error(), "the reason")
}

// TestHandshakeSendsVersion checks the version travels in auth.
func TestHandshakeSendsVersion(t *testing.T) {
	var got auth
	serverScript(t, func(w io.Writer, r *Reader) {
		send(w, &hello{Version: Version, Nonce: nonce()})
		recv(r, &got)
	})
	assert.Equal(t, Version, got.Version)
}

// docBytes returns the bytes PROTOCOL.md shows on the first line that
// starts with prefix and shows bytes: two-digit hex tokens and "quoted"
// strings, up to the first other token.
func docBytes(t *testing.T, prefix string) []byte {
	t.Helper()
	doc, err := os.ReadFile("../../PROTOCOL.md")
	require.NoError(t, err)
	for _, line := range strings.Split(string(doc), "\n") {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		var out []byte
		rest := strings.TrimSpace(strings.TrimPrefix(line, prefix))
		for rest != "" {
			var tok string
			if rest[0] == '"' {
				end := strings.IndexByte(rest[1:], '"')
				require.GreaterOrEqual(t, end, 0, "unterminated string in %q", line)
				out = append(out, rest[1:1+end]...)
				rest = strings.TrimSpace(rest[2+end:])
				continue
			}
			tok, rest, _ = strings.Cut(rest, " ")
			rest = strings.TrimSpace(rest)
			b, err := hex.DecodeString(tok)
			if err != nil || len(b) != 1 {
				break
			}
			out = append(out, b...)
		}
		if len(out) > 0 {
			return out
		}
	}
	t.Fatalf("PROTOCOL.md has no line starting with %q", prefix)
	return nil
}

// TestProtocolDocExamples checks the byte-by-byte examples of PROTOCOL.md
// against what this package writes.
func TestProtocolDocExamples(t *testing.T) {
	var w Buffer
	frameOf := func() []byte {
		f, err := w.Finish(0)
		require.NoError(t, err)
		return append([]byte(nil), f...)
	}

	BeginRequest(&w, 0, 5, 1, "Load")
	w.Write([]byte{0x91, 0xa1, 'a'})
	assert.Equal(t, docBytes(t, "request   "), frameOf(), "Dict.Load request")

	BeginResponse(&w, 0)
	w.Write([]byte{0x92, 0x01, 0xc3})
	assert.Equal(t, docBytes(t, "response  "), frameOf(), "Dict.Load response")

	w.Begin()
	require.NoError(t, msgpack.NewEncoder(&w).Encode(&welcome{OK: false, Code: errs.AuthFailed.Code()}))
	assert.Equal(t, docBytes(t, "refusal  "), frameOf(), "wrong-key welcome")

	w.Begin()
	require.NoError(t, msgpack.NewEncoder(&w).Encode(&hello{Version: Version, Nonce: make([]byte, nonceSize)}))
	f := frameOf()
	assert.Equal(t, docBytes(t, "hello    "), f[:len(f)-nonceSize], "hello without its nonce")

	w.Begin()
	require.NoError(t, msgpack.NewEncoder(&w).Encode(&auth{Version: Version, Nonce: make([]byte, nonceSize), Session: make([]byte, 16), MAC: make([]byte, 32)}))
	f = frameOf()
	assert.Equal(t, docBytes(t, "auth     "), f[:7], "auth's start")
	assert.Len(t, f, 4+0x58)
	assert.Equal(t, byte(Version), f[len(f)-1], "auth ends with the version")
}
