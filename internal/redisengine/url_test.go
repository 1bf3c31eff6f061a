package redisengine

import (
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestClientFromURLSafeOptions: the library's clients never retry a
// command whose reply was lost and put ctx's deadline on the socket,
// unless the URL sets max_retries itself; standalone and cluster alike.
func TestClientFromURLSafeOptions(t *testing.T) {
	options := func(url string) (retries int, ctxTimeout bool) {
		c, err := ClientFromURL(url)
		require.NoError(t, err)
		defer c.Close()
		switch c := c.(type) {
		case *redis.Client:
			return c.Options().MaxRetries, c.Options().ContextTimeoutEnabled
		case *redis.ClusterClient:
			return c.Options().MaxRetries, c.Options().ContextTimeoutEnabled
		}
		t.Fatalf("a %T", c)
		return 0, false
	}
	for _, url := range []string{"redis://127.0.0.1:1", "redis+cluster://127.0.0.1:1"} {
		retries, ctxTimeout := options(url)
		assert.LessOrEqual(t, retries, 0, "%s: no retries (go-redis keeps -1 or stores 0)", url)
		assert.True(t, ctxTimeout, url)
		retries, ctxTimeout = options(url + "?max_retries=3")
		assert.Equal(t, 3, retries, "%s: the URL's max_retries is kept", url)
		assert.True(t, ctxTimeout, url)
	}
}
