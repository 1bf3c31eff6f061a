package wire

import (
	"fmt"
	"io"
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
