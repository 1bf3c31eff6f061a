package wire

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/errs"
)

// The handshake, on every new connection, before any request:
//
//	server → client  hello   {version, server nonce}
//	client → server  auth    {client nonce, session id, MAC_c}
//	server → client  welcome {ok, MAC_s, server id, max frame, pid}
//
//	MAC_c = HMAC-SHA256(key, "manager/1 client" ‖ server nonce ‖ client nonce ‖ session)
//	MAC_s = HMAC-SHA256(key, "manager/1 server" ‖ client nonce ‖ server nonce)
//
// Each side proves it holds the key without sending it, over a nonce the
// other side just chose, so a recorded handshake cannot be replayed. The
// server answers a wrong MAC with ok=false and closes the connection; the
// client checks MAC_s before it trusts anything else the server says.

// Version is the protocol version; peers of different versions refuse
// each other with a clear error.
const Version = 1

// HandshakeMaxFrame bounds handshake frames: a peer that has not yet
// authenticated cannot make the other side allocate more than this.
const HandshakeMaxFrame = 1 << 10

// KeySize is the size of generated keys.
const KeySize = 32

const nonceSize = 32

type hello struct {
	//lint:ignore U1000 msgpack reads this field's tag (as_array), never its value
	_msgpack struct{} `msgpack:",as_array"`
	Version  int
	Nonce    []byte
}

type auth struct {
	//lint:ignore U1000 msgpack reads this field's tag (as_array), never its value
	_msgpack struct{} `msgpack:",as_array"`
	Nonce    []byte
	Session  []byte
	MAC      []byte
}

type welcome struct {
	//lint:ignore U1000 msgpack reads this field's tag (as_array), never its value
	_msgpack struct{} `msgpack:",as_array"`
	OK       bool
	MAC      []byte
	ServerID []byte
	MaxFrame int
	Pid      int
}

// ServerInfo is what a client learns from a successful handshake.
type ServerInfo struct {
	ID       [16]byte
	MaxFrame int
	Pid      int
}

// ServerHello is what a server tells each client it accepts.
type ServerHello struct {
	ID       [16]byte
	MaxFrame int
	Pid      int
}

func mac(key []byte, label string, parts ...[]byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(label))
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

func nonce() []byte {
	b := make([]byte, nonceSize)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return b
}

func send(w io.Writer, v any) error {
	var buf Buffer
	buf.Begin()
	if err := msgpack.NewEncoder(&buf).Encode(v); err != nil {
		return err
	}
	frame, err := buf.Finish(HandshakeMaxFrame)
	if err != nil {
		return err
	}
	_, err = w.Write(frame)
	return err
}

func recv(r *Reader, v any) error {
	body, err := r.ReadFrame()
	if err != nil {
		return err
	}
	if err := Scan(body, nil); err != nil {
		return fmt.Errorf("%w: handshake: %v", errs.Protocol, err)
	}
	if err := msgpack.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: handshake: %v", errs.Protocol, err)
	}
	return nil
}

// ClientHandshake authenticates a new connection from the client side.
// The caller sets a deadline on the connection. A wrong key gives an error
// wrapping errs.AuthFailed.
func ClientHandshake(w io.Writer, r *Reader, key []byte, session [16]byte) (ServerInfo, error) {
	max := r.max
	r.SetMax(HandshakeMaxFrame)
	defer r.SetMax(max)

	var h hello
	if err := recv(r, &h); err != nil {
		return ServerInfo{}, fmt.Errorf("read hello: %w", err)
	}
	if h.Version != Version {
		return ServerInfo{}, fmt.Errorf("%w: server speaks protocol %d, this client %d (use the same library version on both sides)", errs.Protocol, h.Version, Version)
	}
	cn := nonce()
	a := auth{Nonce: cn, Session: session[:], MAC: mac(key, "manager/1 client", h.Nonce, cn, session[:])}
	if err := send(w, &a); err != nil {
		return ServerInfo{}, fmt.Errorf("send auth: %w", err)
	}
	var wl welcome
	if err := recv(r, &wl); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return ServerInfo{}, fmt.Errorf("%w (the server closed the connection during the handshake)", errs.AuthFailed)
		}
		return ServerInfo{}, fmt.Errorf("read welcome: %w", err)
	}
	if !wl.OK {
		return ServerInfo{}, errs.AuthFailed
	}
	if !hmac.Equal(wl.MAC, mac(key, "manager/1 server", cn, h.Nonce)) {
		return ServerInfo{}, fmt.Errorf("%w: the server could not prove it holds the key", errs.AuthFailed)
	}
	var info ServerInfo
	if len(wl.ServerID) != len(info.ID) {
		return ServerInfo{}, fmt.Errorf("%w: handshake: server id of %d bytes", errs.Protocol, len(wl.ServerID))
	}
	copy(info.ID[:], wl.ServerID)
	info.MaxFrame, info.Pid = wl.MaxFrame, wl.Pid
	return info, nil
}

// ServerHandshake authenticates a new connection from the server side and
// returns the client's session id. The caller sets a deadline on the
// connection. A wrong key gives an error wrapping errs.AuthFailed after
// the client has been told.
func ServerHandshake(w io.Writer, r *Reader, key []byte, me ServerHello) ([16]byte, error) {
	var session [16]byte
	max := r.max
	r.SetMax(HandshakeMaxFrame)
	defer r.SetMax(max)

	sn := nonce()
	if err := send(w, &hello{Version: Version, Nonce: sn}); err != nil {
		return session, fmt.Errorf("send hello: %w", err)
	}
	var a auth
	if err := recv(r, &a); err != nil {
		return session, fmt.Errorf("read auth: %w", err)
	}
	if len(a.Session) != len(session) || len(a.Nonce) != nonceSize {
		return session, fmt.Errorf("%w: handshake: bad auth message", errs.Protocol)
	}
	if !hmac.Equal(a.MAC, mac(key, "manager/1 client", sn, a.Nonce, a.Session)) {
		send(w, &welcome{OK: false}) // best effort: the peer may be gone
		return session, errs.AuthFailed
	}
	copy(session[:], a.Session)
	wl := welcome{OK: true, MAC: mac(key, "manager/1 server", a.Nonce, sn), ServerID: me.ID[:], MaxFrame: me.MaxFrame, Pid: me.Pid}
	if err := send(w, &wl); err != nil {
		return session, fmt.Errorf("send welcome: %w", err)
	}
	return session, nil
}

// NewKey returns a random key of KeySize bytes.
func NewKey() []byte { return nonce() }
