package redisengine

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// testConcurrentAdd: Adds from several sessions at once lose nothing.
func testConcurrentAdd(e *env) {
	t := e.t
	const sessions, adds = 4, 50
	first := e.session(0)
	d := e.newObj(first, "Dict")
	v := e.newObj(first, "Value", 0)
	var wg sync.WaitGroup
	errs := make(chan error, sessions*adds*2)
	for i := range sessions {
		s := first
		if i > 0 {
			s = e.session(0)
		}
		dd, vv := d.as(s, 1), v.as(s, 1)
		wg.Go(func() {
			for range adds {
				_, err := dd.call(e.ctx(), "Add", "n", 1)
				errs <- err
				_, err = vv.call(e.ctx(), "Add", 2)
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, mp(t, []any{sessions * adds, true}), d.must("Load", "n"))
	assert.Equal(t, mp(t, 2*sessions*adds), v.must("Load"))
}

// testConcurrentQueue: producers and blocked consumers in several
// sessions; every item is received exactly once and Join completes.
func testConcurrentQueue(e *env) {
	t := e.t
	const producers, consumers, items = 2, 3, 60
	first := e.session(0)
	q := e.newObj(first, "JoinableQueue", 5)
	ctx, cancel := context.WithCancel(e.ctx())
	defer cancel()
	got := make(chan int, producers*items)
	var cwg sync.WaitGroup
	for range consumers {
		qc := q.as(e.session(0), 1)
		cwg.Go(func() {
			for {
				b, err := qc.call(ctx, "Get")
				if err != nil {
					return // cancelled at the end
				}
				var i int
				if msgpack.Unmarshal(b, &i) == nil {
					got <- i
				}
				if _, err := qc.call(context.Background(), "TaskDone"); err != nil {
					return
				}
			}
		})
	}
	var pwg sync.WaitGroup
	for p := range producers {
		qp := q.as(e.session(0), 1)
		pwg.Go(func() {
			for i := range items {
				if _, err := qp.call(e.ctx(), "Put", p*items+i); err != nil {
					return
				}
			}
		})
	}
	pwg.Wait()
	_, err := q.call(e.ctx(), "Join")
	require.NoError(t, err)
	cancel()
	cwg.Wait()
	close(got)
	seen := map[int]int{}
	for i := range got {
		seen[i]++
	}
	require.Len(t, seen, producers*items)
	for i, n := range seen {
		assert.Equal(t, 1, n, "item %d", i)
	}
	assert.Equal(t, mp(t, 0), q.must("Len"))
}

func TestConcurrent(t *testing.T) {
	runSuite(t, []suiteCase{
		{name: "Add", fn: testConcurrentAdd},
		{name: "Queue", fn: testConcurrentQueue},
	})
}
