package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager"
	"github.com/goproc/manager/internal/redisengine"
)

// The Redis-engine workloads and their plain go-redis equivalents. Each
// plain side does what the engine's method does for the caller, with the
// commands a go-redis user would write: values msgpack-encoded (as the
// engine stores them), one key per object with a hash tag.

// What the plain side of each row does, printed in the table.
const (
	plainW1Does       = "HSET/HGET of msgpack key and value on one hash"
	plainW2LockDoes   = "SET NX PX (retried) + HGET/HSET msgpack + Lua DEL-if-value"
	plainW2AtomicDoes = "HINCRBY on one hash field"
	plainW3Does       = "RPUSH msgpack item / BLPOP"
	plainW4Does       = "SET NX PX + Lua DEL-if-value"
	luaW1Does         = "HSET/HGET as above, each inside a one-line Lua script (EVALSHA)"
)

// unlockScript releases a plain lock only if this client holds it (the
// usual Redis lock release; a bare DEL could release another's lock).
var unlockScript = redis.NewScript(`if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) end return 0`)

func init() {
	manager.RegisterWorker("bench/redis-w2-lock", plainW2LockWorker)
	manager.RegisterWorker("bench/redis-w2-incr", plainW2IncrWorker)
	manager.RegisterWorker("bench/redis-w3-producer", plainW3Producer)
	manager.RegisterWorker("bench/redis-w3-consumer", plainW3Consumer)
}

// A seqSide is one side of a sequential workload: ops runs iterations
// lo…hi-1, appending the time of each timed unit to lat.
type seqSide struct {
	name string
	ops  func(lo, hi int, lat *latencies) error
}

// A seqResult is what one side of a sequential workload measured: its
// time and latencies, summed over its blocks, and the calls and
// server-side microseconds of each Redis command its blocks caused (INFO
// commandstats).
type seqResult struct {
	el     time.Duration
	lat    latencies
	server map[string][2]float64
}

// interleave runs iters iterations of every side in blocks, the sides'
// blocks taking turns and the side that goes first changing block by
// block (and round by round, see blockOrder), so that the drift of a
// loaded machine weighs on every side alike. Each block is bracketed by
// INFO commandstats reads (outside the timing).
func (e *redisEnv) interleave(ctx context.Context, blocks, iters int, sides []seqSide) ([]seqResult, error) {
	res := make([]seqResult, len(sides))
	for i := range res {
		res[i].server = map[string][2]float64{}
	}
	for b := range blocks {
		lo, hi := b*iters/blocks, (b+1)*iters/blocks
		for _, i := range blockOrder(len(sides), b, e.round) {
			before, err := commandStats(ctx, e.plain)
			if err != nil {
				return res, err
			}
			start := time.Now()
			if err := sides[i].ops(lo, hi, &res[i].lat); err != nil {
				return res, fmt.Errorf("%s: %w", sides[i].name, err)
			}
			res[i].el += time.Since(start)
			after, err := commandStats(ctx, e.plain)
			if err != nil {
				return res, err
			}
			addStatsDiff(res[i].server, before, after)
		}
	}
	return res, nil
}

// blockOrder is the order n sides run in, in block b of round r: a
// rotation that starts at side (b + r) mod n, so that over n consecutive
// blocks each side runs in every position once, and round r+1 starts
// where round r's second block did.
func blockOrder(n, b, r int) []int {
	order := make([]int, n)
	for k := range order {
		order[k] = (b + r + k) % n
	}
	return order
}

// addStatsDiff adds to sum the calls and microseconds of each command
// between two commandstats reads, leaving out the INFO commands that
// read them.
func addStatsDiff(sum, before, after map[string][2]float64) {
	for name, a := range after {
		b := before[name]
		if name == "info" || a == b {
			continue
		}
		s := sum[name]
		sum[name] = [2]float64{s[0] + a[0] - b[0], s[1] + a[1] - b[1]}
	}
}

