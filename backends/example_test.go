package backends_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/memstore"
)

// A read that must see every write made before it, through any instance:
// stores with a copy near the application (a Redis near-cache) read this
// one from the record's owner; others read as usual.
func ExampleWithFreshRead() {
	store, err := memstore.New(memstore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	if _, err := store.Save(ctx, "k", []byte("blob"), time.Now().Add(time.Hour), 0); err != nil {
		log.Fatal(err)
	}
	fresh := backends.WithFreshRead(ctx)
	rec, found, err := store.Load(fresh, "k")
	fmt.Println(backends.IsFreshRead(fresh), found, rec.Version, err)
	// Output: true true 1 <nil>
}
