package manager

import (
	"context"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/builtin"
	"github.com/goproc/manager/internal/wire"
)

// Calls whose reply settles what the caller holds.
//
// A call whose context ends is withdrawn within cancelGrace (see
// roundTrip and reconcile.go): whatever a late reply took is given back.
// Condition.Wait cannot work that way: it promises to return holding the
// lock again, so the caller may Release it next. When its deadline
// passes, the manager itself gives up the wait and takes the lock back
// within builtin.ConditionRestoreGrace; a client that returned 5 ms after
// the deadline (a loaded machine is slower than that) would race that
// restore: its next Release could come first and fail, and the lock stay
// held by the session. So such a call tells the manager its real
// deadline but awaits the reply for settleMargin longer.

// settleMargin is how much longer than the restore bound a settling call
// awaits its reply; past it (a frozen manager) it is withdrawn as any
// other call.
const settleMargin = time.Second

// settles reports whether a call of method on an object of typeid must
// await its reply past its deadline.
func settles(typeid, method string) bool {
	return method == "Wait" && typeid == builtin.TypeCondition
}

// serverDeadlineKey is the context key of the deadline to send the
// server when it is not the call context's own (see settleContext).
type serverDeadlineKey struct{}

// serverDeadline returns the deadline to send the server for a call under
// ctx, and whether there is one.
func serverDeadline(ctx context.Context) (time.Time, bool) {
	deadline, ok := ctx.Deadline()
	if ok {
		if d, set := ctx.Value(serverDeadlineKey{}).(time.Time); set {
			deadline = d
		}
	}
	return deadline, ok
}

// settleContext returns the context a settling call runs under: the
// server is told ctx's deadline, but the call awaits its reply until
// restore+settleMargin after it. Cancelling ctx (rather than its
// deadline passing) ends the returned context at once, which withdraws
// the call as usual. The returned func releases its resources.
func settleContext(ctx context.Context, restore time.Duration) (context.Context, func()) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return ctx, func() {}
	}
	base := context.WithValue(context.WithoutCancel(ctx), serverDeadlineKey{}, deadline)
	sctx, cancel := context.WithDeadline(base, deadline.Add(restore+settleMargin))
	stop := context.AfterFunc(ctx, func() {
		if ctx.Err() != context.DeadlineExceeded {
			cancel() // cancelled, not timed out: withdraw now
		}
	})
	return sctx, func() { stop(); cancel() }
}

// invokeSettling is Client.invoke for the calls settles names.
// Withdrawn past the margin, it returns the same error as ctx's end
// (sctx ends with context.DeadlineExceeded too).
func (c *Client) invokeSettling(ctx context.Context, ref wire.ProxyRef, handle uint64, method string, out any, nargs int, encodeArg func(enc *msgpack.Encoder, i int) error) error {
	sctx, done := settleContext(ctx, builtin.ConditionRestoreGrace)
	defer done()
	return c.callArgs(sctx, ref.ID, handle, method, true, out, nargs, encodeArg)
}
