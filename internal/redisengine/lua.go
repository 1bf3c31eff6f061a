package redisengine

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/redis/go-redis/v9"
)

// A luaScript is a family's Lua chunk (lua/prelude.lua, the family's
// parts, lua/epilogue.lua), which a session runs in one of two ways:
//
//   - as a Redis 7 function: the chunk is loaded once as a function
//     library (FUNCTION LOAD REPLACE, on every master of a cluster) and
//     each call is an FCALL, which runs the registered function only;
//   - as a script, with EVALSHA (EVAL the first time), which runs the
//     whole chunk on each call: it defines every function of the family
//     again before it dispatches, which costs more than most methods.
//
// Both run the same code and give the same replies. A session uses
// functions unless the server has none (Redis before 7) or refuses them
// (an ACL without FUNCTION or FCALL): it finds out at its first call of
// a family script, and from then on runs scripts (see
// [Session.usesFunctions]).
//
// The library and its function are named manager_<family>_<hash>, hash
// being the chunk's: programs built from two versions of this package
// (a rolling upgrade) each load and call their own, side by side. A
// library is never unloaded: one per version stays in Redis (a few
// kilobytes), until FUNCTION DELETE or FUNCTION FLUSH.
type luaScript struct {
	name   string        // the library's and its function's name
	lib    string        // the library's source, for FUNCTION LOAD
	script *redis.Script // the chunk as a script, for EVALSHA
}

// newLuaScript makes the luaScript of family name from its chunk, which
// defines MAIN(keys, argv), the call.
func newLuaScript(family, chunk string) *luaScript {
	sum := sha1.Sum([]byte(chunk))
	name := "manager_" + family + "_" + hex.EncodeToString(sum[:4])
	return &luaScript{
		name:   name,
		lib:    "#!lua name=" + name + "\n" + chunk + "redis.register_function('" + name + "', MAIN)\n",
		script: redis.NewScript(chunk + "return MAIN(KEYS, ARGV)\n"),
	}
}

// The modes of a session's family scripts (Session.lua).
const (
	luaUnknown   int32 = iota // no family call yet
	luaFunctions              // FCALL
	luaScripts                // EVALSHA: the server has no functions
)

// usesFunctions reports whether the session runs the family scripts as
// Redis functions (FCALL), false if it runs them with EVALSHA or has not
// called one yet.
func (s *Session) usesFunctions() bool { return s.lua.Load() == luaFunctions }

// runLua runs ls on keys with args, as a function or as a script (see
// luaScript). A function the server does not have (not loaded yet, or
// lost since: a FUNCTION FLUSH, a restart without persistence, a new or
// failed-over cluster node) is loaded and called once more, as
// redis.Script.Run loads a script on NOSCRIPT.
func (s *Session) runLua(ctx context.Context, ls *luaScript, keys []string, args ...any) *redis.Cmd {
	if s.lua.Load() != luaScripts {
		cmd := s.rdb.FCall(ctx, ls.name, keys, args...)
		err := cmd.Err()
		if isNoFunction(err) {
			if err = s.loadLua(ctx, ls); err != nil {
				cmd.SetErr(err)
			} else {
				cmd = s.rdb.FCall(ctx, ls.name, keys, args...)
				err = cmd.Err()
			}
		}
		if !noFunctions(err) {
			if err == nil {
				s.lua.CompareAndSwap(luaUnknown, luaFunctions)
			}
			return cmd
		}
		s.lua.Store(luaScripts)
	}
	return ls.script.Run(ctx, s.rdb, keys, args...)
}

// loadLua loads ls's library on every master (the session's only
// server unless it is a cluster or a ring) that does not have it yet: a
// load is written to the AOF and sent to the replicas, and every
// session's first batch loads. A server without functions makes the
// session run scripts from then on (it returns nil then).
func (s *Session) loadLua(ctx context.Context, ls *luaScript) error {
	load := func(ctx context.Context, c redis.Cmdable) error {
		libs, err := c.FunctionList(ctx, redis.FunctionListQuery{LibraryNamePattern: ls.name}).Result()
		if err == nil && len(libs) > 0 {
			return nil
		}
		// (An error here, as an ACL refusing FUNCTION LIST, leaves it to
		// FUNCTION LOAD.)
		return c.FunctionLoadReplace(ctx, ls.lib).Err()
	}
	eachLoad := func(ctx context.Context, c *redis.Client) error { return load(ctx, c) }
	var err error
	switch c := s.rdb.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, eachLoad)
	case *redis.Ring:
		err = c.ForEachShard(ctx, eachLoad)
	default:
		err = load(ctx, s.rdb)
	}
	if noFunctions(err) {
		s.lua.Store(luaScripts)
		return nil
	}
	return err
}

// isNoFunction reports whether err is Redis's "function not found": the
// server has functions, not this one.
//
// Redis errors are text only: as go-redis's Script.Run on NOSCRIPT, this
// reads the server's reply (Redis 7.0 to 8 say "ERR Function not found").
func isNoFunction(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && strings.Contains(re.Error(), "Function not found")
}

// noFunctions reports whether err says that the server has no functions
// or refuses them: a server before Redis 7 ("unknown command"), or an
// ACL that denies FUNCTION or FCALL ("NOPERM").
func noFunctions(err error) bool {
	var re redis.Error
	if !errors.As(err, &re) {
		return false
	}
	// A NOPERM about keys would refuse a script too: only one about the
	// command says that functions are denied.
	msg := re.Error()
	return strings.HasPrefix(msg, "NOPERM") && strings.Contains(msg, "command") ||
		strings.HasPrefix(msg, "ERR unknown command")
}
