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
func ClientFromURL(url string) (redis.UniversalClient, error) {
	if strings.HasPrefix(url, clusterScheme) {
		url = "redis://" + strings.TrimPrefix(url, clusterScheme)
	}
	if IsClusterURL(url) {
		o, err := redis.ParseClusterURL(url)
		if err != nil {
			return nil, err
		}
		return redis.NewClusterClient(o), nil
	}
	o, err := redis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	return redis.NewClient(o), nil
}

// IsClusterURL reports whether url names a cluster, as ClientFromURL
// reads it: "redis+cluster://…" or seed nodes given with addr=.
func IsClusterURL(url string) bool {
	return strings.HasPrefix(url, clusterScheme) || strings.Contains(url, "addr=")
}
