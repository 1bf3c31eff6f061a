package builtin

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tableModel is what a table must behave like: a map, and when each key
// was inserted.
type tableModel struct {
	m   map[string]string
	ins map[string]int
	n   int
}

func newTableModel() tableModel {
	return tableModel{m: map[string]string{}, ins: map[string]int{}}
}

// order returns the keys in insertion order.
func (m *tableModel) order() []string {
	keys := slices.Collect(maps.Keys(m.m))
	slices.SortFunc(keys, func(a, b string) int { return cmp.Compare(m.ins[a], m.ins[b]) })
	return keys
}

// last returns the most recently inserted key.
func (m *tableModel) last() (string, bool) {
	k, at := "", -1
	for key, i := range m.ins {
		if i > at {
			k, at = key, i
		}
	}
	return k, at >= 0
}

// tableRun applies operations to a table and to a model, and checks after
// each that they agree.
type tableRun struct {
	tb    testing.TB
	t     *table
	model tableModel
	seq   uint64
}

func newTableRun(tb testing.TB) *tableRun {
	tb.Helper()
	r := &tableRun{tb: tb, model: newTableModel()}
	r.t = newTable(r) // its cleanup frees the regions
	return r
}

// store sets key to value in both.
func (r *tableRun) store(key, value []byte) {
	r.seq++
	if p := r.t.find(key); p.found() {
		r.t.replace(p.idx, value, r.seq)
	} else {
		r.t.insert(p, bytes.Clone(key), bytes.Clone(value), r.seq)
		r.model.n++
		r.model.ins[string(key)] = r.model.n
	}
	r.model.m[string(key)] = string(value)
}

// remove deletes key from both.
func (r *tableRun) remove(key []byte) {
	p := r.t.find(key)
	_, want := r.model.m[string(key)]
	require.Equal(r.tb, want, p.found(), "find %q", key)
	if !p.found() {
		return
	}
	r.t.remove(p)
	delete(r.model.m, string(key))
	delete(r.model.ins, string(key))
}

// popLast deletes the last entry from both, as PopItem does.
func (r *tableRun) popLast() {
	i := r.t.end() - 1
	last, ok := r.model.last()
	if !ok {
		require.Equal(r.tb, -1, i, "an empty table has no last entry")
		return
	}
	require.GreaterOrEqual(r.tb, i, 0)
	require.Equal(r.tb, last, string(r.t.key(i)), "the last entry")
	r.remove(bytes.Clone(r.t.key(i)))
}

// check compares the table with the model: every key and value, in
// order, and the counts.
func (r *tableRun) check() {
	r.tb.Helper()
	keys := []string{}
	for i := range r.t.end() {
		if r.t.at(i).version == 0 {
			continue
		}
		k := string(r.t.key(i))
		keys = append(keys, k)
		require.Equal(r.tb, r.model.m[k], string(r.t.value(i)), "value of %q", k)
		p := r.t.find([]byte(k))
		require.Equal(r.tb, i, p.idx, "find %q", k)
	}
	require.Equal(r.tb, append([]string{}, r.model.order()...), keys, "keys in insertion order")
	require.Equal(r.tb, len(r.model.m), r.t.live)
	require.LessOrEqual(r.tb, r.t.holes, r.t.live, "holes are squeezed out once they outnumber entries")
	require.LessOrEqual(r.tb, 3*r.t.used, 2*len(r.t.mem.index)+3, "the index is at most two thirds full")
	require.LessOrEqual(r.tb, r.t.deadBytes, max(r.t.liveBytes, garbageMin)+chunkMax, "arena garbage is bounded by what is live")
}

// tableKey is key number k, of a length that depends on k: some of them
// long enough, with long values, to be big entries.
func tableKey(k int) []byte {
	b := binary.AppendUvarint(nil, uint64(k))
	return append(b, bytes.Repeat([]byte{'k'}, k%7)...)
}

func tableValue(k, round int) []byte {
	size := 1 + (k*31+round)%40
	if k%97 == 0 {
		size = arenaMaxEntry + k%5 // a big entry; some become small when overwritten
	}
	return bytes.Repeat([]byte{byte(k + round)}, size)
}

func TestTableAgainstModel(t *testing.T) {
	r := newTableRun(t)
	rnd := rand.New(rand.NewPCG(1, 2))
	// Enough entries for mapped regions (an index of 64 KiB and more),
	// and enough overwrites and deletes for every compaction.
	for round := range 3 {
		for k := range 8_000 {
			r.store(tableKey(k), tableValue(k, round))
		}
		r.check()
		for range 12_000 {
			k := rnd.IntN(10_000)
			switch rnd.IntN(8) {
			case 0, 1:
				r.remove(tableKey(k))
			case 2:
				r.popLast()
			default:
				r.store(tableKey(k), tableValue(k, round+1))
			}
		}
		r.check()
	}
	for _, k := range r.model.order() {
		r.remove([]byte(k))
	}
	r.check()
	assert.Equal(t, 0, r.t.end(), "no entry or hole is left")
}

func TestTableFirstAfterSkipsNothingAcrossCompaction(t *testing.T) {
	r := newTableRun(t)
	for k := range 100 {
		r.store(tableKey(k), tableValue(k, 0))
	}
	cursor := r.t.at(49).ins // a walk has read the first 50 entries
	for k := range 60 {
		r.remove(tableKey(k)) // holes outnumber entries: compacted
	}
	i := r.t.firstAfter(cursor)
	for r.t.at(i).version == 0 {
		i++ // a walk skips holes
	}
	assert.Equal(t, string(tableKey(60)), string(r.t.key(i)), "the walk resumes at the first entry it has not seen")
}

func TestTableReset(t *testing.T) {
	r := newTableRun(t)
	for k := range 10_000 {
		r.store(tableKey(k), tableValue(k, 0))
	}
	r.t.reset()
	r.model = newTableModel()
	r.check()
	r.store([]byte("a"), []byte("b"))
	r.check()
}

func FuzzTable(f *testing.F) {
	f.Add([]byte{0, 1, 0, 2, 1, 1, 2, 0, 3})
	f.Add(bytes.Repeat([]byte{0, 5, 0, 6, 0, 7, 1, 5, 2, 0}, 30))
	f.Fuzz(func(t *testing.T, ops []byte) {
		r := newTableRun(t)
		for i := 0; i+1 < len(ops); i += 2 {
			k := int(ops[i+1] % 64)
			switch ops[i] % 4 {
			case 0, 3:
				r.store(tableKey(k), tableValue(k, int(ops[i])))
			case 1:
				r.remove(tableKey(k))
			case 2:
				r.popLast()
			}
		}
		r.check()
	})
}

func BenchmarkTable(b *testing.B) {
	for _, n := range []int{100, 1_000_000} {
		r := &tableRun{tb: b}
		r.t = newTable(r)
		keys := make([][]byte, n)
		for k := range keys {
			keys[k] = tableKey(k)
			r.t.insert(r.t.find(keys[k]), keys[k], []byte("v000000000000000"), uint64(k+1))
		}
		b.Run(fmt.Sprintf("find/%d", n), func(b *testing.B) {
			i := 0
			for b.Loop() {
				if !r.t.find(keys[i%n]).found() {
					b.Fatal("lost a key")
				}
				i += 7919
			}
		})
		r.t.reset()
	}
}