// isScript reports whether a command runs a Lua script (or function),
// whose time includes that of the commands it calls.
func isScript(name string) bool {
	switch name {
	case "eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro":
		return true
	}
	return false
}

// seqRow is the row of one side of a sequential workload. Redis counts
// the commands a script calls both in the script's time and on their
// own, so the server's time is given in two parts: the scripts' (with the
// commands they call) and the other commands' (with those called by
// scripts).
func seqRow(workload, name, side, does string, ops int, r seqResult, prefix string, kv ...any) *row {
	row := newRow("workload", workload, "name", name, "side", side)
	if does != "" {
		row.set("does", does)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		row.set(kv[i].(string), kv[i+1])
	}
	row.set("elapsed_s", round(r.el.Seconds(), 4))
	r.lat.addStats(row, prefix)
	addServerStats(row, r.server, float64(ops))
	return row
}

// addServerStats sets the server-side figures of a row from the calls
// and microseconds of each command (server), per op.
func addServerStats(row *row, server map[string][2]float64, ops float64) {
	var scriptUS, cmdUS, cmds float64
	byCmd := map[string]map[string]float64{}
	for name, s := range server {
		if isScript(name) {
			scriptUS += s[1]
		} else {
			cmdUS += s[1]
		}
		cmds += s[0]
		byCmd[name] = map[string]float64{"calls_per_op": round(s[0]/ops, 2), "us_per_op": round(s[1]/ops, 2)}
	}
	row.set("server_script_us_per_op", round(scriptUS/ops, 2))
	row.set("server_command_us_per_op", round(cmdUS/ops, 2))
	row.set("redis_commands_per_op", round(cmds/ops, 2))
	row.set("server_by_command", byCmd)
}

// redisW1 is W1 (10,000 × store key i = i, load key i) on a Dict on the
// Redis engine, beside HSET and HGET of the same msgpack bytes on one
// hash.
func redisW1(ctx context.Context, e *redisEnv) ([]*row, error) {
	const blocks = 20
	iters := n(10000, 1000)
	d, err := manager.NewDict[int, int](ctx, e.s)
	if err != nil {
		return nil, err
	}
	hashes := []string{"", e.key("W1", "h"), e.key("W1", "hl")}
	wrong := make([]int, len(hashes))
	ours := func(lo, hi int, lat *latencies) error {
		prev := time.Now()
		for i := lo; i < hi; i++ {
			if err := d.Store(ctx, i, i); err != nil {
				return err
			}
			now := time.Now()
			*lat = append(*lat, now.Sub(prev))
			prev = now
			x, ok, err := d.Load(ctx, i)
			if err != nil {
				return err
			}
			if !ok || x != i {
				wrong[0]++
			}
			now = time.Now()
			*lat = append(*lat, now.Sub(prev))
			prev = now
		}
		return nil
	}
	plain := plainDict(&wrong[1], func(k, v []byte) error {
		return e.plain.HSet(ctx, hashes[1], k, v).Err()
	}, func(k []byte) ([]byte, error) {
		return e.plain.HGet(ctx, hashes[1], string(k)).Bytes()
	})
	lua := plainDict(&wrong[2], func(k, v []byte) error {
		return luaHSet.Run(ctx, e.plain, hashes[2:], k, v).Err()
	}, func(k []byte) ([]byte, error) {
		s, err := luaHGet.Run(ctx, e.plain, hashes[2:], k).Text()
		return []byte(s), err
	})
	sides := []seqSide{{sideEngine, ours}, {sidePlain, plain}, {sideLua, lua}}
	// Warm up every side (connections, scripts loaded, allocator) on keys
	// outside the measured ones, which the size checks count.
	var discard latencies
	for _, s := range sides {
		if err := s.ops(-200, 0, &discard); err != nil {
			return nil, err
		}
	}
	res, err := e.interleave(ctx, blocks, iters, sides)
	if err != nil {
		return nil, err
	}
	sizes := make([]int, len(sides))
	if sizes[0], err = d.Len(ctx); err != nil {
		return nil, err
	}
	for i := 1; i < len(sides); i++ {
		n, err := e.plain.HLen(ctx, hashes[i]).Result()
		if err != nil {
			return nil, err
		}
		sizes[i] = int(n)
	}
	ops := 2 * iters
	var rows []*row
	for i, s := range sides {
		r := seqRow("W1", "dict-rtt", s.name, []string{"", plainW1Does, luaW1Does}[i], ops, res[i], "", "iterations", iters, "ops", ops)
		r.set("ops_per_s", round(float64(ops)/res[i].el.Seconds(), 1))
		r.set("correct", wrong[i] == 0 && sizes[i] == iters+200)
		rows = append(rows, r)
	}
	return rows, nil
}

