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

var roles = map[string]func() error{
	// holdlock acquires the Lock REDISENGINE_TEST_ID with a 1 s lease,
	// says "held", and waits to be killed.
	"holdlock": func() error {
		ctx, cancel := context.WithTimeout(context.Background(), suiteTimeout)
		defer cancel()
		rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: strings.Split(os.Getenv("REDISENGINE_TEST_ADDRS"), ",")})
		s, err := Open(ctx, rdb, Options{Namespace: os.Getenv("REDISENGINE_TEST_NS"), Lease: time.Second})
		if err != nil {
			return err
		}
		id, err := strconv.ParseUint(os.Getenv("REDISENGINE_TEST_ID"), 10, 64)
		if err != nil {
			return err
		}
		if err := s.Retain(ctx, id, "Lock"); err != nil {
			return err
		}
		if _, err := s.Call(ctx, id, "Lock", 1, "Acquire", nil); err != nil {
			return err
		}
		fmt.Println("held")
		<-ctx.Done() // killed before
		return ctx.Err()
	},
}
