package redisengine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/goproc/manager/internal/errs"
)

// block waits for the grant of waiting call cid: it blocks in BLPOP on the
// call's own reply and signal lists. A reply handed straight to the call
// (a Queue's item, see lua/queue.lua) is its result: that pop is the
// delivery. The signal list is pushed by whoever grants the call
// otherwise, by ctx's end or Close (then the call is withdrawn), and by a
// timer when a holder's lease may have expired (then the call re-checks).
func (s *Session) block(ctx context.Context, fam *family, id uint64, typeid, method, h, cid, reply string) (string, error) {
	key := s.tag(id) + "s:" + cid
	replyKey := s.tag(id) + "r:" + cid
	// The script calls outlive ctx: a withdrawal must run after ctx ended.
	bg := context.WithoutCancel(ctx)
	over := make(chan struct{}) // closed when the wait is over
	defer close(over)
	// wake pushes the call's signal. When Redis does not answer (stalled,
	// partitioned) it tries again until the signal is in or the wait is
	// over: a signal lost while Redis was stopped left a Get whose
	// deadline had passed waiting in BLPOP for as long as no item came.
	wake := func() {
		for {
			if s.signalWait(bg, key) == nil {
				return
			}
			retry := time.NewTimer(withdrawRetry)
			select {
			case <-over:
				retry.Stop()
				return
			case <-retry.C:
			}
		}
	}
	stopCtx := context.AfterFunc(ctx, wake)
	defer stopCtx()
	stopClose := context.AfterFunc(s.closeCtx, wake)
	defer stopClose()
	// A withdrawal may keep waiting (a Condition.Wait takes its lock
	// back): then it gets a grace period, after which it gives up.
	withdrawn := false
	var graceOver chan struct{}
	var graceTimer *time.Timer
	defer func() {
		if graceTimer != nil {
			graceTimer.Stop()
		}
	}()
	for {
		var timer *time.Timer
		if ms := reply[1:]; ms != "" {
			n, _ := strconv.Atoi(ms)
			// A little after the lease would expire, so that the check
			// finds it expired.
			timer = time.AfterFunc(time.Duration(n)*time.Millisecond+5*time.Millisecond, wake)
		}
		// A lease at most, so that a Redis that stopped answering is
		// noticed (the read then fails) rather than waited for without end.
		bctx, cancel := context.WithTimeout(bg, s.lease+blpopMargin)
		popped, err := s.rdb.BLPop(bctx, s.lease, replyKey, key).Result()
		cancel()
		if timer != nil {
			timer.Stop()
		}
		if err == nil && popped[0] == replyKey {
			return popped[1], nil
		}
		if err == redis.Nil {
			err = nil // no signal for a lease: look again (mode "r")
		}
		if err != nil {
			// The wait broke (the connection, or Redis restarting):
			// withdraw, keeping a grant.
			r, werr := s.withdraw(bg, fam, id, typeid, method, h, cid)
			if werr == nil && r[0] != 'C' && r[0] != 'W' {
				return r, nil
			}
			return "", fmt.Errorf("redis: %w", err)
		}
		mode := "r"
		switch {
		case withdrawn && graceOver != nil && isClosed(graceOver):
			mode = "X"
		case !withdrawn && (ctx.Err() != nil || s.closeCtx.Err() != nil):
			mode, withdrawn = "x", true
		}
		reply, err = s.run(bg, fam, id, typeid, method, h, mode, nil, cid)
		if err != nil {
			return "", err
		}
		switch reply[0] {
		case 'L':
			return reply, nil
		case 'W':
			if withdrawn && graceOver == nil {
				graceOver = make(chan struct{})
				done := graceOver
				graceTimer = time.AfterFunc(withdrawGrace, func() { close(done); wake() })
			}
			continue
		case 'C':
			err := ctx.Err()
			if s.closeCtx.Err() != nil && err == nil {
				err = errs.Closed
			}
			if graceOver != nil {
				return "", fmt.Errorf("%w; the lock was not re-acquired: %w", err, errs.NotHeld)
			}
			return "", err
		}
		if withdrawn && typeid == "Condition" && method == "Wait" {
			// The lock is held again, but the wait itself ended with ctx.
			err := ctx.Err()
			if err == nil {
				err = errs.Closed
			}
			if reply[0] == 'E' {
				return "", fmt.Errorf("%w (lock held again): %w", err, replyError(reply))
			}
			return "", fmt.Errorf("%w (lock held again)", err)
		}
		return reply, nil
	}
}