// The Lua floor of W1: the plain HSET and HGET, each run by a one-line
// script, so that the price of running any script per call is measured
// beside ours (which runs one per call) and plain go-redis's (none).
var (
	luaHSet = redis.NewScript(`return redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])`)
	luaHGet = redis.NewScript(`return redis.call('HGET', KEYS[1], ARGV[1])`)
)

// plainDict is a plain side of W1: for keys lo…hi-1, store i = i and
// load i through store and load, with msgpack keys and values encoded
// and decoded here, as the engine's caller does; a wrong load is
// counted in wrong.
func plainDict(wrong *int, store func(k, v []byte) error, load func(k []byte) ([]byte, error)) func(lo, hi int, lat *latencies) error {
	return func(lo, hi int, lat *latencies) error {
		prev := time.Now()
		for i := lo; i < hi; i++ {
			k, err := msgpack.Marshal(i)
			if err != nil {
				return err
			}
			v, err := msgpack.Marshal(i)
			if err != nil {
				return err
			}
			if err := store(k, v); err != nil {
				return err
			}
			now := time.Now()
			*lat = append(*lat, now.Sub(prev))
			prev = now
			b, err := load(k)
			if err != nil {
				return err
			}
			var x int
			if err := msgpack.Unmarshal(b, &x); err != nil || x != i {
				*wrong++
			}
			now = time.Now()
			*lat = append(*lat, now.Sub(prev))
			prev = now
		}
		return nil
	}
}

// redisW4 is W4 (10,000 × acquire; release) on a Lock on the Redis
// engine, beside SET NX PX and the Lua release of a plain Redis lock.
func redisW4(ctx context.Context, e *redisEnv) ([]*row, error) {
	const blocks = 20
	pairs := n(10000, 1000)
	l, err := manager.NewLock(ctx, e.s)
	if err != nil {
		return nil, err
	}
	key := e.key("W4", "lock")
	token := randomToken()
	ours := func(lo, hi int, lat *latencies) error {
		prev := time.Now()
		for range hi - lo {
			if err := lockPair(ctx, l); err != nil {
				return err
			}
			now := time.Now()
			*lat = append(*lat, now.Sub(prev))
			prev = now
		}
		return nil
	}
	var retries int
	plain := func(lo, hi int, lat *latencies) error {
		prev := time.Now()
		for range hi - lo {
			r, err := plainLockPair(ctx, e.plain, key, token)
			if err != nil {
				return err
			}
			retries += r
			now := time.Now()
			*lat = append(*lat, now.Sub(prev))
			prev = now
		}
		return nil
	}
	var discard latencies
	for _, f := range []func(lo, hi int, lat *latencies) error{ours, plain} {
		if err := f(0, 200, &discard); err != nil {
			return nil, err
		}
	}
	res, err := e.interleave(ctx, blocks, pairs, []seqSide{{sideEngine, ours}, {sidePlain, plain}})
	if err != nil {
		return nil, err
	}
	// Nobody holds either lock at the end.
	locked, err := l.Locked(ctx)
	if err != nil {
		return nil, err
	}
	held, err := e.plain.Exists(ctx, key).Result()
	if err != nil {
		return nil, err
	}
	var rows []*row
	for i, side := range []string{sideEngine, sidePlain} {
		does, ok := "", !locked
		if side == sidePlain {
			does, ok = plainW4Does, held == 0 && retries == 0
		}
		r := seqRow("W4", "lock", side, does, pairs, res[i], "pair_", "pairs", pairs)
		r.set("pairs_per_s", round(float64(pairs)/res[i].el.Seconds(), 1))
		r.set("p50_us", r.vals["pair_p50_us"])
		r.set("correct", ok)
		rows = append(rows, r)
	}
	return rows, nil
}

