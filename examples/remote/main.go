// Remote: programs that are not related to each other, on one machine or
// several, share a dictionary served over TCP.
//
//	go run ./examples/remote serve -addr 127.0.0.1:6000 -key SECRET
//	go run ./examples/remote set -addr 127.0.0.1:6000 -key SECRET NAME VALUE
//	go run ./examples/remote get -addr 127.0.0.1:6000 -key SECRET NAME
//
// serve runs until interrupted (Ctrl-C), then shuts down in order. set
// stores VALUE under NAME in the dictionary, and get prints it. A wrong
// key is refused: the command exits with status 1 and says that
// authentication failed.
//
// A key given with -key can be read by other users of the machine (ps);
// -key-file reads it from a file instead. Across machines, add TLS:
// -cert and -cert-key on serve, and -ca (the certificate that signed the
// server's) on set and get.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/goproc/manager"
)

// storeName is the name of the shared dictionary: every program that
// opens it by this name reaches the same one.
const storeName = "examples/remote.store"

const usage = `usage:
  remote serve -addr HOST:PORT -key KEY [-cert FILE -cert-key FILE]
  remote set   -addr HOST:PORT -key KEY [-ca FILE] NAME VALUE
  remote get   -addr HOST:PORT -key KEY [-ca FILE] NAME
(-key-file FILE may replace -key)
`

func main() {
	manager.Init() // first, as in every program that uses the library

	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "serve":
		err = serve(args)
	case "set", "get":
		err = client(cmd, args)
	default:
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "remote %s: %v\n", cmd, err)
		os.Exit(1)
	}
}

// common holds the flags every subcommand takes.
type common struct {
	fs      *flag.FlagSet
	addr    string
	key     string
	keyFile string
}

func newCommon(name string) *common {
	c := &common{fs: flag.NewFlagSet(name, flag.ExitOnError)}
	c.fs.StringVar(&c.addr, "addr", "127.0.0.1:6000", "TCP address of the server")
	c.fs.StringVar(&c.key, "key", "", "the shared key")
	c.fs.StringVar(&c.keyFile, "key-file", "", "read the shared key from this file")
	c.fs.Usage = func() { fmt.Fprint(os.Stderr, usage) }
	return c
}

// authKey returns the key from -key or -key-file.
func (c *common) authKey() ([]byte, error) {
	switch {
	case c.key != "" && c.keyFile != "":
		return nil, errors.New("give -key or -key-file, not both")
	case c.keyFile != "":
		b, err := os.ReadFile(c.keyFile)
		if err != nil {
			return nil, err
		}
		return []byte(strings.TrimSpace(string(b))), nil
	case c.key != "":
		return []byte(c.key), nil
	}
	return nil, errors.New("no key: give -key or -key-file (the same on every side)")
}

// serve hosts the dictionary until SIGINT or SIGTERM.
func serve(args []string) error {
	c := newCommon("serve")
	cert := c.fs.String("cert", "", "TLS certificate file (PEM)")
	certKey := c.fs.String("cert-key", "", "TLS private key file (PEM) of -cert")
	c.fs.Parse(args)
	key, err := c.authKey()
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	opts := []manager.ServerOption{manager.WithAddress("tcp", c.addr), manager.WithAuthKey(key), manager.WithLogger(logger)}
	if *cert != "" {
		pair, err := tls.LoadX509KeyPair(*cert, *certKey)
		if err != nil {
			return err
		}
		opts = append(opts, manager.WithTLS(&tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS13}))
	}
	srv, err := manager.NewServer(opts...)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	logger.Info("serving a shared dictionary; Ctrl-C to stop", "addr", c.addr, "name", storeName)
	select {
	case err := <-served:
		return err // could not listen
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, manager.ErrClosed) {
		return err
	}
	return nil
}

// client runs set or get.
func client(cmd string, args []string) error {
	c := newCommon(cmd)
	ca := c.fs.String("ca", "", "certificate (PEM) that signed the server's: use TLS")
	c.fs.Parse(args)
	want := map[string]int{"set": 2, "get": 1}[cmd]
	if c.fs.NArg() != want {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	key, err := c.authKey()
	if err != nil {
		return err
	}
	var opts []manager.ClientOption
	if *ca != "" {
		pem, err := os.ReadFile(*ca)
		if err != nil {
			return err
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s holds no PEM certificate", *ca)
		}
		opts = append(opts, manager.WithTLS(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13}))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	mc, err := manager.Connect(ctx, "tcp", c.addr, key, opts...)
	if err != nil {
		return err
	}
	defer mc.Close()
	store, err := manager.OpenDict[string, string](ctx, mc, storeName)
	if err != nil {
		return err
	}
	name := c.fs.Arg(0)
	if cmd == "set" {
		return store.Store(ctx, name, c.fs.Arg(1))
	}
	value, ok, err := store.Load(ctx, name)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("nothing stored under %q", name)
	}
	fmt.Println(value)
	return nil
}
