package redisengine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/goproc/manager/internal/errs"
)

// block waits for the grant of waiting call cid: it blocks in BLPOP on the
// call's own signal list, which is pushed by whoever grants the call, by
// ctx's end or Close (then the call is withdrawn), and by a timer when a
// holder's lease may have expired (then the call re-checks).
func (s *Session) block(ctx context.Context, fam *family, id uint64, typeid, method, h, cid, reply string) (string, error) {
	key := s.tag(id) + "s:" + cid
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
			wctx, cancel := context.WithTimeout(bg, s.lease)
			_, err := s.rdb.Pipelined(wctx, func(p redis.Pipeliner) error {
				p.LPush(wctx, key, "w")
				p.PExpire(wctx, key, time.Minute)
				return nil
			})
			cancel()
			if err == nil {
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
		_, err := s.rdb.BLPop(bctx, s.lease, key).Result()
		cancel()
		if timer != nil {
			timer.Stop()
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
