package builtin

import (
	"bytes"
	"hash/maphash"
	"runtime"
	"sort"
	"unsafe"
)

// A table is the storage of a Dict or a Namespace: an insertion-ordered
// hash table of byte keys to byte values, laid out like CPython's compact
// dict so that a big one costs the garbage collector nothing.
//
// A Go map of a million entries, each a key string and a value slice
// behind a pointer, is two or three heap objects per entry that every GC
// cycle walks, and the heap goal doubles it again in resident memory (214
// bytes an entry for an int → 16-byte string dict, against CPython's 156).
// Here nothing per entry is a Go pointer:
//
//   - ents, the entries in insertion order: fixed-size records (where the
//     bytes are, their lengths, the version, the insertion number), with
//     deleted entries left as holes until they outnumber the live ones;
//   - index, an open-addressing hash index (linear probing) of slots that
//     each hold a 32-bit hash tag and an entry number, with tombstones for
//     deleted entries, rebuilt from the tags alone when it grows;
//   - the arena: append-only chunks holding each entry's key and value
//     bytes one after the other. An overwrite appends the new bytes and
//     leaves the old ones as garbage, squeezed out when garbage exceeds
//     what is live.
//
// The big regions (from mmapMin bytes) are mapped outside the Go heap
// (see compact_unix.go), so they neither count toward the GC's heap goal
// nor are scanned, and are given back to the OS as soon as they are
// dropped. For that reason no byte slice into the arena may outlive the
// caller's lock: readers that hand bytes out copy them (out). An entry
// whose key and value together exceed arenaMaxEntry is instead kept as
// the two slices it was given, on the Go heap (big): copying a megabyte
// value on every Load would cost more than its one pointer.
//
// A table is not safe for concurrent use: its owner's mutex guards it.
type table struct {
	mem   *tableMem
	seed  maphash.Seed
	live  int // entries that are not holes
	holes int // holes in ents
	used  int // index slots that are not empty (live entries and tombstones)
	shift uint
	// liveBytes and deadBytes count the arena's bytes in use and its
	// garbage (overwritten, deleted, or the unused tail of a full chunk).
	liveBytes, deadBytes int
	big                  []bigEntry // entries kept on the Go heap; free slots are zero
	bigFree              []uint32   // free slots of big
}

// tableMem holds a table's regions. It is apart from the table so that
// the owner's cleanup (see newTable) can free them.
type tableMem struct {
	ents   []entry  // len: entries and holes; cap: the region
	index  []uint64 // empty, or a power of two of slots
	chunks [][]byte // the arena; each a region, filled up to its len
}

// An entry is one record of table.ents. It holds no Go pointer.
type entry struct {
	// pos is where the key and then the value are: chunk<<32 | offset in
	// the arena, or bigFlag | the index in table.big.
	pos        uint64
	klen, vlen uint32
	version    uint64 // the owner's version of the entry; 0 marks a hole
	ins        uint64 // the insertion number; a hole keeps it (see firstAfter)
}

// A bigEntry is an entry too big for the arena, kept as it was given.
type bigEntry struct{ key, value []byte }

const (
	// arenaMaxEntry is the most key and value bytes an entry may have to
	// be kept in the arena.
	arenaMaxEntry = 4 << 10
	// chunkMin and chunkMax bound an arena chunk: the first chunks are
	// small so that a small dict stays small, later ones double.
	chunkMin = 256
	chunkMax = 1 << 20
	// garbageMin is the arena garbage below which it is never compacted,
	// so that a small dict overwritten in a loop does not copy on every
	// store.
	garbageMin = 16 << 10

	bigFlag   = 1 << 63
	tombstone = ^uint64(0) // an index slot whose entry was deleted
	maxLen    = 1<<32 - 2  // entries a table can number (index slots hold n+1 in 32 bits)
)

// newTable returns an empty table. Its regions are freed by free, or
// once owner is unreachable.
func newTable[T any](owner *T) *table {
	t := &table{mem: &tableMem{}, seed: maphash.MakeSeed()}
	runtime.AddCleanup(owner, (*tableMem).free, t.mem)
	return t
}

