package redisengine

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/redistest"
)

// BenchmarkVsGoRedis compares a Dict's Store and Load, and a Queue's Put
// then Get, through Session.Call (one EVALSHA each) with plain go-redis
// HSET, HGET, RPUSH and LPOP of the same bytes,
// interleaved call by call in the same run, on one standalone redis-server (AOF appendfsync always,
// so writes include an fsync) and on a three-master cluster. p50 is per
// call, one caller; ns/op and allocs are those of the pair.
func BenchmarkVsGoRedis(b *testing.B) {
	st := redistest.Standalone(b)
	cl := redistest.NewCluster(b)
	for _, srv := range []struct {
		name string
		rdb  redis.UniversalClient
	}{{"standalone", st.Client(b)}, {"cluster", cl.Client(b)}} {
		b.Run(srv.name, func(b *testing.B) {
			benchVsGoRedis(b, srv.rdb)
		})
	}
}

func benchVsGoRedis(b *testing.B, rdb redis.UniversalClient) {
	ctx := context.Background()
	s, err := Open(ctx, rdb, Options{Namespace: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		s.Close()
		Purge(context.Background(), rdb, "bench")
	})
	id, err := s.New(ctx, "Dict", nil)
	if err != nil {
		b.Fatal(err)
	}
	key, _ := msgpack.Marshal("key")
	val, _ := msgpack.Marshal("a value of some thirty bytes..")
	args := []msgpack.RawMessage{key, val}
	qid, err := s.New(ctx, "Queue", []msgpack.RawMessage{{0}})
	if err != nil {
		b.Fatal(err)
	}
	hkey, lkey := "{bench-plain}:h", "{bench-plain}:l"
	b.Cleanup(func() { rdb.Del(context.Background(), hkey, lkey) })
	// Each pair runs interleaved, call by call, so that the load of a
	// shared machine weighs on both sides alike.
	pairs := []struct {
		name          string
		engine, plain func() error
	}{
		{"Store-vs-HSET",
			func() error { _, err := s.Call(ctx, id, "Dict", 1, "Store", args); return err },
			func() error { return rdb.HSet(ctx, hkey, key, val).Err() }},
		{"QueuePutGet-vs-RPUSHLPOP",
			func() error {
				if _, err := s.Call(ctx, qid, "Queue", 1, "Put", args[1:]); err != nil {
					return err
				}
				_, err := s.Call(ctx, qid, "Queue", 1, "Get", nil)
				return err
			},
			func() error {
				if err := rdb.RPush(ctx, lkey, val).Err(); err != nil {
					return err
				}
				return rdb.LPop(ctx, lkey).Err()
			}},
		{"Load-vs-HGET",
			func() error { _, err := s.Call(ctx, id, "Dict", 1, "Load", args[:1]); return err },
			func() error { return rdb.HGet(ctx, hkey, string(key)).Err() }},
	}
	for _, pair := range pairs {
		b.Run(pair.name, func(b *testing.B) {
			for _, fn := range []func() error{pair.engine, pair.plain} {
				if err := fn(); err != nil { // warm: script loaded, connection up
					b.Fatal(err)
				}
			}
			eng := make([]time.Duration, 0, 1<<16)
			plain := make([]time.Duration, 0, 1<<16)
			timed := func(fn func() error, lat *[]time.Duration) {
				start := time.Now()
				if err := fn(); err != nil {
					b.Fatal(err)
				}
				if len(*lat) < cap(*lat) {
					*lat = append(*lat, time.Since(start))
				}
			}
			for b.Loop() {
				timed(pair.engine, &eng)
				timed(pair.plain, &plain)
			}
			p50 := func(lat []time.Duration) float64 {
				slices.Sort(lat)
				return float64(lat[len(lat)/2].Nanoseconds()) / 1e3
			}
			e, p := p50(eng), p50(plain)
			b.ReportMetric(e, "engine-p50-µs")
			b.ReportMetric(p, "goredis-p50-µs")
			b.ReportMetric(e/p, "ratio")
		})
	}
}
