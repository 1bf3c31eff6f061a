package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager"
	"github.com/goproc/manager/internal/redisengine"
)

// currentRound is the round runOurs is running (0-based), so that a
// workload that measures two sides itself (W9) can rotate which goes
// first.
var currentRound int

// w9Depth is the operations in one pipeline: 50 Store+Load pairs, as the
// go-redis anchor's pipelines of 100 commands.
const w9Depth = 100

// runW9 is pipelines: one process makes 100,000 Store+Load pairs on a
// Dict[int, int] in Batches of 100 operations, and, in the same run,
// go-redis makes the same pairs as HSET/HGET of the msgpack bytes on one
// hash in pipelines of 100 commands. The pairs are run in blocks, the two
// sides' blocks alternating and the side that goes first alternating
// block by block and round by round. Every load's result is checked.
// Without a Redis (no redis-server on PATH and no -redis-url) the
// go-redis row says why it has no figure.
func runW9(ctx context.Context) ([]*row, error) {
	const blocks = 10
	pairs := n(100_000, 10_000)
	m, d, stop, err := startWithDict(ctx)
	if err != nil {
		return nil, err
	}
	defer stop()
	sides := []seqSide{{"batch", w9Batch(ctx, m, d)}}
	plainRow := newRow("workload", "W9", "name", "pipeline", "variant", "go-redis", "pairs", pairs, "pipeline_ops", w9Depth,
		"does", "HSET/HGET of msgpack key and value on one hash, pipelines of 100 commands")
	var plain redis.UniversalClient
	var hash string
	rs, err := startRedis(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: W9: no go-redis side: %v\n", err)
		plainRow.set("note", "not measured: "+err.Error())
	} else {
		defer rs.stop()
		if plain, err = redisengine.ClientFromURL(rs.url); err != nil {
			return nil, err
		}
		defer plain.Close()
		hash = fmt.Sprintf("{bench-%d-w9}:h", os.Getpid())
		defer plain.Del(context.WithoutCancel(ctx), hash)
		sides = append(sides, seqSide{"go-redis", w9Pipeline(ctx, plain, hash)})
	}
	// Warm up each side on keys outside the measured ones.
	var discard latencies
	for _, s := range sides {
		if err := s.ops(-1000, 0, &discard); err != nil {
			return nil, fmt.Errorf("%s warm-up: %w", s.name, err)
		}
	}
	els := make([]time.Duration, len(sides))
	for b := range blocks {
		lo, hi := b*pairs/blocks, (b+1)*pairs/blocks
		for _, i := range blockOrder(len(sides), b, currentRound) {
			start := time.Now()
			if err := sides[i].ops(lo, hi, &discard); err != nil {
				return nil, fmt.Errorf("%s: %w", sides[i].name, err)
			}
			els[i] += time.Since(start)
		}
	}
	size, err := d.Len(ctx)
	if err != nil {
		return nil, err
	}
	ops := 2 * pairs
	rows := []*row{newRow("workload", "W9", "name", "pipeline", "variant", "batch", "pairs", pairs, "pipeline_ops", w9Depth,
		"ops", ops, "elapsed_s", round(els[0].Seconds(), 4), "ops_per_s", round(float64(ops)/els[0].Seconds(), 1),
		"correct", size == pairs+1000)}
	if plain != nil {
		n, err := plain.HLen(ctx, hash).Result()
		if err != nil {
			return nil, err
		}
		plainRow.set("ops", ops)
		plainRow.set("elapsed_s", round(els[1].Seconds(), 4))
		plainRow.set("ops_per_s", round(float64(ops)/els[1].Seconds(), 1))
		plainRow.set("correct", n == int64(pairs+1000))
	}
	return append(rows, plainRow), nil
}

// w9Batch stores and loads keys lo…hi-1 of d in Batches of w9Depth
// operations, checking every load.
func w9Batch(ctx context.Context, m *manager.Manager, d *manager.Dict[int, int]) func(lo, hi int, _ *latencies) error {
	b := manager.NewBatch(m)
	loads := make([]*manager.Future[manager.LoadResult[int]], 0, w9Depth/2)
	return func(lo, hi int, _ *latencies) error {
		for i := lo; i < hi; i += w9Depth / 2 {
			loads = loads[:0]
			for k := i; k < min(i+w9Depth/2, hi); k++ {
				manager.BatchStore(b, d, k, k)
				loads = append(loads, manager.BatchLoad(b, d, k))
			}
			if err := b.Flush(ctx); err != nil {
				return err
			}
			for j, f := range loads {
				r, err := f.Get()
				if err != nil {
					return err
				}
				if !r.OK || r.Value != i+j {
					return fmt.Errorf("load %d: got %d, %v", i+j, r.Value, r.OK)
				}
			}
		}
		return nil
	}
}

// w9Pipeline stores and loads keys lo…hi-1 as HSET and HGET of their
// msgpack bytes on hash, in go-redis pipelines of w9Depth commands,
// checking every load.
func w9Pipeline(ctx context.Context, c redis.UniversalClient, hash string) func(lo, hi int, _ *latencies) error {
	gets := make([]*redis.StringCmd, 0, w9Depth/2)
	return func(lo, hi int, _ *latencies) error {
		for i := lo; i < hi; i += w9Depth / 2 {
			p := c.Pipeline()
			gets = gets[:0]
			for k := i; k < min(i+w9Depth/2, hi); k++ {
				enc, err := msgpack.Marshal(k)
				if err != nil {
					return err
				}
				p.HSet(ctx, hash, enc, enc)
				gets = append(gets, p.HGet(ctx, hash, string(enc)))
			}
			if _, err := p.Exec(ctx); err != nil {
				return err
			}
			for j, g := range gets {
				raw, err := g.Bytes()
				if err != nil {
					return err
				}
				var x int
				if err := msgpack.Unmarshal(raw, &x); err != nil {
					return err
				}
				if x != i+j {
					return fmt.Errorf("HGET %d: got %d", i+j, x)
				}
			}
		}
		return nil
	}
}
