// Command gomanager is the Go side of the Python client's interop tests
// (python/tests): it serves a manager, and plays Go clients against one.
//
//	gomanager serve -info FILE [-tcp] [-tls]   serve until stdin closes or SIGTERM
//	gomanager dict-set  -info FILE NAME   store the values Go writes
//	gomanager dict-check -info FILE NAME  check the values Python wrote
//	gomanager produce   -info FILE QUEUE N CONSUMERS
//	gomanager lock      -info FILE NAME   acquire, print "ok" or "abandoned", release
//	gomanager barrier   -info FILE NAME PARTIES
//	gomanager get       -info FILE QUEUE  one Get, print the item as JSON
//	gomanager get-dict  -info FILE DICT KEY  print the value as JSON
//	gomanager float-keys -info FILE DICT  store NaN and -0.0 keys, print NaN's value
//	gomanager proxy-set -info FILE DICT   store a Go List proxy under "go_list"
//	gomanager proxy-check -info FILE DICT print the List Python stored under "py_list"
//
// serve writes the address and the key (hex) as JSON to FILE (mode 0600),
// never on the command line; the other commands read them from there.
// serve also registers the custom type "Counter" (Inc, Get, Fail).
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/big"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/goproc/manager"
)

// Counter is a custom type whose exposed methods Python calls by name.
type Counter struct {
	mu sync.Mutex
	n  int
}

// Inc adds n and returns the sum.
func (c *Counter) Inc(n int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n += n
	return c.n
}

// Get returns the count.
func (c *Counter) Get() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// Fail returns an error with msg, for the tests of remote errors.
func (c *Counter) Fail(msg string) error { return errors.New(msg) }

func init() {
	manager.Register[*Counter]("Counter", func(start int) *Counter { return &Counter{n: start} })
}

// info is what serve writes for the other side.
type info struct {
	Network string `json:"network"`
	Address string `json:"address"`
	Key     string `json:"key"`
	Pid     int    `json:"pid"`
	CA      string `json:"ca,omitempty"` // with -tls: the server's certificate (PEM)
}

// selfSigned returns a new certificate for 127.0.0.1 and its PEM.
func selfSigned() (tls.Certificate, []byte, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "gomanager test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gomanager serve|dict-set|dict-check|produce|lock|barrier|get -info FILE ...")
		os.Exit(2)
	}
	cmd := os.Args[1]
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	infoFile := fs.String("info", "", "the file serve writes the address and key to")
	tcp := fs.Bool("tcp", false, "serve on 127.0.0.1 TCP rather than a Unix socket")
	useTLS := fs.Bool("tls", false, "serve TCP inside TLS, with a new self-signed certificate for 127.0.0.1 (its PEM goes to the info file's \"ca\")")
	fs.Parse(os.Args[2:])
	if *infoFile == "" {
		fmt.Fprintln(os.Stderr, "gomanager: -info FILE is required")
		os.Exit(2)
	}
	var err error
	if cmd == "serve" {
		err = serve(*infoFile, *tcp || *useTLS, *useTLS)
	} else {
		err = client(cmd, *infoFile, fs.Args())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gomanager", cmd+":", err)
		os.Exit(1)
	}
}

func serve(infoFile string, tcp, useTLS bool) error {
	key := make([]byte, 32)
	rand.Read(key)
	var l net.Listener
	var err error
	network := "unix"
	if tcp {
		network = "tcp"
		l, err = net.Listen("tcp", "127.0.0.1:0")
	} else {
		dir, derr := os.MkdirTemp("", "gomanager-")
		if derr != nil {
			return derr
		}
		defer os.RemoveAll(dir)
		l, err = net.Listen("unix", filepath.Join(dir, "manager.sock"))
	}
	if err != nil {
		return err
	}
	opts := []manager.Option{manager.WithAuthKey(key)}
	var caFile string
	if useTLS {
		cert, pemBytes, err := selfSigned()
		if err != nil {
			return err
		}
		caFile = infoFile + ".ca.pem"
		if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
			return err
		}
		opts = append(opts, manager.WithTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	}
	srv, err := manager.NewServer(opts...)
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()

	b, _ := json.Marshal(info{Network: network, Address: l.Addr().String(), Key: hex.EncodeToString(key), Pid: os.Getpid(), CA: caFile})
	tmp := infoFile + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, infoFile); err != nil {
		return err
	}
	fmt.Println("ready") // the test waits for this line

	// Serve until the test closes our stdin (or dies) or sends SIGTERM.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	stdinClosed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	select {
	case <-ctx.Done():
	case <-stdinClosed:
	case err := <-served:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

