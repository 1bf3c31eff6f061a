package redisengine

import (
	"strings"

	"github.com/redis/go-redis/v9"
)

// clusterScheme is the scheme that names a Redis Cluster by one seed node.
const clusterScheme = "redis+cluster://"

// ClientFromURL makes a go-redis client for url as manager.ConnectRedis
// reads it: "redis+cluster://host:port" or seed nodes given with addr=
// make a cluster client, anything else a client of one server. It is the
// one parser of these URLs, so that cmd/bench's plain client is set up
// as the library's own.
//
// The client gets the settings of NewClient and NewClusterClient (see
// safeOptions), but a max_retries the URL sets is kept.
func ClientFromURL(url string) (redis.UniversalClient, error) {
	if strings.HasPrefix(url, clusterScheme) {
		url = "redis://" + strings.TrimPrefix(url, clusterScheme)
	}
	retries := strings.Contains(url, "max_retries=")
	if IsClusterURL(url) {
		o, err := redis.ParseClusterURL(url)
		if err != nil {
			return nil, err
		}
		safeOptions(&o.MaxRetries, &o.ContextTimeoutEnabled, retries)
		return redis.NewClusterClient(o), nil
	}
	o, err := redis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	safeOptions(&o.MaxRetries, &o.ContextTimeoutEnabled, retries)
	return redis.NewClient(o), nil
}

// NewClient is redis.NewClient with what the library's own clients need:
// see safeOptions.
func NewClient(o *redis.Options) *redis.Client {
	safeOptions(&o.MaxRetries, &o.ContextTimeoutEnabled, false)
	return redis.NewClient(o)
}

// NewClusterClient is redis.NewClusterClient with what the library's own
// clients need: see safeOptions.
func NewClusterClient(o *redis.ClusterOptions) *redis.ClusterClient {
	safeOptions(&o.MaxRetries, &o.ContextTimeoutEnabled, false)
	return redis.NewClusterClient(o)
}

// safeOptions turns off go-redis's retries and turns on its use of the
// context's deadline. go-redis retries a command whose reply timed out
// or whose connection broke after it was sent; a script that takes a
// queue's item, or adds to a counter, must not run twice, so a lost
// reply is reported (manager.ErrUnreachable) instead. And without the
// context's deadline on the socket, a call to a Redis that stopped
// answering returns only after ReadTimeout (3 s), times each retry.
// keepRetries leaves the retries as a URL's max_retries set them.
func safeOptions(maxRetries *int, contextTimeout *bool, keepRetries bool) {
	if !keepRetries {
		*maxRetries = -1
	}
	*contextTimeout = true
}

// IsClusterURL reports whether url names a cluster, as ClientFromURL
// reads it: "redis+cluster://…" or seed nodes given with addr=.
func IsClusterURL(url string) bool {
	return strings.HasPrefix(url, clusterScheme) || strings.Contains(url, "addr=")
}
