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

// The handshake, on every new connection, before any request (PROTOCOL.md
// at the repository root gives it byte by byte):
//
//	server → client  hello   [version, server nonce]
//	client → server  auth    [client nonce, session id, MAC_c, version]
//	server → client  welcome [ok, MAC_s, server id, max frame, pid, code, text]
//
//	MAC_c = HMAC-SHA256(key, "manager/1 client" ‖ server nonce ‖ client nonce ‖ session)
//	MAC_s = HMAC-SHA256(key, "manager/1 server" ‖ client nonce ‖ server nonce)
//
// Each side proves it holds the key without sending it, over a nonce the
// other side just chose, so a recorded handshake cannot be replayed. The
// server answers a wrong MAC with ok=false and closes the connection; the
// client checks MAC_s before it trusts anything else the server says.
//
// Both sides name their protocol version, and each refuses a peer of
// another version with an error naming both: the client as soon as it
// reads hello (whose first element stays the version in every version),
// the server when it reads auth, answering ok=false with code "protocol"
// and the reason in text, so that a client which does not check hello
// still learns why. A version-1 client sent a 3-element auth without the
// version; the server recognises and refuses it by that shape.

// Version is the protocol version; peers of different versions refuse
// each other with a clear error. Version 2 added the version to auth,
// the code and text to welcome, and the optional timeout of a request.
const Version = 2

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
	Version  int
}

// authV1Fields is the length of a version-1 client's auth, which had no
// version.
const authV1Fields = 3

type welcome struct {
	//lint:ignore U1000 msgpack reads this field's tag (as_array), never its value
	_msgpack struct{} `msgpack:",as_array"`
	OK       bool
	MAC      []byte
	ServerID []byte
	MaxFrame int
	Pid      int
	// Code and Text say why a refused client was refused (ok false): an
	// errs code ("auth_failed", "protocol") and a message for people.
	Code string
	Text string
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
	body, err := readHandshake(r)
	if err != nil {
		return err
	}
	return decodeHandshake(body, v)
}

// readHandshake reads one handshake frame and checks it as every frame
// is checked (Scan) before anything decodes it.
func readHandshake(r *Reader) ([]byte, error) {
	body, err := r.ReadFrame()
	if err != nil {
		return nil, err
	}
	if err := Scan(body, nil); err != nil {
		return nil, fmt.Errorf("%w: handshake: %v", errs.Protocol, err)
	}
	return body, nil
}

// decodeHandshake decodes a handshake frame's body into v.
func decodeHandshake(body []byte, v any) error {
	if err := msgpack.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: handshake: %v", errs.Protocol, err)
	}
	return nil
}

// recvHello reads the server's hello, checking its version before its
// layout: a server of another version may lay out the rest differently,
// and the client must still say which versions differ.
func recvHello(r *Reader, h *hello) error {
	body, err := readHandshake(r)
	if err != nil {
		return err
	}
	p := parser{b: body}
	if p.arrayHeader() < 1 || p.err != nil {
		return fmt.Errorf("%w: handshake: hello is not an array starting with a version", errs.Protocol)
	}
	v := p.uint()
	if p.err != nil {
		return fmt.Errorf("%w: handshake: hello's version is not an unsigned integer", errs.Protocol)
	}
	if v != Version {
		return fmt.Errorf("%w: the server speaks protocol version %d, this client version %d (use the same library version on both sides)", errs.Protocol, v, Version)
	}
	return decodeHandshake(body, h)
}

// recvAuth reads a client's auth. A client of another version gets an
// error wrapping errs.Protocol naming both versions (version 1 is known
// by its 3-element auth).
func recvAuth(r *Reader, a *auth) error {
	body, err := readHandshake(r)
	if err != nil {
		return err
	}
	p := parser{b: body}
	if n := p.arrayHeader(); p.err == nil && n == authV1Fields {
		return versionError(1)
	}
	if err := decodeHandshake(body, a); err != nil {
		return err
	}
	if a.Version != Version {
		return versionError(a.Version)
	}
	return nil
}

// versionError is the server's refusal of a client of another version.
func versionError(client int) error {
	return &refusal{reason: fmt.Sprintf("the client speaks protocol version %d, this server version %d (use the same library version on both sides)", client, Version)}
}

// A refusal is a protocol error whose reason the server sends the client
// in its welcome.
type refusal struct{ reason string }

func (e *refusal) Error() string { return errs.Protocol.Error() + ": " + e.reason }
func (e *refusal) Unwrap() error { return errs.Protocol }

// ClientHandshake authenticates a new connection from the client side.
// The caller sets a deadline on the connection. A wrong key gives an error
// wrapping errs.AuthFailed.
func ClientHandshake(w io.Writer, r *Reader, key []byte, session [16]byte) (ServerInfo, error) {
	max := r.max
	r.SetMax(HandshakeMaxFrame)
	defer r.SetMax(max)

	var h hello
	if err := recvHello(r, &h); err != nil {
		return ServerInfo{}, fmt.Errorf("read hello: %w", err)
	}
	cn := nonce()
	a := auth{Nonce: cn, Session: session[:], MAC: mac(key, "manager/1 client", h.Nonce, cn, session[:]), Version: Version}
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
		if wl.Code == errs.Protocol.Code() && wl.Text != "" {
			return ServerInfo{}, fmt.Errorf("%w: refused by the server: %s", errs.Protocol, wl.Text)
		}
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
	if err := recvAuth(r, &a); err != nil {
		var why *refusal
		if errors.As(err, &why) {
			// Best effort: tell the client why before closing.
			send(w, &welcome{OK: false, Code: errs.Protocol.Code(), Text: why.reason})
		}
		return session, fmt.Errorf("read auth: %w", err)
	}
	if len(a.Session) != len(session) || len(a.Nonce) != nonceSize {
		return session, fmt.Errorf("%w: handshake: bad auth message", errs.Protocol)
	}
	if !hmac.Equal(a.MAC, mac(key, "manager/1 client", sn, a.Nonce, a.Session)) {
		send(w, &welcome{OK: false, Code: errs.AuthFailed.Code()}) // best effort: the peer may be gone
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
