package redisengine

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/builtin"
	"github.com/goproc/manager/internal/errs"
)

func testLockConformance(e *env) {
	s := e.session(0)
	l, err := builtin.NewLock()
	require.NoError(e.t, err)
	conform(e.t, l, e.newObj(s, "Lock"), []op{
		o("Locked"), o("Release"), o("TryAcquire"), o("Locked"), o("TryAcquire"), o("Release"), o("Release"),
		o("Acquire"), o("Locked"), o("Release"), o("Locked"),
	})
	r, err := builtin.NewRLock()
	require.NoError(e.t, err)
	conform(e.t, r, e.newObj(s, "RLock"), []op{
		o("Locked"), o("TryAcquire"), o("TryAcquire"), o("Acquire"), o("Release"), o("Release"), o("Locked"),
		o("Release"), o("Locked"), o("Release"),
	})
}

func testSemaphoreConformance(e *env) {
	s := e.session(0)
	sem, err := builtin.NewSemaphore(2)
	require.NoError(e.t, err)
	conform(e.t, sem, e.newObj(s, "Semaphore", 2), []op{
		o("Value"), o("Acquire"), o("TryAcquire"), o("TryAcquire"), o("Value"), o("Release", 1), o("Release", 0),
		o("Release", 5), o("Value"), o("TryAcquire"),
	})
	b, err := builtin.NewBoundedSemaphore(1)
	require.NoError(e.t, err)
	conform(e.t, b, e.newObj(s, "BoundedSemaphore", 1), []op{
		o("Release", 1), o("Acquire"), o("Value"), o("Release", 2), o("Release", 1), o("Value"), o("Release", 1),
	})
	_, err = s.New(e.ctx(), "Semaphore", enc(e.t, -1))
	require.ErrorIs(e.t, err, errs.BadArguments)
}

// token returns the caller's fencing token.
func token(t testing.TB, l *obj) uint64 {
	t.Helper()
	var tk uint64
	require.NoError(t, msgpack.Unmarshal(l.must("Token"), &tk))
	return tk
}

func testLockHandOff(e *env) {
	t := e.t
	a, b, c := e.session(0), e.session(0), e.session(0)
	la := e.newObj(a, "Lock")
	lb, lc := la.as(b, 1), la.as(c, 1)
	la.must("Acquire")
	t1 := token(t, la)
	gotB := goCall(e.ctx(), lb, "Acquire")
	waitWaiters(t, la, "wa", 1)
	gotC := goCall(e.ctx(), lc, "Acquire")
	waitWaiters(t, la, "wa", 2)
	assert.Equal(t, mp(t, false), lc.must("TryAcquire"), "held, and others wait")
	_, err := lb.call(e.ctx(), "Release")
	require.ErrorIs(t, err, errs.NotHeld)
	_, err = lb.call(e.ctx(), "Token")
	require.ErrorIs(t, err, errs.NotHeld)
	la.must("Release")
	require.NoError(t, recv(t, gotB).err, "first waiter first")
	t2 := token(t, lb)
	assert.Greater(t, t2, t1, "fencing tokens grow")
	lb.must("Release")
	require.NoError(t, recv(t, gotC).err)
	assert.Greater(t, token(t, lc), t2)
	lc.must("Release")
	assert.Equal(t, mp(t, false), la.must("Locked"))
}

func testLockWithdraw(e *env) {
	t := e.t
	a, b := e.session(0), e.session(0)
	la := e.newObj(a, "Lock")
	lb := la.as(b, 1)
	la.must("Acquire")
	ctx, cancel := context.WithTimeout(e.ctx(), 100*time.Millisecond)
	defer cancel()
	_, err := lb.call(ctx, "Acquire")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	ctx, cancel = context.WithCancel(e.ctx())
	ch := goCall(ctx, lb, "Acquire")
	waitWaiters(t, la, "wa", 1)
	cancel()
	require.ErrorIs(t, recv(t, ch).err, context.Canceled)
	la.must("Release")
	assert.Equal(t, mp(t, false), la.must("Locked"), "a withdrawn Acquire holds nothing")
	assert.Equal(t, mp(t, true), lb.must("TryAcquire"))
}

