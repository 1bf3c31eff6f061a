package systest

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

// A linearizability check: worker processes run random operations on a
// shared Value, Dict and Queue and journal each one's call and return
// (wall-clock times, comparable across processes on one machine; inputs
// and outputs), while the parent SIGKILLs some of them. porcupine then
// checks that each object's history is linearizable against a sequential
// model of its type.
//
// An operation cut off by a kill has an unknown outcome: it may have
// taken effect, or not (the request may never have left the process).
// The models allow both. Its return time is not left at infinity but
// bounded by a fence: each worker holds a Lock of its own from before its
// first operation, and once the parent has acquired a victim's lock (the
// manager released it on ending the dead session), every request the
// victim had sent has run: the manager executes what a connection carried
// before it reads its end, and ends a session only after all of its
// connections have ended. That is sound, and it keeps the search small
// (with infinite return times, a killed queue operation stays concurrent
// with everything after it, and the check of a few hundred operations
// could run for seconds).

// linRecord is one journal record: an operation's call, or its return.
type linRecord struct {
	Client int
	Seq    int
	Return bool // false: the call; true: the return
	T      int64
	Obj    string // "value", "dict" or "queue"
	Op     string
	Key    string `json:",omitempty"`
	Arg    int    `json:",omitempty"`
	Arg2   int    `json:",omitempty"`
	Out    int    `json:",omitempty"`
	OK     bool   `json:",omitempty"`
	Err    string `json:",omitempty"`
}

// linInput and linOutput are an operation's input and output for
// porcupine.
type linInput struct {
	Op        string
	Key       string
	Arg, Arg2 int
}

type linOutput struct {
	Out     int
	OK      bool
	Unknown bool // the process died before the operation returned
}

// linObjects are the objects under test.
type linObjects struct {
	Value *manager.Value[int]
	Dict  *manager.Dict[string, int]
	Queue *manager.Queue[int]
}

var linKeys = []string{"a", "b", "c"}

// workerFaultsLinear is the worker role "faults.linear" (childroles_test.go registers it).
func workerFaultsLinear(ctx context.Context, c *manager.Client, args manager.Args) error {
	var o linObjects
	var j journal
	var client, ops int
	var fence *manager.Lock
	if err := args.Decode(&o, &j, &client, &ops, &fence); err != nil {
		return err
	}
	// Held until the process ends: see the fence above.
	if err := fence.Acquire(ctx); err != nil {
		return err
	}
	w, err := openJournal(j)
	if err != nil {
		return err
	}
	defer w.Close()
	for seq := range ops {
		call := randomLinOp(client, seq)
		call.T = time.Now().UnixNano()
		if err := w.add(call); err != nil {
			return err
		}
		ret := runLinOp(ctx, &o, call)
		ret.T = time.Now().UnixNano()
		if err := w.add(ret); err != nil {
			return err
		}
	}
	return nil
}

// randomLinOp picks an operation. Values are small so that reads and
// compare-and-swaps often meet what others wrote.
func randomLinOp(client, seq int) linRecord {
	r := linRecord{Client: client, Seq: seq}
	switch rand.IntN(3) {
	case 0:
		r.Obj = "value"
		r.Op = []string{"load", "store", "add", "cas"}[rand.IntN(4)]
		r.Arg, r.Arg2 = rand.IntN(4), rand.IntN(4)
	case 1:
		r.Obj = "dict"
		r.Op = []string{"load", "store", "delete", "add"}[rand.IntN(4)]
		r.Key = linKeys[rand.IntN(len(linKeys))]
		r.Arg = rand.IntN(4)
	default:
		// More gets than puts keep the queue short, so that each put
		// is soon seen by a get: items that stayed in the queue in an
		// undecided order would multiply the checker's search.
		r.Obj = "queue"
		r.Op = []string{"put", "put", "tryget", "tryget", "tryget"}[rand.IntN(5)]
		r.Arg = client*1_000_000 + seq // every item is unique
	}
	return r
}

// runLinOp runs call's operation and returns its return record.
func runLinOp(ctx context.Context, o *linObjects, call linRecord) linRecord {
	r := linRecord{Client: call.Client, Seq: call.Seq, Return: true}
	var err error
	switch call.Obj + "." + call.Op {
	case "value.load":
		r.Out, err = o.Value.Load(ctx)
	case "value.store":
		err = o.Value.Store(ctx, call.Arg)
	case "value.add":
		r.Out, err = o.Value.Add(ctx, call.Arg)
	case "value.cas":
		r.OK, err = o.Value.CompareAndSwap(ctx, call.Arg, call.Arg2)
	case "dict.load":
		r.Out, r.OK, err = o.Dict.Load(ctx, call.Key)
	case "dict.store":
		err = o.Dict.Store(ctx, call.Key, call.Arg)
	case "dict.delete":
		r.OK, err = o.Dict.Delete(ctx, call.Key)
	case "dict.add":
		r.Out, err = o.Dict.Add(ctx, call.Key, call.Arg)
	case "queue.put":
		err = o.Queue.Put(ctx, call.Arg)
	case "queue.tryget":
		r.Out, err = o.Queue.TryGet(ctx)
		r.OK = err == nil
		if errors.Is(err, manager.ErrEmpty) {
			err = nil
		}
	default:
		err = fmt.Errorf("unknown operation %s.%s", call.Obj, call.Op)
	}
	if err != nil {
		r.Err = err.Error()
	}
	return r
}

