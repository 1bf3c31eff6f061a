package builtin

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/errs"
)

// The ItemsFrom methods walk a big Dict or List a page at a time, so that
// a client iterating it never asks for one reply the size of the whole
// container (which may exceed the frame limit). The client chooses the
// page's bounds; a page holds at least one entry when any is left, so a
// walk always progresses, and stops before the entry that would take it
// past maxBytes.

// maxPageItems caps a page's maxItems, whatever a client asks: the page
// is allocated for that many entries.
const maxPageItems = 1 << 16

// pageEntryOverhead is what a page's encoding adds to each entry's bytes
// (array headers), counted against maxBytes.
const pageEntryOverhead = 8

// DictPage is a page of a Dict's entries, as ItemsFrom returns it. It
// travels as a three-element array [items, next, done].
type DictPage struct {
	//lint:ignore U1000 msgpack reads this field's tag (as_array), never its value
	_msgpack struct{} `msgpack:",as_array"`
	// Items are the page's entries, in insertion order.
	Items []Pair
	// Next is the cursor of the following page.
	Next uint64
	// Done reports that no entry follows this page.
	Done bool
}

// ListPage is a page of a List's elements, as ItemsFrom returns it. It
// travels as a three-element array [items, next, done].
type ListPage struct {
	//lint:ignore U1000 msgpack reads this field's tag (as_array), never its value
	_msgpack struct{} `msgpack:",as_array"`
	// Items are the page's elements, in order.
	Items []msgpack.RawMessage
	// Next is the index of the following page's first element.
	Next int64
	// Done reports that no element follows this page.
	Done bool
}

// checkPage checks a page's bounds, and caps maxItems.
func checkPage(maxItems, maxBytes int) (int, error) {
	if maxItems < 1 || maxBytes < 1 {
		return 0, fmt.Errorf("%w: ItemsFrom: page bounds %d items, %d bytes: both must be at least 1", errs.BadArguments, maxItems, maxBytes)
	}
	return min(maxItems, maxPageItems), nil
}

// ItemsFrom returns the entries inserted after cursor, in insertion
// order: at most maxItems of them, and no more than fit in maxBytes of
// encoded keys and values (but at least one, if any is left). Pass 0 to
// start, then each page's Next, until a page is Done.
//
// A walk so made sees every key that is in the dict for the whole walk
// exactly once, with the value it has when its page is read, since an
// entry keeps its place in the insertion order until it is deleted. A key
// stored for the first time during the walk is seen if the walk has not
// ended; a key deleted during it may or may not be seen, and one deleted
// and stored again may be seen twice (it moved to the end). The walk is
// not a snapshot: Items is.
//
// Bad bounds give an error wrapping errs.BadArguments.
func (d *Dict) ItemsFrom(cursor uint64, maxItems, maxBytes int) (DictPage, error) {
	maxItems, err := checkPage(maxItems, maxBytes)
	if err != nil {
		return DictPage{}, err
	}
	d.core.mu.Lock()
	defer d.core.mu.Unlock()
	t := d.core.t
	page := DictPage{Next: cursor}
	i := t.firstAfter(cursor)
	size := 0
	for ; i < t.end() && len(page.Items) < maxItems; i++ {
		e := t.at(i)
		if e.version == 0 {
			continue
		}
		n := int(e.klen+e.vlen) + pageEntryOverhead
		if len(page.Items) > 0 && size+n > maxBytes {
			break
		}
		size += n
		page.Items = append(page.Items, Pair{Key: t.out(i, t.key(i)), Value: t.out(i, t.value(i))})
		page.Next = e.ins
	}
	for i < t.end() && t.at(i).version == 0 {
		i++
	}
	page.Done = i == t.end()
	return page, nil
}

// ItemsFrom returns the elements from index start on: at most maxItems
// of them, and no more than fit in maxBytes of encoded elements (but at
// least one, if any is left). Pass 0 to start, then each page's Next,
// until a page is Done.
//
// A walk so made goes by index, like Python's iteration over a list (and
// LRANGE paging in Redis): an element appended during the walk is seen;
// an insertion or deletion before the walk's position shifts the
// elements after it, so that one of them is seen twice or not at all.
// The walk is not a snapshot: All is.
//
// A negative start or bad bounds give an error wrapping
// errs.BadArguments.
func (l *List) ItemsFrom(start int64, maxItems, maxBytes int) (ListPage, error) {
	maxItems, err := checkPage(maxItems, maxBytes)
	if err != nil {
		return ListPage{}, err
	}
	if start < 0 {
		return ListPage{}, fmt.Errorf("%w: ItemsFrom: start %d is negative", errs.BadArguments, start)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	page := ListPage{Next: start}
	size := 0
	i := start
	for ; i < int64(len(l.items)) && len(page.Items) < maxItems; i++ {
		item := l.items[i]
		n := len(item) + pageEntryOverhead
		if len(page.Items) > 0 && size+n > maxBytes {
			break
		}
		size += n
		page.Items = append(page.Items, item)
	}
	page.Next = i
	page.Done = i >= int64(len(l.items))
	return page, nil
}
