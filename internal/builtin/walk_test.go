package builtin

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/errs"
)

// walkDict walks d with ItemsFrom in pages of maxItems and maxBytes,
// calling between (if not nil) after each page, and returns the keys
// seen, decoded as ints, in order.
func walkDict(tb testing.TB, d *Dict, maxItems, maxBytes int, between func()) []int {
	tb.Helper()
	var keys []int
	var cursor uint64
	for pages := 0; ; pages++ {
		require.Less(tb, pages, 100000, "the walk ends")
		page, err := d.ItemsFrom(cursor, maxItems, maxBytes)
		require.NoError(tb, err)
		require.LessOrEqual(tb, len(page.Items), maxItems)
		if !page.Done {
			require.NotEmpty(tb, page.Items, "a page that is not the last progresses")
		}
		for _, p := range page.Items {
			keys = append(keys, queueInt(tb, p.Key))
		}
		cursor = page.Next
		if page.Done {
			return keys
		}
		if between != nil {
			between()
		}
	}
}

func TestDictItemsFromPages(t *testing.T) {
	d, err := NewDict(direct, nil)
	require.NoError(t, err)
	page, err := d.ItemsFrom(0, 10, 1<<20)
	require.NoError(t, err)
	assert.True(t, page.Done)
	assert.Empty(t, page.Items)

	var want []int
	for i := range 10 {
		d.Store(direct, queueItem(t, i), queueItem(t, i*i))
		want = append(want, i)
	}
	tests := []struct {
		name     string
		maxItems int
		maxBytes int
	}{
		{name: "one page", maxItems: 100, maxBytes: 1 << 20},
		{name: "pages of 3", maxItems: 3, maxBytes: 1 << 20},
		{name: "pages of 1", maxItems: 1, maxBytes: 1 << 20},
		{name: "bytes bound: one entry per page", maxItems: 100, maxBytes: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, want, walkDict(t, d, tt.maxItems, tt.maxBytes, nil))
		})
	}

	page, err = d.ItemsFrom(0, 2, 1<<20)
	require.NoError(t, err)
	require.Len(t, page.Items, 2)
	assert.Equal(t, 1, queueInt(t, page.Items[1].Value), "values travel with their keys")
	assert.False(t, page.Done)
}

func TestItemsFromBadBounds(t *testing.T) {
	d, err := NewDict(direct, nil)
	require.NoError(t, err)
	l, err := NewList(direct, nil)
	require.NoError(t, err)
	tests := []struct {
		name     string
		start    int64
		maxItems int
		maxBytes int
	}{
		{name: "no items", maxItems: 0, maxBytes: 1},
		{name: "no bytes", maxItems: 1, maxBytes: 0},
		{name: "negative", maxItems: -1, maxBytes: -1},
		{name: "negative list start", start: -1, maxItems: 1, maxBytes: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := l.ItemsFrom(tt.start, tt.maxItems, tt.maxBytes)
			assert.ErrorIs(t, err, errs.BadArguments)
			if tt.start == 0 {
				_, err = d.ItemsFrom(0, tt.maxItems, tt.maxBytes)
				assert.ErrorIs(t, err, errs.BadArguments)
			}
		})
	}
}

// Between pages, keys are stored, deleted (enough to compact the order),
// deleted and stored again, and cleared: every key present for the whole
// walk is seen exactly once, and every key seen was in the dict.
func TestDictItemsFromConcurrentChanges(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		d, err := NewDict(direct, nil)
		require.NoError(t, err)
		const n = 200
		for i := range n {
			d.Store(direct, queueItem(t, i), queueItem(t, 0))
		}
		// stable: keys never touched but by a value update.
		stable := map[int]bool{}
		ever := map[int]bool{}
		for i := range n {
			stable[i], ever[i] = true, true
		}
		next := n
		rounds := 0
		between := func() {
			if rounds++; rounds > 60 {
				return // let the walk catch up with the additions
			}
			for range 1 + rng.IntN(20) {
				switch op := rng.IntN(4); op {
				case 0: // a new key
					d.Store(direct, queueItem(t, next), queueItem(t, 0))
					ever[next] = true
					next++
				case 1, 2: // delete (and maybe store again) an old key
					k := rng.IntN(next)
					d.Delete(direct, queueItem(t, k))
					delete(stable, k)
					if op == 2 {
						d.Store(direct, queueItem(t, k), queueItem(t, 1))
						ever[k] = true
					}
				case 3: // overwrite in place: keeps the key's place
					k := rng.IntN(next)
					if stable[k] {
						d.Store(direct, queueItem(t, k), queueItem(t, 2))
					}
				}
			}
		}
		seen := map[int]int{}
		for _, k := range walkDict(t, d, 1+rng.IntN(7), 1<<20, between) {
			seen[k]++
			assert.True(t, ever[k], "seed %d: key %d was in the dict", seed, k)
		}
		for k := range stable {
			assert.Equal(t, 1, seen[k], "seed %d: key %d, present throughout, seen once", seed, k)
		}
	}
}

// A cursor stays valid across Clear: the walk goes on with what is
// stored after it.
func TestDictItemsFromAcrossClear(t *testing.T) {
	d, err := NewDict(direct, nil)
	require.NoError(t, err)
	for i := range 5 {
		d.Store(direct, queueItem(t, i), queueItem(t, i))
	}
	page, err := d.ItemsFrom(0, 2, 1<<20)
	require.NoError(t, err)
	d.Clear(direct)
	d.Store(direct, queueItem(t, 1), queueItem(t, 1))
	d.Store(direct, queueItem(t, 9), queueItem(t, 9))
	page, err = d.ItemsFrom(page.Next, 10, 1<<20)
	require.NoError(t, err)
	assert.True(t, page.Done)
	var keys []int
	for _, p := range page.Items {
		keys = append(keys, queueInt(t, p.Key))
	}
	assert.Equal(t, []int{1, 9}, keys)
}

func TestListItemsFrom(t *testing.T) {
	var items []msgpack.RawMessage
	var want []int
	for i := range 10 {
		items = append(items, queueItem(t, i))
		want = append(want, i)
	}
	l, err := NewList(direct, items)
	require.NoError(t, err)
	tests := []struct {
		name     string
		maxItems int
		maxBytes int
	}{
		{name: "one page", maxItems: 100, maxBytes: 1 << 20},
		{name: "pages of 4", maxItems: 4, maxBytes: 1 << 20},
		{name: "bytes bound: one element per page", maxItems: 100, maxBytes: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []int
			var start int64
			for {
				page, err := l.ItemsFrom(start, tt.maxItems, tt.maxBytes)
				require.NoError(t, err)
				require.LessOrEqual(t, len(page.Items), tt.maxItems)
				for _, it := range page.Items {
					got = append(got, queueInt(t, it))
				}
				if page.Done {
					break
				}
				require.Greater(t, page.Next, start, "progress")
				start = page.Next
			}
			assert.Equal(t, want, got)
		})
	}
	page, err := l.ItemsFrom(50, 10, 1<<20)
	require.NoError(t, err)
	assert.True(t, page.Done, "past the end")
	assert.Empty(t, page.Items)
}