// signalWait pushes a waiting call's signal list, key, once: its BLPOP
// returns, and it looks again.
func (s *Session) signalWait(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(ctx, s.lease)
	defer cancel()
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.LPush(ctx, key, "w")
		p.PExpire(ctx, key, time.Minute)
		return nil
	})
	return err
}

// pipeWait is the longest a piped call's BLPOP waits (see callPiped):
// long enough for the item a busy queue's next Put brings, short
// enough that a script run the pipeline lost (a library Redis no longer
// has) costs little, and that a re-check the script asked for (a
// holder's lease that may expire sooner) is not late by more.
const pipeWait = 20 * time.Millisecond

// pipeWaitOf returns a session's pipeWait on rdb: shorter than half
// its read timeout, since a pipeline's reply must come within it; 0
// when the client is of a kind whose read timeout is unknown.
func pipeWaitOf(rdb redis.UniversalClient) time.Duration {
	var rt time.Duration
	switch c := rdb.(type) {
	case *redis.Client:
		rt = c.Options().ReadTimeout
	case *redis.ClusterClient:
		rt = c.Options().ReadTimeout
	default:
		return 0
	}
	switch {
	case rt == 0:
		rt = 3 * time.Second // go-redis's default
	case rt < 0:
		return pipeWait // no read deadline
	}
	return min(pipeWait, rt/2)
}

// pipeWaitFor returns how long call pc's first BLPOP may wait in a
// pipeline with its script run, or 0 when the call is not piped: a
// method of family.direct, once the session runs functions (a piped
// run that Redis lost, as after FUNCTION FLUSH, is known only when the
// BLPOP returns), and not after ctx's deadline, which ends the BLPOP
// at the millisecond. Nor after unpipeAfter calls in a row on the
// object that did not wait, until one does: a call that does not wait
// takes one round trip either way, and piped it costs Redis more (its
// reply goes through the reply list).
func (s *Session) pipeWaitFor(ctx context.Context, pc *preparedCall) time.Duration {
	if pc.fast || !pc.fam.direct[pc.method] || s.pipeWait <= 0 || !s.usesFunctions() {
		return 0
	}
	if s.unwaitedOf(pc.id).Load() >= unpipeAfter {
		return 0
	}
	wait := s.pipeWait
	if d, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(d))
	}
	if wait < time.Millisecond {
		return 0
	}
	return wait
}

// unpipeAfter is how many calls in a row that did not wait stop the
// piping of the next ones (see pipeWaitFor): a Get that sometimes finds
// an item at once, in a queue that is mostly empty, stays piped.
const unpipeAfter = 4

// unwaitedOf returns the count of calls on object id in a row that did
// not wait (see pipeWaitFor).
func (s *Session) unwaitedOf(id uint64) *atomic.Int32 {
	v, ok := s.unwaited.Load(id)
	if !ok {
		v, _ = s.unwaited.LoadOrStore(id, new(atomic.Int32))
	}
	return v.(*atomic.Int32)
}