// plainLockPair acquires the plain lock key (SET NX PX, retried while
// another holds it) and releases it (Lua: DEL if the value is token). It
// returns the number of retries.
func plainLockPair(ctx context.Context, c redis.UniversalClient, key, token string) (int, error) {
	retries := 0
	for {
		ok, err := c.SetNX(ctx, key, token, 30*time.Second).Result()
		if err != nil {
			return retries, err
		}
		if ok {
			break
		}
		retries++
		if err := ctx.Err(); err != nil {
			return retries, err
		}
	}
	n, err := unlockScript.Run(ctx, c, []string{key}, token).Int()
	if err != nil {
		return retries, err
	}
	if n != 1 {
		return retries, errors.New("plain lock: released a lock this client did not hold")
	}
	return retries, nil
}

func randomToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// sides returns the two sides in this round's order: fn(true) runs our
// side, fn(false) the plain one.
func (e *redisEnv) sides(fn func(ours bool) ([]*row, error)) ([]*row, error) {
	order := []bool{true, false}
	if !e.oursFirst() {
		order = []bool{false, true}
	}
	var rows []*row
	for _, ours := range order {
		rs, err := fn(ours)
		if err != nil {
			return nil, err
		}
		side := sideEngine
		if !ours {
			side = sidePlain
		}
		for _, r := range rs {
			r.set("side", side)
		}
		rows = append(rows, rs...)
	}
	return rows, nil
}

// redisW2 is W2 (4 processes × 2,000 increments of one counter, under a
// lock and atomically) with our Dict, Lock and Dict.Add on the Redis
// engine, beside a plain Redis lock around HGET/HSET and HINCRBY.
func redisW2(ctx context.Context, e *redisEnv) ([]*row, error) {
	return e.sides(func(ours bool) ([]*row, error) {
		if ours {
			return w2On(ctx, e.s)
		}
		return plainW2(ctx, e)
	})
}

// plainW2 is W2's plain side: the workers use go-redis directly; only the
// start barrier and the report queue (outside the timing) are ours.
func plainW2(ctx context.Context, e *redisEnv) ([]*row, error) {
	const procs = 4
	per := n(2000, 200)
	h, lock := e.key("W2", "h"), e.key("W2", "lock")
	var rows []*row
	for _, variant := range []string{"lock", "atomic"} {
		if err := e.plain.Del(ctx, h, lock).Err(); err != nil {
			return nil, err
		}
		b, out, err := rendezvous(ctx, e.s, procs)
		if err != nil {
			return nil, err
		}
		worker, does, rpcs := "bench/redis-w2-lock", plainW2LockDoes, 4
		if variant == "atomic" {
			worker, does, rpcs = "bench/redis-w2-incr", plainW2AtomicDoes, 1
		}
		spans, err := runWorkers(ctx, e.s, out, repeat(procs, worker, e.url, h, lock, per, b, out))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", variant, err)
		}
		final, err := plainCounter(ctx, e.plain, h, variant)
		if err != nil {
			return nil, err
		}
		var retries uint64
		for _, s := range spans {
			for _, r := range s.Got {
				retries += r
			}
		}
		el, total := elapsed(spans), procs*per
		rows = append(rows, newRow("workload", "W2", "name", "dict-contended", "variant", variant, "does", does,
			"processes", procs, "per_process", per, "expected", total, "final", final, "correct", final == total,
			"elapsed_s", round(el.Seconds(), 4), "increments_per_s", round(float64(total)/el.Seconds(), 1),
			"rpcs_per_increment", rpcs, "lock_retries", retries))
	}
	return rows, nil
}

