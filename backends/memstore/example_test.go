package memstore_test

import (
	"context"
	"fmt"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/memstore"
)

func Example() {
	// At most 10,000 sessions and 64 MiB of keys and blobs; expired
	// sessions are swept every minute.
	store, err := memstore.New(memstore.Options{MaxSessions: 10_000, MaxBytes: 64 << 20})
	if err != nil {
		panic(err)
	}
	defer store.Close()
	ctx := context.Background()

	// Create: expected version 0 means "must not exist yet".
	v, err := store.Save(ctx, "key", []byte("cart=3"), time.Now().Add(30*time.Minute), 0)
	fmt.Println("created version", v, err)

	rec, found, err := store.Load(ctx, "key")
	fmt.Printf("loaded %q version %d found %v %v\n", rec.Blob, rec.Version, found, err)

	// A writer holding a stale version loses the compare-and-set.
	_, err = store.Save(ctx, "key", []byte("cart=0"), time.Now().Add(30*time.Minute), 0)
	fmt.Println("stale save conflicts:", backends.IsConflict(err))

	fmt.Printf("%+v\n", store.Stats())
	// Output:
	// created version 1 <nil>
	// loaded "cart=3" version 1 found true <nil>
	// stale save conflicts: true
	// {Sessions:1 Bytes:9 Evictions:0 Expirations:0}
}
