package manager

import (
	"context"
	"time"

	"github.com/goproc/manager/internal/server"
)

// A Monitor receives every call a manager executes, as Redis's MONITOR
// does: who called (session and pid), which method of which object, how
// long it took and how it failed. `managerctl monitor` prints them.
//
// Nothing is recorded until a client asks (Client.Monitor), and a
// monitor never slows the calls it watches: the manager keeps up to 4096
// events for each monitor and drops the calls that do not fit, and Next
// says how many were dropped. A manager has at most 16 monitors at once;
// each ends with Close or with the session that opened it.
//
// A Monitor is for one goroutine at a time.
type Monitor struct {
	c  *Client
	id uint64
}

// MonitorOptions say what a Monitor shows.
type MonitorOptions struct {
	// Args adds to each event a rendering of the call's arguments, cut
	// at 256 bytes. Off by default: arguments may hold what the
	// monitoring user should not see, and rendering them costs the
	// manager time on every call.
	Args bool
}

// MonitorEvent is one call seen by a Monitor.
type MonitorEvent struct {
	Time     time.Time     // when the call began, on the manager's clock
	Session  string        // the calling session, as Stats shows it
	Pid      int           // the calling process, or 0 if unknown
	Object   uint64        // the object called; 0 for the manager's own operations
	TypeID   string        // the object's type; "" for the manager's own operations
	Method   string        // the method's (or the operation's) name on the wire
	Duration time.Duration // how long the call ran, waiting included
	Code     string        // "" for success, else the error code (PROTOCOL.md, "Error codes"; "error" for an error without one)
	Args     string        // the arguments, with MonitorOptions.Args
}

// Monitor starts a monitor of the calls the manager executes. It blocks
// for one round trip. The monitor's own calls are not reported.
func (c *Client) Monitor(ctx context.Context, opts MonitorOptions) (*Monitor, error) {
	var id uint64
	if err := c.call(ctx, 0, 0, "monitor", &id, opts.Args); err != nil {
		return nil, err
	}
	return &Monitor{c: c, id: id}, nil
}

// Next waits until calls have been made since the last Next (or ctx
// ends), and returns them, oldest first, with the number of calls
// dropped since the last Next because the monitor fell behind. It
// returns at most 1024 events at a time.
func (m *Monitor) Next(ctx context.Context) (events []MonitorEvent, dropped uint64, err error) {
	var b server.MonitorBatch
	if err := m.c.call(ctx, 0, 0, "monitor.next", &b, m.id); err != nil {
		return nil, 0, err
	}
	events = make([]MonitorEvent, len(b.Events))
	for i, e := range b.Events {
		events[i] = MonitorEvent{
			Time: time.Unix(0, e.Time), Session: e.Session, Pid: e.Pid, Object: e.Object,
			TypeID: e.Type, Method: e.Method, Duration: time.Duration(e.Duration), Code: e.Code, Args: e.Args,
		}
	}
	return events, b.Dropped, nil
}

// Close stops the monitor; the manager stops recording calls once no
// monitor is left. It blocks for one round trip, at most a second.
func (m *Monitor) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return m.c.call(ctx, 0, 0, "monitor.stop", nil, m.id)
}
