// Prometheus: a server interceptor counts every call the manager
// executes and times it, and /metrics serves the counts in Prometheus's
// text format: with the standard library only, no client library.
//
//	go run ./examples/prometheus             # runs a workload, prints the metrics
//	go run ./examples/prometheus -serve      # then serves http://127.0.0.1:9464/metrics
//
// Interceptors are functions, which cannot travel to a manager process:
// the manager runs in this process (InProcess), and the workers it forks
// reach it over its socket as usual.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/goproc/manager"
)

// buckets are the histogram's upper bounds, in seconds: a call on a
// Unix socket takes tens of microseconds, a blocking one up to seconds.
var buckets = []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01, 0.1, 1, 10}

// Metrics counts the calls a server executes, by type, method and
// outcome, and times them by type and method. It is safe for concurrent
// use.
type Metrics struct {
	mu    sync.Mutex // guards calls and times
	calls map[callKey]uint64
	times map[methodKey]*histogram
}

type methodKey struct{ typ, method string }

type callKey struct {
	methodKey
	code string // "ok", or manager.ErrorCode of the call's error
}

type histogram struct {
	counts []uint64 // per bucket, not cumulative
	sum    float64
	n      uint64
}

// NewMetrics returns empty metrics.
func NewMetrics() *Metrics {
	return &Metrics{calls: map[callKey]uint64{}, times: map[methodKey]*histogram{}}
}

// Interceptor is the server interceptor that feeds m.
func (m *Metrics) Interceptor(next manager.ServerCallFunc) manager.ServerCallFunc {
	return func(ctx context.Context, call manager.ServerCallInfo) error {
		start := time.Now()
		err := next(ctx, call)
		m.observe(call, time.Since(start), err)
		return err
	}
}

func (m *Metrics) observe(call manager.ServerCallInfo, d time.Duration, err error) {
	typ := call.TypeID
	if call.Object == 0 {
		typ = "manager" // the manager's own operations: new, open, decref…
	}
	k := methodKey{typ, call.Method}
	code := "ok"
	if err != nil {
		code = manager.ErrorCode(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls[callKey{k, code}]++
	h := m.times[k]
	if h == nil {
		h = &histogram{counts: make([]uint64, len(buckets))}
		m.times[k] = h
	}
	secs := d.Seconds()
	if i, _ := slices.BinarySearch(buckets, secs); i < len(buckets) {
		h.counts[i]++
	}
	h.sum += secs
	h.n++
}

// ServeHTTP writes the metrics in Prometheus's text exposition format
// (version 0.0.4).
func (m *Metrics) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	b.WriteString("# HELP manager_calls_total Calls executed by the manager, by object type, method and outcome.\n")
	b.WriteString("# TYPE manager_calls_total counter\n")
	calls := make([]callKey, 0, len(m.calls))
	for k := range m.calls {
		calls = append(calls, k)
	}
	slices.SortFunc(calls, func(a, b callKey) int {
		return strings.Compare(a.typ+"\x00"+a.method+"\x00"+a.code, b.typ+"\x00"+b.method+"\x00"+b.code)
	})
	for _, k := range calls {
		fmt.Fprintf(&b, "manager_calls_total{type=%s,method=%s,code=%s} %d\n", quote(k.typ), quote(k.method), quote(k.code), m.calls[k])
	}
	b.WriteString("# HELP manager_call_duration_seconds How long the manager took to execute a call, waiting included.\n")
	b.WriteString("# TYPE manager_call_duration_seconds histogram\n")
	methods := make([]methodKey, 0, len(m.times))
	for k := range m.times {
		methods = append(methods, k)
	}
	slices.SortFunc(methods, func(a, b methodKey) int { return strings.Compare(a.typ+"\x00"+a.method, b.typ+"\x00"+b.method) })
	for _, k := range methods {
		h := m.times[k]
		labels := "type=" + quote(k.typ) + ",method=" + quote(k.method)
		var cum uint64
		for i, le := range buckets {
			cum += h.counts[i]
			fmt.Fprintf(&b, "manager_call_duration_seconds_bucket{%s,le=%q} %d\n", labels, strconv.FormatFloat(le, 'g', -1, 64), cum)
		}
		fmt.Fprintf(&b, "manager_call_duration_seconds_bucket{%s,le=\"+Inf\"} %d\n", labels, h.n)
		fmt.Fprintf(&b, "manager_call_duration_seconds_sum{%s} %s\n", labels, strconv.FormatFloat(h.sum, 'g', -1, 64))
		fmt.Fprintf(&b, "manager_call_duration_seconds_count{%s} %d\n", labels, h.n)
	}
	w.Write([]byte(b.String()))
}

// quote quotes a label value as the text format wants: backslash,
// double quote and newline escaped.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

func init() {
	manager.RegisterWorker("work", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var d *manager.Dict[string, int]
		var q *manager.Queue[int]
		if err := args.Decode(&d, &q); err != nil {
			return err
		}
		for i := range 100 {
			if _, err := d.Add(ctx, "hits", 1); err != nil {
				return err
			}
			if err := q.Put(ctx, i); err != nil {
				return err
			}
		}
		return nil
	})
}

func main() {
	manager.Init()
	serve := flag.Bool("serve", false, "after the workload, serve the metrics until Ctrl-C")
	listen := flag.String("listen", "127.0.0.1:9464", "where -serve listens")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	metrics := NewMetrics()
	m, err := manager.Start(ctx, manager.InProcess(), manager.WithServerInterceptors(metrics.Interceptor))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Shutdown(context.Background())
	if err := workload(ctx, m); err != nil {
		log.Fatal(err)
	}

	rec := httptest.NewRecorder()
	metrics.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	fmt.Print(rec.Body.String())
	if !*serve {
		return
	}
	http.Handle("/metrics", metrics)
	srv := &http.Server{Addr: *listen, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	log.Printf("serving http://%s/metrics until Ctrl-C", *listen)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

// workload forks two workers that add to a dict and put on a queue,
// then drains the queue, one TryGet too many.
func workload(ctx context.Context, m *manager.Manager) error {
	d, err := manager.NewDict[string, int](ctx, m)
	if err != nil {
		return err
	}
	q, err := manager.NewQueue[int](ctx, m, 0)
	if err != nil {
		return err
	}
	var procs []*manager.Process
	for range 2 {
		p, err := m.Fork(ctx, "work", d, q)
		if err != nil {
			return err
		}
		procs = append(procs, p)
	}
	for _, p := range procs {
		if err := p.Wait(); err != nil {
			return err
		}
	}
	for {
		if _, err := q.TryGet(ctx); err != nil {
			if errors.Is(err, manager.ErrEmpty) {
				return nil
			}
			return err
		}
	}
}
