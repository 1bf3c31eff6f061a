package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// The dashboard: `managerctl ... dashboard [-listen ADDR]` serves one
// page that shows what the other subcommands print, kept up to date by
// a little JavaScript that polls /api/state. One goroutine (the
// sampler, dashboard_state.go) asks the manager for Stats and Objects
// once per -interval and keeps the answers; the HTTP handlers only read
// what it kept, so neither the number of open pages nor a manager that
// stopped answering can make a request wait on the manager.

//go:embed web
var webFS embed.FS

// page is the HTML page, rendered with the state at the time of the
// request: it is complete without JavaScript, which then keeps it
// fresh.
var page = template.Must(template.ParseFS(webFS, "web/index.html"))

const dashboardUsage = "usage: managerctl ... dashboard [-listen ADDR] [-allow-remote] [-interval D] [-history D]"

// dashboard runs the dashboard subcommand until ctx ends or the process
// gets SIGINT or SIGTERM. It fails at once if the manager cannot be
// reached at start, so that a wrong address or key is told on the
// command line rather than on a page; later it reconnects by itself.
// timeout (-timeout) bounds connecting and each poll.
func dashboard(ctx context.Context, args []string, ep endpoint, timeout time.Duration, out io.Writer) error {
	fs := flag.NewFlagSet("dashboard", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8080", "the address to serve the page on (host:port)")
	allowRemote := fs.Bool("allow-remote", false, "serve on a non-loopback address: anyone who reaches it sees the sessions, objects and locks, with no password")
	interval := fs.Duration("interval", time.Second, "how often to ask the manager for its state (and the plot's resolution)")
	history := fs.Duration("history", 10*time.Minute, "how far back the calls-per-second plot goes")
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		var flags strings.Builder
		fs.SetOutput(&flags)
		fs.PrintDefaults()
		return fmt.Errorf("dashboard: %w\n%s\n%s", err, dashboardUsage, flags.String())
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("dashboard takes no arguments, got %q\n%s", fs.Args(), dashboardUsage)
	}
	if *interval < 10*time.Millisecond || *history < 2**interval {
		return fmt.Errorf("dashboard: -interval must be at least 10ms and -history at least two intervals\n%s", dashboardUsage)
	}
	if err := checkListen(*listen, *allowRemote); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	s := newSampler(ep, *interval, *history, timeout, out)
	if err := s.connect(ctx); err != nil {
		return err
	}
	defer s.close()
	s.poll(ctx) // the first page shows the state at once

	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	// "localhost" or a name may resolve to an address that is not a
	// loopback one: check where the listener really is.
	if ip := l.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() && !*allowRemote {
		l.Close()
		return errNotLoopback(*listen)
	}
	host, _, _ := net.SplitHostPort(*listen)
	srv := &http.Server{
		Handler:           newDashboardHandler(s, host, *allowRemote),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
	fmt.Fprintf(out, "dashboard of %s on http://%s/\n", ep.address, l.Addr())

	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		s.run(ctx)
	}()
	select {
	case err = <-served:
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	shutErr := srv.Shutdown(sctx)
	if err == nil {
		err = <-served
	}
	stop()
	<-sampled
	if errors.Is(err, http.ErrServerClosed) {
		err = shutErr
	}
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	return nil
}

// checkListen refuses a non-loopback address unless allowRemote: the page
// has no password.
func checkListen(listen string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("dashboard: -listen %q: %w", listen, err)
	}
	if allowRemote || isLoopbackName(host) {
		return nil
	}
	return errNotLoopback(listen)
}

func errNotLoopback(listen string) error {
	return fmt.Errorf("dashboard: -listen %s is not a loopback address: the page has no password and shows every session, "+
		"object name and lock holder to whoever reaches it; listen on 127.0.0.1 (and use an SSH tunnel), "+
		"or give -allow-remote to serve it to the network anyway", listen)
}

// isLoopbackName reports whether host is "localhost" or a loopback IP
// address. An empty host (":8080") means every interface.
func isLoopbackName(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// contentSecurityPolicy lets the page load only its own script and
// style and fetch only its own origin; no page may frame it.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// newDashboardHandler returns the dashboard's routes behind its
// protections: only GET (and HEAD), no CORS, and a Host header that
// names this machine, so that a web page whose name an attacker rebinds
// to 127.0.0.1 (DNS rebinding) cannot read the state.
func newDashboardHandler(s *sampler, listenHost string, allowRemote bool) http.Handler {
	names := map[string]bool{"localhost": true}
	if listenHost != "" && net.ParseIP(listenHost) == nil {
		names[strings.ToLower(listenHost)] = true
	}
	if allowRemote {
		if h, err := os.Hostname(); err == nil {
			names[strings.ToLower(h)] = true
		}
	}
	static, err := fs.Sub(webFS, "web/static")
	if err != nil {
		panic(err) // embedded: cannot happen
	}
	mux := http.NewServeMux()
	// "GET" patterns also serve HEAD; any other method gets 405 with an
	// Allow header, and an OPTIONS preflight gets no CORS header.
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := page.Execute(w, s.view(time.Now())); err != nil {
			// The page is sent as it is made: a client that went away is
			// all that can fail here.
			return
		}
	})
	mux.HandleFunc("GET /api/state", func(w http.ResponseWriter, r *http.Request) {
		// A page of another site may not read the state even where CORS
		// would let it (defence in depth; browsers send Sec-Fetch-Site).
		if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
			http.Error(w, "dashboard: cross-site requests are refused", http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(s.view(time.Now()))
	})
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		if !hostAllowed(r.Host, names) {
			http.Error(w, "dashboard: unexpected Host header "+r.Host+
				": open the dashboard by the address it listens on (names other than localhost are refused against DNS rebinding)",
				http.StatusMisdirectedRequest)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// hostAllowed reports whether a request's Host header is an IP address
// (which no DNS answer can rebind) or one of names.
func hostAllowed(hostport string, names map[string]bool) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if net.ParseIP(strings.Trim(host, "[]")) != nil {
		return true
	}
	return names[host]
}