// The sequential specifications: what an operation returns and the state
// it leaves, given the state it finds.

func applyValue(st int, in linInput) (int, linOutput) {
	switch in.Op {
	case "load":
		return st, linOutput{Out: st}
	case "store":
		return in.Arg, linOutput{}
	case "add":
		return st + in.Arg, linOutput{Out: st + in.Arg}
	case "cas":
		if st == in.Arg {
			return in.Arg2, linOutput{OK: true}
		}
		return st, linOutput{}
	}
	panic("unknown value operation " + in.Op)
}

// dictEntry is one key's state: the Dict model is partitioned by key.
type dictEntry struct {
	v  int
	ok bool
}

func applyDict(st dictEntry, in linInput) (dictEntry, linOutput) {
	switch in.Op {
	case "load":
		return st, linOutput{Out: st.v, OK: st.ok}
	case "store":
		return dictEntry{in.Arg, true}, linOutput{}
	case "delete":
		return dictEntry{}, linOutput{OK: st.ok}
	case "add":
		return dictEntry{st.v + in.Arg, true}, linOutput{Out: st.v + in.Arg}
	}
	panic("unknown dict operation " + in.Op)
}

func applyQueue(st []int, in linInput) ([]int, linOutput) {
	switch in.Op {
	case "put":
		return append(slices.Clip(st), in.Arg), linOutput{}
	case "tryget":
		if len(st) == 0 {
			return st, linOutput{}
		}
		return st[1:], linOutput{Out: st[0], OK: true}
	}
	panic("unknown queue operation " + in.Op)
}

// linStep makes a porcupine step from a specification: an operation with
// a known output must have returned what the specification says; one cut
// off by a kill may have taken effect or not.
func linStep[S any](apply func(S, linInput) (S, linOutput)) func(state, input, output any) []any {
	return func(state, input, output any) []any {
		st, in, out := state.(S), input.(linInput), output.(linOutput)
		next, want := apply(st, in)
		switch {
		case out.Unknown:
			return []any{st, next}
		case out == want:
			return []any{next}
		}
		return nil
	}
}

var valueModel = (&porcupine.NondeterministicModel{
	Init:              func() []any { return []any{0} },
	Step:              linStep(applyValue),
	DescribeOperation: describeLinOp,
}).ToModel()

var dictModel = (&porcupine.NondeterministicModel{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, op := range history {
			k := op.Input.(linInput).Key
			byKey[k] = append(byKey[k], op)
		}
		var out [][]porcupine.Operation
		for _, ops := range byKey {
			out = append(out, ops)
		}
		return out
	},
	Init:              func() []any { return []any{dictEntry{}} },
	Step:              linStep(applyDict),
	DescribeOperation: describeLinOp,
}).ToModel()

var queueModel = (&porcupine.NondeterministicModel{
	Init:  func() []any { return []any{[]int(nil)} },
	Step:  linStep(applyQueue),
	Equal: func(a, b any) bool { return slices.Equal(a.([]int), b.([]int)) },
	// The checker caches the states it has seen: hashing them spares it
	// most comparisons of long queues.
	Hash: func(state any) uint64 {
		h := fnv.New64a()
		for _, v := range state.([]int) {
			binary.Write(h, binary.LittleEndian, int64(v))
		}
		return h.Sum64()
	},
	DescribeOperation: describeLinOp,
	DescribeState:     func(state any) string { return fmt.Sprint(state) },
}).ToModel()

func describeLinOp(input, output any) string {
	in, out := input.(linInput), output.(linOutput)
	result := fmt.Sprintf("%d %v", out.Out, out.OK)
	if out.Unknown {
		result = "cut off by a kill"
	}
	return fmt.Sprintf("%s(%s %d %d) → %s", in.Op, in.Key, in.Arg, in.Arg2, result)
}

// linHistories turns journal records into a porcupine history per object.
// An operation cut off by a kill returns, with an unknown outcome, at its
// client's fence (fences: wall-clock ns by client). It fails the test on
// an operation that returned an error: none should, since only whole
// processes are killed.
func linHistories(t testing.TB, records []linRecord, fences map[int]int64) (map[string][]porcupine.Operation, int) {
	t.Helper()
	type key struct{ client, seq int }
	calls := map[key]linRecord{}
	returns := map[key]linRecord{}
	for _, r := range records {
		if r.Return {
			returns[key{r.Client, r.Seq}] = r
		} else {
			calls[key{r.Client, r.Seq}] = r
		}
	}
	histories := map[string][]porcupine.Operation{}
	pending := 0
	for k, c := range calls {
		op := porcupine.Operation{
			ClientId: c.Client,
			Input:    linInput{Op: c.Op, Key: c.Key, Arg: c.Arg, Arg2: c.Arg2},
			Call:     c.T,
		}
		if r, ok := returns[k]; ok {
			require.Empty(t, r.Err, "operation %s.%s of client %d failed", c.Obj, c.Op, c.Client)
			op.Output, op.Return = linOutput{Out: r.Out, OK: r.OK}, r.T
		} else {
			fence, ok := fences[c.Client]
			require.True(t, ok, "client %d has an operation cut off, but was not killed", c.Client)
			op.Output, op.Return = linOutput{Unknown: true}, fence
			pending++
		}
		histories[c.Obj] = append(histories[c.Obj], op)
	}
	return histories, pending
}