// A probe is the result of find: the key's hash, and its entry and index
// slot if it is present (idx -1 otherwise).
type probe struct {
	h    uint64
	idx  int
	slot int
}

// found reports whether the probed key is present.
func (p probe) found() bool { return p.idx >= 0 }

// find looks key up.
func (t *table) find(key []byte) probe {
	h := maphash.Bytes(t.seed, key)
	idx := t.mem.index
	if len(idx) == 0 {
		return probe{h: h, idx: -1}
	}
	tag := uint32(h >> 32)
	mask := len(idx) - 1
	for i := int(tag >> t.shift); ; i = (i + 1) & mask {
		s := idx[i]
		if s == 0 {
			return probe{h: h, idx: -1}
		}
		if s != tombstone && uint32(s>>32) == tag {
			j := int(uint32(s)) - 1
			if bytes.Equal(t.key(j), key) {
				return probe{h: h, idx: j, slot: i}
			}
		}
	}
}

// end returns the number of entries and holes: entry numbers run from 0
// to end()-1.
func (t *table) end() int { return len(t.mem.ents) }

// at returns entry i, which may be a hole (version 0).
func (t *table) at(i int) *entry { return &t.mem.ents[i] }

// key returns entry i's key. The slice is valid until the table changes.
func (t *table) key(i int) []byte {
	e := &t.mem.ents[i]
	if e.pos&bigFlag != 0 {
		return t.big[e.pos&^bigFlag].key
	}
	c, off := t.mem.chunks[e.pos>>32], uint32(e.pos)
	return c[off : off+e.klen : off+e.klen]
}

// value returns entry i's value. The slice is valid until the table
// changes.
func (t *table) value(i int) []byte {
	e := &t.mem.ents[i]
	if e.pos&bigFlag != 0 {
		return t.big[e.pos&^bigFlag].value
	}
	c, off := t.mem.chunks[e.pos>>32], uint32(e.pos)+e.klen
	return c[off : off+e.vlen : off+e.vlen]
}

// out returns b, a key or value of entry i, in a form that may outlive
// the lock: a copy of arena bytes, or b itself for a big entry (never
// modified, and kept alive by the GC).
func (t *table) out(i int, b []byte) []byte {
	if t.mem.ents[i].pos&bigFlag != 0 {
		return b
	}
	return bytes.Clone(b)
}

// insert adds key with value as a new last entry; p is find's probe of
// key, which is absent.
func (t *table) insert(p probe, key, value []byte, version uint64) {
	m := t.mem
	if (t.used+1)*3 > len(m.index)*2 {
		t.rebuildIndex(indexSize(t.live+1), nil)
	}
	if len(m.ents) == cap(m.ents) {
		t.growEntries()
	}
	n := len(m.ents)
	if n >= maxLen {
		panic("manager: dict: more than 2^32-2 entries")
	}
	m.ents = m.ents[:n+1]
	m.ents[n] = entry{pos: t.put(key, value), klen: uint32(len(key)), vlen: uint32(len(value)), version: version, ins: version}
	slot := t.emptySlot(p.h)
	if m.index[slot] == 0 {
		t.used++
	}
	m.index[slot] = uint64(uint32(p.h>>32))<<32 | uint64(n+1)
	t.live++
}

// replace sets entry i's value and version; its place in the order stays.
func (t *table) replace(i int, value []byte, version uint64) {
	e := &t.mem.ents[i]
	big := int(e.klen)+len(value) > arenaMaxEntry
	if e.pos&bigFlag != 0 && big {
		b := &t.big[e.pos&^bigFlag]
		b.value = value // a new slice: a reader of the old one keeps it
		e.vlen, e.version = uint32(len(value)), version
		return
	}
	key := t.key(i) // stays readable: drop frees nothing at once
	if big && e.pos&bigFlag == 0 {
		key = bytes.Clone(key) // a big entry's bytes must not be the arena's
	}
	t.drop(e)
	e.pos = t.put(key, value)
	e.vlen, e.version = uint32(len(value)), version
	t.maybeCompactArena()
}