// plainCounter reads W2's plain counter: msgpack in the lock variant,
// HINCRBY's decimal in the atomic one.
func plainCounter(ctx context.Context, c redis.UniversalClient, h, variant string) (int, error) {
	b, err := c.HGet(ctx, h, "n").Bytes()
	if err != nil {
		return 0, err
	}
	if variant == "atomic" {
		var x int
		_, err := fmt.Sscan(string(b), &x)
		return x, err
	}
	var x int
	return x, msgpack.Unmarshal(b, &x)
}

// plainWorker decodes a plain worker's arguments, the Redis URL and then
// rest, and returns a go-redis client of that Redis, connected.
func plainWorker(ctx context.Context, args manager.Args, rest ...any) (redis.UniversalClient, error) {
	var url string
	if err := args.Decode(append([]any{&url}, rest...)...); err != nil {
		return nil, err
	}
	c, err := redisengine.ClientFromURL(url)
	if err != nil {
		return nil, err
	}
	if err := c.Ping(ctx).Err(); err != nil { // connect before the barrier
		c.Close()
		return nil, err
	}
	return c, nil
}

// plainW2Args are a plain W2 worker's arguments after the Redis URL: the
// hash of the counter, the lock's key, the ops per worker, the start
// barrier and the queue of spans.
type plainW2Args struct {
	h, lock string
	per     int
	b       *manager.Barrier
	out     *manager.Queue[span]
}

// plainW2Worker decodes a plain W2 worker's arguments and returns a
// go-redis client, connected, as plainWorker does.
func plainW2Worker(ctx context.Context, args manager.Args) (redis.UniversalClient, plainW2Args, error) {
	var w plainW2Args
	c, err := plainWorker(ctx, args, &w.h, &w.lock, &w.per, &w.b, &w.out)
	return c, w, err
}

func plainW2LockWorker(ctx context.Context, _ *manager.Client, args manager.Args) error {
	c, w, err := plainW2Worker(ctx, args)
	if err != nil {
		return err
	}
	defer c.Close()
	token := randomToken()
	if _, err := plainLockPair(ctx, c, w.lock, token); err != nil {
		return err
	}
	t0, err := start(ctx, w.b)
	if err != nil {
		return err
	}
	var retries uint64
	for range w.per {
		for {
			ok, err := c.SetNX(ctx, w.lock, token, 30*time.Second).Result()
			if err != nil {
				return err
			}
			if ok {
				break
			}
			retries++
		}
		v := 0
		if raw, err := c.HGet(ctx, w.h, "n").Bytes(); err == nil {
			if err := msgpack.Unmarshal(raw, &v); err != nil {
				return err
			}
		} else if err != redis.Nil {
			return err
		}
		enc, err := msgpack.Marshal(v + 1)
		if err != nil {
			return err
		}
		if err := c.HSet(ctx, w.h, "n", enc).Err(); err != nil {
			return err
		}
		if n, err := unlockScript.Run(ctx, c, []string{w.lock}, token).Int(); err != nil || n != 1 {
			return fmt.Errorf("plain lock release: %d, %v", n, err)
		}
	}
	return w.out.Put(ctx, span{Start: t0, End: time.Now().UnixNano(), Got: []uint64{retries}})
}

func plainW2IncrWorker(ctx context.Context, _ *manager.Client, args manager.Args) error {
	c, w, err := plainW2Worker(ctx, args)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.HExists(ctx, w.h, "n").Err(); err != nil {
		return err
	}
	t0, err := start(ctx, w.b)
	if err != nil {
		return err
	}
	for range w.per {
		if err := c.HIncrBy(ctx, w.h, "n", 1).Err(); err != nil {
			return err
		}
	}
	return w.out.Put(ctx, span{Start: t0, End: time.Now().UnixNano()})
}

