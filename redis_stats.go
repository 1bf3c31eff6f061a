package manager

import (
	"context"

	"github.com/goproc/manager/internal/redisengine"
)

// Stats returns what Redis can tell of the session's namespace, in the
// shape Client.Stats returns for a manager, so that one tool reads both:
// the live sessions (those whose heartbeat ran within a lease) with
// their pids, hosts and the objects they reference; the objects, by type
// and by name; and Blocked, the calls waiting now (on locks, semaphores,
// queues and barriers). It reads the namespace's registries and runs one
// read-only script per object, pipelined (on a Cluster, per node), so its
// cost grows with the number of objects: call it for monitoring, not per
// request.
//
// What only a manager process can count is left zero: Uptime,
// ManagerPid, Methods, Calls, Errors, InFlight, BytesIn, BytesOut and
// Memory (use Redis's own INFO for its memory and commands), and the
// per-session Connections, InFlight, Blocked, Calls, Errors and bytes.
func (r *RedisSession) Stats(ctx context.Context) (Stats, error) {
	if r == nil {
		return Stats{}, &opError{"RedisSession.Stats", ErrNilProxy}
	}
	sessions, err := r.s.Sessions(ctx)
	if err != nil {
		return Stats{}, &opError{"RedisSession.Stats", err}
	}
	objs, err := r.s.Objects(ctx)
	if err != nil {
		return Stats{}, &opError{"RedisSession.Stats", err}
	}
	st := Stats{ObjectsByType: map[string]int{}, Named: map[string]string{}, Objects: len(objs)}
	refs := map[string]int{}
	for _, o := range objs {
		st.ObjectsByType[o.Type]++
		if o.Name != "" {
			st.Named[o.Name] = o.Type
		}
		for sid := range o.Refs {
			refs[sid]++
		}
		st.Blocked += len(o.Waiters) + len(o.Getters) + len(o.Putters)
	}
	for _, s := range sessions {
		st.Sessions = append(st.Sessions, SessionStats{ID: s.ID, Pid: s.Pid, Host: s.Host, Objects: refs[s.ID]})
	}
	return st, nil
}

// Objects returns every object of the session's namespace (named ones,
// and unnamed ones until they are swept), in creation order, with who
// holds and who waits for the locks, semaphores, queues and barriers
// among them, in the shape Client.Objects returns: read-only, for
// debugging a program that hangs. A lock's holder carries how long it
// has held the lock; a holder whose process died is shown until the next
// call on the lock releases it (within a lease). Refs counts the
// sessions' references (containers hold none on Redis). Its cost is that
// of Stats.
func (r *RedisSession) Objects(ctx context.Context) ([]ObjectInfo, error) {
	if r == nil {
		return nil, &opError{"RedisSession.Objects", ErrNilProxy}
	}
	objs, err := r.s.Objects(ctx)
	if err != nil {
		return nil, &opError{"RedisSession.Objects", err}
	}
	parties, err := r.parties(ctx)
	if err != nil {
		return nil, &opError{"RedisSession.Objects", err}
	}
	out := make([]ObjectInfo, len(objs))
	for i, o := range objs {
		out[i] = redisObjectInfo(o, parties)
	}
	return out, nil
}

// Inspect returns the object named name, as Objects does. An unknown
// name gives an error satisfying errors.Is(err, ErrNoSuchObject).
func (r *RedisSession) Inspect(ctx context.Context, name string) (ObjectInfo, error) {
	if r == nil {
		return ObjectInfo{}, &opError{"RedisSession.Inspect", ErrNilProxy}
	}
	o, err := r.s.Inspect(ctx, name)
	if err != nil {
		return ObjectInfo{}, &opError{"RedisSession.Inspect", err}
	}
	parties, err := r.parties(ctx)
	if err != nil {
		return ObjectInfo{}, &opError{"RedisSession.Inspect", err}
	}
	return redisObjectInfo(o, parties), nil
}

// parties maps the live sessions of the namespace to their processes.
func (r *RedisSession) parties(ctx context.Context) (map[string]Party, error) {
	sessions, err := r.s.Sessions(ctx)
	if err != nil {
		return nil, err
	}
	m := make(map[string]Party, len(sessions))
	for _, s := range sessions {
		m[s.ID] = Party{Session: s.ID, Pid: s.Pid, Host: s.Host}
	}
	return m, nil
}

// redisObjectInfo converts the engine's view of an object; a session
// that is gone (its key expired) appears with its id alone.
func redisObjectInfo(o redisengine.ObjectInfo, parties map[string]Party) ObjectInfo {
	party := func(sid string) Party {
		if p, ok := parties[sid]; ok {
			return p
		}
		return Party{Session: sid}
	}
	partyList := func(sids []string) []Party {
		var out []Party
		for _, sid := range sids {
			out = append(out, party(sid))
		}
		return out
	}
	holders := func(hs []redisengine.Holding) []Holder {
		var out []Holder
		for _, h := range hs {
			out = append(out, Holder{Party: party(h.Session), Count: h.Count, HeldFor: h.HeldFor, Token: h.Token})
		}
		return out
	}
	info := ObjectInfo{
		ID: o.ID, Name: o.Name, Type: o.Type, Inspected: o.Inspected, Len: o.Len, Parties: o.Parties,
		Holders: holders(o.Holders), Waiters: partyList(o.Waiters), Getters: partyList(o.Getters),
		Putters: partyList(o.Putters), Unacked: holders(o.Unacked),
	}
	for _, n := range o.Refs {
		info.Refs += n
	}
	return info
}