// remove deletes the entry of p, which find found. The entry becomes a
// hole, and so does its index slot (a tombstone).
func (t *table) remove(p probe) {
	m := t.mem
	e := &m.ents[p.idx]
	t.drop(e)
	e.version, e.pos, e.klen, e.vlen = 0, 0, 0, 0
	m.index[p.slot] = tombstone
	t.live--
	t.holes++
	// Trailing holes go at once, so that the last entry (PopItem) is
	// found in O(1). No index slot names them: they are tombstones.
	for n := len(m.ents); n > 0 && m.ents[n-1].version == 0; n-- {
		m.ents = m.ents[:n-1]
		t.holes--
	}
	if t.holes > t.live {
		t.compactEntries()
	}
	t.maybeCompactArena()
}

// reset empties the table and frees its regions.
func (t *table) reset() {
	t.mem.free()
	*t = table{mem: t.mem, seed: t.seed}
}

// firstAfter returns the number of the first entry inserted after ins, or
// end(). Holes keep their insertion numbers, so ents is sorted by ins.
func (t *table) firstAfter(ins uint64) int {
	ents := t.mem.ents
	return sort.Search(len(ents), func(i int) bool { return ents[i].ins > ins })
}

// put stores key and value and returns their position.
func (t *table) put(key, value []byte) uint64 {
	n := len(key) + len(value)
	if n > arenaMaxEntry {
		b := bigEntry{key: key, value: value}
		if k := len(t.bigFree); k > 0 {
			i := t.bigFree[k-1]
			t.bigFree = t.bigFree[:k-1]
			t.big[i] = b
			return bigFlag | uint64(i)
		}
		t.big = append(t.big, b)
		return bigFlag | uint64(len(t.big)-1)
	}
	m := t.mem
	last := len(m.chunks) - 1
	if last < 0 || len(m.chunks[last])+n > cap(m.chunks[last]) {
		size := chunkMin
		if last >= 0 {
			t.deadBytes += cap(m.chunks[last]) - len(m.chunks[last])
			size = min(2*cap(m.chunks[last]), chunkMax)
		}
		m.chunks = append(m.chunks, makeRegion[byte](max(size, n))[:0])
		last++
	}
	c := m.chunks[last]
	off := len(c)
	c = append(append(c, key...), value...) // within cap: no reallocation
	m.chunks[last] = c
	t.liveBytes += n
	return uint64(last)<<32 | uint64(off)
}

// drop gives up the bytes of entry e (which stay readable until the
// table next compacts).
func (t *table) drop(e *entry) {
	if e.pos&bigFlag != 0 {
		i := e.pos &^ bigFlag
		t.big[i] = bigEntry{}
		t.bigFree = append(t.bigFree, uint32(i))
		return
	}
	n := int(e.klen + e.vlen)
	t.liveBytes -= n
	t.deadBytes += n
}

// maybeCompactArena copies the live bytes into fresh chunks once the
// garbage outweighs them, so that the arena is at most about twice what
// is live, at an amortised O(1) copy per byte written.
func (t *table) maybeCompactArena() {
	if t.deadBytes < garbageMin || t.deadBytes <= t.liveBytes {
		return
	}
	old := t.mem.chunks
	var chunks [][]byte
	size := min(max(chunkMin, t.liveBytes+t.liveBytes/4), chunkMax)
	t.liveBytes, t.deadBytes = 0, 0
	for i := range t.mem.ents {
		e := &t.mem.ents[i]
		if e.version == 0 || e.pos&bigFlag != 0 {
			continue
		}
		n := int(e.klen + e.vlen)
		last := len(chunks) - 1
		if last < 0 || len(chunks[last])+n > cap(chunks[last]) {
			if last >= 0 {
				t.deadBytes += cap(chunks[last]) - len(chunks[last])
				size = chunkMax
			}
			chunks = append(chunks, makeRegion[byte](max(size, n))[:0])
			last++
		}
		c, off := old[e.pos>>32], uint32(e.pos)
		e.pos = uint64(last)<<32 | uint64(len(chunks[last]))
		chunks[last] = append(chunks[last], c[off:off+uint32(n)]...)
		t.liveBytes += n
	}
	for _, c := range old {
		freeRegion(c)
	}
	t.mem.chunks = chunks
}

