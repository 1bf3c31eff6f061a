package redisengine

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testCallBatchNoScript: a batch whose scripts the server has forgotten
// (SCRIPT FLUSH, as after a restart) loads them again and still gives
// every call its result.
func testCallBatchNoScript(e *env) {
	t := e.t
	s := e.session(0)
	d := e.newObj(s, "Dict")
	v := e.newObj(s, "Value", 1)
	batch := func() []*BatchCall {
		calls := []*BatchCall{
			{ID: d.id, TypeID: "Dict", Handle: 1, Method: "Store", Args: enc(t, "k", 2)},
			{ID: d.id, TypeID: "Dict", Handle: 1, Method: "Load", Args: enc(t, "k")},
			{ID: v.id, TypeID: "Value", Handle: 1, Method: "Add", Args: enc(t, 1)},
			{ID: d.id, TypeID: "Dict", Handle: 1, Method: "NoSuchMethod"},
		}
		s.CallBatch(e.ctx(), calls)
		return calls
	}
	first := batch()
	require.NoError(t, e.srv.rdb.ScriptFlush(e.ctx()).Err())
	second := batch()
	for i, calls := range [][]*BatchCall{first, second} {
		require.NoError(t, calls[0].Err, "batch %d", i)
		require.NoError(t, calls[1].Err, "batch %d", i)
		assert.Equal(t, mp(t, []any{2, true}), calls[1].Result, "batch %d", i)
		require.NoError(t, calls[2].Err, "batch %d", i)
		assert.Equal(t, mp(t, 2+i), calls[2].Result, "batch %d", i)
		assert.Error(t, calls[3].Err, "batch %d", i)
	}
}

func TestCallBatch(t *testing.T) {
	runSuite(t, []suiteCase{
		{name: "NoScript", fn: testCallBatchNoScript},
	})
}
