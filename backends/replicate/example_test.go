package replicate_test

import (
	"context"
	"fmt"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/memstore"
	"github.com/sessionkit/session/backends/replicate"
)

// A primary replicated to a standby. In production both would be Redis
// stores, and the standby also the fail-over target:
//
//	session.WithFailover(rep, degrade.WithFallback(standby))
func Example() {
	ctx := context.Background()
	primary, _ := memstore.New(memstore.Options{})
	standby, _ := memstore.New(memstore.Options{})
	rep, err := replicate.New(primary, []backends.Store{standby}, replicate.WithAntiEntropy(time.Minute, 1000))
	if err != nil {
		panic(err)
	}
	defer rep.Close()

	v, _ := rep.Save(ctx, "key", []byte("cart: 2 apples"), time.Now().Add(time.Hour), 0)
	_ = rep.Flush(ctx) // wait for the queue (a test or a shutdown does)
	rec, _, _ := standby.Load(ctx, "key")
	fmt.Printf("standby: %q version %d (primary: %d)\n", rec.Blob, rec.Version, v)

	_ = rep.Delete(ctx, "key") // deletions reach the standby at once
	_, found, _ := standby.Load(ctx, "key")
	fmt.Println("after logout, on the standby:", found)
	st := rep.Stats()
	fmt.Println("queue", st.QueueDepth, "dropped", st.Dropped)
	// Output:
	// standby: "cart: 2 apples" version 1 (primary: 1)
	// after logout, on the standby: false
	// queue 0 dropped 0
}

// AntiEntropy repairs what a full queue dropped; the store runs it by
// itself at the interval of WithAntiEntropy.
func ExampleStore_AntiEntropy() {
	ctx := context.Background()
	primary, _ := memstore.New(memstore.Options{})
	standby, _ := memstore.New(memstore.Options{})
	rep, _ := replicate.New(primary, []backends.Store{standby}, replicate.WithAntiEntropy(0, 100))
	defer rep.Close()

	// Written behind the replicator's back: only a scan finds it.
	_, _ = primary.Save(ctx, "key", []byte("x"), time.Now().Add(time.Hour), 0)
	st, err := rep.AntiEntropy(ctx)
	fmt.Println(st.Checked, st.Repaired, err)
	// Output: 1 1 <nil>
}

// The store tells status pages (package admin) which stores it is built on
// and how far the standbys are behind.
func ExampleStore_WrappedStores() {
	primary, _ := memstore.New(memstore.Options{})
	a, _ := memstore.New(memstore.Options{})
	b, _ := memstore.New(memstore.Options{})
	rep, _ := replicate.New(primary, []backends.Store{a, b})
	defer rep.Close()
	for role := range rep.WrappedStores() {
		fmt.Println(role)
	}
	fmt.Println("lag:", rep.ReplicationLag())
	// Output:
	// primary
	// standby-1
	// standby-2
	// lag: 0s
}