func testRLockHandles(e *env) {
	t := e.t
	s := e.session(0)
	r1 := e.newObj(s, "RLock")
	r2 := r1.as(s, 2)
	r1.must("Acquire")
	r1.must("Acquire")
	assert.Equal(t, mp(t, false), r2.must("TryAcquire"), "another handle of the same process waits")
	ch := goCall(e.ctx(), r2, "Acquire")
	waitWaiters(t, r1, "wa", 1)
	r1.must("Release")
	assert.Equal(t, mp(t, true), r1.must("Locked"), "one level left")
	r1.must("Release")
	require.NoError(t, recv(t, ch).err)
	_, err := r1.call(e.ctx(), "Release")
	require.ErrorIs(t, err, errs.NotHeld)
	r2.must("Release")
}

// testLockAbandoned: the holder's heartbeat stops (a dead process); a
// waiter gets the lock with errs.Abandoned once the lease expires, and a
// later token.
func testLockAbandoned(e *env) {
	t := e.t
	const lease = 300 * time.Millisecond
	dead, live := e.session(lease), e.session(liveLease)
	ld := e.newObj(dead, "Lock")
	ll := ld.as(live, 1)
	ld.must("Acquire")
	t1 := token(t, ld)
	ch := goCall(e.ctx(), ll, "Acquire")
	waitWaiters(t, ld, "wa", 1)
	start := time.Now()
	dead.stopHeartbeat()
	r := recv(t, ch)
	require.ErrorIs(t, r.err, errs.Abandoned)
	t.Logf("abandoned lock taken over %v after the heartbeat stopped (lease %v)", time.Since(start), lease)
	assert.Greater(t, token(t, ll), t1)
	ll.must("Release")
	assert.Equal(t, mp(t, true), ll.must("TryAcquire"), "reported once")
	_, err := ld.call(e.ctx(), "Release")
	require.ErrorIs(t, err, errs.NotHeld, "the dead holder lost it")
}

func testSemaphoreAbandoned(e *env) {
	t := e.t
	const lease = 300 * time.Millisecond
	dead, live := e.session(lease), e.session(liveLease)
	sd := e.newObj(dead, "BoundedSemaphore", 1)
	sl := sd.as(live, 1)
	sd.must("Acquire")
	ch := goCall(e.ctx(), sl, "Acquire")
	waitWaiters(t, sd, "wa", 1)
	dead.stopHeartbeat()
	require.ErrorIs(t, recv(t, ch).err, errs.Abandoned)
	assert.Equal(t, mp(t, 0), sl.must("Value"))
	sl.must("Release", 1)
	assert.Equal(t, mp(t, 1), sl.must("Value"))
}

func testSemaphoreBlocking(e *env) {
	t := e.t
	a, b := e.session(0), e.session(0)
	sa := e.newObj(a, "Semaphore", 1)
	sb := sa.as(b, 1)
	sa.must("Acquire")
	ctx, cancel := context.WithCancel(e.ctx())
	ch := goCall(ctx, sb, "Acquire")
	waitWaiters(t, sa, "wa", 1)
	cancel()
	require.ErrorIs(t, recv(t, ch).err, context.Canceled)
	ch = goCall(e.ctx(), sb, "Acquire")
	waitWaiters(t, sa, "wa", 1)
	sa.must("Release", 1)
	require.NoError(t, recv(t, ch).err)
	assert.Equal(t, mp(t, 0), sa.must("Value"), "the withdrawn Acquire took nothing")
}

// child is a helper process: this test binary re-executed in a role.
type child struct {
	cmd *exec.Cmd
	out *bufio.Reader
}

// startChild starts role on object id of e's namespace, with a 1 s lease,
// and returns it once it said its first line, want (the role's session id
// follows it). It is killed when the test ends.
func startChild(e *env, role string, id uint64, want string) (*child, string) {
	t := e.t
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), roleEnv+"="+role,
		"REDISENGINE_TEST_ADDRS="+strings.Join(e.srv.addr, ","),
		"REDISENGINE_TEST_NS="+e.ns, fmt.Sprintf("REDISENGINE_TEST_ID=%d", id))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	c := &child{cmd: cmd, out: bufio.NewReader(out)}
	line, err := c.out.ReadString('\n')
	require.NoError(t, err)
	word, sid, _ := strings.Cut(strings.TrimSpace(line), " ")
	require.Equal(t, want, word)
	return c, sid
}

