package redisengine

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/errs"
)

// Options configure a [Session].
type Options struct {
	// Namespace prefixes every key, so several programs can share one
	// Redis. The default is "manager".
	Namespace string
	// Lease is how long a session stays alive in Redis without a
	// heartbeat; the heartbeat runs every Lease/3. A process that dies
	// loses what it held within Lease. The default is 10s.
	Lease time.Duration
}

// DefaultLease is the lease of a session when Options.Lease is zero.
const DefaultLease = 10 * time.Second

// DefaultNamespace is the namespace when Options.Namespace is empty.
const DefaultNamespace = "manager"

// Session is one process's session on a Redis engine: the owner of its
// locks, permits and references. It is safe for concurrent use.
//
// A session runs each type's Lua script as a Redis 7 function (FCALL of
// a library it loads with FUNCTION LOAD on every master, named
// manager_<family>_<hash of the script> so that two versions of this
// package can run side by side), or, when the server has no functions
// (Redis before 7) or refuses them (an ACL without FUNCTION or FCALL),
// with EVALSHA: it finds out at its first call of a type's script. A
// library the server lost (FUNCTION FLUSH, a restart without
// persistence, a new or failed-over cluster node) is loaded again by the
// call that finds it missing, which then runs.
type Session struct {
	rdb     redis.UniversalClient
	ns      string
	sid     string // 32 hex digits
	lease   time.Duration
	leaseMS string
	// pipeWait bounds the BLPOP of a piped call (see callPiped); 0: the
	// session does not pipe calls.
	pipeWait time.Duration
	serverID [16]byte
	started  time.Time

	closeCtx context.Context // done when Close starts: wakes blocked calls
	closeFn  context.CancelFunc
	hbStop   chan struct{} // closed to stop the heartbeat
	hbDone   chan struct{} // closed when the heartbeat has returned
	hbOnce   sync.Once
	seq      atomic.Uint64
	// sweepCursor is where the heartbeat's next sweep step starts; only
	// the heartbeat goroutine uses it.
	sweepCursor uint64
	keys        sync.Map // object id -> its fast scripts' keys ([]string)
	// fastSkip: object id -> *atomic.Int32, the calls left that skip the
	// fast scripts, set when one fell back (see skipFast).
	fastSkip sync.Map
	// unwaited: object id -> *atomic.Int32, how many of the session's
	// last calls of a family.direct method on it in a row did not wait
	// (see pipeWaitFor).
	unwaited sync.Map
	touched  sync.Map     // object id -> typeid: called by the session (see touch)
	scripts  sync.Map     // *luaScript -> struct{}: loaded by CallBatch
	lua      atomic.Int32 // how family scripts run: luaUnknown, luaFunctions or luaScripts
	beats    atomic.Int64 // heartbeats done, for tests
	// withdrawFailures counts withdrawals that failed and will be retried,
	// for tests.
	withdrawFailures atomic.Int64

	mu     sync.Mutex      // guards refs and closed
	refs   map[uint64]*ref // objects this session references
	closed bool
}

// Open starts a session on rdb: it picks a random session id and starts
// the heartbeat goroutine that renews the session's leases until Close.
// ctx bounds the first contact with Redis only.
func Open(ctx context.Context, rdb redis.UniversalClient, o Options) (*Session, error) {
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.Lease < 3*time.Millisecond {
		return nil, fmt.Errorf("manager: redis lease %v is too short (want at least 3ms)", o.Lease)
	}
	if strings.ContainsAny(o.Namespace, "{}") {
		return nil, fmt.Errorf("manager: redis namespace %q contains a brace (braces are hash tags in Redis Cluster)", o.Namespace)
	}
	var id [16]byte
	rand.Read(id[:])
	if err := rdb.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("manager: redis: %w", err)
	}
	s := &Session{
		rdb:      rdb,
		ns:       o.Namespace,
		sid:      hex.EncodeToString(id[:]),
		lease:    o.Lease,
		leaseMS:  strconv.FormatInt(o.Lease.Milliseconds(), 10),
		pipeWait: pipeWaitOf(rdb),
		serverID: ServerID(o.Namespace),
		hbStop:   make(chan struct{}),
		hbDone:   make(chan struct{}),
		refs:     make(map[uint64]*ref),
		started:  time.Now(),
	}
	if err := s.checkLayout(ctx); err != nil {
		return nil, err
	}
	if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error { s.announce(ctx, p); return nil }); err != nil {
		return nil, fmt.Errorf("manager: redis: %w", err)
	}
	s.closeCtx, s.closeFn = context.WithCancel(context.Background())
	go s.heartbeat()
	return s, nil
}

