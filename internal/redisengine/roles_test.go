package redisengine

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// roleEnv names the helper role a re-executed test binary runs.
const roleEnv = "REDISENGINE_TEST_ROLE"

// runRole runs a helper role and returns the exit code.
func runRole(role string) int {
	if err := roles[role](); err != nil {
		fmt.Fprintln(os.Stderr, "role", role+":", err)
		return 1
	}
	return 0
}

// roleSession opens the role's session (1 s lease) and takes a
// reference to the object REDISENGINE_TEST_ID of type typeid.
func roleSession(ctx context.Context, typeid string) (*Session, uint64, error) {
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: strings.Split(os.Getenv("REDISENGINE_TEST_ADDRS"), ",")})
	s, err := Open(ctx, rdb, Options{Namespace: os.Getenv("REDISENGINE_TEST_NS"), Lease: time.Second})
	if err != nil {
		return nil, 0, err
	}
	id, err := strconv.ParseUint(os.Getenv("REDISENGINE_TEST_ID"), 10, 64)
	if err != nil {
		return nil, 0, err
	}
	return s, id, s.Retain(ctx, id, typeid)
}

var roles = map[string]func() error{
	// holdlock acquires the Lock, says "held <session id>", and waits to
	// be killed.
	"holdlock": func() error {
		ctx, cancel := context.WithTimeout(context.Background(), suiteTimeout)
		defer cancel()
		s, id, err := roleSession(ctx, "Lock")
		if err != nil {
			return err
		}
		if _, err := s.Call(ctx, id, "Lock", 1, "Acquire", nil); err != nil {
			return err
		}
		fmt.Println("held", s.ID())
		<-ctx.Done() // killed before
		return ctx.Err()
	},
	// take2 gets two items from the JoinableQueue, says "got", and waits
	// to be killed without TaskDone.
	"take2": func() error {
		ctx, cancel := context.WithTimeout(context.Background(), suiteTimeout)
		defer cancel()
		s, id, err := roleSession(ctx, "JoinableQueue")
		if err != nil {
			return err
		}
		for range 2 {
			if _, err := s.Call(ctx, id, "JoinableQueue", 1, "Get", nil); err != nil {
				return err
			}
		}
		fmt.Println("got", s.ID())
		<-ctx.Done() // killed before
		return ctx.Err()
	},
}