// growEntries doubles ents' region.
func (t *table) growEntries() {
	m := t.mem
	ents := makeRegion[entry](max(8, 2*cap(m.ents)))[:len(m.ents)]
	copy(ents, m.ents)
	freeRegion(m.ents)
	m.ents = ents
}

// compactEntries squeezes the holes out of ents, keeping the order, and
// renumbers the index.
func (t *table) compactEntries() {
	m := t.mem
	remap := makeRegion[uint32](len(m.ents))
	w := 0
	for i := range m.ents {
		if m.ents[i].version == 0 {
			continue
		}
		remap[i] = uint32(w)
		m.ents[w] = m.ents[i]
		w++
	}
	m.ents = m.ents[:w]
	t.holes = 0
	t.rebuildIndex(indexSize(t.live), remap)
	freeRegion(remap)
	if cap(m.ents) > 64 && w < cap(m.ents)/4 {
		ents := makeRegion[entry](2 * w)[:w]
		copy(ents, m.ents)
		freeRegion(m.ents)
		m.ents = ents
	}
}

// indexSize is the index size for n entries: a power of two at least
// twice n, so that the index is at most half full after a rebuild and
// grows again at two thirds.
func indexSize(n int) int {
	size := 8
	for size < 2*n {
		size *= 2
	}
	return size
}

// rebuildIndex moves the index into a new one of size slots, dropping
// its tombstones; with remap, entry numbers change from i to remap[i].
// It reads no key: a slot's tag is the top of its key's hash, which is
// also what places it.
func (t *table) rebuildIndex(size int, remap []uint32) {
	m := t.mem
	old := m.index
	m.index = makeRegion[uint64](size)[:size]
	t.shift = uint(32 - bitsOf(size))
	t.used = 0
	for _, s := range old {
		if s == 0 || s == tombstone {
			continue
		}
		if remap != nil {
			s = s&^0xffffffff | uint64(remap[uint32(s)-1]+1)
		}
		m.index[t.emptySlot(s)] = s
		t.used++
	}
	freeRegion(old)
}

// emptySlot returns the first empty or tombstone slot on the probe path
// of hash h (whose top 32 bits are its tag).
func (t *table) emptySlot(h uint64) int {
	idx := t.mem.index
	mask := len(idx) - 1
	i := int(uint32(h>>32) >> t.shift)
	for idx[i] != 0 && idx[i] != tombstone {
		i = (i + 1) & mask
	}
	return i
}

// bitsOf returns log2 of size, a power of two.
func bitsOf(size int) int {
	n := 0
	for size > 1 {
		size >>= 1
		n++
	}
	return n
}

// free frees every region of m.
func (m *tableMem) free() {
	for _, c := range m.chunks {
		freeRegion(c)
	}
	freeRegion(m.ents)
	freeRegion(m.index)
	m.chunks, m.ents, m.index = nil, nil, nil
}

// mmapMin is the size from which a region is mapped outside the Go heap
// (where the platform can): below it, a region is an ordinary slice,
// which keeps small tables cheap to create and many of them within the
// process's mapping limit.
const mmapMin = 64 << 10

// makeRegion returns a zeroed slice of n (or, when mapped, a little more)
// Ts, to be given back with freeRegion and never grown with append
// beyond its capacity. T holds no pointer.
func makeRegion[T any](n int) []T {
	var z T
	size := n * int(unsafe.Sizeof(z))
	if size < mmapMin {
		return make([]T, n)
	}
	b := mapRegion(size)
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/int(unsafe.Sizeof(z)))
}

// freeRegion gives back a slice that makeRegion returned (or any prefix
// of it); nil is a no-op. A mapped region is unmapped at once: nothing
// may read it afterwards.
func freeRegion[T any](s []T) {
	var z T
	size := cap(s) * int(unsafe.Sizeof(z))
	if size < mmapMin {
		return // the GC's
	}
	unmapRegion(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), size))
}