// callPiped runs call pc, a method of family.direct, as one pipeline: its
// script run (mode "p") and a BLPOP of at most wait on its reply and
// signal lists. A Get whose item comes within wait so takes one round
// trip, not the two of a script run and then a BLPOP. The script puts a
// reply that does not wait in the reply list, for the BLPOP.
func (s *Session) callPiped(ctx context.Context, pc *preparedCall, wait time.Duration) ([]byte, error) {
	key, replyKey := s.tag(pc.id)+"s:"+pc.cid, s.tag(pc.id)+"r:"+pc.cid
	// A ctx that ends meanwhile, or Close, cuts the BLPOP short; block
	// then withdraws the call.
	cut := func() { _ = s.signalWait(context.Background(), key) }
	stop := context.AfterFunc(ctx, cut)
	stopClose := context.AfterFunc(s.closeCtx, cut)
	bg := context.WithoutCancel(ctx)
	sent := time.Now()
	var run *redis.Cmd
	pop := redis.NewStringSliceCmd(bg, "blpop", replyKey, key, strconv.FormatFloat(wait.Seconds(), 'f', 3, 64))
	_, _ = s.rdb.Pipelined(bg, func(p redis.Pipeliner) error {
		run = p.FCall(bg, pc.fam.script.name, pc.keys, s.scriptArgs(pc.typeid, pc.method, pc.handle, "p", pc.argv, pc.cid)...)
		return p.Process(bg, pop)
	})
	stop()
	stopClose()
	reply, err := run.Text()
	var rerr redis.Error
	switch {
	case isNoFunction(err):
		// Redis lost the library (FUNCTION FLUSH, a restart): the call
		// did not run; run loads the library and runs it.
		if reply, err = s.run(bg, pc.fam, pc.id, pc.typeid, pc.method, pc.handle, "c", pc.argv, pc.cid); err != nil {
			return nil, s.callErr(pc.typeid, pc.method, err)
		}
		return s.finish(ctx, pc, reply)
	case errors.As(err, &rerr):
		return nil, s.callErr(pc.typeid, pc.method, fmt.Errorf("manager: redis: %w", err))
	case err != nil:
		// The connection failed: the script may have run (go-redis then
		// gives its reply the connection's error too), and waits, or has
		// put its reply in the list.
		return s.takeBack(ctx, pc, err)
	case reply == "":
		return nil, errors.New("manager: redis engine: empty script reply")
	}
	if reply == "P" {
		s.unwaitedOf(pc.id).Add(1)
	} else {
		s.unwaitedOf(pc.id).Store(0)
	}
	popped, err := pop.Result()
	switch {
	case err == nil && popped[0] == replyKey:
		return s.finish(ctx, pc, popped[1]) // the script's reply, or an item handed over
	case reply == "P":
		// The BLPOP did not get the reply the script put in the list.
		if err == nil {
			err = errors.New("the reply list was empty")
		}
		return s.takeBack(ctx, pc, err)
	case err == nil:
		// A signal (ctx's end, or a grant kept in T..'g'): block's BLPOP
		// must find it. Should this push fail, block looks again after a
		// lease.
		_ = s.signalWait(bg, key)
	}
	if ms := reply[1:]; ms != "" {
		// The re-check the script asked for is due sooner by the BLPOP's
		// wait.
		n, _ := strconv.Atoi(ms)
		reply = "W" + strconv.FormatInt(max(0, int64(n)-time.Since(sent).Milliseconds()), 10)
	}
	return s.finish(ctx, pc, reply)
}

// takeBack ends call pc, whose piped run failed with err, by withdrawing
// it: it returns the reply the call got meanwhile (an item), or err.
func (s *Session) takeBack(ctx context.Context, pc *preparedCall, err error) ([]byte, error) {
	r, werr := s.withdraw(context.WithoutCancel(ctx), pc.fam, pc.id, pc.typeid, pc.method, pc.handle, pc.cid)
	if werr == nil && r[0] != 'C' && r[0] != 'W' {
		return s.finish(ctx, pc, r)
	}
	return nil, s.callErr(pc.typeid, pc.method, fmt.Errorf("manager: redis: %w", err))
}

// withdraw withdraws waiting call cid for good (mode "X"), retrying for a
// lease while Redis cannot be reached: a registration left behind could
// later be granted an item or a lock that nobody takes (until the
// session ends).
func (s *Session) withdraw(ctx context.Context, fam *family, id uint64, typeid, method, h, cid string) (string, error) {
	deadline := time.Now().Add(s.lease)
	for {
		r, err := s.run(ctx, fam, id, typeid, method, h, "X", nil, cid)
		if err == nil || errors.Is(err, errs.NoSuchObject) || time.Now().After(deadline) {
			return r, err
		}
		s.withdrawFailures.Add(1)
		retry := time.NewTimer(withdrawRetry)
		select {
		case <-retry.C:
		case <-s.closeCtx.Done():
			retry.Stop()
			return r, err
		}
	}
}

// blpopMargin is how long past its timeout a BLPOP's reply may take
// before the wait counts Redis as unreachable.
const blpopMargin = 2 * time.Second

// withdrawRetry is the pause between two attempts of withdraw (and of a
// waiter's wake-up signal).
const withdrawRetry = 50 * time.Millisecond

// withdrawGrace bounds how long a Condition.Wait whose ctx has ended
// still waits to take its lock back, as internal/builtin's does.
const withdrawGrace = time.Second

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