// testLockSIGKILL: a real process holding the lock is killed with
// SIGKILL; a waiter in this process takes the lock over with
// errs.Abandoned once the dead session's lease (1 s) expires. The
// detection time is the lease left at the kill: a kill right after a
// renewal waits a whole lease, a kill just before the next renewal (every
// lease/3) two thirds of it.
func testLockSIGKILL(e *env) {
	const lease = time.Second
	tests := []struct {
		name string
		// killAt is the lease left (PTTL) at which the holder is killed.
		killAt time.Duration
	}{
		{"fresh lease", lease},
		{"before renewal", 700 * time.Millisecond},
	}
	for _, tt := range tests {
		e.t.Run(tt.name, func(t *testing.T) {
			e := &env{t: t, srv: e.srv, ns: e.ns}
			s := e.session(lease)
			l := e.newObj(s, "Lock")
			c, sid := startChild(e, "holdlock", l.id, "held")
			ch := goCall(e.ctx(), l, "Acquire")
			waitWaiters(t, l, "wa", 1)
			key := s.prefix(l.id) + "l:" + sid
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for {
				ttl, err := s.rdb.PTTL(e.ctx(), key).Result()
				require.NoError(t, err)
				require.Positive(t, ttl, "the holder's lease is alive")
				if ttl <= tt.killAt {
					break
				}
				<-tick.C
			}
			start := time.Now()
			require.NoError(t, c.cmd.Process.Signal(syscall.SIGKILL))
			r := recv(t, ch)
			took := time.Since(start)
			require.ErrorIs(t, r.err, errs.Abandoned)
			assert.Less(t, took, 2*lease)
			t.Logf("lock of a SIGKILLed holder taken over after %v (lease %v, %v of it left at the kill)", took, lease, tt.killAt)
			l.must("Release")
		})
	}
}

// testJoinableSIGKILL: a real process that got items from a
// JoinableQueue is killed with SIGKILL before TaskDone; the items are
// delivered again, in order, to a Get that was waiting, and Join
// completes.
func testJoinableSIGKILL(e *env) {
	t := e.t
	s := e.session(time.Second)
	q := e.newObj(s, "JoinableQueue", 0)
	q.must("Put", "a")
	q.must("Put", "b")
	c, _ := startChild(e, "take2", q.id, "got")
	ch := goCall(e.ctx(), q, "Get")
	waitWaiters(t, q, "wa", 1)
	start := time.Now()
	require.NoError(t, c.cmd.Process.Signal(syscall.SIGKILL))
	r := recv(t, ch)
	require.NoError(t, r.err)
	assert.Equal(t, mp(t, "a"), r.b)
	t.Logf("items of a SIGKILLed consumer delivered again after %v (lease 1s)", time.Since(start))
	assert.Equal(t, mp(t, "b"), q.must("Get"))
	q.must("TaskDone")
	q.must("TaskDone")
	q.must("Join")
}

func TestLock(t *testing.T) {
	runSuite(t, []suiteCase{
		{name: "Conformance", fn: testLockConformance},
		{name: "SemaphoreConformance", fn: testSemaphoreConformance},
		{name: "HandOff", fn: testLockHandOff},
		{name: "Withdraw", fn: testLockWithdraw},
		{name: "RLockHandles", fn: testRLockHandles},
		{name: "Abandoned", fn: testLockAbandoned},
		{name: "SemaphoreAbandoned", fn: testSemaphoreAbandoned},
		{name: "SemaphoreBlocking", fn: testSemaphoreBlocking},
		{name: "SIGKILL", fn: testLockSIGKILL, long: true},
		{name: "JoinableSIGKILL", fn: testJoinableSIGKILL, long: true},
		{name: "LapsedWaiter", fn: testLapsedWaiter},
	})
}

// testLapsedWaiter: a waiter whose lease lapses while it waits (its
// process paused: here its heartbeat stopped) is dropped from the queue
// when the lock is handed on; it calls again when it wakes, and gets the
// lock rather than waiting for ever.
func testLapsedWaiter(e *env) {
	t := e.t
	const lease = 300 * time.Millisecond
	a, b := e.session(lease), e.session(lease)
	la := e.newObj(a, "Lock")
	lb := la.as(b, 1)
	la.must("Acquire")
	ch := goCall(e.ctx(), lb, "Acquire")
	waitWaiters(t, la, "wa", 1)
	b.stopHeartbeat()
	waitGone(t, b, b.prefix(la.id)+"l:"+b.sid)
	la.must("Release") // b is taken for dead: nobody gets the lock
	require.NoError(t, recv(t, ch).err)
	assert.NotZero(t, token(t, lb), "b holds the lock")
}