// ServerID returns the identity of a namespace: the same on every
// machine, and distinct from any manager's.
func ServerID(namespace string) [16]byte {
	sum := sha256.Sum256([]byte("github.com/goproc/manager redis namespace\x00" + namespace))
	var id [16]byte
	copy(id[:], sum[:])
	return id
}

// ServerID returns the identity of the session's namespace, the same on
// every machine: proxies of this engine carry it as their server.
func (s *Session) ServerID() [16]byte { return s.serverID }

// ID returns the session's id, 32 hex digits.
func (s *Session) ID() string { return s.sid }

// heartbeat renews the leases of the objects the session references
// every Lease/3, until stopped.
func (s *Session) heartbeat() {
	defer close(s.hbDone)
	t := time.NewTicker(s.lease / 3)
	defer t.Stop()
	for beat := 1; ; beat++ {
		select {
		case <-s.hbStop:
			return
		case <-t.C:
			s.renew()
			s.beats.Add(1)
			if beat%sweepEvery == 0 {
				s.sweepStep()
			}
		}
	}
}

// renew sets every lease key of the session again. SET rather than
// PEXPIRE: a lease that expired while this process was paused comes back
// (what it held may have been released meanwhile; a Release then says
// errs.NotHeld).
func (s *Session) renew() {
	s.mu.Lock()
	ids := make([]uint64, 0, len(s.refs))
	for id := range s.refs {
		ids = append(ids, id)
	}
	var touched []uint64
	s.touched.Range(func(k, _ any) bool {
		if _, ok := s.refs[k.(uint64)]; !ok {
			touched = append(touched, k.(uint64))
		}
		return true
	})
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), s.lease/3)
	defer cancel()
	ms := s.lease.Milliseconds()
	renewed := make([]*redis.Cmd, len(touched))
	s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		s.announce(ctx, p)
		for _, id := range ids {
			p.Eval(ctx, renewScript, []string{s.prefix(id) + "m", s.prefix(id) + "l:" + s.sid}, ms, "ref")
		}
		for i, id := range touched {
			renewed[i] = p.Eval(ctx, renewScript, []string{s.prefix(id) + "m", s.prefix(id) + "l:" + s.sid}, ms, "")
		}
		return nil
	})
	for i, c := range renewed {
		if n, err := c.Int(); err == nil && n == 0 {
			s.touched.Delete(touched[i])
		}
	}
}

// renewScript renews a session's lease on one object, if the object
// still exists (a heartbeat never brings back a deleted object's keys):
// set anew for a referenced object ("ref"), so that a lease that lapsed
// while the process was paused comes back; only extended for an object
// the session merely called, and then forgotten once it is gone.
const renewScript = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[2] == 'ref' then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
  return 1
