package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"

	"github.com/goproc/manager"
)

// inspector is what every subcommand and the dashboard's sampler read:
// a *manager.Client (a manager process) or a *manager.RedisSession (the
// Redis engine), which return the same types. What Redis cannot count is
// left zero there; printer and view say so instead of printing zeros.
type inspector interface {
	manager.Session // get opens the named Dict or List on it
	Stats(ctx context.Context) (manager.Stats, error)
	Objects(ctx context.Context) ([]manager.ObjectInfo, error)
	Inspect(ctx context.Context, name string) (manager.ObjectInfo, error)
	// Err is nil while the session works, then why it ended.
	Err() error
	Close() error
}

var (
	_ inspector = (*manager.Client)(nil)
	_ inspector = (*manager.RedisSession)(nil)
)

// warnings receives the warning about a password in -redis; a variable
// so that tests can read it.
var warnings io.Writer = os.Stderr

// onRedisNote says what the Redis engine cannot show; the info command
// and the dashboard print it where the manager's figures would be.
const onRedisNote = "on Redis: no manager process, so no uptime, manager pid, calls per method, bytes or memory " +
	"(use redis-cli INFO for Redis's own); a session's calls and connections are not counted either"

// errMonitorRedis is monitor's answer on Redis.
var errMonitorRedis = errors.New("monitor needs a manager: Redis has no call stream here; use redis-cli MONITOR")

// endpoint is where the manager (or Redis) is and its key. The key, and
// a password in the Redis URL, stay in this struct: no page, JSON answer
// or log line is made from them (address is what may be printed).
type endpoint struct {
	network, address string
	key              []byte
	redisURL         string // set: the Redis engine instead of a manager
	namespace        string // -redis-namespace; "" is the library's default
}

// redis reports whether ep is a Redis engine.
func (ep endpoint) redis() bool { return ep.redisURL != "" }

// dial opens a session on ep within ctx.
func dial(ctx context.Context, ep endpoint) (inspector, error) {
	if !ep.redis() {
		return manager.Connect(ctx, ep.network, ep.address, ep.key)
	}
	var opts []manager.RedisOption
	if ep.namespace != "" {
		opts = append(opts, manager.WithRedisNamespace(ep.namespace))
	}
	return manager.ConnectRedis(ctx, ep.redisURL, opts...)
}

// redisTarget returns the Redis endpoint given by -redis or
// MANAGER_REDIS_URL, or ok false when neither is set. A password in a
// -redis URL is visible to every user in the process list: it warns so.
func redisTarget(flagURL, namespace, addr, infoFile string, getenv func(string) string) (ep endpoint, ok bool, err error) {
	u := flagURL
	if u == "" {
		u = getenv("MANAGER_REDIS_URL")
		if u == "" || addr != "" || infoFile != "" {
			return endpoint{}, false, nil // -addr and -info-file win over the environment
		}
	} else if addr != "" || infoFile != "" {
		return endpoint{}, false, errors.New("give -redis or -addr/-info-file, not both\n" + usage)
	}
	parsed, err := url.Parse(u)
	if err != nil {
		// url.Error quotes the URL, password and all: leave it out.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return endpoint{}, false, fmt.Errorf("-redis: not a URL: %w", err)
	}
	if _, has := parsed.User.Password(); has && flagURL != "" {
		fmt.Fprintln(warnings, "managerctl: warning: the -redis URL holds a password, which every user sees in the process list; "+
			"put the URL in the environment variable MANAGER_REDIS_URL instead")
	}
	ns := namespace
	if ns == "" {
		ns = "manager" // the library's default
	}
	shown := fmt.Sprintf("%s (namespace %s)", parsed.Redacted(), ns)
	return endpoint{address: shown, redisURL: u, namespace: namespace}, true, nil
}
