package redisengine

import (
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/errs"
)

// The linearizability check: sessions in goroutines run random
// operations on one Value and one Queue at once, through Redis, and
// porcupine checks each history against a sequential model.

type linIn struct {
	op   string
	a, b int
}

type linOut struct {
	v  int
	ok bool
}

var valueModel = porcupine.Model{
	Init: func() any { return 0 },
	Step: func(state, input, output any) (bool, any) {
		s, in, out := state.(int), input.(linIn), output.(linOut)
		switch in.op {
		case "Load":
			return out.v == s, s
		case "Store":
			return true, in.a
		case "CompareAndSwap":
			if s == in.a {
				return out.ok, in.b
			}
			return !out.ok, s
		default: // Add
			return out.v == s+in.a, s + in.a
		}
	},
}

var queueModel = porcupine.Model{
	Init: func() any { return []int(nil) },
	Step: func(state, input, output any) (bool, any) {
		s, in, out := state.([]int), input.(linIn), output.(linOut)
		if in.op == "Put" {
			return true, append(append([]int(nil), s...), in.a)
		}
		if len(s) == 0 {
			return !out.ok, s
		}
		return out.ok && out.v == s[0], s[1:]
	},
	Equal: func(a, b any) bool { return slices.Equal(a.([]int), b.([]int)) },
}

func testLinearizable(e *env) {
	t := e.t
	const clients, ops = 4, 60
	first := e.session(0)
	v := e.newObj(first, "Value", 0)
	q := e.newObj(first, "Queue", 0)
	var mu sync.Mutex
	var vh, qh []porcupine.Operation
	var wg sync.WaitGroup
	for c := range clients {
		s := e.session(0)
		vc, qc := v.as(s, 1), q.as(s, 1)
		rng := rand.New(rand.NewPCG(uint64(c), 7))
		wg.Go(func() {
			for i := range ops {
				ctx := e.ctx()
				in := linIn{a: rng.IntN(5), b: rng.IntN(5)}
				target, hist := vc, &vh
				var args []any
				switch rng.IntN(6) {
				case 0:
					in.op = "Load"
				case 1:
					in.op, args = "Store", []any{in.a}
				case 2:
					in.op, args = "CompareAndSwap", []any{in.a, in.b}
				case 3:
					in.op, args = "Add", []any{in.a}
				case 4:
					in.a = c*ops + i
					in.op, args, target, hist = "Put", []any{in.a}, qc, &qh
				default:
					in.op, target, hist = "TryGet", qc, &qh
				}
				call := time.Now().UnixNano()
				b, err := target.call(ctx, in.op, args...)
				ret := time.Now().UnixNano()
				var out linOut
				switch {
				case in.op == "TryGet" && err != nil:
					if !errorsIsEmpty(err) {
						t.Errorf("%s: %v", in.op, err)
						return
					}
				case err != nil:
					t.Errorf("%s: %v", in.op, err)
					return
				case in.op == "CompareAndSwap":
					msgpack.Unmarshal(b, &out.ok)
				case in.op == "TryGet":
					out.ok = msgpack.Unmarshal(b, &out.v) == nil
				default:
					msgpack.Unmarshal(b, &out.v)
				}
				mu.Lock()
				*hist = append(*hist, porcupine.Operation{ClientId: c, Input: in, Call: call, Output: out, Return: ret})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.False(t, t.Failed())
	for _, h := range []struct {
		name  string
		model porcupine.Model
		ops   []porcupine.Operation
	}{{"value", valueModel, vh}, {"queue", queueModel, qh}} {
		res := porcupine.CheckOperationsTimeout(h.model, h.ops, 30*time.Second)
		if res != porcupine.Ok {
			slices.SortFunc(h.ops, func(a, b porcupine.Operation) int { return int(a.Call - b.Call) })
			for _, op := range h.ops {
				t.Logf("c%d %d..%d %+v -> %+v", op.ClientId, op.Call%1e9/1e3, op.Return%1e9/1e3, op.Input, op.Output)
			}
		}
		require.Equal(t, porcupine.Ok, res, "%s history of %d operations", h.name, len(h.ops))
	}
}

func errorsIsEmpty(err error) bool { return errors.Is(err, errs.Empty) }

func TestLinearizable(t *testing.T) {
	runSuite(t, []suiteCase{{name: "ValueQueue", fn: testLinearizable}})
}