func client(cmd, infoFile string, args []string) error {
	b, err := os.ReadFile(infoFile)
	if err != nil {
		return err
	}
	var in info
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	key, err := hex.DecodeString(in.Key)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var opts []manager.Option
	if in.CA != "" {
		pemBytes, err := os.ReadFile(in.CA)
		if err != nil {
			return err
		}
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(pemBytes)
		opts = append(opts, manager.WithTLS(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}))
	}
	c, err := manager.Connect(ctx, in.Network, in.Address, key, opts...)
	if err != nil {
		return err
	}
	defer c.Close()
	need := map[string]int{"float-keys": 1, "proxy-set": 1, "proxy-check": 1, "get-dict": 2, "dict-set": 1, "dict-check": 1, "produce": 3, "lock": 1, "barrier": 2, "get": 1}
	if n, ok := need[cmd]; !ok || len(args) != n {
		return fmt.Errorf("unknown command or wrong number of arguments: %s %v", cmd, args)
	}
	switch cmd {
	case "dict-set":
		return dictSet(ctx, c, args[0])
	case "dict-check":
		return dictCheck(ctx, c, args[0])
	case "produce":
		n, _ := strconv.Atoi(args[1])
		consumers, _ := strconv.Atoi(args[2])
		return produce(ctx, c, args[0], n, consumers)
	case "lock":
		l, err := manager.OpenLock(ctx, c, args[0])
		if err != nil {
			return err
		}
		err = l.Acquire(ctx)
		switch {
		case errors.Is(err, manager.ErrAbandoned):
			fmt.Println("abandoned")
		case err != nil:
			return err
		default:
			fmt.Println("ok")
		}
		return l.Release(ctx)
	case "barrier":
		parties, _ := strconv.Atoi(args[1])
		br, err := manager.OpenBarrier(ctx, c, args[0], parties)
		if err != nil {
			return err
		}
		i, err := br.Wait(ctx)
		if err != nil {
			return err
		}
		fmt.Println(i)
		return nil
	case "float-keys": // store NaN and -0.0 keys unless present; print what NaN holds
		d, err := manager.OpenDict[float64, string](ctx, c, args[0])
		if err != nil {
			return err
		}
		if _, _, err := d.LoadOrStore(ctx, math.NaN(), "go nan"); err != nil {
			return err
		}
		if _, _, err := d.LoadOrStore(ctx, math.Copysign(0, -1), "go zero"); err != nil {
			return err
		}
		v, _, err := d.Load(ctx, math.Float64frombits(0x7ff8_0000_0000_0002)) // another NaN
		if err != nil {
			return err
		}
		fmt.Println(v)
		return nil
	case "proxy-set": // store a new List [1 2 3] in the dict under "go_list"
		d, err := manager.OpenDict[string, *manager.List[int]](ctx, c, args[0])
		if err != nil {
			return err
		}
		l, err := manager.NewList(ctx, c, 1, 2, 3)
		if err != nil {
			return err
		}
		defer l.Close() // the dict holds its own reference
		return d.Store(ctx, "go_list", l)
	case "proxy-check": // print the elements of the List Python stored under "py_list"
		d, err := manager.OpenDict[string, *manager.List[any]](ctx, c, args[0])
		if err != nil {
			return err
		}
		l, ok, err := d.Load(ctx, "py_list")
		if err != nil || !ok {
			return fmt.Errorf("load py_list: found %v, %v", ok, err)
		}
		defer l.Close()
		all, err := l.Copy(ctx)
		if err != nil {
			return err
		}
		out, _ := json.Marshal(all)
		fmt.Println(string(out))
		return nil
	case "get-dict":
		d, err := manager.OpenDict[string, any](ctx, c, args[0])
		if err != nil {
			return err
		}
		v, ok, err := d.Load(ctx, args[1])
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("no %q in %s", args[1], args[0])
		}
		out, _ := json.Marshal(v)
		fmt.Println(string(out))
		return nil
	case "get":
		q, err := manager.OpenQueue[any](ctx, c, args[0], 0)
		if err != nil {
			return err
		}
		item, err := q.Get(ctx)
		if err != nil {
			return err
		}
		out, _ := json.Marshal(item)
		fmt.Println(string(out))
		return nil
	}
	return nil
}

