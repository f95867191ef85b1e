package redisstore_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionkit/session/backends/redisstore"
)

// A store on the application's own go-redis client. ContextTimeoutEnabled
// lets the store's per-operation timeout reach the network calls.
func ExampleNew() {
	client := redis.NewClient(&redis.Options{
		Addr:                  "127.0.0.1:6379",
		ContextTimeoutEnabled: true,
	})
	defer client.Close()

	store, err := redisstore.New(client,
		redisstore.WithPrefix("myapp:session:"),
		redisstore.WithTimeout(300*time.Millisecond),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close() // leaves client open

	ctx := context.Background()
	v, err := store.Save(ctx, "3f9a...hash-of-the-session-id", []byte("blob"), time.Now().Add(time.Hour), 0)
	if err != nil {
		log.Fatal(err)
	}
	rec, found, err := store.Load(ctx, "3f9a...hash-of-the-session-id")
	fmt.Println(v, found, rec.Version, err)
}

// A store on a Redis Cluster, from a client the application built.
func ExampleNew_cluster() {
	client := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                 []string{"10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379"},
		ContextTimeoutEnabled: true,
		// ReadOnly, RouteByLatency and RouteRandomly would be refused:
		// sessions are read from the masters.
	})
	store, err := redisstore.New(client)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
}

// Stores from URLs: one server with TLS, a Cluster, and Sentinel.
func ExampleNewFromURL() {
	for _, url := range []string{
		"rediss://app:secret@redis.internal:6380/2",
		"redis+cluster://app:secret@10.0.0.1:6379,10.0.0.2:6379,10.0.0.3:6379",
		"redis+sentinel://app:secret@10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379/mymaster/0",
	} {
		store, err := redisstore.NewFromURL(url) // no I/O yet
		if err != nil {
			log.Fatal(err)
		}
		if err := store.Ping(context.Background()); err != nil {
			log.Printf("redis not reachable yet: %v", err)
		}
		_ = store.Close() // closes the client NewFromURL created
	}
}

// WithPingOnStart makes construction fail when Redis does not answer.
func ExampleWithPingOnStart() {
	store, err := redisstore.NewFromURL("redis://127.0.0.1:6379/0", redisstore.WithPingOnStart())
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
}

// A near-cache: repeat reads of a session are served by go-redis's
// client-side cache, never more than MaxStaleness behind Redis; writes stay
// compare-and-set on the server.
func ExampleWithNearCache() {
	store, err := redisstore.NewFromURL("redis://127.0.0.1:6379/0",
		redisstore.WithNearCache(redisstore.NearCache{
			MaxEntries:   50000,
			MaxStaleness: 500 * time.Millisecond,
		}))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	fmt.Println(store.MaxStaleness())
	// Output: 500ms
}

// The same with the application's own client: New finds the cache there.
func ExampleStore_MaxStaleness() {
	client := redis.NewClient(&redis.Options{
		Addr: "127.0.0.1:6379", Protocol: 3, ContextTimeoutEnabled: true,
		ClientSideCacheConfig: &redis.ClientSideCacheConfig{MaxEntries: 50000, MaxStaleness: time.Second},
	})
	defer client.Close()
	store, err := redisstore.New(client)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(store.MaxStaleness())
	// Output: 1s
}