// linearizabilityConfig sizes a check; zero fields take the defaults.
type linearizabilityConfig struct {
	workers int // running at once (default 4)
	ops     int // per worker (default 200)
	kills   int // workers killed and replaced (default 4)
}

// checkLinearizable runs one check on a new manager and returns the
// number of operations checked.
func checkLinearizable(ctx context.Context, t *testing.T, cfg linearizabilityConfig) int {
	cfg.workers = cmp.Or(cfg.workers, 4)
	cfg.ops = cmp.Or(cfg.ops, 200)
	cfg.kills = cmp.Or(cfg.kills, 4)
	m := startManager(t)
	return checkLinearizableOn(ctx, t, m, m.Fork, cfg)
}

// checkLinearizableOn is checkLinearizable on session s (of any engine),
// whose workers fork starts. It returns the number of operations checked.
func checkLinearizableOn(ctx context.Context, t *testing.T, s manager.Session, fork func(ctx context.Context, worker string, args ...any) (*manager.Process, error), cfg linearizabilityConfig) int {
	var o linObjects
	var err error
	o.Value, err = manager.NewValue(ctx, s, 0)
	require.NoError(t, err)
	o.Dict, err = manager.NewDict[string, int](ctx, s)
	require.NoError(t, err)
	o.Queue, err = manager.NewQueue[int](ctx, s, 0)
	require.NoError(t, err)
	j := newJournal(t, "history")

	type worker struct {
		p      *manager.Process
		client int
		fence  *manager.Lock
	}
	var live []worker
	clients := 0
	start := func() {
		fence, err := manager.NewLock(ctx, s)
		require.NoError(t, err)
		p, err := fork(ctx, "faults.linear", o, j, clients, cfg.ops, fence)
		require.NoError(t, err)
		live = append(live, worker{p, clients, fence})
		clients++
	}
	fences := map[int]int64{}
	for range cfg.workers {
		start()
	}
	for range cfg.kills {
		// Kill a worker at a random point once it has begun its work
		// (it may also have finished it: then the kill finds it gone).
		i := rand.IntN(len(live))
		victim := live[i]
		live = slices.Delete(live, i, i+1)
		waitUntil(t, 20*time.Second, "the victim has begun", func() bool {
			return slices.ContainsFunc(readJournal[linRecord](t, j), func(r linRecord) bool { return r.Client == victim.client })
		})
		require.NoError(t, killAfter(ctx, victim.p, time.Duration(rand.IntN(5000))*time.Microsecond))
		<-victim.p.Done()
		// Abandoned, or released by a victim that had finished.
		if err := victim.fence.Acquire(ctx); !errors.Is(err, manager.ErrAbandoned) {
			require.NoError(t, err)
		}
		fences[victim.client] = time.Now().UnixNano()
		start()
	}
	for _, w := range live {
		require.NoError(t, waitDone(ctx, w.p))
	}

	histories, pending := linHistories(t, readJournal[linRecord](t, j), fences)
	total := 0
	for _, obj := range []string{"value", "dict", "queue"} {
		h := histories[obj]
		total += len(h)
		model := map[string]porcupine.Model{"value": valueModel, "dict": dictModel, "queue": queueModel}[obj]
		began := time.Now()
		res, info := porcupine.CheckOperationsVerbose(model, h, 15*time.Second)
		if res != porcupine.Ok {
			path := filepath.Join(os.TempDir(), fmt.Sprintf("manager-%s-history-%d.html", obj, time.Now().UnixNano()))
			if err := porcupine.VisualizePath(model, info, path); err == nil {
				t.Logf("visualization of the %s history: %s", obj, path)
			}
		}
		assert.Equal(t, porcupine.Ok, res, "the %s history of %d operations is linearizable (porcupine says %v)", obj, len(h), res)
		t.Logf("%s: %d operations checked in %v", obj, len(h), time.Since(began))
	}
	t.Logf("%d operations from %d processes (%d killed, %d operations cut off by a kill)", total, clients, cfg.kills, pending)
	return total
}

// TestLinearizable checks that concurrent operations on a Value, a Dict
// and a Queue from several processes, some of them killed midway, form
// linearizable histories.
func TestLinearizable(t *testing.T) {
	checkNoFDLeak(t)
	ctx := longContext(t, 2*time.Minute)
	cfg := linearizabilityConfig{}
	if testing.Short() {
		cfg.ops = 60
	}
	checkLinearizable(ctx, t, cfg)
}