// goValues are what dict-set stores: the test reads them in Python.
func goValues() map[string]any {
	return map[string]any{
		"go_map":   map[string]any{"b": 2, "a": 1, "c": map[string]any{"y": 1, "x": []any{1, 2}}},
		"go_int":   1 << 40,
		"go_small": 7,
		"go_neg":   -300,
		"go_str":   "héllo",
		"go_bytes": []byte{0, 1, 2},
		"go_float": 1.25,
		"go_bool":  true,
		"go_nil":   nil,
		"go_list":  []any{1, "two", 3.5, false},
	}
}

func dictSet(ctx context.Context, c *manager.Client, name string) error {
	d, err := manager.OpenDict[any, any](ctx, c, name)
	if err != nil {
		return err
	}
	for k, v := range goValues() {
		if err := d.Store(ctx, k, v); err != nil {
			return fmt.Errorf("store %s: %w", k, err)
		}
	}
	// An int key, as Go's int encodes it.
	return d.Store(ctx, 42, "forty-two")
}

// dictCheck checks what the Python test stored, by the bytes the manager
// compares: each CompareAndSwap with the value Go builds succeeds only if
// Python encoded the same bytes.
func dictCheck(ctx context.Context, c *manager.Client, name string) error {
	d, err := manager.OpenDict[any, any](ctx, c, name)
	if err != nil {
		return err
	}
	want := []struct {
		key   any
		value any
	}{
		{"py_int", 7},
		{"py_big", 1 << 40},
		{"py_neg", -300},
		{"py_float", 2.5},
		{"py_str", "ünïcode"},
		{"py_bytes", []byte{0, 1}},
		{"py_none", nil},
		{"py_list", []any{1, "a", true}},
		{"py_map", map[string]any{"z": 1, "a": []any{1, map[string]any{"y": 2, "b": 3}}}},
		{7, "seven"},
		{"py_nested_keys", map[any]any{10: "ten", -1: "minus one", "k": "v"}},
	}
	var failed []string
	for _, w := range want {
		ok, err := d.CompareAndSwap(ctx, w.key, w.value, w.value)
		if err != nil {
			return fmt.Errorf("compare %v: %w", w.key, err)
		}
		if !ok {
			got, found, _ := d.Load(ctx, w.key)
			failed = append(failed, fmt.Sprintf("%v: want %#v, stored %#v (found %v)", w.key, w.value, got, found))
		}
	}
	// The same value decoded by Go, for a deeper look.
	got, _, err := d.Load(ctx, "py_map")
	if err != nil {
		return err
	}
	if !reflect.DeepEqual(got, map[string]any{"z": int8(1), "a": []any{int8(1), map[string]any{"y": int8(2), "b": int8(3)}}}) {
		failed = append(failed, fmt.Sprintf("py_map decoded as %#v", got))
	}
	if len(failed) > 0 {
		return fmt.Errorf("values Python stored differ from Go's: %q", failed)
	}
	fmt.Println("ok")
	return nil
}

func produce(ctx context.Context, c *manager.Client, name string, n, consumers int) error {
	q, err := manager.OpenQueue[int](ctx, c, name, 0)
	if err != nil {
		return err
	}
	for i := range n {
		if err := q.Put(ctx, i); err != nil {
			return err
		}
	}
	for range consumers {
		if err := q.Put(ctx, -1); err != nil {
			return err
		}
	}
	fmt.Println("produced")
	return nil
}