// withStats runs one side of a multi-process workload, whose row is
// the only one, and adds to it the calls and server-side time of each
// Redis command during the run (INFO commandstats), per op (ops read
// from the row's field opsField).
func (e *redisEnv) withStats(ctx context.Context, opsField string, fn func() ([]*row, error)) ([]*row, error) {
	before, err := commandStats(ctx, e.plain)
	if err != nil {
		return nil, err
	}
	rows, err := fn()
	if err != nil {
		return nil, err
	}
	after, err := commandStats(ctx, e.plain)
	if err != nil {
		return nil, err
	}
	if len(rows) == 1 {
		if ops, ok := rows[0].num(opsField); ok && ops > 0 {
			diff := map[string][2]float64{}
			addStatsDiff(diff, before, after)
			addServerStats(rows[0], diff, ops)
		}
	}
	return rows, nil
}

// redisW3 is W3 (1 producer process puts 20,000 items of 100 bytes, 2
// consumer processes get until a sentinel) with our Queue on the Redis
// engine, beside RPUSH and BLPOP of the same msgpack bytes on one list.
func redisW3(ctx context.Context, e *redisEnv) ([]*row, error) {
	return e.sides(func(ours bool) ([]*row, error) {
		return e.withStats(ctx, "items", func() ([]*row, error) {
			if ours {
				return w3On(ctx, e.s)
			}
			return plainW3(ctx, e)
		})
	})
}

func plainW3(ctx context.Context, e *redisEnv) ([]*row, error) {
	const consumers, size = 2, 100
	items := n(20000, 2000)
	list := e.key("W3", "l")
	if err := e.plain.Del(ctx, list).Err(); err != nil {
		return nil, err
	}
	b, out, err := rendezvous(ctx, e.s, 1+consumers)
	if err != nil {
		return nil, err
	}
	forks := append([]fork{{"bench/redis-w3-producer", []any{e.url, list, items, consumers, size, b, out}}},
		repeat(consumers, "bench/redis-w3-consumer", e.url, list, b, out)...)
	spans, err := runWorkers(ctx, e.s, out, forks)
	if err != nil {
		return nil, err
	}
	r := w3Row(spans, items, consumers, size)
	r.set("does", plainW3Does)
	return []*row{r}, nil
}

func plainW3Producer(ctx context.Context, _ *manager.Client, args manager.Args) error {
	var list string
	var items, consumers, size int
	var b *manager.Barrier
	var out *manager.Queue[span]
	c, err := plainWorker(ctx, args, &list, &items, &consumers, &size, &b, &out)
	if err != nil {
		return err
	}
	defer c.Close()
	item := queueItem(size)
	t0, err := start(ctx, b)
	if err != nil {
		return err
	}
	for i := range items {
		binary.LittleEndian.PutUint64(item, uint64(i))
		enc, err := msgpack.Marshal(item)
		if err != nil {
			return err
		}
		if err := c.RPush(ctx, list, enc).Err(); err != nil {
			return err
		}
	}
	sentinel, err := msgpack.Marshal([]byte{})
	if err != nil {
		return err
	}
	for range consumers {
		if err := c.RPush(ctx, list, sentinel).Err(); err != nil {
			return err
		}
	}
	return out.Put(ctx, span{Start: t0, End: time.Now().UnixNano()})
}

// plainGetTimeout bounds one BLPOP of a plain consumer: a lost sentinel
// fails the run instead of hanging it.
const plainGetTimeout = time.Minute

func plainW3Consumer(ctx context.Context, _ *manager.Client, args manager.Args) error {
	var list string
	var b *manager.Barrier
	var out *manager.Queue[span]
	c, err := plainWorker(ctx, args, &list, &b, &out)
	if err != nil {
		return err
	}
	defer c.Close()
	return consume(ctx, b, out, func() ([]byte, error) {
		kv, err := c.BLPop(ctx, plainGetTimeout, list).Result()
		if err != nil {
			return nil, fmt.Errorf("BLPOP: %w", err)
		}
		var item []byte
		err = msgpack.Unmarshal([]byte(kv[1]), &item)
		return item, err
	})
}