end
return redis.call('PEXPIRE', KEYS[2], ARGV[1])`

// touch records that the session called object id, so that the
// heartbeat renews its lease there even if it holds no reference (a
// proxy received without Retain): what it holds there stays its own.
func (s *Session) touch(id uint64, typeid string) {
	if _, ok := s.touched.Load(id); !ok {
		s.touched.Store(id, typeid)
	}
}

// stopHeartbeat stops renewing the leases, as a process that died would:
// tests use it to simulate a dead session.
func (s *Session) stopHeartbeat() {
	s.hbOnce.Do(func() { close(s.hbStop) })
	<-s.hbDone
}

// A Condition built on an existing lock lives in the lock's hash slot:
// its id is the lock's id plus its number among the lock's conditions
// shifted by condShift, and its keys are "{ns:lock}:c<n>:...".
const (
	condShift = 40
	condMask  = 1<<condShift - 1
)

// prefix returns the key prefix of object id, "{ns:id}:" (for a
// Condition on a lock, "{ns:lock}:c<n>:").
func (s *Session) prefix(id uint64) string {
	if n := id >> condShift; n != 0 {
		return s.tag(id) + "c" + strconv.FormatUint(n, 10) + ":"
	}
	return s.tag(id)
}

// tag returns the prefix of the hash slot of object id, "{ns:id}:", where
// its grants and wake-up lists are.
func (s *Session) tag(id uint64) string {
	return "{" + s.ns + ":" + strconv.FormatUint(id&condMask, 10) + "}:"
}

func (s *Session) nsKey(suffix string) string { return "{" + s.ns + "}:" + suffix }

// newCID returns a call id unique across all sessions: the session id
// and a number.
func (s *Session) newCID() string {
	return s.sid + strconv.FormatUint(s.seq.Add(1), 10)
}

// A ref is what the session knows of an object it references.
type ref struct {
	typeid string
	n      int // references held
}

func (s *Session) addRef(id uint64, typeid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.refs[id]; r != nil {
		r.n++
		return
	}
	s.refs[id] = &ref{typeid: typeid, n: 1}
}

// dropRef forgets one reference, and returns the object's typeid, or ""
// if the session did not reference id.
func (s *Session) dropRef(id uint64) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.refs[id]
	if r == nil {
		return ""
	}
	if r.n--; r.n <= 0 {
		delete(s.refs, id)
		s.keys.Delete(id)
		s.fastSkip.Delete(id)
		s.unwaited.Delete(id)
	}
	return r.typeid
}

func (s *Session) checkOpen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errs.Closed
	}
	return nil
}

// New creates an object of typeid with the constructor's msgpack
// arguments (those of internal/builtin's NewX) and returns its id, with
// one reference held by this session. It blocks for two round trips.
func (s *Session) New(ctx context.Context, typeid string, args []msgpack.RawMessage) (uint64, error) {
	return s.create(ctx, "", typeid, args)
}

// Open returns the id of the object named name, creating it with args
// if there is none, and takes a reference to it. An existing object of
// another type gives an error wrapping errs.WrongType. Named objects
// live until Delete, whatever references them.
func (s *Session) Open(ctx context.Context, name, typeid string, args []msgpack.RawMessage) (uint64, error) {
	if name == "" {
		return 0, fmt.Errorf("manager: open: %w: empty name", errs.BadArguments)
	}
	return s.create(ctx, name, typeid, args)
}

// nameScript gets or assigns the id of a name, in the namespace's slot.
var nameScript = redis.NewScript(`
local id = redis.call('HGET', KEYS[1], ARGV[1])
if id then return id end
id = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], ARGV[1], id)
return id`)

func (s *Session) create(ctx context.Context, name, typeid string, args []msgpack.RawMessage) (uint64, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	fam := familyOf(typeid)
	if fam == nil {
		return 0, fmt.Errorf("manager: new %s: %w: the Redis engine hosts the built-in types only", typeid, errs.NotSupported)
	}
	init, err := fam.ctor(args)
	if err != nil {
		return 0, fmt.Errorf("manager: new %s: %w: %v", typeid, errs.BadArguments, err)
	}
	var id uint64
	switch {
	case typeid == "Condition" && len(init) > 0:
		id, init, err = s.namedConditionOn(ctx, name, init[0].(uint64))
		if err != nil {
			return 0, fmt.Errorf("manager: new %s: %w", typeid, err)
		}
	case name == "":
		id, err = s.rdb.Incr(ctx, s.nsKey("id")).Uint64()
	default:
		id, err = nameScript.Run(ctx, s.rdb, []string{s.nsKey("names"), s.nsKey("id")}, name).Uint64()
	}
	if err != nil {
		return 0, fmt.Errorf("manager: new %s: redis: %w", typeid, err)
	}
	s.addRef(id, typeid)
	if name == "" {
		// Registered first, so a sweep finds it even if this process
		// dies right after creating it.
		if err := s.rdb.SAdd(ctx, s.nsKey("objs"), id).Err(); err != nil {
			s.dropRef(id)
			return 0, fmt.Errorf("manager: new %s: redis: %w", typeid, err)
		}
	}
	if _, err := s.run(ctx, fam, id, typeid, "", "", "n", append([]any{name}, init...)); err != nil {
		s.dropRef(id)
		return 0, fmt.Errorf("manager: new %s: %w", typeid, err)
	}
	return id, nil
}

// condScript numbers a new Condition on the lock whose meta hash is
// KEYS[1], and returns the lock's type and that number.
var condScript = redis.NewScript(`
local t = redis.call('HGET', KEYS[1], 't')
if not t then return 'Eno_such_object no lock with this id' end
if t ~= 'Lock' and t ~= 'RLock' then return 'Ebad_arguments the object is a ' .. t .. ', not a Lock or RLock' end
return '=' .. t .. ' ' .. redis.call('HINCRBY', KEYS[1], 'nc', 1)`)

// namedConditionOn is conditionOn for a Condition that may have a name:
// the one of that name if there is one (whatever lock it is on), else a
// new one, registered under name.
func (s *Session) namedConditionOn(ctx context.Context, name string, lockID uint64) (uint64, []any, error) {
	if name == "" {
		return s.conditionOn(ctx, lockID)
	}
	existing := func() (uint64, []any, bool, error) {
		text, err := s.rdb.HGet(ctx, s.nsKey("names"), name).Result()
		if errors.Is(err, redis.Nil) {
			return 0, nil, false, nil
		}
		if err != nil {
			return 0, nil, false, fmt.Errorf("redis: %w", err)
		}
		id, err := strconv.ParseUint(text, 10, 64)
		if err != nil {
			return 0, nil, false, fmt.Errorf("bad id %q under name %q", text, name)
		}
		if id>>condShift == 0 {
			// Another type's name: the create script says which.
			return id, nil, true, nil
		}
		lt, err := s.rdb.HGet(ctx, s.tag(id)+"m", "t").Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return 0, nil, false, fmt.Errorf("redis: %w", err)
		}
		return id, []any{s.tag(id), lt}, true, nil
	}
	if id, init, ok, err := existing(); ok || err != nil {
		return id, init, err
	}
	id, init, err := s.conditionOn(ctx, lockID)
	if err != nil {
		return 0, nil, err
	}
	set, err := s.rdb.HSetNX(ctx, s.nsKey("names"), name, id).Result()
	if err != nil {
		return 0, nil, fmt.Errorf("redis: %w", err)
	}
	if set {
		return id, init, nil
	}
	// Another process named one first: that one it is.
	id, init, _, err = existing()
	return id, init, err
}

// conditionOn returns the id of a new Condition on lock lockID, and the
// arguments of its INIT.
func (s *Session) conditionOn(ctx context.Context, lockID uint64) (uint64, []any, error) {
	if lockID>>condShift != 0 {
		return 0, nil, fmt.Errorf("%w: no lock with id %d", errs.NoSuchObject, lockID)
	}
	reply, err := condScript.Run(ctx, s.rdb, []string{s.tag(lockID) + "m"}).Text()
	if err != nil {
		return 0, nil, fmt.Errorf("redis: %w", err)
	}
	if reply[0] == 'E' {
		return 0, nil, replyError(reply)
	}
	lt, nText, _ := strings.Cut(reply[1:], " ")
	n, err := strconv.ParseUint(nText, 10, 64)
	if err != nil || n >= 1<<(64-condShift) {
		return 0, nil, fmt.Errorf("%w: too many conditions on lock %d", errs.BadArguments, lockID)
	}
	return lockID | n<<condShift, []any{s.tag(lockID), lt}, nil
}

// Retain takes one more reference to object id for this session (a
// proxy received from another process). It blocks for one round trip.
func (s *Session) Retain(ctx context.Context, id uint64, typeid string) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	fam := familyOf(typeid)
	if fam == nil {
		return fmt.Errorf("manager: retain %s: %w", typeid, errs.NotSupported)
	}
	s.addRef(id, typeid)
	if _, err := s.run(ctx, fam, id, typeid, "", "", "r+", nil); err != nil {
		s.dropRef(id)
		return fmt.Errorf("manager: retain: %w", err)
	}
	return nil
}

// Release gives back one of this session's references to object id; the
// last reference of every session frees an unnamed object. When this
// session references the object no more, what it still holds there
// (a lock, permits, unacknowledged items) is released. It blocks for one
// round trip.
func (s *Session) Release(ctx context.Context, id uint64) error {
	typeid := s.dropRef(id)
	if typeid == "" {
		return fmt.Errorf("manager: release: %w: this session holds no reference to object %d", errs.NoSuchObject, id)
	}
	reply, err := s.run(ctx, familyOf(typeid), id, typeid, "", "", "f", nil)
	if err != nil {
		return fmt.Errorf("manager: release: %w", err)
	}
	if reply == freed {
		s.rdb.SRem(ctx, s.nsKey("objs"), id)
	}
	return nil
}

// Delete deletes the object named name, and reports whether there was
// one. Proxies to it then get errs.NoSuchObject. It blocks for two round
// trips.
func (s *Session) Delete(ctx context.Context, name string) (bool, error) {
	if err := s.checkOpen(); err != nil {
		return false, err
	}
	idText, err := s.rdb.HGet(ctx, s.nsKey("names"), name).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("manager: delete: redis: %w", err)
	}
	id, err := strconv.ParseUint(idText, 10, 64)
	if err != nil {
		return false, fmt.Errorf("manager: delete: bad id %q under name %q", idText, name)
	}
	// Any family's script deletes any object: the keys are the same.
	if _, err := s.run(ctx, familyOf("Dict"), id, "", "", "", "d", nil); err != nil && !errors.Is(err, errs.NoSuchObject) {
		return false, fmt.Errorf("manager: delete: %w", err)
	}
	n, err := s.rdb.HDel(ctx, s.nsKey("names"), name).Result()
	if err != nil {
		return false, fmt.Errorf("manager: delete: redis: %w", err)
	}
	return n > 0, nil
}

// Close ends the session now: blocked calls return errs.Closed, and what
// the session held (references, locks, permits, unacknowledged items)
// is released, as on a manager when a session ends. It can be called
// more than once; it blocks until that is done or the close timeout of
// one lease passes (then the leases expire by themselves).
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	refs := s.refs
	s.refs = map[uint64]*ref{}
	s.mu.Unlock()
	s.closeFn()
	s.stopHeartbeat()
	ctx, cancel := context.WithTimeout(context.Background(), s.lease)
	defer cancel()
	var firstErr error
	s.touched.Range(func(k, v any) bool {
		if _, ok := refs[k.(uint64)]; !ok && v.(string) != "" {
			refs[k.(uint64)] = &ref{typeid: v.(string)}
		}
		return true
	})
	s.rdb.Del(ctx, s.sessionKey(s.sid))
	for id, r := range refs {
		reply, err := s.run(ctx, familyOf(r.typeid), id, r.typeid, "", "", "e", nil)
		if err != nil && !errors.Is(err, errs.NoSuchObject) && firstErr == nil {
			firstErr = fmt.Errorf("manager: close redis session: %w", err)
		}
		if reply == freed {
			s.rdb.SRem(ctx, s.nsKey("objs"), id)
		}
	}
	return firstErr
}

// freed is the reply of the life modes when they freed the object.
const freed = "=\xc3"

// sweepEvery is how many heartbeats pass between two sweeps by one
// session: every 3 leases.
const sweepEvery = 9

// Sweep frees every unnamed object of the session's namespace that no
// live session references: those whose every referencing process died
// (their leases expired) without giving its references back. Each
// session runs it every 3 leases from its heartbeat; it costs a SCAN of
// the namespace's unnamed objects and one script per object. It returns
// the number of objects freed.
func (s *Session) Sweep(ctx context.Context) (int, error) {
	total := 0
	var cursor uint64
	for {
		n, next, err := s.sweepFrom(ctx, cursor)
		total += n
		if err != nil || next == 0 {
			return total, err
		}
		cursor = next
	}
}

// sweepStep sweeps from where the last step stopped, for at most
// lease/6, so that the heartbeat that runs it is never late.
func (s *Session) sweepStep() {
	ctx, cancel := context.WithTimeout(s.closeCtx, s.lease/6)
	defer cancel()
	for {
		_, next, err := s.sweepFrom(ctx, s.sweepCursor)
		if err != nil {
			return // the cursor stays: the next step goes on from there
		}
		s.sweepCursor = next
		if next == 0 {
			return
		}
	}
}

// sweepFrom sweeps one SSCAN batch of the registry of unnamed objects
// from cursor, and returns the number freed and the next cursor.
func (s *Session) sweepFrom(ctx context.Context, cursor uint64) (int, uint64, error) {
	ids, next, err := s.rdb.SScan(ctx, s.nsKey("objs"), cursor, "", 100).Result()
	if err != nil {
		return 0, cursor, fmt.Errorf("manager: sweep: redis: %w", err)
	}
	n := 0
	for _, text := range ids {
		id, err := strconv.ParseUint(text, 10, 64)
		if err != nil {
			continue
		}
		reply, err := s.run(ctx, familyOf("Dict"), id, "", "", "", "s", nil)
		switch {
		case errors.Is(err, errs.NoSuchObject):
			s.rdb.SRem(ctx, s.nsKey("objs"), id)
		case err != nil:
			return n, cursor, fmt.Errorf("manager: sweep: %w", err)
		case reply == freed:
			s.rdb.SRem(ctx, s.nsKey("objs"), id)
			n++
		}
	}
	return n, next, nil
}

// Purge removes every key of namespace: every object, named or not, and
// the id counter. Sessions still using it see errs.NoSuchObject; a lease
// key their heartbeat renewed during the purge expires within a lease.
// It blocks for a SCAN of every master.
func Purge(ctx context.Context, rdb redis.UniversalClient, namespace string) error {
	if namespace == "" {
		namespace = DefaultNamespace
	}
	glob := globEscape(namespace)
	patterns := []string{"{" + glob + "}:*", "{" + glob + ":*"}
	purge := func(ctx context.Context, c *redis.Client) error {
		for _, pat := range patterns {
			it := c.Scan(ctx, 0, pat, 1000).Iterator()
			for it.Next(ctx) {
				if err := c.Unlink(ctx, it.Val()).Err(); err != nil {
					return err
				}
			}
			if err := it.Err(); err != nil {
				return err
			}
		}
		return nil
	}
	var err error
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, purge)
	case *redis.Client:
		err = purge(ctx, c)
	default:
		return fmt.Errorf("manager: purge: %w: a %T (use a *redis.Client or *redis.ClusterClient)", errs.NotSupported, rdb)
	}
	if err != nil {
		return fmt.Errorf("manager: purge %q: redis: %w", namespace, err)
	}
	return nil
}

func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Layout names the way this package keeps objects in Redis: the keys of
// each type and what they hold. It changes whenever a build could not
// read what an earlier one wrote (layout 2: a Dict entry carries its
// version, a Namespace's entries are in their own hash, a Lock says in a
// field that waiters are queued; layout 3: a Queue's item handed to a
// waiting Get is in the getter's reply list, and P..'p' records only
// the call). Each namespace records the layout of the first session
// that opened it.
const Layout = "3"

// layoutScript returns the namespace's layout, recording this build's on
// a namespace that has none and no object; "" for objects written before
// layouts were recorded. KEYS: the layout key, the id counter.
var layoutScript = redis.NewScript(`
local l = redis.call('GET', KEYS[1])
if l then return l end
if redis.call('EXISTS', KEYS[2]) == 1 then return '' end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]`)

// checkLayout refuses a namespace written by a build with another key
// layout (see Layout): its objects would be misread, or changed in ways
// that build does not expect.
func (s *Session) checkLayout(ctx context.Context) error {
	l, err := layoutScript.Run(ctx, s.rdb, []string{s.nsKey("layout"), s.nsKey("id")}, Layout).Text()
	if err != nil {
		return fmt.Errorf("manager: redis: %w", err)
	}
	if l == Layout {
		return nil
	}
	if l == "" {
		l = "1 (not recorded)"
	}
	return errs.Errorf("%w: Redis namespace %q holds objects in key layout %s, and this build reads layout %s: empty it (RedisSession.Purge) if its objects can go, or open another namespace (WithRedisNamespace)", errs.NotSupported, s.ns, l, Layout)
}
